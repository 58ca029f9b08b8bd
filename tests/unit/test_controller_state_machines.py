"""The partition and replica state machines and the request batch: pure, over a hand-built context.

No ZooKeeper, no reactor: each test builds a :class:`ControllerContext`, asks a machine
for a plan (or fills a batch) and checks what it says should happen.
"""

import pytest

from kafkalite.controller.context import ControllerContext, LiveBrokerInfo
from kafkalite.controller.election import LeaderAndIsr
from kafkalite.controller.partition_state_machine import (
    ControlledShutdownElection,
    OfflineElection,
    PartitionStateMachine,
    PreferredElection,
)
from kafkalite.controller.replica_state_machine import ReplicaStateMachine
from kafkalite.controller.request_batch import ControllerRequestBatch
from kafkalite.controller.states import (
    PARTITION_TRANSITIONS,
    REPLICA_TRANSITIONS,
    PartitionState,
    ReplicaState,
    valid_partition_transition,
    valid_replica_transition,
)
from tests.support.controller import RecordingChannel

P = PartitionState
R = ReplicaState
T0, T1 = ("t", 0), ("t", 1)


def context(live=(1, 2, 3), assignment=None, leaderships=None, states=None):
    """A context of epoch 7 with topic t; ``leaderships`` as ``{partition: (leader, isr)}``."""
    ctx = ControllerContext(epoch=7, epoch_zk_version=3)
    ctx.live_brokers = {b: LiveBrokerInfo(b, 100 + b, [("PLAINTEXT", "h%d" % b, 9000 + b, "PLAINTEXT")])
                        for b in live}
    ctx.add_topic("t", assignment or {0: [1, 2, 3], 1: [2, 3, 1]})
    for partition, (leader, isr) in (leaderships or {}).items():
        ctx.leaderships[("t", partition)] = LeaderAndIsr(leader, 4, tuple(isr), 6, zk_version=9)
    for key in ctx.all_partitions():
        ctx.partition_states[key] = (states or {}).get(key[1], P.ONLINE if key in ctx.leaderships else P.NEW)
        for replica in ctx.replicas(key):
            ctx.replica_states[(key, replica)] = R.ONLINE if replica in live else R.OFFLINE
    return ctx


def test_transition_tables_are_kafkas():
    """Spot checks of the one table: New only from NonExistent, NonExistent only after Offline or deletion."""
    assert PARTITION_TRANSITIONS[P.NEW] == {P.NON_EXISTENT}
    assert valid_partition_transition(P.OFFLINE, P.NON_EXISTENT)
    assert not valid_partition_transition(P.ONLINE, P.NON_EXISTENT)
    assert not valid_partition_transition(P.NON_EXISTENT, P.ONLINE)
    assert REPLICA_TRANSITIONS[R.NON_EXISTENT] == {R.DELETION_SUCCESSFUL}
    assert valid_replica_transition(R.DELETION_INELIGIBLE, R.ONLINE)
    assert not valid_replica_transition(R.ONLINE, R.DELETION_STARTED)


def test_new_partition_gets_its_first_live_replica_as_leader():
    """New → Online: leader epoch 0, ISR = live replicas in assignment order, at the controller's epoch."""
    plan = PartitionStateMachine(context(live=(2, 3))).plan([T0], P.ONLINE)
    assert plan.create[T0] == LeaderAndIsr(2, 0, (2, 3), 7, 0)
    assert not plan.update and not plan.failed


def test_new_partition_without_a_live_replica_stays_new():
    plan = PartitionStateMachine(context(live=(), assignment={0: [1, 2]})).plan([T0], P.ONLINE)
    assert not plan.create and T0 in plan.failed


def test_illegal_transition_is_refused_not_planned():
    """An Online partition cannot become NonExistent (an Offline one can); a NonExistent one cannot go Online."""
    ctx = context(leaderships={0: (1, [1, 2, 3])})
    ctx.partition_states[T1] = P.OFFLINE
    plan = PartitionStateMachine(ctx).plan([T0, T1], P.NON_EXISTENT)
    assert plan.invalid == [T0] and plan.states == {T1: P.NON_EXISTENT}
    ctx.partition_states[T1] = P.NON_EXISTENT
    assert PartitionStateMachine(ctx).plan([T1], P.ONLINE).invalid == [T1]


def test_offline_election_picks_the_first_live_isr_member_and_drops_the_dead():
    """Leader 1 died: 2 is first live ISR member in assignment order; the ISR loses 1; epoch + 1."""
    ctx = context(live=(2, 3), leaderships={0: (1, [1, 3, 2])}, states={0: P.OFFLINE})
    plan = PartitionStateMachine(ctx).plan([T0], P.ONLINE, OfflineElection())
    assert plan.update[T0] == LeaderAndIsr(2, 5, (3, 2), 7, 9)


