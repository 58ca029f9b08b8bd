"""``__consumer_offsets`` keys and values in Kafka's version-prefixed formats, and group → partition."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkalite.coordinator import offsets_codec as codec
from kafkalite.protocol.errors import CorruptMessageError

names = st.text(min_size=0, max_size=30)


def test_offset_key_golden_bytes():
    """Offset key v1: int16 version 1, group, topic (int16-length strings), int32 partition."""
    assert codec.encode_offset_key("g", "t", 3) == (
        b"\x00\x01"            # version 1
        b"\x00\x01g"           # group
        b"\x00\x01t"           # topic
        b"\x00\x00\x00\x03")   # partition


def test_group_metadata_key_golden_bytes():
    """Group-metadata key: int16 version 2, then the group."""
    assert codec.encode_group_metadata_key("grp") == b"\x00\x02\x00\x03grp"


def test_offset_value_v3_golden_bytes():
    """Without an expire timestamp the value is v3: offset, leader epoch, metadata, commit timestamp."""
    value = codec.OffsetValue(offset=42, metadata="m", commit_timestamp=1000, leader_epoch=7)
    assert codec.encode_offset_value(value) == (
        b"\x00\x03" + struct.pack(">q", 42) + struct.pack(">i", 7) + b"\x00\x01m" + struct.pack(">q", 1000))


def test_offset_value_with_expire_timestamp_is_v1():
    """An explicit retention (OffsetCommit v2-v4) is written as value v1 with the expire timestamp."""
    value = codec.OffsetValue(offset=5, metadata="", commit_timestamp=10, expire_timestamp=99)
    data = codec.encode_offset_value(value)
    assert data[:2] == b"\x00\x01"
    assert codec.decode_offset_value(data) == value


def test_offset_value_v0_and_v2_decode():
    """Older values (v0, v2: offset, metadata, commit timestamp) still decode."""
    body = struct.pack(">q", 8) + b"\x00\x02md" + struct.pack(">q", 77)
    for version in (0, 2):
        value = codec.decode_offset_value(struct.pack(">h", version) + body)
        assert (value.offset, value.metadata, value.commit_timestamp, value.leader_epoch) == (8, "md", 77, -1)


@given(names, names, st.integers(0, 2**31 - 1))
def test_offset_key_round_trip(group, topic, partition):
    """Any group/topic/partition survives encode → decode."""
    assert codec.decode_key(codec.encode_offset_key(group, topic, partition)) == codec.OffsetKey(
        group, topic, partition)


@given(st.integers(-1, 2**62), names, st.integers(0, 2**40), st.integers(-1, 2**31 - 1))
def test_offset_value_round_trip(offset, metadata, timestamp, epoch):
    """Any v3 offset value survives encode → decode."""
    value = codec.OffsetValue(offset, metadata, timestamp, epoch)
    assert codec.decode_offset_value(codec.encode_offset_value(value)) == value


def test_group_metadata_value_round_trip_v3():
    """Group metadata v3 keeps every member field, static instance ids included."""
    value = codec.GroupMetadataValue(
        "consumer", 4, "range", "m-1", 1234,
        (codec.MemberValue("m-1", "client", "/127.0.0.1", 30000, 10000, b"sub", b"assign", "instance-1"),
         codec.MemberValue("m-2", "client", "/127.0.0.1", 30000, 10000, b"sub2", b"", None)))
    data = codec.encode_group_metadata_value(value)
    assert data[:2] == b"\x00\x03"
    assert codec.decode_group_metadata_value(data) == value


def test_group_metadata_value_v0_decodes():
    """A v0 value (no rebalance timeout, no timestamp, no instance id) decodes with defaults."""
    def s(text):
        return struct.pack(">h", len(text)) + text.encode()

    data = (b"\x00\x00" + s("consumer") + struct.pack(">i", 2) + s("range") + s("m") + struct.pack(">i", 1)
            + s("m") + s("c") + s("h") + struct.pack(">i", 6000) + struct.pack(">i", 3) + b"abc"
            + struct.pack(">i", 0))
    value = codec.decode_group_metadata_value(data)
    assert value.generation == 2 and value.protocol == "range" and value.current_state_timestamp == -1
    assert value.members == (codec.MemberValue("m", "c", "h", 6000, 6000, b"abc", b"", None),)


def test_truncated_and_unknown_versions():
    """Truncated data is corrupt; an unknown key version is skipped (None), as Kafka does."""
    with pytest.raises(CorruptMessageError):
        codec.decode_offset_value(b"\x00\x03\x00")
    with pytest.raises(CorruptMessageError):
        codec.decode_key(b"\x00\x01\x00\x05ab")
    assert codec.decode_key(b"\x00\x09") is None


def test_java_string_hash_matches_java():
    """String.hashCode values computed by the JVM (including non-ASCII and negative results)."""
    assert codec.java_string_hash("") == 0
    assert codec.java_string_hash("hello") == 99162322
    assert codec.java_string_hash("polygenelubricants") == -2147483648
    assert codec.java_string_hash("é") == 233


def test_partition_for_group_uses_kafka_abs():
    """Utils.abs: negative hashes use their absolute value, Integer.MIN_VALUE maps to 0."""
    assert codec.partition_for_group("polygenelubricants", 50) == 0
    value = codec.java_string_hash("my-group")
    assert codec.partition_for_group("my-group", 50) == abs(value) % 50


def test_subscription_topics():
    """The consumer-protocol subscription's topic list is parsed; garbage gives None."""
    data = b"\x00\x01" + struct.pack(">i", 2) + b"\x00\x01a" + b"\x00\x01b" + struct.pack(">i", -1)
    assert codec.subscription_topics(data) == {"a", "b"}
    assert codec.subscription_topics(b"\x00") is None
