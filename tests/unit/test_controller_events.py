"""The controller's event handlers against an in-memory ZooKeeper and a recording channel.

No sockets, no ZooKeeper server, no real time: every ZooKeeper call answers at once,
so each handler runs to completion synchronously and the test inspects the znodes it
wrote and the requests it queued for brokers.
"""

import json

import pytest
from twisted.internet.task import Clock

from kafkalite import zkdata
from kafkalite.controller.controller import FOLLOW_UP_WAIT_S, KafkaController
from kafkalite.controller.election import LeaderAndIsr
from kafkalite.controller.events import BrokerChange, IsrChangeNotification, PreferredReplicaElection, TopicChange
from kafkalite.controller.states import PartitionState
from kafkalite.protocol import errors
from tests.support.controller import RecordingChannel, controller_config, three_broker_zk

config = controller_config


def state_path(partition=0, topic="t"):
    return zkdata.partition_state_path(topic, partition)


@pytest.fixture
def zk():
    return three_broker_zk()


@pytest.fixture
def controller(zk):
    channel = RecordingChannel()
    controller = KafkaController(zk, config(), Clock(), channel=channel)
    controller.start()
    assert controller.is_active and controller.context.epoch == 4
    channel.sent.clear()
    return controller


def test_failover_rebuilds_context_from_zookeeper(controller, zk):
    """The new controller bumped /controller_epoch and loaded every broker, assignment and state."""
    assert zk.json(zkdata.CONTROLLER_EPOCH) == 4
    assert sorted(controller.context.live_brokers) == [1, 2, 3]
    assert controller.context.leaderships[("t", 1)].leader == 2


def test_isr_change_notification_rereads_state_and_sends_update_metadata(controller, zk):
    """A leader shrank the ISR: the controller adopts the znode's state, tells every broker, deletes the node."""
    zk._set(state_path(0), zkdata.encode_partition_state(zkdata.PartitionState(1, 0, [1, 2], 3)), 0)
    zk.create(zkdata.isr_change_path(), zkdata.encode_isr_change([("t", 0)]), sequence=True)
    controller.events.put(IsrChangeNotification())
    assert controller.context.leaderships[("t", 0)].isr == (1, 2)
    assert controller.context.leaderships[("t", 0)].zk_version == 1
    updates = controller.channel.of("UpdateMetadata")
    assert sorted(b for b, _ in updates) == [1, 2, 3]
    isr = updates[0][1]["topic_states"][0]["partition_states"][0]["isr"]
    assert isr == [1, 2]
    assert [p for p in zk.nodes if p.startswith(zkdata.ISR_CHANGE_NOTIFICATION + "/")] == []


def test_controlled_shutdown_moves_leadership_and_shrinks_follower_isrs(controller, zk):
    """Broker 1 stops: t-0 gets leader 2 at epoch 1 without 1; t-1 keeps leader 2 with 1 out of the ISR."""
    result = controller.controlled_shutdown(1, controller.context.live_brokers[1].epoch)
    assert result.called and result.result == (0, [])
    led = zk.json(state_path(0))
    assert (led["leader"], led["leader_epoch"], led["isr"], led["controller_epoch"]) == (2, 1, [2, 3], 4)
    followed = zk.json(state_path(1))
    assert (followed["leader"], followed["leader_epoch"], followed["isr"]) == (2, 1, [2, 3])
    stops = controller.channel.of("StopReplica")
    assert [b for b, _ in stops] == [1]
    assert stops[0][1]["topic_states"][0]["partition_states"][0]["delete_partition"] is False
    assert 1 in controller.context.shutting_down


def test_controlled_shutdown_with_stale_broker_epoch_is_refused(controller):
    """A request from a previous incarnation of the broker changes nothing."""
    result = controller.controlled_shutdown(1, controller.context.live_brokers[1].epoch - 1)
    assert result.result == (errors.StaleBrokerEpochError.code, [])
    assert controller.context.leaderships[("t", 0)].leader == 1


def test_controlled_shutdown_of_the_only_isr_member_leaves_the_partition_remaining(controller, zk):
    """No other ISR member to take over: the partition stays led by the stopping broker and is reported."""
    zk._set(state_path(0), zkdata.encode_partition_state(zkdata.PartitionState(1, 0, [1], 3)), 0)
    controller.context.leaderships[("t", 0)] = LeaderAndIsr(1, 0, (1,), 3, 1)
    result = controller.controlled_shutdown(1, -1)
    assert result.result == (0, [("t", 0)])
    assert zk.json(state_path(0))["leader"] == 1


def test_state_write_retries_after_a_leader_isr_change(controller, zk):
    """A leader wrote the ISR after our read: BadVersion, re-read, and the election applies to the fresh state."""
    zk.conflicts[state_path(0)] = 1
    result = controller.controlled_shutdown(1, -1)
    assert result.result == (0, [])
    assert zk.json(state_path(0))["leader"] == 2


