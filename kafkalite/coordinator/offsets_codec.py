"""Keys and values of ``__consumer_offsets`` records, in Kafka's own formats (reference §3.4).

Every key and value starts with an int16 schema version, followed by fields in the
classic (non-flexible) encoding: int16-length strings (-1 for null), int32-length
bytes and arrays. Offset-commit keys are versions 0–1, group-metadata keys version
2; we write offset values v3 (v1 when an explicit expire timestamp exists) and
group-metadata values v3, and read every version Kafka 2.8 reads. Also: the
consumer-protocol subscription, parsed for the topics a group subscribes to.

Pure code: no Twisted, no I/O.
"""

import struct
from dataclasses import dataclass, field

from kafkalite.protocol.errors import CorruptMessageError

__all__ = [
    "OffsetKey",
    "GroupMetadataKey",
    "OffsetValue",
    "MemberValue",
    "GroupMetadataValue",
    "encode_offset_key",
    "encode_group_metadata_key",
    "decode_key",
    "encode_offset_value",
    "decode_offset_value",
    "encode_group_metadata_value",
    "decode_group_metadata_value",
    "subscription_topics",
    "java_string_hash",
    "partition_for_group",
]

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")


@dataclass(frozen=True)
class OffsetKey:
    """Key of an offset commit: ``(group, topic, partition)``."""

    group: str
    topic: str
    partition: int


@dataclass(frozen=True)
class GroupMetadataKey:
    """Key of a group's metadata record."""

    group: str


@dataclass(frozen=True)
class OffsetValue:
    """A committed offset as stored.

    :ivar expire_timestamp: only set by OffsetCommit v2–v4 with an explicit retention (value v1).
    """

    offset: int
    metadata: str = ""
    commit_timestamp: int = -1
    leader_epoch: int = -1
    expire_timestamp: int | None = None


@dataclass(frozen=True)
class MemberValue:
    """One member in a group-metadata value."""

    member_id: str
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes
    group_instance_id: str | None = None


@dataclass(frozen=True)
class GroupMetadataValue:
    """A group's metadata as stored after each rebalance."""

    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int = -1
    members: tuple = field(default=())


class _Writer:
    def __init__(self):
        self.parts = []

    def int16(self, value):
        self.parts.append(_INT16.pack(value))

    def int32(self, value):
        self.parts.append(_INT32.pack(value))

    def int64(self, value):
        self.parts.append(_INT64.pack(value))

    def string(self, value):
        if value is None:
            self.int16(-1)
            return
        data = value.encode("utf-8")
        self.int16(len(data))
        self.parts.append(data)

    def bytes_(self, value):
        if value is None:
            self.int32(-1)
            return
        self.int32(len(value))
        self.parts.append(bytes(value))

    def getvalue(self):
        return b"".join(self.parts)


class _Reader:
    def __init__(self, data, what):
        self.data = bytes(data)
        self.position = 0
        self.what = what

    def _take(self, size):
        end = self.position + size
        if end > len(self.data):
            raise CorruptMessageError("truncated %s" % self.what)
        chunk = self.data[self.position:end]
        self.position = end
        return chunk

    def int16(self):
        return _INT16.unpack(self._take(2))[0]

    def int32(self):
        return _INT32.unpack(self._take(4))[0]

    def int64(self):
        return _INT64.unpack(self._take(8))[0]

    def string(self):
        size = self.int16()
        if size < 0:
            return None
        try:
            return self._take(size).decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptMessageError("bad string in %s" % self.what) from None

    def bytes_(self):
        size = self.int32()
        if size < 0:
            return None
        return self._take(size)


def encode_offset_key(group, topic, partition):
    """Offset-commit key, version 1 (as Kafka 2.8 writes it)."""
    out = _Writer()
    out.int16(1)
    out.string(group)
    out.string(topic)
    out.int32(partition)
    return out.getvalue()


def encode_group_metadata_key(group):
    """Group-metadata key, version 2."""
    out = _Writer()
    out.int16(2)
    out.string(group)
    return out.getvalue()


