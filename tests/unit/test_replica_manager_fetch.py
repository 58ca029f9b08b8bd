"""ReplicaManager's fetch path: read bounds, long polls, size limits, epoch fencing and diverging epochs.

A real ``ReplicaManager`` over real logs in ``tmp_path`` and a ``task.Clock``
(:class:`tests.support.replica.ReplicaBroker`). Consumers fetch with replica id -1,
followers with their broker id; results are decoded back to ``(offset, value)``.
"""

import pytest
from twisted.internet import defer

from kafkalite.protocol import errors
from kafkalite.replica.manager import FetchRequestPartition, check_leader_epoch, diverging_epoch
from tests.support.replica import ReplicaBroker, fetched_values, fired, partition_state, stop_replica_request


@pytest.fixture
def broker(tmp_path):
    """Broker 1 with Kafka's default topic configs."""
    broker = ReplicaBroker(tmp_path)
    yield broker
    broker.close()


def produce_batches(broker, *batches, topic="t", partition=0):
    """Append each list of values as one batch with acks=1; the base offsets."""
    offsets = []
    for values in batches:
        result = broker.produce(values, acks=1, topic=topic, partition=partition)
        assert result.error_code == 0, result
        offsets.append(result.base_offset)
    return offsets


def test_consumer_reads_up_to_the_high_watermark_and_a_follower_to_the_log_end(broker):
    """Records past the HW are invisible to consumers but replicated to followers."""
    broker.lead(isr=(1, 2))
    produce_batches(broker, [b"a", b"b"], [b"c", b"d"])
    broker.replicate(2, 2)
    assert broker.manager.partitions[("t", 0)].high_watermark == 2
    consumed = broker.fetch(0)
    assert fetched_values(consumed) == [(0, b"a"), (1, b"b")]
    assert (consumed.error_code, consumed.high_watermark, consumed.last_stable_offset,
            consumed.log_start_offset) == (0, 2, 2, 0)
    assert fetched_values(broker.fetch(2)) == []
    assert fetched_values(broker.fetch(0, replica_id=3)) == [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"d")]
    assert fetched_values(broker.fetch(2, replica_id=2)) == [(2, b"c"), (3, b"d")]


def test_fetch_outside_the_log_is_offset_out_of_range(broker):
    """Consumers and followers alike: an offset past the log end answers OFFSET_OUT_OF_RANGE, at once."""
    broker.lead(isr=(1,))
    produce_batches(broker, [b"a"])
    for replica_id in (-1, 2):
        result = broker.fetch(5, replica_id=replica_id, max_wait_ms=500)
        assert result.error_code == errors.OffsetOutOfRangeError.code


def test_fetch_from_a_follower_or_unknown_partition_is_refused(broker):
    """Fetches go to the leader: a followed partition answers NOT_LEADER, an unknown one UNKNOWN_TOPIC."""
    broker.leader_and_isr(partition_state("followed", 0, leader=2))
    assert broker.fetch(0, topic="followed").error_code == errors.NotLeaderOrFollowerError.code
    assert broker.fetch(0, topic="nowhere", max_wait_ms=500).error_code == \
        errors.UnknownTopicOrPartitionError.code


def test_consumer_long_poll_is_woken_by_the_high_watermark_not_by_the_append(broker):
    """A consumer waiting at the HW is not answered by an append alone, but as soon as the HW covers it."""
    partition = broker.lead(isr=(1, 2))
    produce_batches(broker, [b"a"])
    broker.replicate(2, 1)
    d = broker.fetch(1, max_wait_ms=500)
    assert not d.called
    produce_batches(broker, [b"b", b"c"])
    assert not d.called
    broker.replicate(2, 3)
    assert partition.high_watermark == 3
    result = fired(d)
    assert fetched_values(result) == [(1, b"b"), (2, b"c")]
    assert result.high_watermark == 3


def test_follower_long_poll_is_woken_by_an_append(broker):
    """A follower waiting at the log end gets the next append at once, whatever the HW."""
    broker.lead(isr=(1, 2))
    d = broker.fetch(0, replica_id=2, max_wait_ms=500)
    assert not d.called
    produce_batches(broker, [b"a", b"b"])
    assert fetched_values(fired(d)) == [(0, b"a"), (1, b"b")]
    assert len(broker.manager.fetch_purgatory) == 0


def test_long_poll_expires_through_the_clock_with_what_is_there(broker):
    """Below min_bytes until max_wait_ms: the fetch answers then with the data it has (or none)."""
    broker.lead(isr=(1,))
    produce_batches(broker, [b"a"])
    short = broker.fetch(0, max_wait_ms=300, min_bytes=10_000)
    empty = broker.fetch(1, max_wait_ms=300)
    broker.clock.advance(0.299)
    assert not short.called and not empty.called
    broker.clock.advance(0.001)
    assert fetched_values(fired(short)) == [(0, b"a")]
    empty = fired(empty)
    assert (empty.error_code, empty.records, empty.high_watermark) == (0, None, 1)


