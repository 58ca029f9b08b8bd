"""The JSON helpers the znode codecs share: strict field reading that names the znode and the problem.

Part of :mod:`kafkalite.zkdata` (which re-exports every public name).
"""

import dataclasses
import json
from typing import NamedTuple

# --------------------------------------------------------------------------- helpers


class ZnodeDataError(ValueError):
    """A znode's content is malformed; the message names the znode kind and the problem."""


def _dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _loads(data, what):
    """Parse znode ``data`` as a JSON object, or raise ValueError naming ``what``."""
    if data is None:
        raise ZnodeDataError(f"{what}: znode has no data")
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ZnodeDataError(f"{what}: znode data is not UTF-8: {e}") from None
    else:
        text = data
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ZnodeDataError(f"{what}: malformed JSON ({e}): {text[:200]!r}") from None
    if not isinstance(value, dict):
        raise ZnodeDataError(f"{what}: expected a JSON object, got {text[:200]!r}")
    return value


def _field(obj, key, kind, what, default=dataclasses.MISSING):
    """``obj[key]`` checked to be of ``kind`` (int excludes bool); ValueError otherwise."""
    if key not in obj:
        if default is not dataclasses.MISSING:
            return default
        raise ZnodeDataError(f"{what}: missing field {key!r}")
    value = obj[key]
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ZnodeDataError(f"{what}: field {key!r} should be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _int_list(value, what):
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ZnodeDataError(f"{what}: expected a list of integers, got {value!r}")
    return tuple(value)


def _int_or_str(obj, key, what, default=dataclasses.MISSING):
    """A number Kafka writes as a string (timestamps, block bounds) but may also read as a number."""
    value = _field(obj, key, (int, str), what, default)
    if isinstance(value, bool):
        raise ZnodeDataError(f"{what}: field {key!r} should be a number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ZnodeDataError(f"{what}: field {key!r} should be a number, got {value!r}") from None


def _ascii_int(data, what):
    try:
        text = bytes(data).decode("ascii").strip()
        return int(text)
    except (TypeError, UnicodeDecodeError, ValueError):
        raise ZnodeDataError(f"{what}: expected an ASCII integer, got {data!r}") from None


class TopicPartition(NamedTuple):
    """A (topic, partition) pair; a plain tuple, so ``("t", 0)`` compares equal."""

    topic: str
    partition: int


def _topic_partition_list(obj, what):
    """Kafka's ``[{"topic":..,"partition":..}, ...]`` arrays."""
    partitions = _field(obj, "partitions", list, what)
    result = []
    for entry in partitions:
        if not isinstance(entry, dict):
            raise ZnodeDataError(f"{what}: partition entry should be an object, got {entry!r}")
        result.append(TopicPartition(_field(entry, "topic", str, what), _field(entry, "partition", int, what)))
    return result


def _encode_topic_partition_list(partitions):
    return [{"topic": topic, "partition": int(partition)} for topic, partition in partitions]


