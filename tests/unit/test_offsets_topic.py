"""``__consumer_offsets`` keys and values in Kafka's version-prefixed formats, and group → partition.

The layouts are the schema declarations of :mod:`kafkalite.protocol.offsets_topic`; what
goes into them (and which version is written) is the group metadata manager's. Golden
bytes are laid out field by field from Kafka's JSON definitions.
"""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkalite.coordinator.group import (
    COMPLETING_REBALANCE,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    GroupMetadata,
    MemberMetadata,
    OffsetAndMetadata,
    subscription_topics,
)
from kafkalite.coordinator.group_metadata_manager import (
    group_metadata_key,
    group_metadata_value,
    java_string_hash,
    offset_commit_key,
    offset_commit_value,
    partition_for_group,
    read_group_value,
    read_offset_value,
)
from kafkalite.protocol.errors import CorruptMessageError
from kafkalite.protocol.offsets_topic import (
    CONSUMER_PROTOCOL_SUBSCRIPTION,
    GROUP_METADATA_KEY,
    GROUP_METADATA_VALUE,
    OFFSET_COMMIT_KEY,
    OFFSET_COMMIT_VALUE,
    decode_key,
)

names = st.text(min_size=0, max_size=30)


def s16(text):
    """A classic string: int16 length, UTF-8 bytes."""
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def test_offset_key_golden_bytes():
    """Offset key v1: int16 version 1, group, topic (int16-length strings), int32 partition."""
    assert offset_commit_key("g", "t", 3) == (
        b"\x00\x01"            # version 1
        b"\x00\x01g"           # group
        b"\x00\x01t"           # topic
        b"\x00\x00\x00\x03")   # partition


def test_group_metadata_key_golden_bytes():
    """Group-metadata key: int16 version 2, then the group."""
    assert group_metadata_key("grp") == b"\x00\x02\x00\x03grp"


def test_offset_value_v3_golden_bytes():
    """Without an expire timestamp the value is v3: offset, leader epoch, metadata, commit timestamp."""
    value = OffsetAndMetadata(offset=42, metadata="m", commit_timestamp=1000, leader_epoch=7)
    assert offset_commit_value(value) == (
        b"\x00\x03" + struct.pack(">q", 42) + struct.pack(">i", 7) + b"\x00\x01m" + struct.pack(">q", 1000))


def test_offset_value_with_expire_timestamp_is_v1():
    """An explicit retention (OffsetCommit v2-v4) is written as value v1 with the expire timestamp."""
    value = OffsetAndMetadata(offset=5, metadata="", commit_timestamp=10, expire_timestamp=99)
    data = offset_commit_value(value)
    assert data == b"\x00\x01" + struct.pack(">q", 5) + b"\x00\x00" + struct.pack(">qq", 10, 99)
    assert read_offset_value(data) == value


def test_offset_value_v0_and_v2_decode():
    """Older values (v0, v2: offset, metadata, commit timestamp) still decode."""
    body = struct.pack(">q", 8) + b"\x00\x02md" + struct.pack(">q", 77)
    for version in (0, 2):
        value = read_offset_value(struct.pack(">h", version) + body)
        assert value == OffsetAndMetadata(8, -1, "md", 77, None)


def test_group_metadata_value_v3_golden_bytes():
    """Group-metadata value v3 of a Stable group with one static member, field by field."""
    group = GroupMetadata("g", state=STABLE, current_state_timestamp=1234, protocol_type="consumer",
                          protocol_name="range", generation_id=4, leader_id="m-1")
    group.members["m-1"] = MemberMetadata("m-1", "i-1", "c", "/h", 30000, 10000, "consumer", [("range", b"sub")],
                                          assignment=b"as")
    assert group_metadata_value(group) == (
        b"\x00\x03"                      # version 3
        + s16("consumer")                # protocol_type
        + struct.pack(">i", 4)           # generation
        + s16("range")                   # protocol (nullable)
        + s16("m-1")                     # leader (nullable)
        + struct.pack(">q", 1234)        # current_state_timestamp (v2+)
        + struct.pack(">i", 1)           # members: count
        + s16("m-1")                     #   member_id
        + s16("i-1")                     #   group_instance_id (v3+, nullable)
        + s16("c") + s16("/h")           #   client_id, client_host
        + struct.pack(">ii", 30000, 10000)  # rebalance_timeout (v1+), session_timeout
        + struct.pack(">i", 3) + b"sub"  #   subscription
        + struct.pack(">i", 2) + b"as")  #   assignment
    loaded = read_group_value("g", group_metadata_value(group), now_ms=0)
    assert (loaded.state, loaded.generation_id, loaded.protocol_type, loaded.protocol_name, loaded.leader_id,
            loaded.current_state_timestamp) == (STABLE, 4, "consumer", "range", "m-1", 1234)
    member = loaded.members["m-1"]
    assert (member.group_instance_id, member.client_id, member.client_host, member.rebalance_timeout_ms,
            member.session_timeout_ms, member.protocols, member.assignment) == (
        "i-1", "c", "/h", 30000, 10000, [("range", b"sub")], b"as")
    assert loaded.static_members == {"i-1": "m-1"}


def test_empty_group_value_golden_bytes():
    """An Empty group: empty protocol type, null protocol and leader, no members."""
    group = GroupMetadata("g", state=EMPTY, current_state_timestamp=99, generation_id=5)
    assert group_metadata_value(group) == (
        b"\x00\x03" + b"\x00\x00" + struct.pack(">i", 5) + b"\xff\xff" + b"\xff\xff" + struct.pack(">q", 99)
        + struct.pack(">i", 0))
    loaded = read_group_value("g", group_metadata_value(group), now_ms=0)
    assert (loaded.state, loaded.protocol_type, loaded.protocol_name, loaded.members) == (EMPTY, None, None, {})


