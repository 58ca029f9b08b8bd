"""Broker configuration: ``server.properties`` → a typed, validated, frozen :class:`BrokerConfig`.

This module owns how Java-properties text is read (the keys, their Kafka 2.8 defaults and
validators are :mod:`kafkalite.config_keys`'), how ``--override key=value`` arguments apply, how
derived settings resolve (``log.roll.hours`` → ``log_roll_ms``, ``log.retention.*`` →
``log_retention_ms``, ``listeners`` → :class:`Endpoint` lists, ``zookeeper.connect`` →
hosts and chroot) and the validation that stops start-up with one line naming the key.

Field names are Kafka's key names in snake_case (dots become underscores), so
``log.segment.bytes`` is ``BrokerConfig.log_segment_bytes``. ``metrics.port`` is ours
(default 9404, the conventional Prometheus exporter port; 0 disables the endpoint).

Layering: stdlib only — no Twisted, no kazoo (DESIGN.md §2).
"""

from __future__ import annotations

import dataclasses
import re
import socket
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from kafkalite.config_keys import (  # noqa: F401 -- the key table's names, as callers import them from here
    CLEANUP_POLICIES,
    COMPRESSION_TYPES,
    DEFAULT_LISTENER_SECURITY_PROTOCOL_MAP,
    INT_MAX,
    INT_MIN,
    KEYS,
    KEYS_BY_NAME,
    KNOWN_KEYS,
    LATEST_INTER_BROKER_PROTOCOL_VERSION,
    LONG_MAX,
    LONG_MIN,
    METRICS_PORT_DEFAULT,
    RACK_AWARE_REPLICA_SELECTOR,
    SECURITY_PROTOCOLS,
    SHORT_MAX,
    SHORT_MIN,
    TIMESTAMP_TYPES,
    InvalidValue,
    convert,
    default_value,
    key_kind,
)
from kafkalite.config_properties import parse_properties
from kafkalite.config_security import unserved_security_setting

__all__ = [
    "KNOWN_KEYS",
    "METRICS_PORT_DEFAULT",
    "BrokerConfig",
    "ConfigError",
    "ConfigWarning",
    "Endpoint",
    "default_value",
    "key_kind",
    "load_config",
    "parse_config",
    "parse_properties",
    "topic_config_defaults",
]


class ConfigError(ValueError):
    """An invalid broker configuration.

    The message is always one line naming the key, the bad value and what the key
    accepts, e.g. ``Invalid value abc for configuration log.segment.bytes: must be an
    integer >= 14``, so the server can print it as-is and exit 1.
    """


class ConfigWarning(UserWarning):
    """Issued (through :mod:`warnings`) for configuration keys kafkalite does not know."""


