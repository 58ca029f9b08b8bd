"""DeleteRecords on the leader (Kafka 2.8's ``ReplicaManager.deleteRecords`` and ``DelayedDeleteRecords``).

The leader moves its log start offset to the requested offset (-1: the high watermark;
beyond the high watermark: OFFSET_OUT_OF_RANGE; a topic without ``delete`` in its
``cleanup.policy``: POLICY_VIOLATION), then the request waits in the DeleteRecords
purgatory until the partition's *low watermark* — the smallest log start offset among
the leader and the replicas on live brokers, as the followers report it in their fetches
— reaches it, or its timeout passes (REQUEST_TIMED_OUT). Followers raise their own log
start offset from the leader's fetch responses (:mod:`kafkalite.replica.fetcher`);
retention then deletes the segments wholly below it.
"""

from dataclasses import dataclass

from twisted.internet import defer

from kafkalite.protocol import errors
from kafkalite.replica.purgatory import DelayedOperation

__all__ = ["DeleteRecordsResult", "delete_records", "low_watermark"]

HIGH_WATERMARK = -1
INVALID_LOW_WATERMARK = -1


@dataclass
class DeleteRecordsResult:
    """One partition's answer; ``required_offset`` is the offset its low watermark must reach."""

    error_code: int = 0
    low_watermark: int = INVALID_LOW_WATERMARK
    required_offset: int = -1
    pending: bool = False


def low_watermark(partition, live_brokers):
    """Kafka's ``Partition.lowWatermarkIfLeader``: the least log start offset of the leader and
    of the replicas on ``live_brokers`` (a follower not heard from yet counts as -1)."""
    lowest = partition.log.log_start_offset
    for broker_id, follower in partition.followers.items():
        if broker_id in live_brokers and follower.log_start_offset < lowest:
            lowest = follower.log_start_offset
    return lowest


def _delete_on_leader(manager, topic, index, offset):
    partition = manager.leader_partition(topic, index)
    log = partition.log
    if not log.config.delete_enabled:
        raise errors.PolicyViolationError(
            "Records of partition %s-%d can not be deleted due to the configured policy" % (topic, index))
    target = log.high_watermark if offset == HIGH_WATERMARK else offset
    if target < 0:
        raise errors.OffsetOutOfRangeError(
            "The offset %d for partition %s-%d is not valid" % (offset, topic, index))
    if target > log.high_watermark:
        raise errors.OffsetOutOfRangeError(
            "Cannot increment the log start offset to %d of partition %s-%d since it is larger than the high "
            "watermark %d" % (target, topic, index, log.high_watermark))
    log.maybe_increment_log_start_offset(target)
    return partition, target


def delete_records(manager, timeout_ms, offsets):
    """Delete the records below ``offsets`` (``{(topic, partition): offset}``) on the partitions led here.

    :param manager: the :class:`~kafkalite.replica.manager.ReplicaManager`.
    :returns: a Deferred firing with ``{(topic, partition): DeleteRecordsResult}`` once every
        partition's low watermark reached its offset, or the timeout passed.
    """
    results = {}
    live = set(manager.metadata_cache.brokers)
    for key, offset in offsets.items():
        result = results[key] = DeleteRecordsResult()
        try:
            partition, target = _delete_on_leader(manager, key[0], key[1], offset)
        except errors.KafkaError as error:
            result.error_code = error.code
            continue
        result.required_offset = target
        lowest = low_watermark(partition, live | {manager.broker_id})
        if lowest >= target:
            result.low_watermark = lowest
        else:
            result.pending = True
            result.error_code = errors.RequestTimedOutError.code
    done = defer.Deferred()
    waiting = [key for key, result in results.items() if result.pending]
    operation = DelayedDeleteRecords(manager, results, done)
    if not waiting:
        operation.on_complete(False)
    else:
        manager.delete_records_purgatory.try_complete_else_watch(operation, waiting, timeout_ms)
    return done


class DelayedDeleteRecords(DelayedOperation):
    """DeleteRecords waiting for every replica's log start offset (Kafka's ``DelayedDeleteRecords``)."""

    def __init__(self, manager, results, done):
        self.manager = manager
        self.results = results
        self.done = done

    def try_complete(self, key=None):
        live = set(self.manager.metadata_cache.brokers) | {self.manager.broker_id}
        for key_, result in self.results.items():
            if not result.pending:
                continue
            partition = self.manager.partitions.get(key_)
            if partition is None:
                result.pending = False
                result.error_code = errors.UnknownTopicOrPartitionError.code
            elif not partition.is_leader:
                result.pending = False
                result.error_code = errors.NotLeaderOrFollowerError.code
            else:
                lowest = low_watermark(partition, live)
                if lowest >= result.required_offset:
                    result.pending = False
                    result.error_code = 0
                    result.low_watermark = lowest
        return not any(result.pending for result in self.results.values())

    def on_complete(self, expired):
        self.done.callback(self.results)
