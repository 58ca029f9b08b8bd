"""Creating and deleting topics the way Kafka's AdminZkClient does: by writing znodes.

CreateTopics on the controller and auto-creation on any broker both end here:
validate, assign replicas to brokers (Kafka's spread, rack-aware when every broker
has a rack: :mod:`kafkalite.server.replica_assignment`), write ``/config/topics/<t>``
and then ``/brokers/topics/<t>``. The controller notices the new topic znode and
elects leaders. CreatePartitions rewrites the topic znode with the new partitions
added (Kafka's ``AdminZkClient.createPartitionsWithAssignment``), which the controller
notices the same way. Deletion writes ``/admin/delete_topics/<t>`` for the controller
to act on.
"""

import base64
import functools
import uuid

from twisted.internet import task
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.protocol import errors
from kafkalite.server.replica_assignment import assign_replicas
from kafkalite.zkclient import (
    BadVersionError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    SessionExpired,
    ZkError,
    ZkTimeoutError,
)

__all__ = ["TopicAdmin", "assign_replicas", "topic_id_as_uuid"]

INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


def topic_id_as_uuid(topic_id):
    """A topic znode's base64 ``topic_id`` as the ``uuid.UUID`` the protocol carries (None stays None)."""
    if topic_id is None:
        return None
    return uuid.UUID(bytes=base64.urlsafe_b64decode(topic_id + "=" * (-len(topic_id) % 4)))


def _zookeeper_outage_is_retriable(method):
    """Ride out a short ZooKeeper outage, as Kafka's blocking ZooKeeper client does.

    The operation starts only once the session is connected (waiting up to
    ``outage_wait_s``); an outage that outlasts that, or that strikes mid-operation,
    reaches clients as REQUEST_TIMED_OUT (retriable), not as a closed connection.
    """
    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        await self._await_connected()
        try:
            return await method(self, *args, **kwargs)
        except (ConnectionLoss, SessionExpired, ZkTimeoutError) as error:
            raise errors.RequestTimedOutError("ZooKeeper is unavailable (%s); retry" % error) from error
    return wrapper