def test_offline_election_without_live_isr_writes_no_leader_and_asks_about_unclean():
    """ISR [1] is dead: clean election fails (leader -1 written, partition noted); unclean elects 2."""
    ctx = context(live=(2, 3), leaderships={0: (1, [1])}, states={0: P.OFFLINE})
    plan = PartitionStateMachine(ctx).plan([T0], P.ONLINE, OfflineElection())
    assert plan.no_live_isr == [T0]
    assert (plan.update[T0].leader, plan.update[T0].isr) == (-1, (1,))
    unclean = PartitionStateMachine(ctx).plan([T0], P.ONLINE, OfflineElection(frozenset({"t"})))
    assert (unclean.update[T0].leader, unclean.update[T0].isr) == (2, (2,))


def test_offline_election_with_no_leader_already_written_changes_nothing():
    ctx = context(live=(2, 3), leaderships={0: (-1, [1])}, states={0: P.OFFLINE})
    plan = PartitionStateMachine(ctx).plan([T0], P.ONLINE, OfflineElection())
    assert not plan.update and T0 in plan.failed and plan.states == {T0: P.OFFLINE}


def test_preferred_election_moves_leadership_back_only_to_a_live_isr_member():
    ctx = context(leaderships={0: (2, [2, 3, 1]), 1: (3, [3, 1])})
    plan = PartitionStateMachine(ctx).plan([T0, T1], P.ONLINE, PreferredElection())
    assert plan.update[T0].leader == 1 and plan.update[T0].isr == (2, 3, 1)
    assert T1 in plan.failed  # preferred replica 2 is out of the ISR


def test_controlled_shutdown_election_moves_off_stopping_brokers():
    """Broker 1 stops: it leaves the ISR and 2 (next live ISR member) leads; t-1 is not led by it."""
    ctx = context(leaderships={0: (1, [1, 2, 3]), 1: (2, [2, 3, 1])})
    ctx.shutting_down.add(1)
    plan = PartitionStateMachine(ctx).plan([T0, T1], P.ONLINE, ControlledShutdownElection())
    assert (plan.update[T0].leader, plan.update[T0].isr) == (2, (2, 3))
    assert T1 in plan.failed


def test_partition_plans_change_nothing():
    """Planning is pure: the context is the same afterwards."""
    ctx = context(live=(2, 3), leaderships={0: (1, [1, 2])}, states={0: P.OFFLINE})
    before = (dict(ctx.leaderships), dict(ctx.partition_states), dict(ctx.replica_states))
    PartitionStateMachine(ctx).plan([T0, T1], P.ONLINE, OfflineElection())
    ReplicaStateMachine(ctx).plan([(T0, 1)], R.OFFLINE)
    assert (ctx.leaderships, ctx.partition_states, ctx.replica_states) == before


def test_offline_replicas_leave_the_isr_in_one_write_and_live_ones_are_stopped():
    """Replicas 2 and 3 of t-0 go offline together: one ISR write; 3 is live so it gets StopReplica."""
    ctx = context(live=(1, 3), leaderships={0: (1, [1, 2, 3]), 1: (3, [3, 1])})
    plan = ReplicaStateMachine(ctx).plan([(T0, 2), (T0, 3), (T1, 2)], R.OFFLINE)
    assert plan.isr_updates == {T0: LeaderAndIsr(1, 5, (1,), 7, 9)}
    assert plan.isr_leavers == {T0: {2, 3}}
    assert plan.stop_replica == [(3, T0, False)]
    assert plan.states == {(T0, 2): R.OFFLINE, (T0, 3): R.OFFLINE, (T1, 2): R.OFFLINE}


def test_offline_leader_replica_leaves_the_partition_leaderless():
    ctx = context(live=(2, 3), leaderships={0: (1, [1, 2])})
    plan = ReplicaStateMachine(ctx).plan([(T0, 1)], R.OFFLINE)
    assert (plan.isr_updates[T0].leader, plan.isr_updates[T0].isr) == (-1, (2,))


def test_online_replica_is_told_the_leadership_unless_it_is_new():
    ctx = context(leaderships={0: (1, [1, 2, 3])})
    ctx.replica_states[(T0, 2)] = R.OFFLINE
    ctx.replica_states[(T0, 3)] = R.NEW
    plan = ReplicaStateMachine(ctx).plan([(T0, 2), (T0, 3)], R.ONLINE)
    assert plan.leader_and_isr == [(2, T0)]


