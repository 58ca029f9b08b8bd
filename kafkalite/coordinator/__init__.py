"""The coordinators, shaped as Kafka's ``kafka.coordinator``.

- ``group_coordinator``: :class:`GroupCoordinator`, the group membership protocol;
- ``rebalance``: its rebalance timing and member transitions;
- ``group_metadata_manager``: :class:`GroupMetadataManager`, the group and offset store
  on ``__consumer_offsets``;
- ``group``: a group's state (``GroupMetadata``, ``MemberMetadata``, ``OffsetAndMetadata``);
- ``config``: their settings; ``producer_id``: blocks of producer ids for idempotence.
"""

__all__ = []
