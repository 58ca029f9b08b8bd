"""Kafka's partition and replica states, and the one table of legal moves between them.

The rules (Kafka 2.8's ``PartitionStateMachine``/``ReplicaStateMachine``):

- a partition is **New** once its assignment is known, **Online** once it has a leader
  (the state znode exists and names a live broker), **Offline** when its leader is gone
  or it could not get one, **NonExistent** before creation and after deletion;
- a replica is **New** while its partition is being created, **Online** while its broker
  is live and hosts it, **Offline** once its broker died or stopped it, and passes through
  **ReplicaDeletionStarted** (StopReplica with delete sent) to **ReplicaDeletionSuccessful**
  (the broker answered) or **ReplicaDeletionIneligible** (it could not) before it is
  **NonExistent** again.

A move to a state not listed as reachable from the current one is refused and logged
by the state machines; nothing else enforces these rules.
"""

from enum import Enum

__all__ = ["PartitionState", "ReplicaState", "PARTITION_TRANSITIONS", "REPLICA_TRANSITIONS",
           "valid_partition_transition", "valid_replica_transition"]


class PartitionState(Enum):
    NON_EXISTENT = "NonExistentPartition"
    NEW = "NewPartition"
    ONLINE = "OnlinePartition"
    OFFLINE = "OfflinePartition"

    def __str__(self):
        return self.value


class ReplicaState(Enum):
    NON_EXISTENT = "NonExistentReplica"
    NEW = "NewReplica"
    ONLINE = "OnlineReplica"
    OFFLINE = "OfflineReplica"
    DELETION_STARTED = "ReplicaDeletionStarted"
    DELETION_SUCCESSFUL = "ReplicaDeletionSuccessful"
    DELETION_INELIGIBLE = "ReplicaDeletionIneligible"

    def __str__(self):
        return self.value


_P = PartitionState
_R = ReplicaState

#: target state -> the states it may be reached from.
PARTITION_TRANSITIONS = {
    _P.NEW: frozenset({_P.NON_EXISTENT}),
    _P.ONLINE: frozenset({_P.NEW, _P.ONLINE, _P.OFFLINE}),
    _P.OFFLINE: frozenset({_P.NEW, _P.ONLINE, _P.OFFLINE}),
    _P.NON_EXISTENT: frozenset({_P.OFFLINE}),
}

#: target state -> the states it may be reached from.
REPLICA_TRANSITIONS = {
    _R.NEW: frozenset({_R.NON_EXISTENT}),
    _R.ONLINE: frozenset({_R.NEW, _R.ONLINE, _R.OFFLINE, _R.DELETION_INELIGIBLE}),
    _R.OFFLINE: frozenset({_R.NEW, _R.ONLINE, _R.OFFLINE, _R.DELETION_INELIGIBLE}),
    _R.DELETION_STARTED: frozenset({_R.OFFLINE}),
    _R.DELETION_SUCCESSFUL: frozenset({_R.DELETION_STARTED}),
    _R.DELETION_INELIGIBLE: frozenset({_R.OFFLINE, _R.DELETION_STARTED}),
    _R.NON_EXISTENT: frozenset({_R.DELETION_SUCCESSFUL}),
}


def valid_partition_transition(current, target):
    """Whether a partition in ``current`` may move to ``target``."""
    return current in PARTITION_TRANSITIONS[target]


def valid_replica_transition(current, target):
    """Whether a replica in ``current`` may move to ``target``."""
    return current in REPLICA_TRANSITIONS[target]