def test_deletion_states_follow_kafkas_order():
    """Deletion starts only from Offline (StopReplica with delete); NonExistent only after success."""
    ctx = context(leaderships={0: (1, [1, 2, 3])})
    machine = ReplicaStateMachine(ctx)
    assert machine.plan([(T0, 1)], R.DELETION_STARTED).invalid == [(T0, 1)]
    ctx.replica_states[(T0, 1)] = R.OFFLINE
    assert machine.plan([(T0, 1)], R.DELETION_STARTED).stop_replica == [(1, T0, True)]
    assert machine.plan([(T0, 1)], R.NON_EXISTENT).invalid == [(T0, 1)]
    ctx.replica_states[(T0, 1)] = R.DELETION_SUCCESSFUL
    assert machine.plan([(T0, 1)], R.NON_EXISTENT).states == {(T0, 1): R.NON_EXISTENT}


def test_topic_being_deleted_gets_no_isr_writes():
    ctx = context(leaderships={0: (1, [1, 2, 3])})
    ctx.topics_to_be_deleted.add("t")
    assert not ReplicaStateMachine(ctx).plan([(T0, 2)], R.OFFLINE).isr_updates


# -- the request batch ------------------------------------------------------------------------


@pytest.fixture
def batch():
    return ControllerRequestBatch(controller_id=1, listener_name="PLAINTEXT")


def test_batch_sends_one_request_of_each_kind_per_broker_in_kafkas_order(batch):
    """Two partitions for broker 2 make one LeaderAndIsr; every live broker gets one UpdateMetadata."""
    ctx = context(leaderships={0: (1, [1, 2, 3]), 1: (2, [2, 3, 1])})
    batch.add_leader_and_isr(ctx, [2], T0, ctx.leaderships[T0])
    batch.add_leader_and_isr(ctx, [2, 3], T1, ctx.leaderships[T1])
    batch.add_stop_replica(ctx, [3], T0, delete=False)
    channel = RecordingChannel()
    batch.send(ctx, channel)
    assert [(kind, broker) for kind, broker, _ in channel.sent] == [
        ("LeaderAndIsr", 2), ("LeaderAndIsr", 3), ("UpdateMetadata", 1), ("UpdateMetadata", 2),
        ("UpdateMetadata", 3), ("StopReplica", 3)]
    assert channel.partitions("LeaderAndIsr", 2) == [T0, T1]
    assert channel.partitions("UpdateMetadata", 1) == [T0, T1]
    request = channel.of("LeaderAndIsr")[0][1]
    assert (request["controller_id"], request["controller_epoch"], request["broker_epoch"]) == (1, 7, 102)
    assert sorted(leader["broker_id"] for leader in request["live_leaders"]) == [1, 2]
    stop = channel.of("StopReplica")[0][1]["topic_states"][0]["partition_states"][0]
    assert (stop["partition_index"], stop["leader_epoch"], stop["delete_partition"]) == (0, 4, False)
    assert batch.is_empty()


def test_batch_skips_dead_brokers_and_marks_offline_replicas(batch):
    ctx = context(live=(1, 2), leaderships={0: (1, [1, 2])})
    batch.add_leader_and_isr(ctx, ctx.replicas(T0), T0, ctx.leaderships[T0])
    requests = batch.leader_and_isr_requests(ctx)
    assert sorted(requests) == [1, 2]
    state = requests[1]["topic_states"][0]["partition_states"][0]
    assert (state["leader"], state["isr"], state["replicas"], state["offline_replicas"], state["zk_version"]) == \
        (1, [1, 2], [1, 2, 3], [3], 9)


def test_update_metadata_marks_partitions_of_topics_being_deleted(batch):
    ctx = context(leaderships={0: (1, [1, 2, 3])})
    ctx.topics_to_be_deleted.add("t")
    batch.add_update_metadata(ctx, [1], [T0])
    state = batch.update_metadata_requests(ctx)[1]["topic_states"][0]["partition_states"][0]
    assert state["leader"] == -2


def test_stop_replica_with_delete_uses_the_deletion_epoch_and_calls_back(batch):
    ctx = context(leaderships={0: (1, [1, 2, 3])})
    answers = []
    batch.add_stop_replica(ctx, [2], T0, delete=True, callback=lambda broker, response: answers.append(broker))
    channel = RecordingChannel()
    batch.send(ctx, channel)
    request = channel.of("StopReplica")[0][1]
    assert request["delete_partitions"] is True
    assert request["topic_states"][0]["partition_states"][0]["leader_epoch"] == -2
    assert answers == [2]
