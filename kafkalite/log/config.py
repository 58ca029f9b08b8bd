"""Topic-level log configuration: the typed ``LogConfig`` and the table of Kafka's topic keys.

``LogConfig`` holds every topic-level setting with Kafka 2.8's meaning and default.
``TOPIC_CONFIGS`` maps each topic key (``segment.bytes``) to the ``LogConfig`` field it sets,
the parser that validates a string value the way Kafka's ``ConfigDef`` does, and the
broker-level synonym (``log.segment.bytes``) whose value is the default for the topic.
"""

import dataclasses
import re
from dataclasses import dataclass

from kafkalite.protocol.errors import InvalidConfigError

__all__ = ["TOPIC_CONFIGS", "LogConfig", "TopicConfigKey", "parse_topic_value"]

_INT_MAX = 2**31 - 1
_LONG_MAX = 2**63 - 1
_LONG_MIN = -(2**63)
_INT_MIN = -(2**31)


@dataclass(frozen=True)
class LogConfig:
    """The settings of one partition's log; field names are Kafka's topic keys in snake_case."""

    segment_bytes: int = 1073741824
    segment_ms: int = 604800000
    segment_jitter_ms: int = 0
    segment_index_bytes: int = 10485760
    index_interval_bytes: int = 4096
    retention_ms: int = 604800000
    retention_bytes: int = -1
    cleanup_policy: tuple = ("delete",)
    max_message_bytes: int = 1048588
    message_timestamp_type: str = "CreateTime"
    message_timestamp_difference_max_ms: int = _LONG_MAX
    file_delete_delay_ms: int = 60000
    flush_messages: int = _LONG_MAX
    flush_ms: int = _LONG_MAX
    min_insync_replicas: int = 1
    unclean_leader_election_enable: bool = False
    compression_type: str = "producer"
    delete_retention_ms: int = 86400000
    min_cleanable_dirty_ratio: float = 0.5
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = _LONG_MAX
    preallocate: bool = False
    message_downconversion_enable: bool = True

    @property
    def is_log_append_time(self):
        """Whether the broker stamps batches with its own clock (``LogAppendTime``)."""
        return self.message_timestamp_type == "LogAppendTime"

    @property
    def delete_enabled(self):
        """Whether retention may delete segments (``delete`` in ``cleanup.policy``)."""
        return "delete" in self.cleanup_policy

    def with_overrides(self, overrides):
        """Return a copy with topic-level string ``overrides`` (``{"segment.bytes": "1024"}``) applied.

        :raises InvalidConfigError: an unknown key, or a value the key does not accept; the
            message names the key and what it accepts.
        """
        changes = {}
        for key, raw in overrides.items():
            entry = TOPIC_CONFIGS.get(key)
            if entry is None:
                raise InvalidConfigError(f"Unknown topic config name: {key}")
            value = entry.parse(key, raw)
            if entry.field is not None:
                changes[entry.field] = value
        return dataclasses.replace(self, **changes) if changes else self

    def with_broker_overrides(self, properties):
        """Return a copy with the broker-level synonyms found in ``properties`` applied.

        Understands every synonym in :data:`TOPIC_CONFIGS` plus Kafka's coarser
        ``log.retention.hours``/``log.retention.minutes`` and ``log.roll.hours``, with Kafka's
        precedence (ms over minutes over hours). Keys that are not log settings are ignored.

        :raises InvalidConfigError: a recognised key with an invalid value.
        """
        overrides = {}
        for key, (scale, topic_key) in _COARSE_SYNONYMS.items():
            if key in properties:
                try:
                    overrides[topic_key] = str(int(str(properties[key]).strip()) * scale)
                except ValueError:
                    raise InvalidConfigError(
                        f"Invalid value {properties[key]} for configuration {key}: Not a number of type INT") from None
        for topic_key, entry in TOPIC_CONFIGS.items():
            if entry.synonym and entry.synonym in properties and entry.field is not None:
                entry.parse(entry.synonym, properties[entry.synonym])
                overrides[topic_key] = str(properties[entry.synonym])
        return self.with_overrides(overrides)

    def to_topic_properties(self):
        """Every topic key with its current value as Kafka prints it (for DescribeConfigs)."""
        result = {}
        for key, entry in TOPIC_CONFIGS.items():
            if entry.field is None:
                result[key] = entry.default_text
                continue
            value = getattr(self, entry.field)
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, tuple):
                text = ",".join(value)
            else:
                text = str(value)
            result[key] = text
        return result