def test_preferred_replica_election_request_moves_leader_and_deletes_the_node(controller, zk):
    """/admin/preferred_replica_election for t-0 (led by 2): leader back to 1, node deleted."""
    zk._set(state_path(0), zkdata.encode_partition_state(zkdata.PartitionState(2, 1, [2, 3, 1], 4)), 0)
    controller.context.leaderships[("t", 0)] = LeaderAndIsr(2, 1, (2, 3, 1), 4, 1)
    zk.put(zkdata.PREFERRED_REPLICA_ELECTION, zkdata.encode_preferred_replica_election([("t", 0), ("gone", 0)]))
    controller.events.put(PreferredReplicaElection())
    state = zk.json(state_path(0))
    assert (state["leader"], state["leader_epoch"]) == (1, 2)
    assert zkdata.PREFERRED_REPLICA_ELECTION not in zk.nodes
    assert sorted(b for b, _ in controller.channel.of("LeaderAndIsr")) == [1, 2, 3]


def test_broker_failure_moves_leadership_and_drops_it_from_other_isrs(controller, zk):
    """Broker 2 dies: t-1 (led by 2) gets leader 3; t-0 keeps leader 1 with 2 out of its ISR, epoch + 1."""
    del zk.nodes[zkdata.broker_path(2)]
    controller.events.put(BrokerChange())
    t0, t1 = zk.json(state_path(0)), zk.json(state_path(1))
    assert (t0["leader"], t0["isr"], t0["leader_epoch"]) == (1, [1, 3], 1)
    assert (t1["leader"], t1["isr"], t1["leader_epoch"]) == (3, [3, 1], 1)


def test_deposed_controller_writes_nothing(controller, zk):
    """Another controller bumped /controller_epoch: our fenced write fails and we resign."""
    zk._set(zkdata.CONTROLLER_EPOCH, zkdata.encode_controller_epoch(5), -1)
    zk.put(zkdata.CONTROLLER, zkdata.encode_controller(2, 0))
    before = zk.json(state_path(0))
    result = controller.controlled_shutdown(1, -1)
    assert result.result == (errors.NotControllerError.code, [])
    assert zk.json(state_path(0)) == before
    assert not controller.is_active


def test_broker_failure_reads_state_afresh_before_removing_from_isr(controller, zk):
    """The leader re-added broker 3 after our last read: its death still takes it out of the znode's ISR."""
    controller.context.leaderships[("t", 0)] = LeaderAndIsr(1, 0, (1, 2), 3, 0)
    del zk.nodes[zkdata.broker_path(3)]
    controller.events.put(BrokerChange())
    state = zk.json(state_path(0))
    assert (state["leader"], state["isr"], state["leader_epoch"]) == (1, [1, 2], 1)


def test_isr_change_naming_a_dead_broker_is_corrected(controller, zk):
    """A leader's ISR write that raced with a broker's death: the controller removes the dead broker."""
    controller.context.live_brokers.pop(3)
    zk._set(state_path(0), zkdata.encode_partition_state(zkdata.PartitionState(1, 0, [1, 2, 3], 3)), 0)
    zk.create(zkdata.isr_change_path(), zkdata.encode_isr_change([("t", 0)]), sequence=True)
    controller.events.put(IsrChangeNotification())
    state = zk.json(state_path(0))
    assert (state["leader"], state["isr"], state["leader_epoch"]) == (1, [1, 2], 1)
    assert [b for b, _ in controller.channel.of("LeaderAndIsr")] == [1, 2]


def test_failover_drops_replicas_of_dead_brokers_from_isrs(zk):
    """Broker 3 died while there was no controller: the new controller takes it out of every ISR."""
    del zk.nodes[zkdata.broker_path(3)]
    clock = Clock()
    controller = KafkaController(zk, config(), clock, channel=RecordingChannel())
    controller.start()
    clock.advance(0)  # the replica states follow once the new leaders' requests are answered
    t0, t1 = zk.json(state_path(0)), zk.json(state_path(1))
    assert (t0["leader"], t0["isr"], t0["leader_epoch"]) == (1, [1, 2], 1)
    assert (t1["leader"], t1["isr"], t1["leader_epoch"]) == (2, [2, 1], 1)
    assert sorted(b for b, _ in controller.channel.of("LeaderAndIsr")) == [1, 2]


def test_failover_tells_new_leaders_first_and_the_replica_states_once_they_answered(zk):
    """Broker 2 (leader of t-1) died while there was no controller: its partition's new leader is
    elected and sent at once; taking 2 out of t-0's ISR and telling every replica its state waits
    until the brokers answered the first requests."""
    del zk.nodes[zkdata.broker_path(2)]
    channel = RecordingChannel(hold=True)
    clock = Clock()
    controller = KafkaController(zk, config(), clock, channel=channel)
    controller.start()
    clock.advance(0)
    t1 = zk.json(state_path(1))
    assert (t1["leader"], t1["isr"]) == (3, [3, 1])
    assert zk.json(state_path(0))["isr"] == [1, 2, 3]
    assert sorted(channel.partitions("LeaderAndIsr", 3)) == [("t", 1)]
    channel.release()
    clock.advance(0)
    assert zk.json(state_path(0))["isr"] == [1, 3]
    assert sorted(channel.partitions("LeaderAndIsr", 3)) == [("t", 0), ("t", 1), ("t", 1)]


