"""What Kafka's ``AdminZkClient`` does, for ``kafkalite-admin --zookeeper``: read and write znodes.

The cluster as ZooKeeper holds it (brokers, topics, partition states, configs) and the
writes of Kafka 2.8's ``--zookeeper`` tools, in their order and formats (every codec is
:mod:`kafkalite.zkdata`'s): a topic's config before its assignment, an entity's config
before its ``/config/changes`` notification (version 2, ``entity_path``).
"""

from dataclasses import dataclass

from kafkalite import zkdata
from kafkalite.cli.admin.output import AdminError
from kafkalite.zkclient import NodeExistsError, NoNodeError, ZkError

__all__ = ["ClusterView", "PartitionInfo", "ZkAdmin"]


@dataclass(frozen=True)
class PartitionInfo:
    """One partition as ZooKeeper describes it (``leader`` -1 and ``isr`` empty without a state znode)."""

    topic: str
    partition: int
    replicas: tuple
    leader: int
    isr: tuple
    leader_epoch: int = -1
    adding: tuple = ()
    removing: tuple = ()


@dataclass
class ClusterView:
    """Brokers and partitions read in one pass."""

    brokers: dict  # id → BrokerRegistration
    assignments: dict  # topic → TopicAssignment
    partitions: list  # PartitionInfo, by topic then partition
    marked_for_deletion: set


class ZkAdmin:
    """Kafka's admin operations on a :class:`~kafkalite.cli.admin.zk.BlockingZk`."""

    def __init__(self, zk):
        self.zk = zk

    # -- reads -------------------------------------------------------------------------------

    def brokers(self):
        """Live brokers: ``{id: BrokerRegistration}``."""
        ids = [int(child) for child in self.zk.children(zkdata.BROKER_IDS) if child.isdigit()]
        result = {}
        for broker_id, entry in zip(ids, self.zk.get_many(zkdata.broker_path(i) for i in ids), strict=True):
            if not isinstance(entry, ZkError):
                result[broker_id] = zkdata.decode_broker_registration(entry[0], broker_id)
        return dict(sorted(result.items()))

    def topics(self):
        return self.zk.children(zkdata.BROKER_TOPICS)

    def marked_for_deletion(self):
        return set(self.zk.children(zkdata.ADMIN_DELETE_TOPICS))

    def assignment(self, topic):
        """``(TopicAssignment, stat)`` of ``topic``.

        :raises AdminError: the topic does not exist.
        """
        try:
            data, stat = self.zk.get(zkdata.topic_path(topic))
        except NoNodeError:
            raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: Topic '{topic}' does not exist.") from None
        return zkdata.decode_topic_assignment(data), stat

    def view(self, topics=None):
        """A :class:`ClusterView` of ``topics`` (default: all), partition states read in batches."""
        topics = self.topics() if topics is None else list(topics)
        assignments = {}
        for topic, entry in zip(topics, self.zk.get_many(zkdata.topic_path(t) for t in topics), strict=True):
            if not isinstance(entry, ZkError):
                assignments[topic] = zkdata.decode_topic_assignment(entry[0])
        keys = [(t, p) for t, a in assignments.items() for p in a.partitions]
        states = self.zk.get_many(zkdata.partition_state_path(t, p) for t, p in keys)
        partitions = []
        for (topic, partition), entry in zip(keys, states, strict=True):
            assignment = assignments[topic]
            state = None if isinstance(entry, ZkError) else zkdata.decode_partition_state(entry[0])
            partitions.append(PartitionInfo(
                topic, partition, tuple(assignment.partitions[partition]),
                state.leader if state else -1, tuple(state.isr) if state else (),
                state.leader_epoch if state else -1,
                tuple(assignment.adding_replicas.get(partition, ())),
                tuple(assignment.removing_replicas.get(partition, ()))))
        return ClusterView(self.brokers(), assignments, partitions, self.marked_for_deletion())

    def entity_config(self, entity_type, entity_name):
        """``/config/<type>/<name>`` as ``{key: value}`` (``{}`` when absent)."""
        return zkdata.decode_topic_config(self.zk.get_or_none(zkdata.config_entity_path(entity_type, entity_name)))

    def reassignment_in_progress(self):
        """``{TopicPartition: replicas}`` of ``/admin/reassign_partitions`` (``{}`` when none)."""
        data = self.zk.get_or_none(zkdata.REASSIGN_PARTITIONS)
        return zkdata.decode_reassign_partitions(data) if data else {}

    # -- writes ------------------------------------------------------------------------------

    def set_entity_config(self, entity_type, entity_name, config):
        """Write ``/config/<type>/<name>`` and then the change notification, as Kafka's
        ``AdminZkClient.changeConfigs`` does (so every broker re-reads that entity)."""
        path = zkdata.config_entity_path(entity_type, entity_name)
        data = zkdata.encode_topic_config(config)
        try:
            self.zk.set(path, data)
        except NoNodeError:
            self.zk.create(path, data)
        self.zk.create(zkdata.config_change_path(), zkdata.encode_config_change(entity_type, entity_name),
                       sequence=True)

    def create_topic(self, topic, assignment, config):
        """``/config/topics/<t>`` then ``/brokers/topics/<t>`` with a new topic id.

        :raises AdminError: TOPIC_ALREADY_EXISTS.
        """
        config_path = zkdata.config_topic_path(topic)
        config_data = zkdata.encode_topic_config(config)
        try:
            self.zk.create(config_path, config_data)
        except NodeExistsError:
            self.zk.set(config_path, config_data)
        try:
            self.zk.create(zkdata.topic_path(topic), zkdata.encode_topic_assignment(
                zkdata.TopicAssignment(partitions=assignment, topic_id=zkdata.new_topic_id())))
        except NodeExistsError:
            raise AdminError(f"TOPIC_ALREADY_EXISTS: Topic '{topic}' already exists.") from None

    def create_admin_znode(self, path, data, busy_message):
        """Create an ``/admin/...`` request znode; refuse (``busy_message``) while one exists."""
        try:
            self.zk.create(path, data)
        except NodeExistsError:
            raise AdminError(busy_message) from None
