"""Partition reassignment in the controller, against the in-memory ZooKeeper and a recording channel.

Kafka 2.8's phases: U (the topic znode records RS = TRS + ORS with adding/removing), A (the
leader epoch goes up, the new replicas are told with ``is_new``), B (once the target is in
the ISR: leader into the target, removed replicas out of the ISR and deleted, the znode
written back, the request removed). Watches never fire here: the tests put the events.
"""

import json

import pytest
from twisted.internet.task import Clock

from kafkalite import zkdata
from kafkalite.controller.context import ReplicaAssignment
from kafkalite.controller.controller import KafkaController
from kafkalite.controller.events import PartitionReassignmentIsrChange, TopicDeletion, ZkPartitionReassignment
from kafkalite.protocol import errors
from tests.support.controller import RecordingChannel, controller_config, three_broker_zk


def test_reassign_to_lists_the_target_first_then_the_original_replicas():
    """Kafka's ReplicaAssignment.reassignTo: RS = TRS + (ORS - TRS), AR = TRS - ORS, RR = ORS - TRS."""
    moving = ReplicaAssignment((1, 2, 3)).reassign_to((4, 5, 6))
    assert moving == ReplicaAssignment((4, 5, 6, 1, 2, 3), (4, 5, 6), (1, 2, 3))
    assert (moving.origin, moving.target, moving.is_being_reassigned) == ((1, 2, 3), (4, 5, 6), True)
    overlapping = ReplicaAssignment((1, 2, 3)).reassign_to((3, 4, 2))
    assert overlapping == ReplicaAssignment((3, 4, 2, 1), (4,), (1,))
    # A new target while moving starts again from the original replicas; back to them is no move.
    assert moving.reassign_to((1, 2, 3)) == ReplicaAssignment((1, 2, 3))
    assert moving.reassign_to((7,)) == ReplicaAssignment((7, 1, 2, 3), (7,), (1, 2, 3))


@pytest.fixture
def cluster_zk():
    """Brokers 1-3 with topic t on all three and topic u on brokers 1 and 2."""
    zk = three_broker_zk()
    zk.put(zkdata.topic_path("u"), json.dumps({"version": 2, "partitions": {"0": [1, 2]}}).encode())
    zk.put(zkdata.partition_state_path("u", 0), zkdata.encode_partition_state(zkdata.PartitionState(1, 0, [1, 2], 3)))
    return zk


@pytest.fixture
def controller(cluster_zk):
    clock = Clock()
    controller = KafkaController(cluster_zk, controller_config(), clock, channel=RecordingChannel())
    controller.start()
    clock.advance(0)  # the failover's follow-up: replica states, then the reassignments found
    assert controller.is_active
    controller.channel.sent.clear()
    return controller


def request(zk, moves):
    zk.put(zkdata.REASSIGN_PARTITIONS, zkdata.encode_reassign_partitions(moves))


def topic(zk, name):
    return zk.json(zkdata.topic_path(name))


def test_a_move_waits_for_the_new_replica_then_completes(controller, cluster_zk):
    """u-0 {1,2} → {2,3}: U and A at once; B once 3 is in the ISR: leader 2, 1 deleted, request gone."""
    zk = cluster_zk
    request(zk, {("u", 0): [2, 3]})
    controller.events.put(ZkPartitionReassignment())
    assert topic(zk, "u")["partitions"] == {"0": [2, 3, 1]}
    assert (topic(zk, "u")["adding_replicas"], topic(zk, "u")["removing_replicas"]) == ({"0": [3]}, {"0": [1]})
    state = zk.json(zkdata.partition_state_path("u", 0))
    assert (state["leader"], state["leader_epoch"], state["isr"]) == (1, 1, [1, 2])
    told = dict(controller.channel.of("LeaderAndIsr"))
    assert sorted(told) == [1, 2, 3]
    described = told[3]["topic_states"][0]["partition_states"][0]
    assert (described["replicas"], described["adding_replicas"], described["removing_replicas"],
            described["is_new"]) == ([2, 3, 1], [3], [1], True)
    assert zkdata.REASSIGN_PARTITIONS in zk.nodes
    assert controller.reassignment.list() == {("u", 0): ReplicaAssignment((2, 3, 1), (3,), (1,))}

    controller.channel.sent.clear()
    zk._set(zkdata.partition_state_path("u", 0), zkdata.encode_partition_state(
        zkdata.PartitionState(1, 1, [1, 2, 3], 4)), -1)  # the leader added 3 to the ISR
    controller.events.put(PartitionReassignmentIsrChange(("u", 0)))
    assert topic(zk, "u")["partitions"] == {"0": [2, 3]}
    assert not topic(zk, "u")["adding_replicas"] and not topic(zk, "u")["removing_replicas"]
    state = zk.json(zkdata.partition_state_path("u", 0))
    assert state["leader"] == 2 and sorted(state["isr"]) == [2, 3]
    assert zkdata.REASSIGN_PARTITIONS not in zk.nodes
    stops = [(broker, r) for broker, r in controller.channel.of("StopReplica")]
    assert [b for b, _ in stops] == [1]
    assert stops[0][1]["topic_states"][0]["partition_states"][0]["delete_partition"] is True
    assert controller.reassignment.list() == {}


