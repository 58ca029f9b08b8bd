"""PartitionStateMachine: Kafka's partition state transitions, planned as pure functions.

``plan(keys, target, election)`` reads the :class:`ControllerContext` and returns a
:class:`PartitionPlan`: the states to record at once, the initial leaderships to create
(New → Online), the leadership changes to write (elections, → Online), and the
partitions that could not move and why. It does no I/O and changes nothing; the
controller's :class:`~kafkalite.controller.state_changes.StateChanges` writes the plan to
ZooKeeper, records what was written in the context and tells the brokers.

Elections (Kafka's ``PartitionLeaderElectionStrategy``):

- :class:`OfflineElection` — the first live ISR member in assignment order; with no live
  ISR member, the first live replica only for topics in ``unclean_topics``; a partition
  that still has no leader is written with leader -1 (once) and stays Offline;
- :class:`PreferredElection` — the first assigned replica, if live and in the ISR;
- :class:`ControlledShutdownElection` — the first live ISR member not shutting down; the
  stopping brokers leave the ISR;
- :class:`ReassignElection` — the first replica of a finished reassignment's target that is
  live and in the ISR.
"""

from dataclasses import dataclass, field

from kafkalite.controller.election import (
    NO_LEADER,
    controlled_shutdown_election,
    new_partition_state,
    offline_partition_election,
    preferred_replica_election,
    reassign_partition_election,
)
from kafkalite.controller.states import PartitionState, valid_partition_transition

__all__ = ["ControlledShutdownElection", "OfflineElection", "PartitionPlan", "PartitionStateMachine",
           "PreferredElection", "ReassignElection"]


@dataclass(frozen=True)
class OfflineElection:
    """Elect where the leader is gone; ``unclean_topics`` allow a replica outside the ISR."""

    unclean_topics: frozenset = frozenset()


@dataclass(frozen=True)
class PreferredElection:
    """Move leadership to the preferred (first) replica."""


@dataclass(frozen=True)
class ControlledShutdownElection:
    """Move leadership off the brokers shutting down."""


@dataclass(frozen=True)
class ReassignElection:
    """Move leadership into a finished reassignment's target (the partition's replicas by then)."""


@dataclass
class PartitionPlan:
    """What a partition transition needs.

    :ivar states: ``{key: PartitionState}`` to record now (no ZooKeeper write needed).
    :ivar create: ``{key: LeaderAndIsr}`` state znodes to create (New → Online).
    :ivar update: ``{key: LeaderAndIsr}`` state znodes to overwrite (the context holds the
        version expected); the partition is Online after the write, Offline if the state
        written has no leader.
    :ivar failed: ``{key: reason}`` partitions that keep their state (no leader possible,
        or none needed).
    :ivar invalid: partitions whose current state does not allow the target.
    :ivar no_live_isr: partitions an :class:`OfflineElection` left leaderless because no
        ISR member is live (the controller may retry them with unclean election allowed).
    """

    states: dict = field(default_factory=dict)
    create: dict = field(default_factory=dict)
    update: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    invalid: list = field(default_factory=list)
    no_live_isr: list = field(default_factory=list)


class PartitionStateMachine:
    """Plans partition transitions over a :class:`ControllerContext`.

    :param context: the controller's context (read, never changed here).
    :ivar unclean_elections: leaders elected from outside the ISR so far (Kafka's
        UncleanLeaderElectionsPerSec), counted when planned.
    """

    def __init__(self, context):
        self.context = context
        self.unclean_elections = 0

    def plan(self, keys, target, election=None):
        """Plan moving ``keys`` to ``target``; ``election`` is needed to go Online from Online/Offline."""
        plan = PartitionPlan()
        context = self.context
        for key in keys:
            current = context.partition_state(key)
            if not valid_partition_transition(current, target):
                plan.invalid.append(key)
                continue
            if target is PartitionState.ONLINE:
                if current is PartitionState.NEW:
                    self._initial_leader(key, plan)
                else:
                    self._elect(key, election or OfflineElection(), plan)
            else:
                plan.states[key] = target
        return plan

    def _initial_leader(self, key, plan):
        state = new_partition_state(self.context.replicas(key), self.context.eligible_brokers(key),
                                    self.context.epoch)
        if state is None:
            plan.failed[key] = "no live replica among %s" % list(self.context.replicas(key))
        else:
            plan.create[key] = state

    def _elect(self, key, election, plan):
        context = self.context
        current = context.leaderships.get(key)
        if current is None:
            plan.failed[key] = "no leadership recorded"
            return
        replicas = context.replicas(key)
        eligible = context.eligible_brokers(key)
        if isinstance(election, OfflineElection):
            elected = offline_partition_election(replicas, current, eligible, key[0] in election.unclean_topics,
                                                 context.epoch)
            if elected is not None and elected.leader not in current.isr:
                self.unclean_elections += 1
            if elected is None:
                if not any(r in eligible for r in current.isr):
                    plan.no_live_isr.append(key)
                if current.leader != NO_LEADER:
                    plan.update[key] = current.with_leader(NO_LEADER, current.isr, context.epoch)
                else:
                    plan.failed[key] = "no eligible leader (isr %s, live %s)" % (list(current.isr), sorted(eligible))
                    plan.states[key] = PartitionState.OFFLINE
                return
        elif isinstance(election, PreferredElection):
            elected = preferred_replica_election(replicas, current, eligible, context.epoch)
            if elected is None:
                plan.failed[key] = "preferred replica %s not eligible or already leader" % (replicas[:1],)
                return
        elif isinstance(election, ControlledShutdownElection):
            if current.leader not in context.shutting_down:
                plan.failed[key] = "leader %d is not shutting down" % current.leader
                return
            elected = controlled_shutdown_election(replicas, current, eligible, context.shutting_down,
                                                   context.epoch)
            if elected is None:
                plan.failed[key] = "no other live ISR member"
                return
        elif isinstance(election, ReassignElection):
            elected = reassign_partition_election(replicas, current, eligible, context.epoch)
            if elected is None:
                plan.failed[key] = "no replica of %s is live and in the ISR %s" % (list(replicas), list(current.isr))
                return
        else:
            raise ValueError(f"unknown election {election!r}")
        plan.update[key] = elected
