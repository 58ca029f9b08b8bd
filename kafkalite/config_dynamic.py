"""Dynamic broker configuration (KIP-226): which keys may change live, their precedence and sources.

A broker's effective configuration is layered, highest first: the per-broker dynamic
config ``/config/brokers/<id>``, the cluster-wide default ``/config/brokers/<default>``,
the static ``server.properties`` (with ``--override``), and Kafka's default.
:class:`BrokerConfigLayers` holds the layers and answers:

- the effective :class:`~kafkalite.config.BrokerConfig` (the static properties with the
  dynamic ones on top, validated by the same code as at start-up);
- which dynamic keys are accepted (:func:`check_dynamic_keys`): the keys Kafka 2.8
  changes live (``DynamicBrokerConfig.AllDynamicConfigs``) that kafkalite applies live
  too — the ``log.*`` defaults of topics without overrides, ``message.max.bytes``,
  ``min.insync.replicas``, ``unclean.leader.election.enable`` and the replication
  throttle rates; other keys are refused with a message saying why;
- each key's value, source and synonyms for DescribeConfigs, as Kafka's
  ``ConfigHelper`` reports them, with passwords (``ConfigDef.Type.PASSWORD``) never shown.

Layering: stdlib and :mod:`kafkalite.config` only (no Twisted, no kazoo).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from kafkalite.config import KNOWN_KEYS, BrokerConfig, ConfigError, default_value, key_kind, parse_config

__all__ = [
    "CONFIG_TYPES",
    "DEFAULT_ENTITY",
    "DYNAMIC_LOG_KEYS",
    "DYNAMIC_BROKER_KEYS",
    "KAFKA_DYNAMIC_BROKER_KEYS",
    "PASSWORD_KEYS",
    "SOURCE_DEFAULT",
    "SOURCE_DYNAMIC_BROKER",
    "SOURCE_DYNAMIC_DEFAULT_BROKER",
    "SOURCE_DYNAMIC_TOPIC",
    "SOURCE_STATIC_BROKER",
    "THROTTLE_RATE_KEYS",
    "BrokerConfigLayers",
    "ConfigEntry",
    "DynamicConfigError",
    "broker_synonym_names",
    "check_dynamic_keys",
    "config_type_of",
    "is_sensitive",
]

#: ``/config/brokers/<default>``: the cluster-wide dynamic default.
DEFAULT_ENTITY = "<default>"

# DescribeConfigs sources (KIP-226's ConfigSource ids).
SOURCE_DYNAMIC_TOPIC = 1
SOURCE_DYNAMIC_BROKER = 2
SOURCE_DYNAMIC_DEFAULT_BROKER = 3
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5

#: Kafka's ``DescribeConfigsResponse.ConfigType`` ids (DescribeConfigs v3+).
CONFIG_TYPES = {"bool": 1, "str": 2, "int": 3, "short": 4, "long": 5, "double": 6, "list": 7, "password": 9}

#: Kafka 2.8's ``DynamicLogConfig.ReconfigurableConfigs``: the broker defaults of topic
#: configs, applied live to every log whose topic does not override them.
DYNAMIC_LOG_KEYS = frozenset({
    "log.segment.bytes", "log.roll.ms", "log.roll.jitter.ms", "log.index.size.max.bytes",
    "log.flush.interval.messages", "log.flush.interval.ms", "log.retention.bytes", "log.retention.ms",
    "message.max.bytes", "log.index.interval.bytes", "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", "log.segment.delete.delay.ms",
    "log.cleaner.min.cleanable.ratio", "log.cleanup.policy", "unclean.leader.election.enable",
    "min.insync.replicas", "compression.type", "log.preallocate", "log.message.timestamp.type",
    "log.message.timestamp.difference.max.ms", "log.message.downconversion.enable",
})

#: Kafka's ``DynamicConfig.Broker`` replication quotas (bytes/s, dynamic only), enforced by
#: :mod:`kafkalite.replica.quota`.
THROTTLE_RATE_KEYS = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
_THROTTLE_RATE_DEFAULT = 2**63 - 1

#: The dynamic broker keys kafkalite accepts and applies live.
DYNAMIC_BROKER_KEYS = DYNAMIC_LOG_KEYS | frozenset(THROTTLE_RATE_KEYS)

#: Keys Kafka 2.8 changes dynamically that kafkalite applies only at start-up (thread pools,
#: connection limits, the cleaner's tuning, listeners, TLS/SASL material): refused with a
#: message saying so, rather than accepted and ignored.
KAFKA_DYNAMIC_BROKER_KEYS = frozenset({
    "log.cleaner.threads", "log.cleaner.io.max.bytes.per.second", "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size", "log.cleaner.io.buffer.load.factor", "log.cleaner.backoff.ms",
    "num.io.threads", "num.network.threads", "num.replica.fetchers", "num.recovery.threads.per.data.dir",
    "background.threads", "max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides",
    "max.connection.creation.rate", "listeners", "advertised.listeners", "listener.security.protocol.map",
    "metric.reporters", "replica.alter.log.dirs.io.max.bytes.per.second", "sasl.enabled.mechanisms",
    "sasl.jaas.config", "sasl.kerberos.service.name", "ssl.keystore.type", "ssl.keystore.location",
    "ssl.keystore.password", "ssl.key.password", "ssl.truststore.type", "ssl.truststore.location",
    "ssl.truststore.password", "ssl.client.auth", "ssl.endpoint.identification.algorithm",
    "ssl.cipher.suites", "ssl.enabled.protocols", "ssl.protocol", "ssl.keymanager.algorithm",
    "ssl.trustmanager.algorithm", "ssl.secure.random.implementation",
})

#: Keys Kafka 2.8 types as PASSWORD: always reported sensitive, with a null value.
PASSWORD_KEYS = frozenset({
    "ssl.keystore.password", "ssl.key.password", "ssl.truststore.password", "ssl.keystore.key",
    "ssl.keystore.certificate.chain", "ssl.truststore.certificates", "sasl.jaas.config",
    "sasl.client.callback.handler.class.password", "delegation.token.master.key", "delegation.token.secret.key",
    "password.encoder.secret", "password.encoder.old.secret", "zookeeper.ssl.keystore.password",
    "zookeeper.ssl.truststore.password",
})

# Kafka's DynamicBrokerConfig.brokerConfigSynonyms: a key with finer and coarser spellings.
_SYNONYMS = {
    "log.roll.ms": ("log.roll.ms", "log.roll.hours"),
    "log.roll.hours": ("log.roll.ms", "log.roll.hours"),
    "log.roll.jitter.ms": ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    "log.roll.jitter.hours": ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    "log.retention.ms": ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    "log.retention.minutes": ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    "log.retention.hours": ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
    "log.flush.interval.ms": ("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
}


class DynamicConfigError(ConfigError):
    """A dynamic config change that cannot be applied.

    :ivar invalid_value: True for a bad value of an accepted key (Kafka's INVALID_CONFIG);
        False for a key that cannot change dynamically (INVALID_REQUEST).
    """

    def __init__(self, message, invalid_value):
        super().__init__(message)
        self.invalid_value = invalid_value


def is_sensitive(key: str) -> bool:
    """Whether ``key``'s value must never be shown (a PASSWORD key, or any ``*.password``/JAAS key,
    listener-prefixed ones included)."""
    return (key in PASSWORD_KEYS or key == "password" or key.endswith(".password")
            or any(key.endswith("." + password) for password in PASSWORD_KEYS))


def broker_synonym_names(key: str) -> tuple[str, ...]:
    """The broker keys that set ``key``, most specific first (``log.retention.ms`` → ms, minutes, hours)."""
    return _SYNONYMS.get(key, (key,))


def config_type_of(key: str) -> int:
    """Kafka's ConfigType id of a broker key (2 = STRING for keys without a modelled kind)."""
    if is_sensitive(key):
        return CONFIG_TYPES["password"]
    if key in THROTTLE_RATE_KEYS:
        return CONFIG_TYPES["long"]
    return CONFIG_TYPES.get(key_kind(key) or "str", 2)


