"""Leader elections asked for by an admin client (ElectLeaders, KIP-183/KIP-460).

Kafka 2.8's ``KafkaController.processReplicaLeaderElection`` for the AdminClient
trigger: unknown partitions answer UNKNOWN_TOPIC_OR_PARTITION, partitions of topics
being deleted INVALID_TOPIC_EXCEPTION, partitions that need no election
ELECTION_NOT_NEEDED (preferred: the preferred replica already leads; unclean: a live
leader exists), and the rest go through the partition state machine to Online with
the preferred-replica strategy or the offline strategy with unclean election allowed
(a live ISR member still comes first). A partition whose election found no leader
answers PREFERRED_LEADER_NOT_AVAILABLE or ELIGIBLE_LEADERS_NOT_AVAILABLE.
"""

from kafkalite.controller.election import NO_LEADER
from kafkalite.controller.partition_state_machine import OfflineElection, PreferredElection
from kafkalite.controller.states import PartitionState
from kafkalite.protocol import errors

__all__ = ["PREFERRED", "UNCLEAN", "ElectionResult", "elect_leaders"]

#: ElectLeaders ``election_type`` values (Kafka's ``ElectionType``).
PREFERRED = 0
UNCLEAN = 1


class ElectionResult:
    """One partition's outcome: ``error_code`` (0: elected), ``error_message`` and ``leader``."""

    __slots__ = ("error_code", "error_message", "leader")

    def __init__(self, error_code=0, error_message=None, leader=NO_LEADER):
        self.error_code = error_code
        self.error_message = error_message
        self.leader = leader

    def __repr__(self):
        return f"ElectionResult({self.error_code}, {self.error_message!r}, leader={self.leader})"


async def elect_leaders(context, state_changes, election_type, keys):
    """Run the election; returns ``{(topic, partition): ElectionResult}``.

    :param context: the controller's :class:`~kafkalite.controller.context.ControllerContext`.
    :param state_changes: its :class:`~kafkalite.controller.state_changes.StateChanges`.
    :param election_type: :data:`PREFERRED` or :data:`UNCLEAN` (anything else: INVALID_REQUEST).
    :param keys: the partitions, or None for every partition.
    """
    keys = sorted(set(context.all_partitions() if keys is None else keys))
    results = {}
    if election_type not in (PREFERRED, UNCLEAN):
        return {key: ElectionResult(errors.InvalidRequestError.code, "Unknown election type %d" % election_type)
                for key in keys}
    candidates = []
    for key in keys:
        replicas = context.replicas(key)
        if not replicas or key not in context.leaderships:
            results[key] = ElectionResult(errors.UnknownTopicOrPartitionError.code, "The partition does not exist.")
        elif context.is_being_deleted(key):
            results[key] = ElectionResult(errors.InvalidTopicError.code, "The topic is being deleted")
        elif _election_not_needed(context, key, election_type):
            results[key] = ElectionResult(errors.ElectionNotNeededError.code, "Leader election not needed for topic "
                                          "partition.", context.leaderships[key].leader)
        else:
            candidates.append(key)
    if candidates:
        if election_type == PREFERRED:
            election = PreferredElection()
        else:
            election = OfflineElection(frozenset(key[0] for key in candidates))
        await state_changes.partitions(candidates, PartitionState.ONLINE, election)
    for key in candidates:
        leader = context.leaderships[key].leader if key in context.leaderships else NO_LEADER
        elected = leader in context.live_brokers and (election_type != PREFERRED or leader == context.replicas(key)[0])
        if elected:
            results[key] = ElectionResult(0, None, leader)
        elif election_type == PREFERRED:
            results[key] = ElectionResult(
                errors.PreferredLeaderNotAvailableError.code,
                "Failed to elect leader for partition %s-%d under strategy "
                "PreferredReplicaPartitionLeaderElectionStrategy" % key)
        else:
            results[key] = ElectionResult(
                errors.EligibleLeadersNotAvailableError.code,
                "Failed to elect leader for partition %s-%d under strategy "
                "OfflinePartitionLeaderElectionStrategy(true)" % key)
    return results


def _election_not_needed(context, key, election_type):
    leader = context.leaderships[key].leader
    if election_type == PREFERRED:
        return leader == context.replicas(key)[0]
    return leader != NO_LEADER and leader in context.live_brokers