@dataclass(frozen=True)
class Endpoint:
    """One listener endpoint, parsed from ``NAME://host:port``.

    :ivar listener_name: upper-case listener name, e.g. ``PLAINTEXT``.
    :ivar host: host name or address; ``""`` means every interface (``listeners`` only).
    :ivar port: TCP port (0 asks the OS for a free one).
    :ivar security_protocol: from ``listener.security.protocol.map``.
    """

    listener_name: str
    host: str
    port: int
    security_protocol: str

    def connection_string(self) -> str:
        """Return the ``NAME://host:port`` form Kafka writes in ``/brokers/ids/<id>``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.listener_name}://{host}:{self.port}"


# --- BrokerConfig ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokerConfig:
    """The broker's validated configuration; built by :func:`load_config` or :func:`parse_config`.

    Fields are Kafka key names in snake_case. Resolved fields (``log_roll_ms``,
    ``log_retention_ms``, ``log_flush_interval_ms``, ``zookeeper_connection_timeout_ms``,
    ``log_dirs``, ``listeners``, ``advertised_listeners``, ``inter_broker_listener_name``,
    ``log_message_format_version``) already carry their fallbacks applied.
    ``log_retention_ms`` is -1 when unlimited. ``raw`` holds the given ``key → value``
    strings (file, then overrides) for DescribeConfigs; ``unknown_keys`` those kafkalite
    does not know (also reported as a :class:`ConfigWarning`).
    """

    broker_id: int
    broker_id_generation_enable: bool
    reserved_broker_max_id: int
    broker_rack: str | None
    replica_selector_class: str | None

    listeners: tuple[Endpoint, ...]
    advertised_listeners: tuple[Endpoint, ...]
    listener_security_protocol_map: dict[str, str]
    inter_broker_listener_name: str
    security_inter_broker_protocol: str
    authorizer_class_name: str

    zookeeper_connect: str
    zookeeper_hosts: str
    zookeeper_chroot: str
    zookeeper_session_timeout_ms: int
    zookeeper_connection_timeout_ms: int
    zookeeper_max_in_flight_requests: int

    num_partitions: int
    default_replication_factor: int
    min_insync_replicas: int
    unclean_leader_election_enable: bool
    auto_create_topics_enable: bool
    delete_topic_enable: bool
    auto_leader_rebalance_enable: bool
    leader_imbalance_check_interval_seconds: int
    leader_imbalance_per_broker_percentage: int
    controlled_shutdown_enable: bool
    controlled_shutdown_max_retries: int
    controlled_shutdown_retry_backoff_ms: int
    controller_socket_timeout_ms: int
    replica_lag_time_max_ms: int
    replica_socket_timeout_ms: int
    replica_fetch_max_bytes: int
    replica_fetch_wait_max_ms: int
    replica_fetch_min_bytes: int
    replica_fetch_response_max_bytes: int
    replica_fetch_backoff_ms: int
    num_replica_fetchers: int
    replica_high_watermark_checkpoint_interval_ms: int
    replication_quota_window_num: int
    replication_quota_window_size_seconds: int
    inter_broker_protocol_version: str
    log_message_format_version: str

    log_dirs: tuple[str, ...]
    log_segment_bytes: int
    log_roll_ms: int
    log_roll_jitter_ms: int
    log_retention_ms: int
    log_retention_bytes: int
    log_retention_check_interval_ms: int
    log_cleanup_policy: tuple[str, ...]
    log_flush_interval_messages: int
    log_flush_interval_ms: int
    log_flush_scheduler_interval_ms: int
    log_flush_offset_checkpoint_interval_ms: int
    log_flush_start_offset_checkpoint_interval_ms: int
    log_index_interval_bytes: int
    log_index_size_max_bytes: int
    log_segment_delete_delay_ms: int
    log_preallocate: bool
    log_message_timestamp_type: str
    log_message_timestamp_difference_max_ms: int
    log_message_downconversion_enable: bool
    message_max_bytes: int
    compression_type: str
    num_recovery_threads_per_data_dir: int

    log_cleaner_enable: bool
    log_cleaner_threads: int
    log_cleaner_backoff_ms: int
    log_cleaner_delete_retention_ms: int
    log_cleaner_min_cleanable_ratio: float
    log_cleaner_min_compaction_lag_ms: int
    log_cleaner_max_compaction_lag_ms: int
    log_cleaner_dedupe_buffer_size: int

    offsets_topic_replication_factor: int
    offsets_topic_num_partitions: int
    offsets_topic_segment_bytes: int
    offsets_retention_minutes: int
    offsets_retention_check_interval_ms: int
    offsets_commit_timeout_ms: int
    offset_metadata_max_bytes: int
    group_initial_rebalance_delay_ms: int
    group_min_session_timeout_ms: int
    group_max_session_timeout_ms: int
    group_max_size: int

    transaction_state_log_replication_factor: int
    transaction_state_log_min_isr: int
    transaction_state_log_num_partitions: int
    transaction_max_timeout_ms: int
    transactional_id_expiration_ms: int

    socket_request_max_bytes: int
    request_timeout_ms: int
    socket_send_buffer_bytes: int
    socket_receive_buffer_bytes: int
    connections_max_idle_ms: int
    num_network_threads: int
    num_io_threads: int
    queued_max_requests: int

    metrics_port: int

    raw: dict[str, str] = field(default_factory=dict, compare=False)
    unknown_keys: tuple[str, ...] = ()

    def endpoint(self, listener_name: str) -> Endpoint:
        """Return the advertised endpoint of ``listener_name``.

        :raises KeyError: if no advertised listener has that name.
        """
        for endpoint in self.advertised_listeners:
            if endpoint.listener_name == listener_name:
                return endpoint
        raise KeyError(listener_name)

    @property
    def inter_broker_endpoint(self) -> Endpoint:
        """The advertised endpoint other brokers use to reach this one."""
        return self.endpoint(self.inter_broker_listener_name)


# --- parsing helpers -----------------------------------------------------------------------


def _invalid(key: str, value, accepts: str) -> ConfigError:
    return ConfigError(f"Invalid value {value} for configuration {key}: {accepts}")


def _parse_protocol_map(key: str, text: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, protocol = item.partition(":")
        name, protocol = name.strip().upper(), protocol.strip().upper()
        if not sep or not name or protocol not in SECURITY_PROTOCOLS:
            raise _invalid(
                key, text, f"must be a list of LISTENER_NAME:PROTOCOL with PROTOCOL one of {list(SECURITY_PROTOCOLS)}"
            )
        if name in mapping:
            raise _invalid(key, text, f"listener name {name} appears more than once")
        mapping[name] = protocol
    return mapping


_ENDPOINT_RE = re.compile(r"^(?P<name>[A-Za-z0-9_\-.]+)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]/]*):(?P<port>-?\d+)$")


def _parse_endpoints(key: str, text: str, protocol_map: Mapping[str, str]) -> tuple[Endpoint, ...]:
    accepts = "must be a comma-separated list of NAME://host:port (an empty host means all interfaces)"
    endpoints = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _ENDPOINT_RE.match(item)
        if not match:
            raise _invalid(key, text, accepts)
        name = match["name"].upper()
        host = match["host"].strip("[]")
        port = int(match["port"])
        if not 0 <= port <= 65535:
            raise _invalid(key, text, "port must be between 0 and 65535")
        if name not in protocol_map:
            raise _invalid(
                key, text,
                f"listener name {name} must be a key of listener.security.protocol.map {sorted(protocol_map)}"
            )
        endpoints.append(Endpoint(name, host, port, protocol_map[name]))
    if not endpoints:
        raise _invalid(key, text or '""', accepts)
    names = [endpoint.listener_name for endpoint in endpoints]
    if len(set(names)) != len(names):
        raise _invalid(key, text, "each listener name may appear only once")
    return tuple(endpoints)


_ZK_HOST_RE = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/,\[\]]+)(:(?P<port>\d+))?$")


def _parse_zookeeper_connect(text: str) -> tuple[str, str]:
    key = "zookeeper.connect"
    accepts = "must be host:port[,host:port...][/chroot]"
    hosts_part, slash, chroot = text.partition("/")
    chroot = slash + chroot
    hosts = [part.strip() for part in hosts_part.split(",")]
    if not hosts or any(not part for part in hosts):
        raise _invalid(key, text, accepts)
    for part in hosts:
        match = _ZK_HOST_RE.match(part)
        if not match or (match["port"] is not None and not 1 <= int(match["port"]) <= 65535):
            raise _invalid(key, text, accepts)
    if chroot == "/":
        chroot = ""
    if chroot and (chroot.endswith("/") or "//" in chroot or any(seg in (".", "..") for seg in chroot.split("/"))):
        raise _invalid(key, text, "the chroot must be an absolute ZooKeeper path without a trailing /")
    return ",".join(hosts), chroot


def _apply_overrides(props: dict[str, str], overrides: Iterable[str]) -> None:
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"Invalid override {override!r}: expected key=value")
        props[key.strip()] = value.strip()


# --- public entry points -------------------------------------------------------------------


def load_config(
    path: str,
    overrides: Iterable[str] = (),
    *,
    canonical_host_name: Callable[[], str] | None = None,
) -> BrokerConfig:
    """Read the properties file at ``path``, apply ``key=value`` ``overrides`` and validate.

    :param path: a ``server.properties`` file.
    :param overrides: ``key=value`` strings (``--override`` arguments), applied in order.
    :param canonical_host_name: returns the host advertised for a listener with an empty
        host; defaults to :func:`socket.getfqdn`.
    :raises ConfigError: the file cannot be read or a value is invalid (one-line message).
    """
    try:
        with open(path, encoding="latin-1") as stream:
            text = stream.read()
    except OSError as exc:
        raise ConfigError(f"Cannot read configuration file {path}: {exc.strerror or exc}") from None
    return parse_config(parse_properties(text), overrides, canonical_host_name=canonical_host_name)


def parse_config(
    props: Mapping[str, str],
    overrides: Iterable[str] = (),
    *,
    canonical_host_name: Callable[[], str] | None = None,
) -> BrokerConfig:
    """Build a validated :class:`BrokerConfig` from ``{kafka.key: "value"}`` strings.

    The entry point for tests: ``parse_config({"zookeeper.connect": "127.0.0.1:2181"})``
    gives a config with every other key at its Kafka 2.8 default.

    :raises ConfigError: a value is invalid or ``zookeeper.connect`` is missing.
    """
    given = {str(k).strip(): str(v).strip() for k, v in props.items()}
    _apply_overrides(given, overrides)

    unknown = tuple(sorted(key for key in given if key not in KNOWN_KEYS))
    for key in unknown:
        warnings.warn(f"The configuration '{key}' was supplied but isn't a known config.", ConfigWarning, stacklevel=2)

    values: dict[str, object] = {}
    for spec in KEYS:
        if spec.name in given:
            text = given[spec.name]
            try:
                value = convert(spec.kind, text)
                if spec.validator is not None:
                    spec.validator(value)
            except InvalidValue as exc:
                raise _invalid(spec.name, text if text else '""', str(exc)) from None
        else:
            value = spec.default
        values[spec.name] = value

    return _resolve(values, given, unknown, canonical_host_name or socket.getfqdn)


def _resolve(values: dict, given: dict[str, str], unknown: tuple[str, ...], host_name: Callable[[], str]):
    v = values

    if v["zookeeper.connect"] in (None, ""):
        raise ConfigError("Missing required configuration zookeeper.connect: must be host:port[,host:port...][/chroot]")
    zookeeper_hosts, zookeeper_chroot = _parse_zookeeper_connect(v["zookeeper.connect"])

    broker_id, max_reserved = v["broker.id"], v["reserved.broker.max.id"]
    if v["broker.id.generation.enable"]:
        if not -1 <= broker_id <= max_reserved:
            raise _invalid(
                "broker.id", broker_id, f"must be >= -1 (generate) and <= reserved.broker.max.id ({max_reserved})"
            )
    elif broker_id < 0:
        raise _invalid("broker.id", broker_id, "must be >= 0 when broker.id.generation.enable is false")

    protocol_map = _parse_protocol_map("listener.security.protocol.map", v["listener.security.protocol.map"])
    listeners = _parse_endpoints("listeners", v["listeners"], protocol_map)
    if v["advertised.listeners"] is None:
        advertised = listeners
    else:
        advertised = _parse_endpoints("advertised.listeners", v["advertised.listeners"], protocol_map)
        listener_names = {endpoint.listener_name for endpoint in listeners}
        for endpoint in advertised:
            if endpoint.listener_name not in listener_names:
                raise _invalid(
                    "advertised.listeners",
                    v["advertised.listeners"],
                    f"listener name {endpoint.listener_name} must also be in listeners",
                )
    for endpoint in advertised:
        if endpoint.host in ("0.0.0.0", "::"):
            raise _invalid(
                "advertised.listeners",
                endpoint.connection_string(),
                "cannot use the nonroutable meta-address; give a host name or address clients can reach",
            )
    if any(endpoint.host == "" for endpoint in advertised):
        canonical = host_name()
        advertised = tuple(
            dataclasses.replace(endpoint, host=canonical) if endpoint.host == "" else endpoint
            for endpoint in advertised
        )

    unserved = unserved_security_setting(v, (("listeners", listeners), ("advertised.listeners", advertised)))
    if unserved is not None:
        raise _invalid(*unserved)

    if "inter.broker.listener.name" in given and "security.inter.broker.protocol" in given:
        raise _invalid(
            "inter.broker.listener.name",
            v["inter.broker.listener.name"],
            "only one of inter.broker.listener.name and security.inter.broker.protocol may be set",
        )
    if v["inter.broker.listener.name"] is not None:
        inter_broker_listener_name = v["inter.broker.listener.name"].strip().upper()
        inter_broker_protocol = protocol_map.get(inter_broker_listener_name)
        if inter_broker_protocol is None:
            raise _invalid(
                "inter.broker.listener.name",
                v["inter.broker.listener.name"],
                f"must be a key of listener.security.protocol.map {sorted(protocol_map)}",
            )
    else:
        inter_broker_protocol = v["security.inter.broker.protocol"]
        inter_broker_listener_name = inter_broker_protocol
    advertised_names = [endpoint.listener_name for endpoint in advertised]
    if inter_broker_listener_name not in advertised_names:
        raise _invalid(
            "inter.broker.listener.name",
            inter_broker_listener_name,
            f"must be a listener name defined in advertised.listeners {advertised_names}",
        )

    if v["log.dirs"] is not None:
        log_dirs = tuple(part.strip() for part in v["log.dirs"].split(",") if part.strip())
        if not log_dirs:
            raise _invalid("log.dirs", '""', "must be a non-empty comma-separated list of directories")
    else:
        log_dirs = tuple(part.strip() for part in v["log.dir"].split(",") if part.strip())
        if not log_dirs:
            raise _invalid("log.dir", '""', "must be a directory")

    log_roll_ms = v["log.roll.ms"] if v["log.roll.ms"] is not None else v["log.roll.hours"] * 3_600_000
    log_roll_jitter_ms = (
        v["log.roll.jitter.ms"] if v["log.roll.jitter.ms"] is not None else v["log.roll.jitter.hours"] * 3_600_000
    )

    # Kafka: ms wins over minutes wins over hours; any negative result means unlimited.
    if v["log.retention.ms"] is not None:
        retention_key, log_retention_ms = "log.retention.ms", v["log.retention.ms"]
    elif v["log.retention.minutes"] is not None:
        retention_key, log_retention_ms = "log.retention.minutes", v["log.retention.minutes"] * 60_000
    else:
        retention_key, log_retention_ms = "log.retention.hours", v["log.retention.hours"] * 3_600_000
    if log_retention_ms < 0:
        log_retention_ms = -1
    elif log_retention_ms == 0:
        raise _invalid(retention_key, 0, "must be unlimited (-1) or >= 1 ms")

    log_flush_interval_ms = (
        v["log.flush.interval.ms"] if v["log.flush.interval.ms"] is not None else v["log.flush.scheduler.interval.ms"]
    )
    zookeeper_connection_timeout_ms = (
        v["zookeeper.connection.timeout.ms"]
        if v["zookeeper.connection.timeout.ms"] is not None
        else v["zookeeper.session.timeout.ms"]
    )
    log_message_format_version = v["log.message.format.version"] or v["inter.broker.protocol.version"]

    if v["replica.fetch.wait.max.ms"] > v["replica.lag.time.max.ms"]:
        raise _invalid(
            "replica.fetch.wait.max.ms",
            v["replica.fetch.wait.max.ms"],
            f"must be <= replica.lag.time.max.ms ({v['replica.lag.time.max.ms']})",
        )
    if v["group.min.session.timeout.ms"] > v["group.max.session.timeout.ms"]:
        raise _invalid(
            "group.min.session.timeout.ms",
            v["group.min.session.timeout.ms"],
            f"must be <= group.max.session.timeout.ms ({v['group.max.session.timeout.ms']})",
        )

    resolved = {
        "listeners": listeners,
        "advertised.listeners": advertised,
        "listener.security.protocol.map": protocol_map,
        "inter.broker.listener.name": inter_broker_listener_name,
        "security.inter.broker.protocol": inter_broker_protocol,
        "zookeeper.connection.timeout.ms": zookeeper_connection_timeout_ms,
        "log.roll.ms": log_roll_ms,
        "log.roll.jitter.ms": log_roll_jitter_ms,
        "log.retention.ms": log_retention_ms,
        "log.flush.interval.ms": log_flush_interval_ms,
        "log.message.format.version": log_message_format_version,
    }
    kwargs = {}
    field_names = {f.name for f in dataclasses.fields(BrokerConfig)}
    for name, value in {**v, **resolved}.items():
        attr = name.replace(".", "_")
        if attr in field_names:
            kwargs[attr] = value
    kwargs.update(
        zookeeper_hosts=zookeeper_hosts,
        zookeeper_chroot=zookeeper_chroot,
        log_dirs=log_dirs,
        raw=dict(given),
        unknown_keys=unknown,
    )
    return BrokerConfig(**kwargs)


def topic_config_defaults(config: BrokerConfig) -> dict[str, str]:
    """Return the broker-level defaults of topic configs, keyed by topic config name.

    Kafka's ``LogConfig`` takes each topic setting's default from the matching broker
    key (``segment.bytes`` ← ``log.segment.bytes`` …); values are strings as in
    ``/config/topics/<t>`` and DescribeConfigs.
    """
    c = config
    return {
        "cleanup.policy": ",".join(c.log_cleanup_policy),
        "compression.type": c.compression_type,
        "delete.retention.ms": str(c.log_cleaner_delete_retention_ms),
        "file.delete.delay.ms": str(c.log_segment_delete_delay_ms),
        "flush.messages": str(c.log_flush_interval_messages),
        "flush.ms": str(c.log_flush_interval_ms),
        "index.interval.bytes": str(c.log_index_interval_bytes),
        "max.compaction.lag.ms": str(c.log_cleaner_max_compaction_lag_ms),
        "max.message.bytes": str(c.message_max_bytes),
        "message.downconversion.enable": str(c.log_message_downconversion_enable).lower(),
        "message.format.version": c.log_message_format_version,
        "message.timestamp.difference.max.ms": str(c.log_message_timestamp_difference_max_ms),
        "message.timestamp.type": c.log_message_timestamp_type,
        "min.cleanable.dirty.ratio": str(c.log_cleaner_min_cleanable_ratio),
        "min.compaction.lag.ms": str(c.log_cleaner_min_compaction_lag_ms),
        "min.insync.replicas": str(c.min_insync_replicas),
        "preallocate": str(c.log_preallocate).lower(),
        "retention.bytes": str(c.log_retention_bytes),
        "retention.ms": str(c.log_retention_ms),
        "segment.bytes": str(c.log_segment_bytes),
        "segment.index.bytes": str(c.log_index_size_max_bytes),
        "segment.jitter.ms": str(c.log_roll_jitter_ms),
        "segment.ms": str(c.log_roll_ms),
        "unclean.leader.election.enable": str(c.unclean_leader_election_enable).lower(),
    }
