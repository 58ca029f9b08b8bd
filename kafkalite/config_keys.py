"""The broker's configuration keys: Kafka 2.8's names, kinds, defaults and validators.

Owns the table of every key kafkalite models (``KafkaConfig.scala``'s names and defaults,
reference §6), the keys accepted without effect, the value kinds (``int``, ``long``,
``short``, ``bool``, ``double``, ``list``, ``str``) and their conversion from properties
text, and the validators that name the accepted range. :mod:`kafkalite.config` reads
``server.properties`` with it; the dynamic configs check values with it.

Layering: stdlib only — no Twisted, no kazoo (DESIGN.md §2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CLEANUP_POLICIES", "COMPRESSION_TYPES", "DEFAULT_LISTENER_SECURITY_PROTOCOL_MAP", "INT_MAX", "INT_MIN",
    "KEYS", "KEYS_BY_NAME", "KNOWN_KEYS", "LATEST_INTER_BROKER_PROTOCOL_VERSION", "LONG_MAX", "LONG_MIN",
    "METRICS_PORT_DEFAULT", "RACK_AWARE_REPLICA_SELECTOR", "SECURITY_PROTOCOLS", "SHORT_MAX", "SHORT_MIN",
    "TIMESTAMP_TYPES", "InvalidValue", "convert", "default_value", "key_kind",
]

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
SHORT_MAX = 2**15 - 1
SHORT_MIN = -(2**15)

METRICS_PORT_DEFAULT = 9404

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_LISTENER_SECURITY_PROTOCOL_MAP = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
TIMESTAMP_TYPES = ("CreateTime", "LogAppendTime")
CLEANUP_POLICIES = ("compact", "delete")
LATEST_INTER_BROKER_PROTOCOL_VERSION = "2.8-IV1"


# --- value kinds and validators ------------------------------------------------------------

_KIND_RANGE = {"int": (INT_MIN, INT_MAX), "short": (SHORT_MIN, SHORT_MAX), "long": (LONG_MIN, LONG_MAX)}
_INT_RE = re.compile(r"^[+-]?\d+$")


class InvalidValue(Exception):
    """Raised by converters and validators with the 'what it accepts' half of the message."""


def convert(kind: str, text: str):
    if kind in _KIND_RANGE:
        lo, hi = _KIND_RANGE[kind]
        if not _INT_RE.match(text):
            raise InvalidValue("must be an integer")
        number = int(text)
        if not lo <= number <= hi:
            raise InvalidValue(f"must be an integer between {lo} and {hi}")
        return number
    if kind == "bool":
        lowered = text.lower()
        if lowered not in ("true", "false"):
            raise InvalidValue("must be true or false")
        return lowered == "true"
    if kind == "double":
        try:
            return float(text)
        except ValueError:
            raise InvalidValue("must be a number") from None
    if kind == "list":
        return tuple(item.strip() for item in text.split(",") if item.strip())
    return text


class _AtLeast:
    def __init__(self, minimum):
        self.minimum = minimum

    def __call__(self, value):
        if value < self.minimum:
            raise InvalidValue(f"must be an integer >= {self.minimum}")


class _Between:
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def __call__(self, value):
        if not self.lo <= value <= self.hi:
            raise InvalidValue(f"must be between {self.lo} and {self.hi}")


class _OneOf:
    def __init__(self, *choices, case_sensitive=True):
        self.choices = choices
        self.case_sensitive = case_sensitive

    def __call__(self, value):
        ok = value in self.choices if self.case_sensitive else value.lower() in [c.lower() for c in self.choices]
        if not ok:
            raise InvalidValue(f"must be one of [{', '.join(self.choices)}]")


class _ListOf:
    def __init__(self, *choices):
        self.choices = choices

    def __call__(self, value):
        if not value or any(item not in self.choices for item in value):
            raise InvalidValue(f"must be a non-empty comma-separated list of [{', '.join(self.choices)}]")


_VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?(-IV\d+)?$")


def _kafka_version(value):
    if not _VERSION_RE.match(value):
        raise InvalidValue("must be a Kafka version such as 2.8 or 2.8-IV1")


#: ``replica.selector.class`` of Kafka's rack-aware selector (KIP-392), the one it ships.
RACK_AWARE_REPLICA_SELECTOR = "org.apache.kafka.common.replica.RackAwareReplicaSelector"


@dataclass(frozen=True)
class _Key:
    """One configuration key: Kafka name, kind, default (as Python value; None = unset)."""

    name: str
    kind: str
    default: object
    validator: Callable | None = None


def _k(name, kind, default, validator=None):
    return _Key(name, kind, default, validator)


# Kafka 2.8 names and defaults (KafkaConfig.scala; reference §6). A default of None
# means "unset": the key is resolved from another one below.
KEYS: tuple[_Key, ...] = (
    # broker identity
    _k("broker.id", "int", -1),
    _k("broker.id.generation.enable", "bool", True),
    _k("reserved.broker.max.id", "int", 1000, _AtLeast(0)),
    _k("broker.rack", "str", None),
    # KIP-392: Kafka ships one selector; another class name would not load in Kafka either.
    _k("replica.selector.class", "str", None, _OneOf(RACK_AWARE_REPLICA_SELECTOR)),
    # listeners
    _k("listeners", "str", "PLAINTEXT://:9092"),
    _k("advertised.listeners", "str", None),
    _k("listener.security.protocol.map", "str", DEFAULT_LISTENER_SECURITY_PROTOCOL_MAP),
    _k("inter.broker.listener.name", "str", None),
    _k("security.inter.broker.protocol", "str", "PLAINTEXT", _OneOf(*SECURITY_PROTOCOLS)),
    _k("authorizer.class.name", "str", ""),
    # ZooKeeper
    _k("zookeeper.connect", "str", None),
    _k("zookeeper.session.timeout.ms", "int", 18000, _AtLeast(1)),
    _k("zookeeper.connection.timeout.ms", "int", None, _AtLeast(1)),
    _k("zookeeper.max.in.flight.requests", "int", 10, _AtLeast(1)),
    # topics and replication
    _k("num.partitions", "int", 1, _AtLeast(1)),
    _k("default.replication.factor", "int", 1, _AtLeast(1)),
    _k("min.insync.replicas", "int", 1, _AtLeast(1)),
    _k("unclean.leader.election.enable", "bool", False),
    _k("auto.create.topics.enable", "bool", True),
    _k("delete.topic.enable", "bool", True),
    _k("auto.leader.rebalance.enable", "bool", True),
    _k("leader.imbalance.check.interval.seconds", "long", 300, _AtLeast(1)),
    _k("leader.imbalance.per.broker.percentage", "int", 10, _Between(0, 100)),
    _k("controlled.shutdown.enable", "bool", True),
    _k("controlled.shutdown.max.retries", "int", 3, _AtLeast(0)),
    _k("controlled.shutdown.retry.backoff.ms", "long", 5000, _AtLeast(0)),
    _k("controller.socket.timeout.ms", "int", 30000, _AtLeast(1)),
    _k("replica.lag.time.max.ms", "long", 30000, _AtLeast(1)),
    _k("replica.socket.timeout.ms", "int", 30000),
    _k("replica.fetch.max.bytes", "int", 1048576, _AtLeast(0)),
    _k("replica.fetch.wait.max.ms", "int", 500, _AtLeast(0)),
    _k("replica.fetch.min.bytes", "int", 1, _AtLeast(1)),
    _k("replica.fetch.response.max.bytes", "int", 10485760, _AtLeast(0)),
    _k("replica.fetch.backoff.ms", "int", 1000, _AtLeast(0)),
    _k("num.replica.fetchers", "int", 1, _AtLeast(1)),
    _k("replica.high.watermark.checkpoint.interval.ms", "long", 5000, _AtLeast(1)),
    _k("replication.quota.window.num", "int", 11, _AtLeast(1)),
    _k("replication.quota.window.size.seconds", "int", 1, _AtLeast(1)),
    _k("inter.broker.protocol.version", "str", LATEST_INTER_BROKER_PROTOCOL_VERSION, _kafka_version),
    _k("log.message.format.version", "str", None, _kafka_version),
    # log storage
    _k("log.dir", "str", "/tmp/kafka-logs"),
    _k("log.dirs", "str", None),
    _k("log.segment.bytes", "int", 1073741824, _AtLeast(14)),
    _k("log.roll.ms", "long", None, _AtLeast(1)),
    _k("log.roll.hours", "int", 168, _AtLeast(1)),
    _k("log.roll.jitter.ms", "long", None, _AtLeast(0)),
    _k("log.roll.jitter.hours", "int", 0, _AtLeast(0)),
    _k("log.retention.ms", "long", None),
    _k("log.retention.minutes", "int", None),
    _k("log.retention.hours", "int", 168),
    _k("log.retention.bytes", "long", -1),
    _k("log.retention.check.interval.ms", "long", 300000, _AtLeast(1)),
    _k("log.cleanup.policy", "list", ("delete",), _ListOf(*CLEANUP_POLICIES)),
    _k("log.flush.interval.messages", "long", LONG_MAX, _AtLeast(1)),
    _k("log.flush.interval.ms", "long", None),
    _k("log.flush.scheduler.interval.ms", "long", LONG_MAX),
    _k("log.flush.offset.checkpoint.interval.ms", "int", 60000, _AtLeast(0)),
    _k("log.flush.start.offset.checkpoint.interval.ms", "int", 60000, _AtLeast(0)),
    _k("log.index.interval.bytes", "int", 4096, _AtLeast(0)),
    _k("log.index.size.max.bytes", "int", 10485760, _AtLeast(4)),
    _k("log.segment.delete.delay.ms", "long", 60000, _AtLeast(0)),
    _k("log.preallocate", "bool", False),
    _k("log.message.timestamp.type", "str", "CreateTime", _OneOf(*TIMESTAMP_TYPES)),
    _k("log.message.timestamp.difference.max.ms", "long", LONG_MAX, _AtLeast(0)),
    _k("log.message.downconversion.enable", "bool", True),
    _k("message.max.bytes", "int", 1048588, _AtLeast(0)),
    _k("compression.type", "str", "producer", _OneOf(*COMPRESSION_TYPES)),
    _k("num.recovery.threads.per.data.dir", "int", 1, _AtLeast(1)),
    # log cleaner (compaction)
    _k("log.cleaner.enable", "bool", True),
    _k("log.cleaner.threads", "int", 1, _AtLeast(0)),
    _k("log.cleaner.backoff.ms", "long", 15000, _AtLeast(0)),
    _k("log.cleaner.delete.retention.ms", "long", 86400000),
    _k("log.cleaner.min.cleanable.ratio", "double", 0.5, _Between(0.0, 1.0)),
    _k("log.cleaner.min.compaction.lag.ms", "long", 0, _AtLeast(0)),
    _k("log.cleaner.max.compaction.lag.ms", "long", LONG_MAX, _AtLeast(1)),
    _k("log.cleaner.dedupe.buffer.size", "long", 134217728),
    # group coordinator and offsets
    _k("offsets.topic.replication.factor", "short", 3, _AtLeast(1)),
    _k("offsets.topic.num.partitions", "int", 50, _AtLeast(1)),
    _k("offsets.topic.segment.bytes", "int", 104857600, _AtLeast(1)),
    _k("offsets.retention.minutes", "int", 10080, _AtLeast(1)),
    _k("offsets.retention.check.interval.ms", "long", 600000, _AtLeast(1)),
    _k("offsets.commit.timeout.ms", "int", 5000, _AtLeast(1)),
    _k("offset.metadata.max.bytes", "int", 4096),
    _k("group.initial.rebalance.delay.ms", "int", 3000),
    _k("group.min.session.timeout.ms", "int", 6000),
    _k("group.max.session.timeout.ms", "int", 1800000),
    _k("group.max.size", "int", INT_MAX, _AtLeast(1)),
    # transactions (the state log settings are read by InitProducerId / future work)
    _k("transaction.state.log.replication.factor", "short", 3, _AtLeast(1)),
    _k("transaction.state.log.min.isr", "int", 2, _AtLeast(1)),
    _k("transaction.state.log.num.partitions", "int", 50, _AtLeast(1)),
    _k("transaction.max.timeout.ms", "int", 900000, _AtLeast(1)),
    _k("transactional.id.expiration.ms", "int", 604800000, _AtLeast(1)),
    # network
    _k("socket.request.max.bytes", "int", 104857600, _AtLeast(1)),
    # A request answered later than this is logged (kafka.request.logger, WARN).
    _k("request.timeout.ms", "int", 30000, _AtLeast(0)),
    _k("socket.send.buffer.bytes", "int", 102400),
    _k("socket.receive.buffer.bytes", "int", 102400),
    _k("connections.max.idle.ms", "long", 600000),
    _k("num.network.threads", "int", 3, _AtLeast(1)),
    _k("num.io.threads", "int", 8, _AtLeast(1)),
    _k("queued.max.requests", "int", 500, _AtLeast(1)),
    # ours
    _k("metrics.port", "int", METRICS_PORT_DEFAULT, _Between(0, 65535)),
)

KEYS_BY_NAME: dict[str, _Key] = {key.name: key for key in KEYS}

# Kafka keys accepted without a warning that have no effect in kafkalite: JVM-side
# tuning, background thread pools and purgatory knobs whose Python equivalents differ.
_ACCEPTED_KEYS = frozenset(
    {
        "background.threads",
        "fetch.purgatory.purge.interval.requests",
        "producer.purgatory.purge.interval.requests",
        "delete.records.purgatory.purge.interval.requests",
        "num.replica.alter.log.dirs.threads",
        "replica.socket.receive.buffer.bytes",
        "log.cleaner.io.buffer.size",
        "log.cleaner.io.buffer.load.factor",
        "log.cleaner.io.max.bytes.per.second",
        "offsets.load.buffer.size",
        "offsets.topic.compression.codec",
        "offsets.commit.required.acks",
        "transaction.state.log.load.buffer.size",
        "transaction.state.log.segment.bytes",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        "max.connections",
        "max.connections.per.ip",
        "max.connections.per.ip.overrides",
        "max.connection.creation.rate",
        "metric.reporters",
        "metrics.num.samples",
        "metrics.sample.window.ms",
        "metrics.recording.level",
        "zookeeper.set.acl",
        "zookeeper.clientCnxnSocket",
        "zookeeper.ssl.client.enable",
        "control.plane.listener.name",
        "quota.window.num",
        "quota.window.size.seconds",
        "alter.log.dirs.replication.quota.window.num",
        "alter.log.dirs.replication.quota.window.size.seconds",
        "auto.include.jmx.reporter",
        "kafka.metrics.reporters",
        "kafka.metrics.polling.interval.secs",
    }
)

#: Every key kafkalite reads or accepts (others produce a :class:`ConfigWarning`).
KNOWN_KEYS = frozenset(KEYS_BY_NAME) | _ACCEPTED_KEYS


def default_value(key: str):
    """Return the Kafka 2.8 default of configuration ``key`` as a Python value (None if unset).

    :raises KeyError: for a key kafkalite does not model.
    """
    return KEYS_BY_NAME[key].default


def key_kind(key: str) -> str | None:
    """Return the value kind of ``key`` (``int``, ``long``, ``short``, ``bool``, ``double``,
    ``list`` or ``str``), or None for a key kafkalite does not model."""
    spec = KEYS_BY_NAME.get(key)
    return spec.kind if spec is not None else None
