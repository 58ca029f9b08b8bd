"""The consumer protocol's assignment, as a group member's ``member_assignment`` carries it.

DescribeGroups returns each member's assignment as opaque bytes; for a consumer group
(``protocol_type`` ``consumer``) they are Kafka's ``ConsumerProtocolAssignment``
(``clients/src/main/resources/common/message/ConsumerProtocolAssignment.json``, v0–1 in
2.8, same layout): an int16 version, the assigned partitions by topic, and user data.
The subscription (member metadata) is declared in :mod:`kafkalite.protocol.offsets_topic`.
"""

from kafkalite.protocol.codec import VersionPrefixed
from kafkalite.protocol.schema import arr, f, message

__all__ = ["CONSUMER_PROTOCOL_ASSIGNMENT"]

# fmt: off
# Newer clients may send later versions: they only append fields (the consumer protocol's promise).
CONSUMER_PROTOCOL_ASSIGNMENT = VersionPrefixed(message(
    "ConsumerProtocolAssignment", "0-1", "none",
    f("assigned_partitions", arr(
        f("topic", "string"),
        f("partitions", "[]int32"),
    )),
    f("user_data", "bytes", nullable="0+"),
), newer_as_highest=True)
# fmt: on
