"""Fetching from followers (KIP-392): which replica a consumer should read from.

A consumer's Fetch v11+ names its rack (``client.rack``). With
``replica.selector.class`` set to Kafka's ``RackAwareReplicaSelector``, the leader
answers such a fetch with no records and a ``preferred_read_replica`` when a replica
in the consumer's rack other than the leader holds the fetch offset (Kafka 2.8's
``ReplicaManager.findPreferredReadReplica``: log start ≤ offset ≤ log end offset); the
consumer then fetches from that follower, which serves it up to its high watermark.
The leader stays the answer when it is in the consumer's rack, when no replica is, or
when the consumer names no rack.
"""

__all__ = ["ClientMetadata", "RackAwareReplicaSelector", "preferred_read_replica"]


class ClientMetadata:
    """What a Fetch v11+ tells about the consumer: its rack (``rack_id``, "" for none)."""

    __slots__ = ("rack_id",)

    def __init__(self, rack_id):
        self.rack_id = rack_id or ""


class RackAwareReplicaSelector:
    """Kafka's ``org.apache.kafka.common.replica.RackAwareReplicaSelector``.

    ``select(rack_id, leader, candidates)`` with replicas as ``(broker_id, rack,
    log_end_offset, time_since_caught_up_ms)``: the leader if it is in the client's rack
    (or the client has none, or no replica is in it), else the most caught-up replica in
    the rack: highest log end offset, then most recently caught up, then lowest id.
    """

    def select(self, rack_id, leader, candidates):
        if not rack_id:
            return leader
        same_rack = [replica for replica in candidates + [leader] if replica[1] == rack_id]
        if not same_rack or leader in same_rack:
            return leader
        return min(same_rack, key=lambda replica: (-replica[2], replica[3], replica[0]))


def preferred_read_replica(selector, partition, client_metadata, fetch_offset, racks, now_ms):
    """The follower a consumer should fetch ``partition`` from, or None (read here).

    :param selector: the configured selector, or None (then always None, as Kafka).
    :param partition: a :class:`~kafkalite.replica.partition.Partition` this broker leads.
    :param client_metadata: the fetch's :class:`ClientMetadata`, or None (Fetch < v11).
    :param racks: ``{broker_id: rack}`` of the live brokers (from the metadata cache).
    """
    if selector is None or client_metadata is None or not partition.is_leader:
        return None
    candidates = []
    for broker_id, follower in partition.followers.items():
        if broker_id not in racks:
            continue
        if follower.log_start_offset <= fetch_offset <= follower.log_end_offset:
            candidates.append((broker_id, racks[broker_id], follower.log_end_offset,
                               now_ms - follower.last_caught_up_ms))
    leader = (partition.broker_id, racks.get(partition.broker_id), partition.log.log_end_offset, 0)
    chosen = selector.select(client_metadata.rack_id, leader, candidates)
    if chosen is None or chosen[0] == partition.broker_id:
        return None
    return chosen[0]