def test_group_metadata_value_v0_decodes():
    """A v0 value (no rebalance timeout, no timestamp, no instance id) decodes with defaults."""
    data = (b"\x00\x00" + s16("consumer") + struct.pack(">i", 2) + s16("range") + s16("m") + struct.pack(">i", 1)
            + s16("m") + s16("c") + s16("h") + struct.pack(">i", 6000) + struct.pack(">i", 3) + b"abc"
            + struct.pack(">i", 0))
    group = read_group_value("g", data, now_ms=555)
    assert (group.generation_id, group.protocol_name, group.current_state_timestamp) == (2, "range", 555)
    member = group.members["m"]
    assert (member.group_instance_id, member.rebalance_timeout_ms, member.session_timeout_ms,
            member.metadata("range"), member.assignment) == (None, 6000, 6000, b"abc", b"")


@pytest.mark.parametrize("schema, versions", [
    (OFFSET_COMMIT_KEY, (0, 1)), (OFFSET_COMMIT_VALUE, (0, 1, 2, 3)), (GROUP_METADATA_KEY, (2,)),
    (GROUP_METADATA_VALUE, (0, 1, 2, 3)), (CONSUMER_PROTOCOL_SUBSCRIPTION, (0, 1)),
])
def test_declared_versions_match_kafka(schema, versions):
    """The valid versions of each record are Kafka 2.8's, and none is flexible."""
    message = schema.message
    assert tuple(range(message.valid.low, message.valid.high + 1)) == versions
    assert message.first_flexible_version is None


@given(names, names, st.integers(0, 2**31 - 1))
def test_offset_key_round_trip(group, topic, partition):
    """Any group/topic/partition survives encode → decode."""
    assert decode_key(offset_commit_key(group, topic, partition)) == (
        OFFSET_COMMIT_KEY, {"group": group, "topic": topic, "partition": partition})


@given(st.integers(-1, 2**62), names, st.integers(0, 2**40), st.integers(-1, 2**31 - 1))
def test_offset_value_round_trip(offset, metadata, timestamp, epoch):
    """Any v3 offset value survives encode → decode."""
    value = OffsetAndMetadata(offset, epoch, metadata, timestamp)
    assert read_offset_value(offset_commit_value(value)) == value


def test_group_metadata_value_round_trip_through_the_group():
    """A group's metadata written and read back keeps every member field, static instance ids included."""
    group = GroupMetadata("g", current_state_timestamp=1)
    for member_id, instance in (("m-1", "instance-1"), ("m-2", None)):
        group.add(MemberMetadata(member_id, instance, "client", "/127.0.0.1", 30000, 10000, "consumer",
                                 [("range", member_id.encode())], assignment=b"assign-" + member_id.encode()))
    group.transition_to(PREPARING_REBALANCE, 2)
    group.init_next_generation(3)
    assert group.state == COMPLETING_REBALANCE
    loaded = read_group_value("g", group_metadata_value(group), now_ms=0)
    assert {m: (v.group_instance_id, v.metadata("range"), v.assignment) for m, v in loaded.members.items()} == {
        "m-1": ("instance-1", b"m-1", b"assign-m-1"), "m-2": (None, b"m-2", b"assign-m-2")}
    assert (loaded.generation_id, loaded.leader_id, loaded.current_state_timestamp) == (1, "m-1", 3)


def test_truncated_and_unknown_versions():
    """Truncated data is corrupt; an unknown key version is skipped (None), as newer Kafka does."""
    with pytest.raises(CorruptMessageError):
        read_offset_value(b"\x00\x03\x00")
    with pytest.raises(CorruptMessageError):
        read_offset_value(b"\x00\x07" + bytes(30))
    with pytest.raises(CorruptMessageError):
        decode_key(b"\x00\x01\x00\x05ab")
    with pytest.raises(CorruptMessageError):
        decode_key(b"\x00")
    assert decode_key(b"\x00\x09") is None


def test_java_string_hash_matches_java():
    """String.hashCode values computed by the JVM (including non-ASCII and negative results)."""
    assert java_string_hash("") == 0
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("polygenelubricants") == -2147483648
    assert java_string_hash("é") == 233


def test_partition_for_group_uses_kafka_abs():
    """Utils.abs: negative hashes use their absolute value, Integer.MIN_VALUE maps to 0."""
    assert partition_for_group("polygenelubricants", 50) == 0
    value = java_string_hash("my-group")
    assert partition_for_group("my-group", 50) == abs(value) % 50


def test_subscription_topics():
    """The consumer-protocol subscription's topics are read at any version (newer as v1); garbage gives None."""
    v0 = b"\x00\x00" + struct.pack(">i", 2) + b"\x00\x01a" + b"\x00\x01b" + struct.pack(">i", -1)
    assert subscription_topics(v0) == {"a", "b"}
    # v3 (a newer client): v1's owned partitions, then a generation id and a rack id v1 does not know.
    v3 = (b"\x00\x03" + struct.pack(">i", 1) + b"\x00\x01a" + struct.pack(">i", -1)
          + struct.pack(">i", 1) + b"\x00\x01a" + struct.pack(">ii", 1, 0) + struct.pack(">i", 7) + b"\xff\xff")
    assert subscription_topics(v3) == {"a"}
    assert CONSUMER_PROTOCOL_SUBSCRIPTION.decode(v3)[1]["owned_partitions"] == [{"topic": "a", "partitions": [0]}]
    assert subscription_topics(b"\x00") is None
    assert subscription_topics(b"\xff\xff" + bytes(8)) is None
    assert subscription_topics(b"\x00\x00" + struct.pack(">i", 9) + b"\x00\x01a") is None
