"""ReplicaStateMachine: Kafka's replica state transitions, planned as pure functions.

``plan(replicas, target)`` reads the :class:`ControllerContext` and returns a
:class:`ReplicaPlan` — the replica states to record, the ISR shrinks to write, and the
requests the transition implies — without I/O or changes. The controller's
:class:`~kafkalite.controller.state_changes.StateChanges` carries it out.

What each target means (Kafka 2.8's ``ZkReplicaStateMachine``):

- **Online** from New: nothing to send (the partition's creation sends LeaderAndIsr);
  from Offline/Online/Ineligible: the broker is told the partition's current leadership
  (LeaderAndIsr), e.g. when it comes back;
- **Offline**: the broker stops the replica without deleting it (StopReplica, if the
  broker is still live) and the replica leaves the ISR — all of a partition's offline
  replicas in one state write (:func:`remove_replicas_from_isr`: a leaving leader leaves
  the partition leaderless, the last ISR member stays); the remaining replicas then get
  the new leadership;
- **ReplicaDeletionStarted**: StopReplica with delete (topic deletion waits for the answers);
- the other targets only record the state (NonExistent forgets it).
"""

from dataclasses import dataclass, field

from kafkalite.controller.election import remove_replicas_from_isr
from kafkalite.controller.states import ReplicaState, valid_replica_transition

__all__ = ["ReplicaPlan", "ReplicaStateMachine"]


@dataclass
class ReplicaPlan:
    """What a replica transition needs.

    :ivar states: ``{(key, broker): ReplicaState}`` to record (``NON_EXISTENT``: forget).
    :ivar isr_updates: ``{key: LeaderAndIsr}`` ISR shrinks to write (versions in the context).
    :ivar isr_leavers: ``{key: {broker}}`` the replicas leaving each ISR (to plan again after a conflict).
    :ivar leader_and_isr: ``[(broker, key)]`` brokers to tell the partition's current leadership.
    :ivar stop_replica: ``[(broker, key, delete)]`` StopReplica requests.
    :ivar invalid: ``[(key, broker)]`` whose current state does not allow the target.
    """

    states: dict = field(default_factory=dict)
    isr_updates: dict = field(default_factory=dict)
    isr_leavers: dict = field(default_factory=dict)
    leader_and_isr: list = field(default_factory=list)
    stop_replica: list = field(default_factory=list)
    invalid: list = field(default_factory=list)


class ReplicaStateMachine:
    """Plans replica transitions over a :class:`ControllerContext`.

    :param context: the controller's context (read, never changed here).
    """

    def __init__(self, context):
        self.context = context

    def plan(self, replicas, target):
        """Plan moving ``replicas`` (``(key, broker)`` pairs) to ``target``."""
        plan = ReplicaPlan()
        context = self.context
        leaving_isr = plan.isr_leavers
        for key, broker in replicas:
            current = context.replica_state(key, broker)
            if not valid_replica_transition(current, target):
                plan.invalid.append((key, broker))
                continue
            plan.states[(key, broker)] = target
            if target is ReplicaState.ONLINE:
                if current is not ReplicaState.NEW and key in context.leaderships:
                    plan.leader_and_isr.append((broker, key))
            elif target is ReplicaState.OFFLINE:
                if context.is_live(broker):
                    plan.stop_replica.append((broker, key, False))
                leadership = context.leaderships.get(key)
                # A topic being deleted is never led again: no ISR write for its replicas.
                if leadership is not None and broker in leadership.isr and not context.is_being_deleted(key):
                    leaving_isr.setdefault(key, set()).add(broker)
            elif target is ReplicaState.DELETION_STARTED:
                plan.stop_replica.append((broker, key, True))
        for key, brokers in leaving_isr.items():
            shrunk = remove_replicas_from_isr(context.leaderships[key], brokers, context.epoch)
            if shrunk is not None:
                plan.isr_updates[key] = shrunk
        return plan
