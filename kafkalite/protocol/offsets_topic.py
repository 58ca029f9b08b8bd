"""The records of ``__consumer_offsets``, declared once in our schema notation (reference §3.4).

Kafka 2.8 keeps its group coordinator's state in this compacted topic. Every key and
value is a data message written after an int16 of its version, in the classic
(never flexible, in 2.8) encoding; checked against Kafka's
``core/src/main/resources/common/message/{OffsetCommitKey,OffsetCommitValue,
GroupMetadataKey,GroupMetadataValue}.json``:

- ``OFFSET_COMMIT_KEY`` v0–1 (same layout): group, topic, partition;
- ``OFFSET_COMMIT_VALUE`` v0–3: v1 adds an explicit expire timestamp (OffsetCommit
  v2–v4's retention time), v2 drops it again, v3 adds the leader epoch;
- ``GROUP_METADATA_KEY`` v2: the group;
- ``GROUP_METADATA_VALUE`` v0–3: v1 adds each member's rebalance timeout, v2 the
  state timestamp, v3 each member's ``group.instance.id`` (KIP-345).

A key's version says which key it is (:func:`decode_key`). Also declared here:
``CONSUMER_PROTOCOL_SUBSCRIPTION``, the consumer protocol's member metadata that a
group-metadata value embeds (``clients/.../ConsumerProtocolSubscription.json``, v0–1
in 2.8), read for the topics a consumer group subscribes to.

Which version to write is the coordinator's choice, not this module's. Pure code.
"""

from kafkalite.protocol.codec import VersionPrefixed
from kafkalite.protocol.schema import arr, f, message

# Schemas keep a hand-laid, one-field-per-line layout that mirrors Kafka's JSON.
# fmt: off

__all__ = [
    "CONSUMER_PROTOCOL_SUBSCRIPTION",
    "GROUP_METADATA_KEY",
    "GROUP_METADATA_VALUE",
    "OFFSET_COMMIT_KEY",
    "OFFSET_COMMIT_VALUE",
    "decode_key",
]

OFFSET_COMMIT_KEY = VersionPrefixed(message(
    "OffsetCommitKey", "0-1", "none",
    f("group", "string"),
    f("topic", "string"),
    f("partition", "int32"),
))

OFFSET_COMMIT_VALUE = VersionPrefixed(message(
    "OffsetCommitValue", "0-3", "none",
    f("offset", "int64"),
    f("leader_epoch", "int32", "3+", default=-1),
    f("metadata", "string"),
    f("commit_timestamp", "int64"),
    f("expire_timestamp", "int64", "1", default=-1),
))

GROUP_METADATA_KEY = VersionPrefixed(message(
    "GroupMetadataKey", "2", "none",
    f("group", "string", "2"),
))

GROUP_METADATA_VALUE = VersionPrefixed(message(
    "GroupMetadataValue", "0-3", "none",
    f("protocol_type", "string"),
    f("generation", "int32"),
    f("protocol", "string", nullable="0+"),
    f("leader", "string", nullable="0+"),
    f("current_state_timestamp", "int64", "2+", default=-1),
    f("members", arr(
        f("member_id", "string"),
        f("group_instance_id", "string", "3+", nullable="3+"),
        f("client_id", "string"),
        f("client_host", "string"),
        f("rebalance_timeout", "int32", "1+"),
        f("session_timeout", "int32"),
        f("subscription", "bytes"),
        f("assignment", "bytes"),
    )),
))

# Newer clients send v2+ (generation id, rack id): Kafka 2.8 reads them as its highest version.
CONSUMER_PROTOCOL_SUBSCRIPTION = VersionPrefixed(message(
    "ConsumerProtocolSubscription", "0-1", "none",
    f("topics", "[]string"),
    f("user_data", "bytes", nullable="0+"),
    f("owned_partitions", arr(
        f("topic", "string", "1+"),
        f("partitions", "[]int32", "1+"),
    ), "1+"),
), newer_as_highest=True)

# fmt: on

_KEY_BY_VERSION = {
    version: schema
    for schema in (OFFSET_COMMIT_KEY, GROUP_METADATA_KEY)
    for version in range(schema.message.valid.low, schema.message.valid.high + 1)
}


def decode_key(data):
    """Decode a ``__consumer_offsets`` key; its version says which key it is.

    :returns: ``(OFFSET_COMMIT_KEY or GROUP_METADATA_KEY, dict)``, or None for a version
        no key has (Kafka 2.8 fails the load on those; newer Kafka skips them, as we do).
    :raises CorruptMessageError: truncated or malformed.
    """
    schema = _KEY_BY_VERSION.get(VersionPrefixed.peek_version(data))
    if schema is None:
        return None
    return schema, schema.decode(data)[1]
