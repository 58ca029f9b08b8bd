"""Creating and deleting topics the way Kafka's AdminZkClient does: by writing znodes.

CreateTopics on the controller and auto-creation on any broker both end here:
validate, assign replicas to brokers (Kafka's rack-unaware spread), write
``/config/topics/<t>`` and then ``/brokers/topics/<t>``. The controller notices
the new topic znode and elects leaders. Deletion writes
``/admin/delete_topics/<t>`` for the controller to act on.
"""

import functools
import random

from twisted.internet import task
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.protocol import errors
from kafkalite.zkclient import ConnectionLoss, NodeExistsError, NoNodeError, SessionExpired, ZkTimeoutError

__all__ = ["TopicAdmin", "assign_replicas"]

INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


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


def assign_replicas(broker_ids, num_partitions, replication_factor, rng=random):
    """Spread replicas over brokers like Kafka's ``assignReplicasToBrokers`` (rack-unaware).

    The first replica of each partition walks the sorted broker list from a random
    start; the followers are shifted by an amount that grows every full round, so
    leaders and followers both spread evenly.

    :returns: ``{partition: [broker ids]}``.
    :raises InvalidReplicationFactorError: more replicas than brokers.
    """
    brokers = sorted(broker_ids)
    count = len(brokers)
    if replication_factor <= 0:
        raise errors.InvalidReplicationFactorError("Replication factor must be larger than 0.")
    if replication_factor > count:
        raise errors.InvalidReplicationFactorError(
            "Replication factor: %d larger than available brokers: %d." % (replication_factor, count))
    if num_partitions <= 0:
        raise errors.InvalidPartitionsError("Number of partitions must be larger than 0.")
    start = rng.randrange(count)
    shift = rng.randrange(count)
    assignment = {}
    for partition in range(num_partitions):
        if partition > 0 and partition % count == 0:
            shift += 1
        first = (partition + start) % count
        replicas = [brokers[first]]
        for j in range(replication_factor - 1):
            replicas.append(brokers[(first + 1 + (shift + j) % (count - 1)) % count])
        assignment[partition] = replicas
    return assignment


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
    async def topic_exists(self, topic):
        return await self._zk.exists(zkdata.topic_path(topic)) is not None

    @_zookeeper_outage_is_retriable
    async def create_topic(self, topic, num_partitions, replication_factor, assignment=None, configs=None,
                           validate_only=False):
        """Validate and create ``topic``; fires with the assignment written.

        :param assignment: explicit ``{partition: [broker ids]}``, else spread over live brokers.
        :param configs: topic-level overrides ``{key: value}`` (strings).
        :raises KafkaError: INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
            INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT or INVALID_CONFIG.
        """
        zkdata.validate_topic_name(topic)
        configs = dict(configs or {})
        self._default_log_config.with_overrides(configs)
        live = await self.live_broker_ids()
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
                    partitions=assignment, topic_id=zkdata.new_topic_id())),
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
