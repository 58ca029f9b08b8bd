"""Judgements of partition and group health shared by ``/metrics`` and the status page.

Owns the few rules both the scrape-time gauges (:mod:`kafkalite.metrics_state`,
:mod:`kafkalite.metrics_groups`) and the operator's status page
(:mod:`kafkalite.status_model`) apply to broker state, so the page and the gauges can
never disagree: what counts as under-replicated or under min ISR, how far behind a
follower is as its leader sees it, and a consumer group's lag per partition. Pure
functions over the objects the replica manager and the group coordinator keep; they
are called on the reactor thread, which owns those objects.
"""

from dataclasses import dataclass

__all__ = ["FollowerLag", "GroupPartitionLag", "follower_lag", "group_lags", "is_under_min_isr",
           "is_under_replicated"]


def is_under_replicated(isr, replicas):
    """Kafka's rule: the ISR is smaller than the replica set."""
    return len(isr) < len(replicas)


def is_under_min_isr(isr, min_insync_replicas):
    """Fewer replicas in sync than ``min.insync.replicas``: acks=all produce fails (NOT_ENOUGH_REPLICAS)."""
    return len(isr) < min_insync_replicas


@dataclass(frozen=True)
class FollowerLag:
    """What a leader knows of one follower.

    :ivar messages_behind: the leader's log end offset minus the follower's, or None when the
        follower has not fetched since this broker became leader.
    :ivar caught_up_ms_ago: ms since the follower last reached the leader's log end offset, or
        None when it has not since this broker became leader.
    """

    messages_behind: int | None
    caught_up_ms_ago: int | None


def follower_lag(partition, replica_id, now_ms):
    """The lag of follower ``replica_id`` of ``partition`` (a :class:`kafkalite.replica.partition.Partition`
    this broker leads), or None when this broker does not lead it or ``replica_id`` is not a follower."""
    if not partition.is_leader:
        return None
    follower = partition.followers.get(replica_id)
    if follower is None:
        return None
    behind = None
    if follower.log_end_offset >= 0:
        behind = max(partition.log.log_end_offset - follower.log_end_offset, 0)
    # make_leader starts an unknown follower out of the ISR at 0: "never", not 56 years ago.
    caught_up = now_ms - follower.last_caught_up_ms if follower.last_caught_up_ms > 0 else None
    return FollowerLag(behind, caught_up)


@dataclass(frozen=True)
class GroupPartitionLag:
    """One committed offset of a group and, when a local replica knows the high watermark, its lag."""

    topic: str
    partition: int
    committed_offset: int
    lag: int | None


def group_lags(group, partitions):
    """The group's committed offsets, sorted by topic and partition, with their lag.

    The lag is the local replica's high watermark minus the committed offset (never below 0):
    exact on the partition's leader, one fetch behind on a follower, None without a local replica.

    :param group: a :class:`kafkalite.coordinator.group.GroupMetadata`.
    :param partitions: ``{(topic, partition): Partition}`` hosted here (the replica manager's).
    """
    lags = []
    for (topic, index), value in sorted(group.offsets.items()):
        replica = partitions.get((topic, index))
        lag = max(replica.log.high_watermark - value.offset, 0) if replica is not None else None
        lags.append(GroupPartitionLag(topic, index, value.offset, lag))
    return lags