def test_a_broker_that_does_not_answer_holds_the_replica_states_back_only_for_a_while(zk):
    """Alive but silent (SIGSTOPped): the replica states go out FOLLOW_UP_WAIT_S after the new leaders."""
    del zk.nodes[zkdata.broker_path(2)]
    channel = RecordingChannel(hold=True)
    clock = Clock()
    controller = KafkaController(zk, config(), clock, channel=channel)
    controller.start()
    clock.advance(FOLLOW_UP_WAIT_S - 0.01)
    assert zk.json(state_path(0))["isr"] == [1, 2, 3]
    clock.advance(0.01)
    assert zk.json(state_path(0))["isr"] == [1, 3]
    channel.release()  # the late answers put nothing twice
    clock.advance(FOLLOW_UP_WAIT_S)
    assert sorted(channel.partitions("LeaderAndIsr", 3)) == [("t", 0), ("t", 1), ("t", 1)]


def test_unclean_election_applies_per_topic_after_a_conflicting_isr_shrink(zk):
    """The cached ISR [1, 2] is stale (the leader shrank it to [1]): after the conflict the election
    re-plans on the fresh state, and only the topic allowing it elects the out-of-sync replica."""
    async def unclean(topic):
        return topic == "unclean"

    controller = KafkaController(zk, config(broker_id=3), Clock(), channel=RecordingChannel(),
                                 topic_unclean_election=unclean)
    controller.start()
    for topic in ("clean", "unclean"):
        zk.put(zkdata.topic_path(topic), json.dumps({"version": 2, "partitions": {"0": [1, 2]}}).encode())
    controller.events.put(TopicChange())
    for topic in ("clean", "unclean"):
        assert controller.context.leaderships[(topic, 0)].isr == (1, 2)
        zk._set(state_path(0, topic), zkdata.encode_partition_state(zkdata.PartitionState(1, 0, [1], 4)), 0)
    del zk.nodes[zkdata.broker_path(1)]
    controller.events.put(BrokerChange())
    clean, dirty = zk.json(state_path(0, "clean")), zk.json(state_path(0, "unclean"))
    assert (clean["leader"], clean["isr"]) == (-1, [1])
    assert (dirty["leader"], dirty["isr"], dirty["leader_epoch"]) == (2, [2], 1)
    assert controller.context.partition_state(("clean", 0)) is PartitionState.OFFLINE
    assert controller.context.partition_state(("unclean", 0)) is PartitionState.ONLINE


def test_a_replica_whose_log_failed_to_open_loses_leadership_until_its_broker_restarts(controller, zk):
    """Broker 1 answered KAFKA_STORAGE_ERROR for t-0, which it led: 2 leads, 1 leaves the ISR, and a
    preferred election does not give it back; once broker 1 restarts it may lead again."""
    controller._leader_and_isr_answered(1, {"error_code": 0, "partition_errors": [
        {"topic_name": "t", "partition_index": 0, "error_code": errors.KafkaStorageError.code},
        {"topic_name": "t", "partition_index": 1, "error_code": 0}]})
    state = zk.json(state_path(0))
    assert (state["leader"], state["isr"]) == (2, [2, 3])
    assert zk.json(state_path(1))["isr"] == [2, 3, 1]
    zk.put(zkdata.PREFERRED_REPLICA_ELECTION, zkdata.encode_preferred_replica_election([("t", 0)]))
    controller.events.put(PreferredReplicaElection())
    assert zk.json(state_path(0))["leader"] == 2
    registration = zk.nodes.pop(zkdata.broker_path(1))
    controller.events.put(BrokerChange())
    zk.put(zkdata.broker_path(1), registration[0])
    controller.events.put(BrokerChange())
    assert controller.context.offline_replicas == {}


def test_failover_logs_when_the_new_leaders_were_answered_as_the_scale_benchmark_reads_it(zk):
    """The scale benchmark times a failover from these two lines; they must keep matching its pattern."""
    from twisted.logger import formatEventAsClassicLogText, globalLogPublisher

    from kafkalite.cli.perf.scale import _FAILOVER_ANSWERED
    from kafkalite.cli.server import log_time

    lines = []

    def observe(event):
        lines.append(formatEventAsClassicLogText(event, formatTime=log_time))

    del zk.nodes[zkdata.broker_path(2)]
    globalLogPublisher.addObserver(observe)
    try:
        controller = KafkaController(zk, config(), Clock(), channel=RecordingChannel())
        controller.start()
    finally:
        globalLogPublisher.removeObserver(observe)
    kinds = [match.group(2) for match in map(_FAILOVER_ANSWERED.match, lines) if match]
    assert kinds == ["LeaderAndIsr", "UpdateMetadata"]
