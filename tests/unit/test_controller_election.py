"""Kafka's leader election rules as pure functions, and the controller's leader-imbalance rule."""

from kafkalite.controller.context import ControllerContext
from kafkalite.controller.election import (
    NO_LEADER,
    LeaderAndIsr,
    controlled_shutdown_election,
    imbalanced_partitions,
    new_partition_state,
    offline_partition_election,
    preferred_replica_election,
    remove_replica_from_isr,
    remove_replicas_from_isr,
)

LIVE = {1: "b1", 2: "b2", 3: "b3"}


def state(leader, isr, epoch=5):
    return LeaderAndIsr(leader, epoch, tuple(isr), controller_epoch=1, zk_version=7)


def test_new_partition_takes_live_replicas_in_assignment_order():
    """A new partition's ISR is its live replicas; the first of them leads at epoch 0."""
    result = new_partition_state([3, 1, 2], {1: None, 2: None}, controller_epoch=4)
    assert (result.leader, result.leader_epoch, result.isr, result.controller_epoch) == (1, 0, (1, 2), 4)
    assert new_partition_state([3], {1: None}, 4) is None


def test_offline_election_picks_first_live_isr_member_in_assignment_order():
    """The dead leader's successor is the first assigned replica that is live and in the ISR; epoch + 1."""
    result = offline_partition_election([1, 2, 3], state(1, [1, 3, 2]), {2: None, 3: None}, False, 9)
    assert result.leader == 2 and result.isr == (3, 2) and result.leader_epoch == 6
    assert result.controller_epoch == 9


def test_offline_election_without_live_isr_member_is_clean_unless_allowed():
    """Only a replica outside the ISR is alive: no leader, unless unclean election is enabled."""
    current = state(1, [1])
    assert offline_partition_election([1, 2, 3], current, {2: None}, False, 2) is None
    unclean = offline_partition_election([1, 2, 3], current, {2: None}, True, 2)
    assert unclean.leader == 2 and unclean.isr == (2,)


def test_preferred_election_requires_live_in_sync_preferred_replica():
    """Leadership moves to replicas[0] only when it is live and in the ISR and not already leader."""
    assert preferred_replica_election([1, 2, 3], state(2, [2, 3, 1]), LIVE, 3).leader == 1
    assert preferred_replica_election([1, 2, 3], state(2, [2, 3]), LIVE, 3) is None
    assert preferred_replica_election([1, 2, 3], state(2, [2, 3, 1]), {2: None, 3: None}, 3) is None
    assert preferred_replica_election([1, 2, 3], state(1, [1, 2, 3]), LIVE, 3) is None


def test_controlled_shutdown_election_skips_and_removes_stopping_brokers():
    """The stopping broker leaves the ISR and the first remaining live ISR member leads."""
    result = controlled_shutdown_election([1, 2, 3], state(1, [1, 2, 3]), LIVE, {1}, 3)
    assert result.leader == 2 and result.isr == (2, 3)
    assert controlled_shutdown_election([1, 2], state(1, [1]), LIVE, {1}, 3) is None


def test_remove_replica_from_isr_keeps_the_last_member():
    """Removing a follower bumps the epoch; the last ISR member stays, without a leader."""
    assert remove_replica_from_isr(state(1, [1, 2]), 2, 3).isr == (1,)
    assert remove_replica_from_isr(state(1, [1, 2]), 2, 3).leader_epoch == 6
    last = remove_replica_from_isr(state(1, [1]), 1, 3)
    assert last.leader == NO_LEADER and last.isr == (1,)
    assert remove_replica_from_isr(state(1, [1]), 3, 3) is None


def test_remove_replicas_from_isr_removes_all_at_once_in_one_epoch():
    """Two replicas leave in one write: the leader among them leaves it leaderless; the last member stays."""
    both = remove_replicas_from_isr(state(1, [1, 2, 3]), {2, 3}, 3)
    assert (both.leader, both.isr, both.leader_epoch) == (1, (1,), 6)
    with_leader = remove_replicas_from_isr(state(1, [1, 2]), {1, 2}, 3)
    assert (with_leader.leader, with_leader.isr) == (NO_LEADER, (2,))
    assert remove_replicas_from_isr(state(1, [1, 2]), {3}, 3) is None


def context_with(assignments, leaders, live=(1, 2, 3), isr=None):
    context = ControllerContext(epoch=1)
    context.live_brokers = dict.fromkeys(live)
    context.assignments = {"t": dict(enumerate(assignments))}
    for partition, replicas in enumerate(assignments):
        members = isr[partition] if isr else replicas
        context.leaderships[("t", partition)] = state(leaders[partition], members)
    return context


def test_imbalance_above_threshold_elects_preferred_leaders():
    """Broker 1 prefers 2 partitions and leads neither (100% > 10%): both move back."""
    context = context_with([[1, 2], [1, 3], [2, 1]], leaders=[2, 3, 2])
    assert imbalanced_partitions(context, 10) == [("t", 0), ("t", 1)]


def test_imbalance_at_or_below_threshold_changes_nothing():
    """One of two preferred partitions led elsewhere is 50%: nothing moves at 50%, it does at 49%."""
    context = context_with([[1, 2], [1, 3]], leaders=[1, 3])
    assert imbalanced_partitions(context, 50) == []
    assert imbalanced_partitions(context, 49) == [("t", 1)]


def test_imbalance_ignores_dead_shutting_down_or_out_of_sync_preferred_replicas():
    """A preferred replica that is down, stopping or outside the ISR is not elected."""
    context = context_with([[1, 2], [1, 3]], leaders=[2, 3], isr=[[2, 1], [3]])
    assert imbalanced_partitions(context, 10) == [("t", 0)]
    context.shutting_down.add(1)
    assert imbalanced_partitions(context, 10) == []
    context.shutting_down.clear()
    del context.live_brokers[1]
    assert imbalanced_partitions(context, 10) == []
