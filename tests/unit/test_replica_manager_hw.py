"""ReplicaManager's high watermark and ISR: follower positions, shrink, expansion, and what they release.

A real ``ReplicaManager`` over real logs in ``tmp_path``, a ``task.Clock`` driving the
periodic ISR check (every 5 s, ``replica.lag.time.max.ms`` = 10 s), and a
:class:`tests.support.replica.RecordingIsrWriter` standing for ZooKeeper: an ISR change
is applied only when the test lands the write.
"""

import pytest

from kafkalite.protocol import errors
from kafkalite.replica.manager import FetchRequestPartition
from tests.support.replica import ReplicaBroker, fetched_values, fired, partition_state


@pytest.fixture
def broker(tmp_path):
    """Broker 1 with Kafka's default topic configs and a 10 s replica lag time."""
    broker = ReplicaBroker(tmp_path, lag_time_max_ms=10_000)
    yield broker
    broker.close()


def produce_each(broker, count, topic="t", partition=0):
    """``count`` one-record batches with acks=1 (offsets 0 .. count-1 on an empty log)."""
    for i in range(count):
        assert broker.produce([b"%d" % i], acks=1, topic=topic, partition=partition).error_code == 0


def test_high_watermark_follows_the_slowest_isr_member(broker):
    """HW = the smallest fetch offset in the ISR (the leader's end included), moving as the slowest moves."""
    partition = broker.lead(isr=(1, 2, 3))
    produce_each(broker, 5)
    steps = [(2, 3, 0),   # replica 3 has not fetched yet: nothing is known to be everywhere
             (3, 1, 1),
             (3, 4, 3),   # now replica 2 (at 3) is the slowest
             (2, 5, 4),
             (3, 5, 5)]
    for replica, offset, high_watermark in steps:
        result = broker.replicate(replica, offset)
        assert (replica, offset, partition.high_watermark) == (replica, offset, high_watermark)
        assert result.high_watermark <= high_watermark  # the answer may carry the HW from before this fetch


def test_high_watermark_never_moves_backwards(broker):
    """A follower fetching from an older offset (it truncated) does not pull the HW back."""
    partition = broker.lead(isr=(1, 2))
    produce_each(broker, 4)
    broker.replicate(2, 4)
    assert partition.high_watermark == 4
    broker.replicate(2, 1)
    assert partition.high_watermark == 4
    assert fetched_values(broker.fetch(3)) == [(3, b"3")]


def test_re_election_at_a_new_epoch_keeps_the_high_watermark(broker):
    """Leader again at a higher epoch: follower positions start over, but the HW stays where it was."""
    partition = broker.lead(isr=(1, 2), leader_epoch=1)
    produce_each(broker, 3)
    broker.replicate(2, 2)
    assert partition.high_watermark == 2
    partition = broker.lead(isr=(1, 2), leader_epoch=2)
    assert partition.high_watermark == 2
    assert fetched_values(broker.fetch(0)) == [(0, b"0"), (1, b"1")]
    broker.replicate(2, 3)
    assert partition.high_watermark == 3


def test_high_watermark_never_passes_the_leader_log_end(broker):
    """However far a follower claims to be, the HW stops at what the leader itself holds."""
    partition = broker.lead(isr=(1, 2))
    produce_each(broker, 2)
    broker.replicate(2, 2)
    assert partition.high_watermark == partition.log.log_end_offset == 2
    assert broker.replicate(2, 9).error_code == errors.OffsetOutOfRangeError.code
    assert partition.high_watermark == 2


def test_follower_fetching_past_our_log_end_does_not_count_as_having_our_records(broker):
    """A follower fetch out of range (past our end) is not its position: it must not acknowledge later appends.

    Kafka records a follower's fetch state only for reads that succeeded: a follower claiming offset 9
    while we hold 2 holds something else at 2..8, and must not count as having our next append.
    """
    partition = broker.lead(isr=(1, 2))
    produce_each(broker, 2)
    broker.replicate(2, 2)
    assert broker.replicate(2, 9).error_code == errors.OffsetOutOfRangeError.code
    d = broker.produce([b"a", b"b"], timeout_ms=1000)
    assert not d.called, "acks=all was acknowledged by a follower that never fetched the batch"
    assert partition.high_watermark == 2
    broker.replicate(2, 4)
    assert fired(d).error_code == 0 and partition.high_watermark == 4



def test_follower_position_is_recorded_for_partitions_the_response_budget_left_empty(broker):
    """A follower's fetch tells its position on every partition, even those past the response's max_bytes."""
    first = broker.lead("t", 0, isr=(1, 2))
    second = broker.lead("t", 1, isr=(1, 2))
    produce_each(broker, 2, partition=0)
    produce_each(broker, 2, partition=1)
    results = broker.manager.fetch(2, 0, 1, 1, [FetchRequestPartition("t", 0, 2, 1 << 20),
                                                FetchRequestPartition("t", 1, 1, 1 << 20)])
    broker.clock.advance(0)
    assert [len(fetched_values(r)) for r in results] == [0, 1]
    assert (first.high_watermark, second.high_watermark) == (2, 1)
    results = broker.manager.fetch(2, 0, 1, 1, [FetchRequestPartition("t", 0, 0, 1 << 20),
                                                FetchRequestPartition("t", 1, 2, 1 << 20)])
    assert [len(fetched_values(r)) for r in results] == [1, 0]  # partition 1 got no bytes of the budget ...
    assert second.high_watermark == 2  # ... but its offset was taken