def test_refused_partitions_fail_alone_and_leave_the_request(controller, cluster_zk):
    """A dead broker, a duplicate and an unknown partition are refused; t-1's removal completes at once."""
    zk = cluster_zk
    request(zk, {("t", 1): [2, 3], ("u", 0): [1, 9], ("t", 0): [2, 2], ("gone", 0): [1]})
    controller.events.put(ZkPartitionReassignment())
    assert topic(zk, "t")["partitions"]["1"] == [2, 3]
    assert topic(zk, "t")["partitions"]["0"] == [1, 2, 3] and topic(zk, "u")["partitions"] == {"0": [1, 2]}
    assert zkdata.REASSIGN_PARTITIONS not in zk.nodes


def test_the_api_reassigns_refuses_and_cancels(controller, cluster_zk):
    """AlterPartitionReassignments: errors per partition; a null target cancels back to the original replicas."""
    zk = cluster_zk
    results = controller.alter_partition_reassignments({("u", 0): (3, 2), ("t", 0): (), ("u", 1): (1,)}).result
    assert results[("u", 0)] == (0, None)
    assert results[("t", 0)][0] == errors.InvalidReplicaAssignmentError.code
    assert results[("u", 1)][0] == errors.UnknownTopicOrPartitionError.code
    assert topic(zk, "u")["adding_replicas"] == {"0": [3]}
    assert controller.list_partition_reassignments([("u", 0), ("t", 0)]).result == {
        ("u", 0): ReplicaAssignment((3, 2, 1), (3,), (1,))}

    controller.channel.sent.clear()
    assert controller.alter_partition_reassignments({("u", 0): None}).result == {("u", 0): (0, None)}
    assert topic(zk, "u")["partitions"] == {"0": [2, 1]}
    assert not topic(zk, "u")["adding_replicas"]
    assert [b for b, _ in controller.channel.of("StopReplica")] == [3]
    assert controller.alter_partition_reassignments({("u", 0): None}).result[("u", 0)][0] == \
        errors.NoReassignmentInProgressError.code


def test_a_new_controller_resumes_a_move_from_the_topic_znode(cluster_zk):
    """The topic znode says u-0 is moving: a new controller goes on and completes it once the ISR allows."""
    zk = cluster_zk
    zk._set(zkdata.topic_path("u"), json.dumps({"version": 2, "partitions": {"0": [2, 3, 1]},
                                                "adding_replicas": {"0": [3]},
                                                "removing_replicas": {"0": [1]}}).encode(), -1)
    zk._set(zkdata.partition_state_path("u", 0), zkdata.encode_partition_state(
        zkdata.PartitionState(1, 1, [1, 2, 3], 3)), -1)
    clock = Clock()
    controller = KafkaController(zk, controller_config(), clock, channel=RecordingChannel())
    controller.start()
    assert ("u", 0) in controller.context.partitions_being_reassigned
    clock.advance(0)
    assert topic(zk, "u")["partitions"] == {"0": [2, 3]}
    assert zk.json(zkdata.partition_state_path("u", 0))["leader"] == 2


def test_a_topic_being_reassigned_is_deleted_only_once_the_move_completes(controller, cluster_zk):
    """Deletion is ineligible while a partition of the topic moves (Kafka's rule)."""
    zk = cluster_zk
    controller.alter_partition_reassignments({("u", 0): (2, 3)})
    zk.put(zkdata.delete_topic_path("u"), b"")
    controller.events.put(TopicDeletion())
    assert not controller.channel.of("StopReplica")
    zk._set(zkdata.partition_state_path("u", 0), zkdata.encode_partition_state(
        zkdata.PartitionState(1, 1, [1, 2, 3], 4)), -1)
    controller.events.put(PartitionReassignmentIsrChange(("u", 0)))
    assert zkdata.topic_path("u") not in zk.nodes
