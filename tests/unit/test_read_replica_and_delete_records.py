"""KIP-392's rack-aware replica selection and DeleteRecords' low watermark, on in-memory partitions."""

from types import SimpleNamespace

from kafkalite.replica.delete_records import low_watermark
from kafkalite.replica.partition import FollowerState, Partition
from kafkalite.replica.read_replica import ClientMetadata, RackAwareReplicaSelector, preferred_read_replica

RACKS = {1: "a", 2: "b", 3: "b", 4: "c"}


def _leader(log_end=100, log_start=0, followers=None):
    partition = Partition("t", 0, 1, SimpleNamespace(log_end_offset=log_end, log_start_offset=log_start))
    partition.leader_id = 1
    partition.followers = followers or {}
    return partition


def _follower(log_end, log_start=0, caught_up_ms=0):
    return FollowerState(log_end_offset=log_end, log_start_offset=log_start, last_caught_up_ms=caught_up_ms)


def test_the_most_caught_up_replica_in_the_clients_rack():
    """Rack b has 2 and 3: the one with the higher log end offset wins."""
    partition = _leader(followers={2: _follower(90), 3: _follower(95), 4: _follower(100)})
    assert preferred_read_replica(RackAwareReplicaSelector(), partition, ClientMetadata("b"), 50, RACKS, 0) == 3


def test_a_replica_without_the_offset_is_not_chosen():
    """The fetch offset beyond 3's log end (or below its start): only 2 qualifies; none: the leader (None)."""
    partition = _leader(followers={2: _follower(90), 3: _follower(60, log_start=10)})
    assert preferred_read_replica(RackAwareReplicaSelector(), partition, ClientMetadata("b"), 80, RACKS, 0) == 2
    assert preferred_read_replica(RackAwareReplicaSelector(), partition, ClientMetadata("b"), 5, RACKS, 0) == 2
    assert preferred_read_replica(RackAwareReplicaSelector(), partition, ClientMetadata("b"), 95, RACKS, 0) is None


def test_the_leader_stays_when_in_the_rack_or_no_rack_or_no_selector():
    """Client in the leader's rack, with no rack, in a rack with no replica, or no selector: None."""
    partition = _leader(followers={2: _follower(100), 4: _follower(100)})
    selector = RackAwareReplicaSelector()
    assert preferred_read_replica(selector, partition, ClientMetadata("a"), 0, RACKS, 0) is None
    assert preferred_read_replica(selector, partition, ClientMetadata(""), 0, RACKS, 0) is None
    assert preferred_read_replica(selector, partition, ClientMetadata("z"), 0, RACKS, 0) is None
    assert preferred_read_replica(None, partition, ClientMetadata("b"), 0, RACKS, 0) is None
    assert preferred_read_replica(selector, partition, None, 0, RACKS, 0) is None


def test_low_watermark_is_the_least_start_among_live_replicas():
    """Kafka's lowWatermarkIfLeader: the leader's start and the live followers' (a dead one does not count)."""
    partition = _leader(log_start=50, followers={2: _follower(100, log_start=40), 3: _follower(100, log_start=10)})
    assert low_watermark(partition, {1, 2, 3}) == 10
    assert low_watermark(partition, {1, 2}) == 40
    partition.followers[2].log_start_offset = 60
    assert low_watermark(partition, {1, 2}) == 50