class TopicAdmin:
    """Topic creation and deletion through ZooKeeper.

    :param zk: a :class:`kafkalite.zkclient.ZkClient`.
    :param default_log_config: the broker's :class:`kafkalite.log.config.LogConfig`, used to
        validate per-topic overrides before anything is written.
    :param reactor: ``IReactorTime``, for waiting out a ZooKeeper outage.
    :param outage_wait_s: how long an operation waits for a lost connection to come back.
    """

    log = Logger()

    def __init__(self, zk, default_log_config, reactor=None, outage_wait_s=0.0):
        self._zk = zk
        self._default_log_config = default_log_config
        self._reactor = reactor
        self._outage_wait_s = outage_wait_s

    async def _await_connected(self):
        if self._reactor is None or getattr(self._zk, "connected", True):
            return
        deadline = self._reactor.seconds() + self._outage_wait_s
        while not self._zk.connected and self._reactor.seconds() < deadline:
            await task.deferLater(self._reactor, 0.1, lambda: None)

    @_zookeeper_outage_is_retriable
    async def live_broker_ids(self):
        return sorted(int(child) for child in await self._zk.get_children(zkdata.BROKER_IDS))

    @_zookeeper_outage_is_retriable
    async def live_brokers(self):
        """``{broker_id: rack or None}`` of the registered brokers (Kafka's ``getBrokerMetadatas``)."""
        ids = await self.live_broker_ids()
        brokers = {}
        for broker_id, entry in zip(ids, await self._zk.get_many([zkdata.broker_path(b) for b in ids]), strict=True):
            if isinstance(entry, ZkError):
                continue  # gone since the listing
            brokers[broker_id] = zkdata.decode_broker_registration(entry[0], broker_id).rack
        return brokers

    @_zookeeper_outage_is_retriable
    async def topic_exists(self, topic):
        return await self._zk.exists(zkdata.topic_path(topic)) is not None

    @_zookeeper_outage_is_retriable
    async def create_topic(self, topic, num_partitions, replication_factor, assignment=None, configs=None,
                           validate_only=False, topic_id=None):
        """Validate and create ``topic``; fires with the assignment written.

        :param assignment: explicit ``{partition: [broker ids]}``, else spread over live brokers
            (rack-aware when they all have a rack).
        :param configs: topic-level overrides ``{key: value}`` (strings).
        :param topic_id: the base64 topic id to record (a new one when None).
        :raises KafkaError: INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
            INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT or INVALID_CONFIG.
        """
        zkdata.validate_topic_name(topic)
        configs = dict(configs or {})
        self._default_log_config.with_overrides(configs)
        live = await self.live_brokers()
        if assignment:
            assignment = self._check_assignment(assignment, live)
        else:
            assignment = assign_replicas(live, num_partitions, replication_factor)
        if await self.topic_exists(topic):
            raise errors.TopicAlreadyExistsError("Topic '%s' already exists." % topic)
        if validate_only:
            return assignment
        # Kafka writes the config before the topic so the controller sees both together.
        config_data = zkdata.encode_topic_config(configs)
        try:
            await self._zk.create(zkdata.config_topic_path(topic), config_data, makepath=True)
        except NodeExistsError:
            await self._zk.set(zkdata.config_topic_path(topic), config_data)
        try:
            await self._zk.create(
                zkdata.topic_path(topic),
                zkdata.encode_topic_assignment(zkdata.TopicAssignment(
                    partitions=assignment, topic_id=topic_id or zkdata.new_topic_id())),
                makepath=True)
        except NodeExistsError:
            raise errors.TopicAlreadyExistsError("Topic '%s' already exists." % topic) from None
        self.log.info("created topic {topic}: {count} partitions, replication factor {rf}", topic=topic,
                      count=len(assignment), rf=len(next(iter(assignment.values()))))
        return assignment

    @staticmethod
    def _check_assignment(assignment, live):
        partitions = sorted(assignment)
        if partitions != list(range(len(partitions))):
            raise errors.InvalidReplicaAssignmentError("Partitions must be numbered from 0 without gaps.")
        sizes = {len(replicas) for replicas in assignment.values()}
        if len(sizes) != 1 or 0 in sizes:
            raise errors.InvalidReplicaAssignmentError("All partitions must have the same, non-zero replica count.")
        for replicas in assignment.values():
            if len(set(replicas)) != len(replicas):
                raise errors.InvalidReplicaAssignmentError("Duplicate brokers in replica assignment %s." % replicas)
            unknown = [b for b in replicas if b not in live]
            if unknown:
                raise errors.InvalidReplicaAssignmentError("Unknown brokers %s in replica assignment." % unknown)
        return {p: list(r) for p, r in assignment.items()}

    @_zookeeper_outage_is_retriable
    async def create_partitions(self, topic, count, assignments=None, validate_only=False):
        """Grow ``topic`` to ``count`` partitions, as Kafka's ``ZkAdminManager.createPartitions``.

        The topic znode is rewritten with the existing partitions, the new ones, its topic id
        and its adding/removing maps, conditionally on the version read (a concurrent change
        fails the request rather than be overwritten).

        :param assignments: the new partitions' replica lists, in partition order, or None
            for Kafka's assignment continuing the topic's spread.
        :returns: ``{partition: [broker ids]}`` of the new partitions.
        :raises KafkaError: UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION (queued for
            deletion), INVALID_PARTITIONS, INVALID_REPLICA_ASSIGNMENT, INVALID_REPLICATION_FACTOR
            (brokers with and without racks), REASSIGNMENT_IN_PROGRESS.
        """
        try:
            data, stat = await self._zk.get(zkdata.topic_path(topic))
        except NoNodeError:
            raise errors.UnknownTopicOrPartitionError("The topic '%s' does not exist." % topic) from None
        if await self._zk.exists(zkdata.delete_topic_path(topic)) is not None:
            raise errors.InvalidTopicError("The topic is queued for deletion.")
        current = zkdata.decode_topic_assignment(data)
        existing = current.partitions
        if current.adding_replicas or current.removing_replicas:
            raise errors.ReassignmentInProgressError(
                "A partition reassignment is in progress for the topic '%s'." % topic)
        if not existing:
            raise errors.UnknownTopicOrPartitionError("The topic '%s' does not exist." % topic)
        increment = count - len(existing)
        if increment < 0:
            raise errors.InvalidPartitionsError(
                "Topic currently has %d partitions, which is higher than the requested %d." % (len(existing), count))
        if increment == 0:
            raise errors.InvalidPartitionsError("Topic already has %d partitions." % len(existing))
        live = await self.live_brokers()
        first = existing.get(0)
        if first is None:
            raise errors.InvalidReplicaAssignmentError(
                "Unexpected existing replica assignment for topic '%s', partition id 0 is missing." % topic)
        if assignments is not None:
            new = self._check_new_assignments(assignments, increment, len(existing), len(first), live)
        else:
            ids = sorted(live)
            # Kafka starts the new partitions' spread at the broker leading partition 0.
            start = next((i for i, b in enumerate(ids) if b >= first[0]), 0)
            new = assign_replicas(live, increment, len(first), fixed_start_index=start,
                                  start_partition_id=len(existing))
        if validate_only:
            return new
        updated = zkdata.TopicAssignment(
            partitions={**existing, **new}, adding_replicas=current.adding_replicas,
            removing_replicas=current.removing_replicas, topic_id=current.topic_id)
        try:
            await self._zk.set(zkdata.topic_path(topic), zkdata.encode_topic_assignment(updated), version=stat.version)
        except BadVersionError:
            raise errors.ReassignmentInProgressError(
                "The assignment of topic '%s' changed while partitions were being added; retry." % topic) from None
        except NoNodeError:
            raise errors.UnknownTopicOrPartitionError("The topic '%s' does not exist." % topic) from None
        self.log.info("added {count} partitions to topic {topic}: {new}", count=increment, topic=topic, new=new)
        return new

    @staticmethod
    def _check_new_assignments(assignments, increment, first_new, replication_factor, live):
        """Kafka's checks of CreatePartitions' explicit assignments; ``{partition: replicas}``."""
        assignments = [list(replicas) for replicas in assignments]
        unknown = sorted({b for replicas in assignments for b in replicas} - set(live))
        if unknown:
            raise errors.InvalidReplicaAssignmentError(
                "Unknown broker(s) in replica assignment: %s." % ", ".join(map(str, unknown)))
        if len(assignments) != increment:
            raise errors.InvalidReplicaAssignmentError(
                "Increasing the number of partitions by %d but %d assignments provided."
                % (increment, len(assignments)))
        new = {first_new + i: replicas for i, replicas in enumerate(assignments)}
        for partition, replicas in new.items():
            if not replicas:
                raise errors.InvalidReplicaAssignmentError(
                    "Cannot have replication factor of 0 for partition id %d." % partition)
            if len(set(replicas)) != len(replicas):
                raise errors.InvalidReplicaAssignmentError(
                    "Duplicate brokers not allowed in replica assignment: %s for partition id %d."
                    % (", ".join(map(str, replicas)), partition))
        bad = {p: len(r) for p, r in new.items() if len(r) != replication_factor}
        if bad:
            raise errors.InvalidReplicaAssignmentError(
                "Inconsistent replication factor between partitions, partition 0 has %d while partitions [%s] have "
                "replication factors [%s], respectively." % (replication_factor, ", ".join(map(str, sorted(bad))),
                                                            ", ".join(str(bad[p]) for p in sorted(bad))))
        return new

    @_zookeeper_outage_is_retriable
    async def topic_overrides(self, topic):
        """Fires with the topic's config overrides from ``/config/topics/<t>`` (``{}`` if none)."""
        try:
            data, _ = await self._zk.get(zkdata.config_topic_path(topic))
        except NoNodeError:
            return {}
        if not data:
            return {}
        return dict(zkdata.decode_topic_config(data))

    @property
    def default_log_config(self):
        """The broker's defaults for topic configs (a :class:`~kafkalite.log.config.LogConfig`)."""
        return self._default_log_config

    def set_default_log_config(self, config):
        """Take new broker defaults for topic configs (a dynamic broker config changed)."""
        self._default_log_config = config

    async def topic_config(self, topic):
        """The effective log config of ``topic``: the broker defaults plus ``/config/topics/<t>``.

        Through a ZooKeeper outage this waits for the session rather than guess: a compacted
        topic started under the default delete policy would lose data. Invalid overrides are
        logged and the defaults used.
        """
        overrides = await self.topic_overrides(topic)
        try:
            return self._default_log_config.with_overrides(overrides)
        except errors.KafkaError as error:
            self.log.warn("ignoring invalid config of topic {topic}: {error}", topic=topic, error=error)
            return self._default_log_config

    @_zookeeper_outage_is_retriable
    async def delete_topic(self, topic):
        """Ask the controller to delete ``topic``.

        :raises UnknownTopicOrPartitionError: no such topic.
        """
        if not await self.topic_exists(topic):
            raise errors.UnknownTopicOrPartitionError("Topic '%s' does not exist." % topic)
        try:
            await self._zk.create(zkdata.delete_topic_path(topic), b"", makepath=True)
        except NodeExistsError:
            pass
