"""A leader partition's decisions with a fake clock: follower catch-up, ISR shrink and expand, HW."""

from kafkalite.replica.partition import Partition
from tests.support.replica import FakeLog

LAG_MS = 10_000


def leader(isr=(1, 2, 3), replicas=(1, 2, 3), leo=0, now=1_000):
    partition = Partition("t", 0, 1, FakeLog(leo))
    partition.make_leader({"leader": 1, "leader_epoch": 4, "isr": list(isr), "replicas": list(replicas),
                           "zk_version": 3, "controller_epoch": 1}, now)
    return partition


def test_silent_follower_at_log_end_stays_in_sync():
    """Kafka's rule: a follower whose log end equals ours is caught up however long it is quiet."""
    partition = leader(leo=5)
    partition.update_follower(2, 5, 0, 1_000)
    partition.update_follower(3, 5, 0, 1_000)
    assert partition.out_of_sync_replicas(1_000 + 10 * LAG_MS, LAG_MS) == []


def test_follower_that_never_fetches_from_a_new_leader_drops_out():
    """A new leader counts ISR followers as caught up when it took over, then expects them to fetch."""
    partition = leader(leo=5, now=1_000)
    partition.update_follower(2, 5, 0, 1_500)
    assert partition.out_of_sync_replicas(1_000 + LAG_MS, LAG_MS) == []
    assert partition.out_of_sync_replicas(1_001 + LAG_MS, LAG_MS) == [3]


def test_follower_lagging_longer_than_lag_time_is_out_of_sync():
    """After appends, a follower that has not caught up within replica.lag.time.max.ms leaves the ISR."""
    partition = leader()
    partition.log.log_end_offset = 10
    partition.update_follower(2, 10, 0, 2_000)
    partition.update_follower(3, 4, 0, 2_000)
    assert partition.out_of_sync_replicas(1_000 + LAG_MS, LAG_MS) == []
    assert partition.out_of_sync_replicas(1_001 + LAG_MS, LAG_MS) == [3]
    # Replica 2 caught up at 2_000: in sync until 2_000 + LAG_MS.
    partition.log.log_end_offset = 20
    assert partition.out_of_sync_replicas(2_000 + LAG_MS + 1, LAG_MS) == [2, 3]


def test_follower_reaching_previous_fetch_leo_counts_as_caught_up_at_that_fetch():
    """Under steady appends a follower never equals our end, but reaching what we had at its last fetch counts."""
    partition = leader()
    partition.log.log_end_offset = 10
    partition.update_follower(2, 5, 0, 5_000)     # we had 10 then
    partition.log.log_end_offset = 20
    partition.update_follower(2, 10, 0, 9_000)    # reached 10: caught up as of 5_000
    assert partition.followers[2].last_caught_up_ms == 5_000
    assert 2 not in partition.out_of_sync_replicas(5_000 + LAG_MS, LAG_MS)
    assert 2 in partition.out_of_sync_replicas(5_001 + LAG_MS, LAG_MS)


def test_high_watermark_is_min_isr_log_end_and_advances_when_isr_shrinks():
    """HW = smallest LEO in the ISR; dropping the laggard lets it move to the next smallest."""
    partition = leader()
    partition.log.log_end_offset = 10
    partition.update_follower(2, 10, 0, 2_000)
    partition.update_follower(3, 3, 0, 2_000)
    assert partition.high_watermark == 3
    assert not partition.isr_caught_up_to(10)
    partition.isr = [1, 2]
    assert partition.maybe_increment_high_watermark()
    assert partition.high_watermark == 10 and partition.isr_caught_up_to(10)


def test_expand_needs_high_watermark_and_leader_epoch_start_offset():
    """An out-of-ISR follower rejoins once its LEO reaches the HW and where our leader epoch began."""
    partition = leader(isr=(1, 2), leo=8)
    assert partition.leader_epoch_start_offset == 8
    partition.update_follower(2, 8, 0, 2_000)
    assert partition.high_watermark == 8
    partition.update_follower(3, 7, 0, 2_000)
    assert not partition.expand_candidate(3)
    partition.update_follower(3, 8, 0, 2_100)
    assert partition.expand_candidate(3)
    assert not partition.expand_candidate(2)   # already in the ISR
    assert not partition.expand_candidate(4)   # not a replica


def test_follower_partition_decides_nothing():
    """Only a leader shrinks or expands its ISR."""
    partition = Partition("t", 0, 2, FakeLog(5))
    partition.make_follower({"leader": 1, "leader_epoch": 4, "isr": [1, 2], "replicas": [1, 2],
                             "zk_version": 3, "controller_epoch": 1})
    assert partition.out_of_sync_replicas(10**9, LAG_MS) == []
    assert not partition.expand_candidate(2)


def test_leader_at_a_new_epoch_keeps_what_it_knows_of_its_followers():
    """The controller shrank the ISR (epoch 5) and we still lead: followers' positions survive, a new
    leader would start them unknown."""
    partition = leader(leo=8)
    partition.update_follower(2, 8, 0, 1_000)
    partition.update_follower(3, 6, 0, 1_000)
    partition.make_leader({"leader": 1, "leader_epoch": 5, "isr": [1, 2], "replicas": [1, 2, 3],
                           "zk_version": 4, "controller_epoch": 1}, 2_000)
    assert partition.followers[2].log_end_offset == 8 and partition.followers[3].log_end_offset == 6
    partition.make_follower({"leader": 2, "leader_epoch": 6, "isr": [2], "replicas": [1, 2, 3],
                             "zk_version": 5, "controller_epoch": 1})
    partition.make_leader({"leader": 1, "leader_epoch": 7, "isr": [1, 2], "replicas": [1, 2, 3],
                           "zk_version": 6, "controller_epoch": 1}, 3_000)
    assert partition.followers[2].log_end_offset == -1
