"""The controller's leader elections other than after a failure: LeaderElections.

Preferred-replica elections (``/admin/preferred_replica_election``, written by Kafka's old
tool, and the periodic leader-imbalance check of ``auto.leader.rebalance.enable``, which
waits while partitions are reassigned, as Kafka's does), controlled shutdown (Kafka's
``doControlledShutdown``: leaderships move off the stopping broker, which leaves the ISRs
it is in), a topic's ``unclean.leader.election.enable`` turned on (its offline partitions
are elected again) and the ElectLeaders API (KIP-183/KIP-460).

ElectLeaders is Kafka 2.8's ``KafkaController.processReplicaLeaderElection`` for the AdminClient
trigger: unknown partitions answer UNKNOWN_TOPIC_OR_PARTITION, partitions of topics
being deleted INVALID_TOPIC_EXCEPTION, partitions that need no election
ELECTION_NOT_NEEDED (preferred: the preferred replica already leads; unclean: a live
leader exists), and the rest go through the partition state machine to Online with
the preferred-replica strategy or the offline strategy with unclean election allowed
(a live ISR member still comes first). A partition whose election found no leader
answers PREFERRED_LEADER_NOT_AVAILABLE or ELIGIBLE_LEADERS_NOT_AVAILABLE.
"""

from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.controller.election import NO_LEADER, imbalanced_partitions
from kafkalite.controller.partition_state_machine import ControlledShutdownElection, OfflineElection, PreferredElection
from kafkalite.controller.states import PartitionState, ReplicaState
from kafkalite.protocol import errors

__all__ = ["PREFERRED", "UNCLEAN", "ElectionResult", "LeaderElections", "elect_leaders"]

#: ElectLeaders ``election_type`` values (Kafka's ``ElectionType``).
PREFERRED = 0
UNCLEAN = 1


class LeaderElections:
    """Runs these elections for the controller, on its event loop, while it is the active one.

    :param context: the :class:`ControllerContext`.
    :param store: the :class:`ControllerZkStore`.
    :param state_changes: the controller's :class:`StateChanges`.
    :param config: the broker config (``leader_imbalance_per_broker_percentage``).
    """

    log = Logger(namespace="kafkalite.controller")

    def __init__(self, context, store, state_changes, config):
        self.context = context
        self.store = store
        self.state_changes = state_changes
        self.config = config

    async def elect_preferred(self, keys):
        """Move leadership of ``keys`` to their preferred replicas where possible; returns those moved."""
        keys = [k for k in keys if k in self.context.leaderships and not self.context.is_being_deleted(k)]
        return await self.state_changes.partitions(keys, PartitionState.ONLINE, PreferredElection())

    async def on_preferred_replica_election(self, watch):
        """An admin asked for preferred leaders through ``/admin/preferred_replica_election`` (watched again)."""
        requested = await self.store.read_preferred_replica_election(watch)
        if requested is None:
            return
        moved = await self.elect_preferred(sorted(set(requested)))
        self.log.info("preferred replica election for {count} partitions moved {moved}", count=len(requested),
                      moved=len(moved))
        await self.store.delete_quietly(zkdata.PREFERRED_REPLICA_ELECTION)

    async def auto_rebalance(self):
        """Kafka's imbalance check: per preferred broker, elect when too many of its partitions lead elsewhere."""
        if self.context.partitions_being_reassigned:
            return  # as Kafka: no automatic elections while partitions move
        keys = imbalanced_partitions(self.context, self.config.leader_imbalance_per_broker_percentage)
        if keys:
            self.log.info("leader imbalance: electing preferred leaders for {count} partitions", count=len(keys))
            await self.elect_preferred(keys)

    async def controlled_shutdown(self, broker_id, broker_epoch):
        """Kafka's ``doControlledShutdown``: ``(error_code, [partitions it still leads])``."""
        context = self.context
        info = context.live_brokers.get(broker_id)
        if info is None:
            return errors.BrokerNotAvailableError.code, []
        if broker_epoch not in (-1, None) and broker_epoch < info.epoch:
            return errors.StaleBrokerEpochError.code, []
        context.shutting_down.add(broker_id)
        self.log.info("controlled shutdown of broker {id}", id=broker_id)
        hosted = [k for k in context.partitions_on_brokers([broker_id])
                  if not context.is_being_deleted(k) and len(context.replicas(k)) > 1 and k in context.leaderships]
        led = [k for k in hosted if context.leaderships[k].leader == broker_id]
        followed = [(k, broker_id) for k in hosted if context.leaderships[k].leader != broker_id]
        await self.state_changes.partitions(led, PartitionState.ONLINE, ControlledShutdownElection())
        await self.state_changes.replicas(followed, ReplicaState.OFFLINE)
        remaining = sorted(k for k in hosted if context.leaderships[k].leader == broker_id)
        self.log.info("controlled shutdown of broker {id}: {moved} leaderships moved, {count} remaining",
                      id=broker_id, moved=len(led) - len(remaining), count=len(remaining))
        return 0, remaining

    async def unclean_leader_election_enabled(self, topic):
        """Kafka's ``processTopicUncleanLeaderElectionEnable``: the topic's offline partitions are
        elected again, now allowed to pick a live replica outside the ISR."""
        context = self.context
        if topic not in context.assignments:
            return
        keys = [k for k in context.partitions_in(PartitionState.OFFLINE) if k[0] == topic]
        if keys:
            self.log.info("unclean leader election enabled for {topic}: electing {count} offline partitions",
                          topic=topic, count=len(keys))
            await self.state_changes.partitions(keys, PartitionState.ONLINE, OfflineElection())

    async def elect_leaders(self, election_type, keys):
        """ElectLeaders: ``{(topic, partition): ElectionResult}`` (see :func:`elect_leaders`)."""
        return await elect_leaders(self.context, self.state_changes, election_type, keys)


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