@dataclass(frozen=True)
class TopicConfigKey:
    """One row of :data:`TOPIC_CONFIGS`.

    :ivar field: the ``LogConfig`` field set by this key, or None when kafkalite only
        validates and reports it.
    :ivar parser: ``parser(key, text) -> value``, raising ``InvalidConfigError``.
    :ivar synonym: the broker-level key giving the default, or None.
    :ivar default_text: the value reported for keys without a field.
    """

    field: object
    parser: object
    synonym: object
    default_text: str = ""

    def parse(self, key, raw):
        return self.parser(key, raw)


def _invalid(key, raw, reason):
    return InvalidConfigError(f"Invalid value {raw} for configuration {key}: {reason}")


def _number(kind, low, high, minimum=None, maximum=None):
    def parse(key, raw):
        text = str(raw).strip()
        try:
            value = int(text)
        except ValueError:
            raise _invalid(key, raw, f"Not a number of type {kind}") from None
        if not low <= value <= high:
            raise _invalid(key, raw, f"Not a number of type {kind}")
        if minimum is not None and value < minimum:
            if maximum is not None:
                raise _invalid(key, raw, f"Value must be in the range [{minimum}, {maximum}]")
            raise _invalid(key, raw, f"Value must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise _invalid(key, raw, f"Value must be in the range [{minimum}, {maximum}]")
        return value
    return parse


def _int(minimum=None):
    return _number("INT", _INT_MIN, _INT_MAX, minimum)


def _long(minimum=None):
    return _number("LONG", _LONG_MIN, _LONG_MAX, minimum)


def _ratio(key, raw):
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise _invalid(key, raw, "Not a number of type DOUBLE") from None
    if not 0.0 <= value <= 1.0:
        raise _invalid(key, raw, "Value must be between 0 and 1")
    return value


def _boolean(key, raw):
    text = str(raw).strip().lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise _invalid(key, raw, "Expected value to be either true or false")


def _one_of(*choices):
    def parse(key, raw):
        text = str(raw).strip()
        if text not in choices:
            raise _invalid(key, raw, "String must be one of: {}".format(", ".join(choices)))
        return text
    return parse


def _cleanup_policy(key, raw):
    items = tuple(item.strip() for item in str(raw).split(",") if item.strip())
    for item in items:
        if item not in ("compact", "delete"):
            raise _invalid(key, raw, "String must be one of: compact, delete")
    return items


_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?(-IV\d+)?$")


def _message_format_version(key, raw):
    text = str(raw).strip()
    if not _VERSION.match(text):
        raise _invalid(key, raw, f"Version `{text}` is not a valid version")
    return text


_THROTTLED_REPLICA = re.compile(r"([0-9]+:[0-9]+)?")


def _throttled_replicas(key, raw):
    # Kafka's ThrottledReplicaListValidator: "*", or comma-separated partition:broker entries
    # (each trimmed; empty entries allowed; no spaces around the colon).
    text = str(raw).strip()
    if text != "*" and not all(_THROTTLED_REPLICA.fullmatch(element.strip()) for element in text.split(",")):
        raise _invalid(key, raw, "Must be the literal '*' or a list of replicas in the following format: "
                                 "[partitionId]:[brokerId],[partitionId]:[brokerId],...")
    return text


#: Every topic-level key, in Kafka's documentation order, with its field, parser and broker synonym.
TOPIC_CONFIGS = {
    "segment.bytes": TopicConfigKey("segment_bytes", _int(14), "log.segment.bytes"),
    "segment.ms": TopicConfigKey("segment_ms", _long(1), "log.roll.ms"),
    "segment.jitter.ms": TopicConfigKey("segment_jitter_ms", _long(0), "log.roll.jitter.ms"),
    "segment.index.bytes": TopicConfigKey("segment_index_bytes", _int(0), "log.index.size.max.bytes"),
    "index.interval.bytes": TopicConfigKey("index_interval_bytes", _int(0), "log.index.interval.bytes"),
    "retention.ms": TopicConfigKey("retention_ms", _long(-1), "log.retention.ms"),
    "retention.bytes": TopicConfigKey("retention_bytes", _long(), "log.retention.bytes"),
    "cleanup.policy": TopicConfigKey("cleanup_policy", _cleanup_policy, "log.cleanup.policy"),
    "max.message.bytes": TopicConfigKey("max_message_bytes", _int(0), "message.max.bytes"),
    "message.timestamp.type": TopicConfigKey(
        "message_timestamp_type", _one_of("CreateTime", "LogAppendTime"), "log.message.timestamp.type"),
    "message.timestamp.difference.max.ms": TopicConfigKey(
        "message_timestamp_difference_max_ms", _long(0), "log.message.timestamp.difference.max.ms"),
    "file.delete.delay.ms": TopicConfigKey("file_delete_delay_ms", _long(0), "log.segment.delete.delay.ms"),
    "flush.messages": TopicConfigKey("flush_messages", _long(0), "log.flush.interval.messages"),
    "flush.ms": TopicConfigKey("flush_ms", _long(0), "log.flush.interval.ms"),
    "min.insync.replicas": TopicConfigKey("min_insync_replicas", _int(1), "min.insync.replicas"),
    "unclean.leader.election.enable": TopicConfigKey(
        "unclean_leader_election_enable", _boolean, "unclean.leader.election.enable"),
    "compression.type": TopicConfigKey(
        "compression_type", _one_of("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
        "compression.type"),
    "delete.retention.ms": TopicConfigKey("delete_retention_ms", _long(0), "log.cleaner.delete.retention.ms"),
    "min.cleanable.dirty.ratio": TopicConfigKey(
        "min_cleanable_dirty_ratio", _ratio, "log.cleaner.min.cleanable.ratio"),
    "min.compaction.lag.ms": TopicConfigKey(
        "min_compaction_lag_ms", _long(0), "log.cleaner.min.compaction.lag.ms"),
    "max.compaction.lag.ms": TopicConfigKey(
        "max_compaction_lag_ms", _long(1), "log.cleaner.max.compaction.lag.ms"),
    "preallocate": TopicConfigKey("preallocate", _boolean, "log.preallocate"),
    "message.downconversion.enable": TopicConfigKey(
        "message_downconversion_enable", _boolean, "log.message.downconversion.enable"),
    "message.format.version": TopicConfigKey(
        None, _message_format_version, "log.message.format.version", "2.8-IV1"),
    "leader.replication.throttled.replicas": TopicConfigKey(
        None, _throttled_replicas, "leader.replication.throttled.replicas", ""),
    "follower.replication.throttled.replicas": TopicConfigKey(
        None, _throttled_replicas, "follower.replication.throttled.replicas", ""),
}

# Broker keys in coarser units: (multiplier to ms, topic key). Applied before the exact
# synonyms so that log.retention.ms wins over .minutes over .hours, as in Kafka.
_COARSE_SYNONYMS = {
    "log.retention.hours": (3600000, "retention.ms"),
    "log.retention.minutes": (60000, "retention.ms"),
    "log.roll.hours": (3600000, "segment.ms"),
    "log.roll.jitter.hours": (3600000, "segment.jitter.ms"),
}


def parse_topic_value(key, raw):
    """Validate one topic-level ``key=raw`` pair and return the parsed value.

    :raises InvalidConfigError: unknown key or invalid value.
    """
    entry = TOPIC_CONFIGS.get(key)
    if entry is None:
        raise InvalidConfigError(f"Unknown topic config name: {key}")
    return entry.parse(key, raw)
