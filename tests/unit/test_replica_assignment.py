"""Replica assignment (Kafka's ``AdminUtils.assignReplicasToBrokers``): its properties, and Kafka's own examples."""

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkalite.protocol import errors
from kafkalite.server.replica_assignment import assign_replicas, rack_alternated_brokers


@st.composite
def racked_clusters(draw):
    """``({broker: rack}, partitions, replication factor)`` with racks on every broker."""
    count = draw(st.integers(1, 9))
    brokers = draw(st.lists(st.integers(0, 50), min_size=count, max_size=count, unique=True))
    racks = {b: "rack-%d" % draw(st.integers(0, 3)) for b in brokers}
    return racks, draw(st.integers(1, 40)), draw(st.integers(1, count))


@given(racked_clusters(), st.integers(0, 2**32))
def test_rack_aware_replicas_are_distinct_and_spread_over_racks(cluster, seed):
    """Replicas of a partition are distinct brokers, in as many distinct racks as possible, and leaders
    spread evenly: no broker leads more than one partition more than another."""
    racks, partitions, replication_factor = cluster
    assignment = assign_replicas(racks, partitions, replication_factor, rng=random.Random(seed))
    assert sorted(assignment) == list(range(partitions))
    rack_count = len(set(racks.values()))
    for replicas in assignment.values():
        assert len(replicas) == replication_factor == len(set(replicas))
        assert len({racks[b] for b in replicas}) == min(replication_factor, rack_count)
    leaders = Counter(replicas[0] for replicas in assignment.values())
    counts = [leaders.get(b, 0) for b in racks]
    assert max(counts) - min(counts) <= 1


@given(st.lists(st.integers(0, 50), min_size=1, max_size=9, unique=True), st.integers(1, 40), st.data())
def test_rack_unaware_spread(brokers, partitions, data):
    """Without racks: distinct replicas, leaders even, and every broker holds about as many replicas."""
    replication_factor = data.draw(st.integers(1, len(brokers)))
    assignment = assign_replicas(brokers, partitions, replication_factor, rng=random.Random(data.draw(st.integers())))
    for replicas in assignment.values():
        assert len(set(replicas)) == replication_factor
    leaders = Counter(replicas[0] for replicas in assignment.values())
    counts = [leaders.get(b, 0) for b in brokers]
    assert max(counts) - min(counts) <= 1


def test_kafka_rack_unaware_example():
    """AdminTest.testReplicaAssignment: brokers 0-4, 10 partitions, RF 3, fixed start 0."""
    assert assign_replicas(range(5), 10, 3, fixed_start_index=0) == {
        0: [0, 1, 2], 1: [1, 2, 3], 2: [2, 3, 4], 3: [3, 4, 0], 4: [4, 0, 1],
        5: [0, 2, 3], 6: [1, 3, 4], 7: [2, 4, 0], 8: [3, 0, 1], 9: [4, 1, 2]}


def test_rack_alternated_broker_list():
    """AdminRackAwareTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers's list."""
    racks = {0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
    assert rack_alternated_brokers(racks) == [0, 3, 1, 5, 4, 2]


def test_continuing_an_assignment_keeps_the_spread():
    """New partitions from start_partition_id go on where the existing ones stopped (CreatePartitions)."""
    whole = assign_replicas(range(4), 8, 2, fixed_start_index=1)
    tail = assign_replicas(range(4), 5, 2, fixed_start_index=1, start_partition_id=3)
    assert tail == {p: whole[p] for p in range(3, 8)}


@pytest.mark.parametrize(("brokers", "partitions", "factor", "error"), [
    ({1: "a", 2: None}, 1, 1, errors.InvalidReplicationFactorError),
    ({1: None}, 1, 2, errors.InvalidReplicationFactorError),
    ({1: None}, 1, 0, errors.InvalidReplicationFactorError),
    ({1: None}, 0, 1, errors.InvalidPartitionsError),
])
def test_refusals(brokers, partitions, factor, error):
    """Mixed racks, too few brokers, a zero factor, no partitions."""
    with pytest.raises(error):
        assign_replicas(brokers, partitions, factor)


def test_mixed_racks_allowed_when_rack_awareness_is_off():
    """Kafka's RackAwareMode.Disabled: the racks are ignored."""
    assert len(assign_replicas({1: "a", 2: None}, 3, 2, rack_aware=False)) == 3
