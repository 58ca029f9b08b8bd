"""ElectLeaders on the controller (Kafka's ``processReplicaLeaderElection`` for admin clients), against the
in-memory ZooKeeper and a recording channel: each election runs to completion synchronously."""

import json

import pytest
from twisted.internet.task import Clock

from kafkalite import zkdata
from kafkalite.controller.controller import KafkaController
from kafkalite.controller.leader_election import PREFERRED, UNCLEAN
from kafkalite.protocol import errors
from tests.support.controller import RecordingChannel, controller_config, registered_brokers_zk


def _state(leader, isr, epoch=0):
    return zkdata.encode_partition_state(zkdata.PartitionState(leader, epoch, isr, 3))


@pytest.fixture
def zk():
    """Brokers 1-3 live; t-0 [1,2,3] led by 2 (ISR all), t-1 [2,3,1] led by 2, t-2 [3,1,2] led by 1 with
    ISR [1] (3 out of it), u-0 [3] led by nobody (ISR [3]: broker 3 is its only replica)."""
    zk = registered_brokers_zk((1, 2, 3))
    zk.put(zkdata.topic_path("t"), json.dumps({"version": 2, "partitions": {
        "0": [1, 2, 3], "1": [2, 3, 1], "2": [3, 1, 2]}}).encode())
    zk.put(zkdata.topic_path("u"), json.dumps({"version": 2, "partitions": {"0": [3, 1]}}).encode())
    for topic, partition, leader, isr in (("t", 0, 2, [2, 1, 3]), ("t", 1, 2, [2, 3, 1]), ("t", 2, 1, [1]),
                                          ("u", 0, 3, [3])):
        zk.put(zkdata.partition_state_path(topic, partition), _state(leader, isr), version=0)
    return zk


@pytest.fixture
def controller(zk):
    controller = KafkaController(zk, controller_config(), Clock(), channel=RecordingChannel())
    controller.start()
    assert controller.is_active
    return controller


def _codes(results):
    return {key: result.error_code for key, result in results.items()}


def test_preferred_election_moves_leaders_and_says_why_not(controller, zk):
    """t-0 moves to its preferred 1; t-1 already has it; t-2's preferred (3) is out of the ISR; absent: unknown."""
    results = controller.elect_leaders(PREFERRED, [("t", 0), ("t", 1), ("t", 2), ("gone", 0)]).result
    assert _codes(results) == {("t", 0): 0, ("t", 1): errors.ElectionNotNeededError.code,
                               ("t", 2): errors.PreferredLeaderNotAvailableError.code,
                               ("gone", 0): errors.UnknownTopicOrPartitionError.code}
    assert results[("t", 0)].leader == 1
    assert zk.json(zkdata.partition_state_path("t", 0))["leader"] == 1
    assert "PreferredReplicaPartitionLeaderElectionStrategy" in results[("t", 2)].error_message


def test_null_partitions_mean_every_partition(controller):
    """No partitions named: every partition of every topic is considered."""
    results = controller.elect_leaders(PREFERRED, None).result
    assert sorted(results) == [("t", 0), ("t", 1), ("t", 2), ("u", 0)]
    assert _codes(results)[("u", 0)] == errors.ElectionNotNeededError.code


def test_unclean_election_brings_an_offline_partition_back(controller, zk):
    """Broker 3 (u-0's whole ISR) dies: unclean election makes 1 the leader with ISR [1], though the topic
    does not allow unclean election on its own; a partition with a live leader needs none."""
    from kafkalite.controller.events import BrokerChange

    del zk.nodes[zkdata.broker_path(3)]
    controller.events.put(BrokerChange())
    assert zk.json(zkdata.partition_state_path("u", 0))["leader"] == -1
    assert controller.unclean_leader_elections == 0
    results = controller.elect_leaders(UNCLEAN, [("u", 0), ("t", 1)]).result
    assert _codes(results) == {("u", 0): 0, ("t", 1): errors.ElectionNotNeededError.code}
    state = zk.json(zkdata.partition_state_path("u", 0))
    assert (state["leader"], state["isr"]) == (1, [1])
    assert controller.unclean_leader_elections == 1


def test_unclean_election_without_a_live_replica(controller, zk):
    """Brokers 1 and 3 gone: u-0 has no live replica at all: ELIGIBLE_LEADERS_NOT_AVAILABLE."""
    from kafkalite.controller.events import BrokerChange

    del zk.nodes[zkdata.broker_path(3)]
    controller.events.put(BrokerChange())
    controller.context.live_brokers.pop(1)  # as if broker 1 were gone too, without its failover
    results = controller.elect_leaders(UNCLEAN, [("u", 0)]).result
    assert _codes(results) == {("u", 0): errors.EligibleLeadersNotAvailableError.code}


def test_not_the_controller(zk):
    """A broker that is not the controller answers None (the handler says NOT_CONTROLLER)."""
    zk.put(zkdata.CONTROLLER, zkdata.encode_controller(2, 0))
    controller = KafkaController(zk, controller_config(), Clock(), channel=RecordingChannel())
    controller.start()
    assert not controller.is_active
    assert controller.elect_leaders(PREFERRED, [("t", 0)]).result is None