def test_lone_leader_isr_moves_the_high_watermark_with_each_append(broker):
    """With ISR = [leader], the HW is the log end after every append; consumers see everything."""
    partition = broker.lead(isr=(1,), replicas=(1, 2))
    produce_each(broker, 3)
    assert partition.high_watermark == 3
    assert len(fetched_values(broker.fetch(0))) == 3


def test_isr_shrink_lets_the_high_watermark_advance_and_completes_parked_produces(broker):
    """A follower silent past replica.lag.time.max.ms leaves the ISR; once written, HW and acks=all move on."""
    partition = broker.lead(isr=(1, 2, 3))
    d = broker.produce([b"a", b"b"], timeout_ms=60_000)
    broker.clock.advance(1)
    broker.replicate(2, 2)
    assert partition.high_watermark == 0 and not d.called
    broker.clock.advance(9)  # t = 10 s: replica 3 is exactly at the lag limit, still in sync
    assert broker.isr_writer.writes == []
    broker.clock.advance(1)
    broker.manager.maybe_shrink_isr()  # t = 11 s: past the limit
    assert broker.isr_writer.writes == [(("t", 0), [1, 2])]
    assert partition.isr == [1, 2, 3] and not d.called  # the write has not landed
    broker.isr_writer.complete()
    assert partition.isr == [1, 2]
    assert partition.high_watermark == 2
    assert (fired(d).error_code, partition.log.log_end_offset) == (0, 2)


def test_isr_shrink_spares_followers_that_keep_up(broker):
    """Followers fetching to our end stay in the ISR however long the clock runs; no ISR write is made."""
    partition = broker.lead(isr=(1, 2, 3))
    for second in range(1, 40):
        produce_each(broker, 1)
        broker.replicate(2, second)
        broker.replicate(3, second)
        broker.clock.advance(1)
    assert broker.isr_writer.writes == [] and partition.isr == [1, 2, 3]
    assert partition.high_watermark == 39


def test_one_isr_write_at_a_time(broker):
    """While an ISR write is in flight, periodic checks and follower fetches propose nothing more."""
    partition = broker.lead(isr=(1, 2, 3))
    produce_each(broker, 1)
    broker.replicate(2, 1)
    broker.clock.advance(15)
    assert broker.isr_writer.writes == [(("t", 0), [1, 2])]
    assert partition.isr_update_in_flight
    broker.clock.advance(15)
    broker.replicate(3, 1)  # replica 3 catches up while the shrink is still being written
    assert broker.isr_writer.writes == [(("t", 0), [1, 2])]
    broker.isr_writer.complete()
    assert partition.isr == [1, 2] and not partition.isr_update_in_flight


def test_follower_catching_up_is_proposed_for_isr_expansion(broker):
    """An out-of-ISR replica is proposed once its fetch reaches the HW; it joins when the write lands."""
    partition = broker.lead(isr=(1, 2), replicas=(1, 2, 3))
    produce_each(broker, 3)
    broker.replicate(2, 3)
    assert partition.high_watermark == 3
    broker.replicate(3, 2)
    assert broker.isr_writer.writes == []  # still below the HW
    broker.replicate(3, 3)
    assert broker.isr_writer.writes == [(("t", 0), [1, 2, 3])]
    broker.replicate(3, 3)
    assert broker.isr_writer.in_flight == 1  # not proposed twice
    broker.isr_writer.complete()
    assert partition.isr == [1, 2, 3]
    d = broker.produce([b"x"])
    broker.replicate(2, 4)
    assert not d.called  # replica 3 is in the ISR now: acks=all waits for it too
    broker.replicate(3, 4)
    assert fired(d).error_code == 0


def test_replica_outside_the_assignment_is_never_proposed(broker):
    """A fetch from a broker that is not a replica of the partition neither moves the HW nor joins the ISR."""
    partition = broker.lead(isr=(1, 2), replicas=(1, 2))
    produce_each(broker, 1)
    broker.replicate(7, 1)
    assert partition.high_watermark == 0 and broker.isr_writer.writes == []


def test_isr_write_landing_after_leadership_moved_changes_nothing(broker):
    """A shrink written after we became follower is not applied locally and releases nothing."""
    partition = broker.lead(isr=(1, 2), leader_epoch=1)
    produce_each(broker, 1)
    broker.clock.advance(15)
    assert broker.isr_writer.writes == [(("t", 0), [1])]
    broker.leader_and_isr(partition_state(leader=2, leader_epoch=2, isr=(1, 2)))
    broker.isr_writer.complete()
    assert partition.isr == [1, 2] and not partition.is_leader
    assert partition.high_watermark == 0


def test_controller_shrinking_the_isr_to_the_leader_completes_parked_produces(broker):
    """A LeaderAndIsr (new epoch, ISR = [us]) moves the HW to our end and answers parked acks=all at once."""
    partition = broker.lead(isr=(1, 2), leader_epoch=1)
    d = broker.produce([b"a"], timeout_ms=60_000)
    broker.lead(isr=(1,), leader_epoch=2)
    assert (fired(d).error_code, partition.high_watermark) == (0, 1)