def decode_key(data):
    """Decode a ``__consumer_offsets`` key.

    :returns: :class:`OffsetKey` (versions 0–1) or :class:`GroupMetadataKey` (version 2);
        None for a version we do not know (Kafka skips those too).
    :raises CorruptMessageError: truncated or malformed.
    """
    reader = _Reader(data, "offsets topic key")
    version = reader.int16()
    if version in (0, 1):
        return OffsetKey(reader.string(), reader.string(), reader.int32())
    if version == 2:
        return GroupMetadataKey(reader.string())
    return None


def encode_offset_value(value):
    """Offset-commit value: v1 when an expire timestamp is set, else v3."""
    out = _Writer()
    if value.expire_timestamp is not None:
        out.int16(1)
        out.int64(value.offset)
        out.string(value.metadata)
        out.int64(value.commit_timestamp)
        out.int64(value.expire_timestamp)
    else:
        out.int16(3)
        out.int64(value.offset)
        out.int32(value.leader_epoch)
        out.string(value.metadata)
        out.int64(value.commit_timestamp)
    return out.getvalue()


def decode_offset_value(data):
    """Decode an offset-commit value of any version 0–3."""
    reader = _Reader(data, "offset commit value")
    version = reader.int16()
    if version in (0, 1, 2):
        offset = reader.int64()
        metadata = reader.string()
        commit_timestamp = reader.int64()
        expire = reader.int64() if version == 1 else None
        return OffsetValue(offset, metadata or "", commit_timestamp, -1, expire)
    if version == 3:
        offset = reader.int64()
        leader_epoch = reader.int32()
        metadata = reader.string()
        return OffsetValue(offset, metadata or "", reader.int64(), leader_epoch)
    raise CorruptMessageError("unknown offset commit value version %d" % version)


def encode_group_metadata_value(value):
    """Group-metadata value, version 3."""
    out = _Writer()
    out.int16(3)
    out.string(value.protocol_type)
    out.int32(value.generation)
    out.string(value.protocol)
    out.string(value.leader)
    out.int64(value.current_state_timestamp)
    out.int32(len(value.members))
    for member in value.members:
        out.string(member.member_id)
        out.string(member.group_instance_id)
        out.string(member.client_id)
        out.string(member.client_host)
        out.int32(member.rebalance_timeout)
        out.int32(member.session_timeout)
        out.bytes_(member.subscription)
        out.bytes_(member.assignment)
    return out.getvalue()


def decode_group_metadata_value(data):
    """Decode a group-metadata value of any version 0–3."""
    reader = _Reader(data, "group metadata value")
    version = reader.int16()
    if not 0 <= version <= 3:
        raise CorruptMessageError("unknown group metadata value version %d" % version)
    protocol_type = reader.string() or ""
    generation = reader.int32()
    protocol = reader.string()
    leader = reader.string()
    timestamp = reader.int64() if version >= 2 else -1
    members = []
    for _ in range(reader.int32()):
        member_id = reader.string()
        instance_id = reader.string() if version >= 3 else None
        client_id = reader.string()
        client_host = reader.string()
        rebalance_timeout = reader.int32() if version >= 1 else -1
        session_timeout = reader.int32()
        if rebalance_timeout == -1:
            rebalance_timeout = session_timeout
        subscription = reader.bytes_() or b""
        assignment = reader.bytes_() or b""
        members.append(MemberValue(member_id, client_id, client_host, rebalance_timeout, session_timeout,
                                   subscription, assignment, instance_id))
    return GroupMetadataValue(protocol_type, generation, protocol, leader, timestamp, tuple(members))


def subscription_topics(metadata):
    """Topics named in a consumer-protocol subscription (``ConsumerProtocolSubscription`` v0+).

    :returns: a set of topic names, or None if ``metadata`` does not parse.
    """
    try:
        reader = _Reader(metadata, "subscription")
        reader.int16()
        count = reader.int32()
        if count < 0 or count > len(reader.data):
            return None
        return {reader.string() for _ in range(count)}
    except CorruptMessageError:
        return None


def java_string_hash(text):
    """Java's ``String.hashCode`` over UTF-16 code units, as a signed 32-bit int."""
    value = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        value = (31 * value + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def partition_for_group(group, num_partitions):
    """The ``__consumer_offsets`` partition of ``group``: Kafka's ``Utils.abs(hash) % n``.

    ``Utils.abs`` is ``Math.abs`` except that it maps Integer.MIN_VALUE to 0.
    """
    value = java_string_hash(group)
    return (0 if value == -(1 << 31) else abs(value)) % num_partitions