def check_dynamic_keys(keys) -> None:
    """Refuse keys that cannot change dynamically in kafkalite.

    :raises DynamicConfigError: (``invalid_value`` False) naming every refused key and why.
    """
    not_here = sorted(k for k in keys if k in KAFKA_DYNAMIC_BROKER_KEYS and k not in DYNAMIC_BROKER_KEYS)
    if not_here:
        raise DynamicConfigError(
            f"Cannot update these configs dynamically in kafkalite: {not_here} (Kafka can; kafkalite reads "
            f"them from server.properties at start-up)", invalid_value=False)
    unknown = sorted(k for k in keys if k not in DYNAMIC_BROKER_KEYS)
    if unknown:
        raise DynamicConfigError(f"Cannot update these configs dynamically: {unknown}", invalid_value=False)


def _parse_rate(key: str, text: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise DynamicConfigError(f"Invalid value {text} for configuration {key}: Not a number of type LONG",
                                 invalid_value=True) from None
    if not 0 <= value <= _THROTTLE_RATE_DEFAULT:
        raise DynamicConfigError(f"Invalid value {text} for configuration {key}: Value must be at least 0",
                                 invalid_value=True)
    return value


@dataclass(frozen=True)
class ConfigEntry:
    """One DescribeConfigs entry of a broker key (``value`` None for a sensitive or unset key)."""

    name: str
    value: str | None
    source: int
    read_only: bool
    is_sensitive: bool
    config_type: int
    synonyms: tuple = ()  # ((name, value, source), ...), most specific first


@dataclass(frozen=True)
class BrokerConfigLayers:
    """A broker's configuration layers: static, cluster default dynamic, per-broker dynamic.

    :ivar static: the start-up :class:`BrokerConfig` (its ``raw`` holds the given strings).
    :ivar cluster_default: ``/config/brokers/<default>`` (only accepted keys, see :meth:`with_dynamic`).
    :ivar per_broker: ``/config/brokers/<id>``.
    :ivar rejected: ``(layer, key, reason)`` of stored dynamic entries that were ignored.
    """

    static: BrokerConfig
    cluster_default: Mapping[str, str] = field(default_factory=dict)
    per_broker: Mapping[str, str] = field(default_factory=dict)
    rejected: tuple = ()

    def with_dynamic(self, cluster_default=None, per_broker=None) -> BrokerConfigLayers:
        """Return new layers with the given dynamic layer(s) replaced (None keeps one).

        As Kafka does with a stored config it cannot apply, entries that are not dynamic or
        whose value is invalid are left out (and listed in :attr:`rejected`), not fatal.
        """
        default = dict(self.cluster_default if cluster_default is None else cluster_default)
        broker = dict(self.per_broker if per_broker is None else per_broker)
        rejected = []
        accepted = {}
        for layer_name, layer in ((DEFAULT_ENTITY, default), (str(self.static.broker_id), broker)):
            kept = {}
            for key, value in layer.items():
                try:
                    check_dynamic_keys([key])
                    self._validated(self.static.raw, {key: value})
                except ConfigError as error:
                    rejected.append((layer_name, key, str(error)))
                    continue
                kept[key] = value
            accepted[layer_name] = kept
        layers = BrokerConfigLayers(self.static, accepted[DEFAULT_ENTITY], accepted[str(self.static.broker_id)],
                                    tuple(rejected))
        try:
            layers.effective()
        except ConfigError as error:  # keys valid alone but not together (e.g. a cross-key check)
            return BrokerConfigLayers(self.static, {}, {}, tuple(rejected) + (("*", "*", str(error)),))
        return layers

    def validate_change(self, entity: str, new_layer: Mapping[str, str]) -> None:
        """Check that ``new_layer`` may replace the dynamic config of ``entity`` (``<default>`` or this id).

        :raises DynamicConfigError: a refused key (``invalid_value`` False) or a bad value (True).
        """
        check_dynamic_keys(new_layer)
        if entity == DEFAULT_ENTITY:
            merged = {**new_layer, **self.per_broker}
        else:
            merged = {**self.cluster_default, **new_layer}
        try:
            self._validated(self.static.raw, merged)
        except DynamicConfigError:
            raise
        except ConfigError as error:
            raise DynamicConfigError(str(error), invalid_value=True) from None

    @staticmethod
    def _validated(raw: Mapping[str, str], dynamic: Mapping[str, str]) -> BrokerConfig:
        for key in THROTTLE_RATE_KEYS:
            if key in dynamic:
                _parse_rate(key, dynamic[key])
        props = {**raw, **{k: v for k, v in dynamic.items() if k not in THROTTLE_RATE_KEYS}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown static keys were reported at start-up
            return parse_config(props, canonical_host_name=lambda: "")

    def dynamic(self) -> dict[str, str]:
        """The dynamic keys in force: the per-broker ones over the cluster default."""
        return {**self.cluster_default, **self.per_broker}

    def effective(self) -> BrokerConfig:
        """The effective config: static properties with the dynamic layers on top.

        Advertised listeners keep the start-up values (they are not dynamic here).
        """
        dynamic = self.dynamic()
        if not dynamic:
            return self.static
        resolved = self._validated(self.static.raw, dynamic)
        return dataclasses.replace(resolved, advertised_listeners=self.static.advertised_listeners,
                                   raw=self.static.raw)

    def throttle_rates(self) -> dict[str, int]:
        """``{leader|follower.replication.throttled.rate: bytes/s}`` in force (Long.MAX_VALUE: unthrottled)."""
        dynamic = self.dynamic()
        return {key: _parse_rate(key, dynamic[key]) if key in dynamic else _THROTTLE_RATE_DEFAULT
                for key in THROTTLE_RATE_KEYS}

    # -- DescribeConfigs ---------------------------------------------------------------------

    def synonyms(self, key: str) -> list[tuple[str, str | None, int]]:
        """``(name, value, source)`` of every layer setting ``key`` or a coarser synonym, highest first."""
        result = []
        for name in broker_synonym_names(key):
            for layer, source in ((self.per_broker, SOURCE_DYNAMIC_BROKER),
                                  (self.cluster_default, SOURCE_DYNAMIC_DEFAULT_BROKER),
                                  (self.static.raw, SOURCE_STATIC_BROKER)):
                if name in layer:
                    result.append((name, None if is_sensitive(name) else layer[name], source))
            default = _default_text(name)
            if default is not None:
                result.append((name, default, SOURCE_DEFAULT))
        return result

    def describe(self) -> list[ConfigEntry]:
        """Every broker key with its effective value, source and synonyms, sorted by name."""
        effective = self.effective()
        keys = set(KNOWN_KEYS) | set(THROTTLE_RATE_KEYS) | set(PASSWORD_KEYS)
        keys |= {k for k in self.static.raw if is_sensitive(k)}
        entries = []
        for key in sorted(keys):
            synonyms = tuple(self.synonyms(key))
            sensitive = is_sensitive(key)
            if not synonyms and key not in PASSWORD_KEYS and key not in THROTTLE_RATE_KEYS:
                continue  # an accepted-but-unmodelled key nobody set
            source = synonyms[0][2] if synonyms else SOURCE_DEFAULT
            value = None if sensitive else self._value_text(key, effective, synonyms)
            entries.append(ConfigEntry(key, value, source, key not in DYNAMIC_BROKER_KEYS, sensitive,
                                       config_type_of(key), synonyms))
        return entries

    def _value_text(self, key, effective, synonyms):
        if key in THROTTLE_RATE_KEYS:
            return str(self.throttle_rates()[key])
        attr = key.replace(".", "_")
        value = getattr(effective, attr, None)
        if value is None or key in ("listeners", "advertised.listeners", "listener.security.protocol.map"):
            for name, text, _ in synonyms:
                if name == key:
                    return text
            return None
        return _to_text(value)


def _default_text(key: str) -> str | None:
    try:
        value = default_value(key)
    except KeyError:
        return None
    return None if value is None else _to_text(value)


def _to_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    return str(value)