def test_long_poll_completes_once_min_bytes_have_accumulated(broker):
    """Appends below min_bytes keep the fetch waiting; the one that reaches min_bytes answers it with all."""
    partition = broker.lead(isr=(1,))
    produce_batches(broker, [b"x" * 50])
    batch_size = partition.log.read(0, 1 << 20).records.length
    d = broker.fetch(1, max_wait_ms=500, min_bytes=2 * batch_size)
    produce_batches(broker, [b"y" * 50])
    assert not d.called
    produce_batches(broker, [b"z" * 50])
    assert fetched_values(fired(d)) == [(1, b"y" * 50), (2, b"z" * 50)]


def test_long_poll_over_several_partitions_is_woken_by_any_of_them(broker):
    """One fetch waiting on two partitions is answered by an append to either, with each partition's data."""
    broker.lead("t", 0, isr=(1,))
    broker.lead("t", 1, isr=(1,))
    d = broker.manager.fetch(-1, 500, 1, 1 << 20, [FetchRequestPartition("t", 0, 0, 1 << 20),
                                                   FetchRequestPartition("t", 1, 0, 1 << 20)])
    assert not d.called
    produce_batches(broker, [b"b"], partition=1)
    results = fired(d)
    assert [fetched_values(r) for r in results] == [[], [(0, b"b")]]
    assert len(broker.manager.fetch_purgatory) == 0

def test_min_bytes_zero_or_no_wait_answers_at_once(broker):
    """Without max_wait_ms, or with min_bytes 0, an empty fetch is answered immediately."""
    broker.lead(isr=(1,))
    assert broker.fetch(0, max_wait_ms=0).records is None
    assert broker.fetch(0, max_wait_ms=500, min_bytes=0).records is None
    assert len(broker.manager.fetch_purgatory) == 0


def test_parked_fetch_answers_not_leader_when_leadership_moves(broker):
    """A consumer long poll on a partition that moves to broker 2, or is stopped, answers NOT_LEADER at once."""
    broker.lead("t", 0, isr=(1,), leader_epoch=1)
    broker.lead("t", 1, isr=(1,), leader_epoch=1)
    moved = broker.fetch(0, partition=0, max_wait_ms=500)
    stopped = broker.fetch(0, partition=1, max_wait_ms=500)
    broker.leader_and_isr(partition_state("t", 0, leader=2, leader_epoch=2))
    assert fired(moved).error_code == errors.NotLeaderOrFollowerError.code
    assert not stopped.called
    broker.manager.stop_replicas(stop_replica_request([("t", 1)], leader_epoch=2))
    assert fired(stopped).error_code == errors.UnknownTopicOrPartitionError.code  # not in the metadata cache


def test_first_batch_is_returned_whole_even_above_the_limits(broker):
    """KIP-74: the first batch of a response comes whole even when larger than max_bytes and the partition limit."""
    broker.lead(isr=(1,))
    produce_batches(broker, [b"x" * 500], [b"y"])
    result = broker.fetch(0, max_bytes=10, partition_max_bytes=10)
    assert fetched_values(result) == [(0, b"x" * 500)]


def test_response_and_partition_limits_after_the_first_batch(broker):
    """After the first batch, batches only come while both the response's and the partition's budgets allow."""
    for index in range(3):
        broker.lead("t", index, isr=(1,))
        produce_batches(broker, [b"a" * 100], [b"b" * 100], [b"c" * 100], partition=index)
    size = broker.manager.partitions[("t", 0)].log.read(0, 1).records.length
    partitions = [FetchRequestPartition("t", index, 0, 2 * size) for index in range(3)]
    results = broker.manager.fetch(-1, 0, 1, 3 * size, partitions)
    # Partition 0 fills its own limit (2 batches), partition 1 the rest of the response (1), partition 2 none.
    assert [len(fetched_values(r)) for r in results] == [2, 1, 0]
    assert [(r.error_code, r.high_watermark) for r in results] == [(0, 3)] * 3
    # A partition limit below one batch gives nothing once the response has data.
    partitions = [FetchRequestPartition("t", 0, 0, size), FetchRequestPartition("t", 1, 0, size - 1)]
    assert [len(fetched_values(r)) for r in broker.manager.fetch(-1, 0, 1, 10 * size, partitions)] == [1, 0]


@pytest.mark.parametrize("replica_id", [-1, 2])
def test_kip_320_current_leader_epoch_fencing(broker, replica_id):
    """A fetch naming an older leader epoch is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH, at once."""
    broker.lead(isr=(1, 2), leader_epoch=5)
    produce_batches(broker, [b"a"])
    broker.replicate(2, 1)
    for epoch, code in [(4, errors.FencedLeaderEpochError.code), (6, errors.UnknownLeaderEpochError.code),
                        (5, 0), (-1, 0)]:
        result = broker.fetch(0, replica_id=replica_id, current_leader_epoch=epoch, max_wait_ms=500, min_bytes=1)
        assert (epoch, result.error_code) == (epoch, code)
        assert (result.records is None) == bool(code)
    assert broker.manager.leader_partition("t", 0, 5).leader_epoch == 5
    with pytest.raises(errors.FencedLeaderEpochError):
        broker.manager.leader_partition("t", 0, 4)


def test_fenced_follower_fetch_does_not_move_the_high_watermark(broker):
    """A follower's fetch under a stale epoch is refused before its offset is recorded."""
    partition = broker.lead(isr=(1, 2), leader_epoch=5)
    produce_batches(broker, [b"a"])
    assert broker.replicate(2, 1, current_leader_epoch=4).error_code == errors.FencedLeaderEpochError.code
    assert partition.high_watermark == 0 and partition.followers[2].log_end_offset == -1


def led_through_two_epochs(broker):
    """Leader 1 at epoch 1 for offsets 0-1, re-elected at epoch 3 for offsets 2-3 (epoch 2 never led here)."""
    broker.lead(isr=(1, 2), leader_epoch=1)
    produce_batches(broker, [b"a", b"b"])
    partition = broker.lead(isr=(1, 2), leader_epoch=3)
    produce_batches(broker, [b"c", b"d"])
    return partition


def test_follower_whose_last_epoch_ended_earlier_gets_a_diverging_epoch(broker):
    """Fetch v12: a follower past where its last epoch ended here is told (epoch, end) and given no records."""
    partition = led_through_two_epochs(broker)
    # Follower saw epoch 1 up to offset 2 (and an epoch-2 batch we never had): diverges at epoch 1, end 2.
    for last_epoch, offset in [(1, 3), (2, 3)]:
        result = broker.replicate(2, offset, last_fetched_epoch=last_epoch)
        assert (result.error_code, result.diverging_epoch, result.records) == (0, (1, 2), None)
    assert partition.followers[2].log_end_offset == -1  # its offset was not taken as replicated
    assert partition.high_watermark == 0


def test_follower_consistent_with_the_leader_epochs_fetches_normally(broker):
    """No divergence when the follower's last epoch reaches its fetch offset here."""
    led_through_two_epochs(broker)
    on_epoch_1 = broker.replicate(2, 2, last_fetched_epoch=1)
    assert on_epoch_1.diverging_epoch is None
    assert fetched_values(on_epoch_1) == [(2, b"c"), (3, b"d")]
    at_the_end = broker.replicate(2, 4, last_fetched_epoch=3)
    assert (at_the_end.error_code, at_the_end.diverging_epoch, at_the_end.records) == (0, None, None)
    assert broker.fetch(0, replica_id=2, last_fetched_epoch=-1).diverging_epoch is None


def test_diverging_epoch_is_answered_at_once_even_at_the_log_end(broker):
    """A diverging follower must truncate now: its long poll at our log end is answered at once, as in Kafka 2.8."""
    led_through_two_epochs(broker)
    result = broker.fetch(4, replica_id=2, last_fetched_epoch=2, max_wait_ms=500)
    assert not isinstance(result, defer.Deferred), "a diverging follower's fetch was parked"
    assert result.diverging_epoch == (1, 2)
    assert len(broker.manager.fetch_purgatory) == 0


def test_diverging_epoch_and_check_leader_epoch_as_pure_functions(broker):
    """The two KIP-320/595 rules on their own: when a follower diverges, and which client epochs are fenced."""
    partition = led_through_two_epochs(broker)  # epoch 1: offsets 0-1, epoch 3: 2-3, log end 4
    log = partition.log
    assert diverging_epoch(log, -1, 9) is None and diverging_epoch(log, None, 9) is None
    assert diverging_epoch(log, 1, 2) is None
    assert diverging_epoch(log, 1, 3) == (1, 2)
    assert diverging_epoch(log, 3, 4) is None
    assert diverging_epoch(log, 3, 5) == (3, 4)
    assert diverging_epoch(log, 4, 4) == (-1, -1)  # an epoch newer than any we had
    for epoch in (-1, None, 3):
        check_leader_epoch(partition, epoch)
    with pytest.raises(errors.FencedLeaderEpochError):
        check_leader_epoch(partition, 2)
    with pytest.raises(errors.UnknownLeaderEpochError):
        check_leader_epoch(partition, 4)
