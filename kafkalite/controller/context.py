"""ControllerContext: the controller's view of the cluster (Kafka's ``ControllerContext``).

Live brokers and their epochs, every topic's assignment, every partition's leadership
(as last written to or read from its state znode, with the znode version) and the state
of every partition and replica in Kafka's state machines, plus the brokers shutting down
and the topics being deleted. Only the controller's event loop changes it, one event at
a time; the state machines read it to plan transitions, and the request batch reads it to
describe partitions to brokers.
"""

from dataclasses import dataclass, field

from kafkalite.controller.states import PartitionState, ReplicaState

__all__ = ["ControllerContext", "LiveBrokerInfo"]


@dataclass
class LiveBrokerInfo:
    """A registered broker: its id, epoch (the czxid of its znode), endpoints and rack.

    ``endpoints`` are ``(listener, host, port, security_protocol)`` tuples.
    """

    broker_id: int
    epoch: int
    endpoints: list
    rack: str | None = None

    def endpoint(self, listener):
        """The endpoint of ``listener`` (the first one when it has none of that name)."""
        for endpoint in self.endpoints:
            if endpoint[0] == listener:
                return endpoint
        return self.endpoints[0] if self.endpoints else None


@dataclass
class ControllerContext:
    """The controller's view; changed only by the controller's event loop.

    :ivar epoch: the controller epoch this controller won.
    :ivar epoch_zk_version: the version of ``/controller_epoch`` that fences every write.
    :ivar live_brokers: ``{broker_id: LiveBrokerInfo}``, shutting-down brokers included.
    :ivar shutting_down: ids of brokers in controlled shutdown.
    :ivar assignments: ``{topic: {partition: [replica ids]}}``.
    :ivar leaderships: ``{(topic, partition): LeaderAndIsr}`` with the state znode's version.
    :ivar partition_states: ``{(topic, partition): PartitionState}``.
    :ivar replica_states: ``{((topic, partition), broker_id): ReplicaState}``.
    :ivar topics_to_be_deleted: topics queued for deletion.
    :ivar offline_replicas: ``{(topic, partition): {broker_id}}`` replicas on live brokers that
        could not open their log (KAFKA_STORAGE_ERROR in LeaderAndIsr); never elected until
        their broker restarts (Kafka's replicas on offline log dirs).
    """

    epoch: int = 0
    epoch_zk_version: int = -1
    live_brokers: dict = field(default_factory=dict)
    shutting_down: set = field(default_factory=set)
    assignments: dict = field(default_factory=dict)
    leaderships: dict = field(default_factory=dict)
    partition_states: dict = field(default_factory=dict)
    replica_states: dict = field(default_factory=dict)
    topics_to_be_deleted: set = field(default_factory=set)
    offline_replicas: dict = field(default_factory=dict)

    def reset(self, epoch=0, epoch_zk_version=-1):
        """Forget everything: after a resignation, or before a failover as controller of ``epoch``."""
        self.__init__(epoch=epoch, epoch_zk_version=epoch_zk_version)

    # -- brokers -------------------------------------------------------------------------

    def is_live(self, broker_id):
        """Registered, whether or not shutting down."""
        return broker_id in self.live_brokers

    def eligible_brokers(self, key=None):
        """Live brokers not shutting down: the ones that may become leaders (of ``key``: whose
        replica of it is not offline either)."""
        excluded = self.offline_replicas.get(key, ()) if key is not None else ()
        return {b: info for b, info in self.live_brokers.items() if b not in self.shutting_down and b not in excluded}

    def forget_offline_replicas(self, broker_ids):
        """Brokers that restarted or died: their replicas are no longer known to be on failed storage."""
        for key in list(self.offline_replicas):
            self.offline_replicas[key] -= set(broker_ids)
            if not self.offline_replicas[key]:
                del self.offline_replicas[key]

    # -- topics and partitions -----------------------------------------------------------

    def all_partitions(self):
        """Every ``(topic, partition)`` assigned, topic by topic."""
        for topic, partitions in self.assignments.items():
            for partition in partitions:
                yield (topic, partition)

    def partitions_of(self, topic):
        return [(topic, partition) for partition in sorted(self.assignments.get(topic, {}))]

    def replicas(self, key):
        """The assigned replicas of ``key`` (empty for an unknown partition)."""
        return self.assignments.get(key[0], {}).get(key[1], [])

    def add_topic(self, topic, assignment):
        """Record a topic's ``{partition: replicas}``; new partitions start NonExistent."""
        self.assignments[topic] = {int(p): list(r) for p, r in assignment.items()}

    def remove_topic(self, topic):
        """Forget a topic and every state of its partitions and replicas."""
        for key in self.partitions_of(topic):
            self.leaderships.pop(key, None)
            self.partition_states.pop(key, None)
            for replica in self.replicas(key):
                self.replica_states.pop((key, replica), None)
        self.assignments.pop(topic, None)
        self.topics_to_be_deleted.discard(topic)

    def is_being_deleted(self, key):
        return key[0] in self.topics_to_be_deleted

    def partitions_on_brokers(self, broker_ids):
        """Partitions with a replica on one of ``broker_ids``."""
        broker_ids = set(broker_ids)
        return [key for key in self.all_partitions() if broker_ids.intersection(self.replicas(key))]

    def replicas_on_brokers(self, broker_ids):
        """``(key, broker)`` for every replica hosted on one of ``broker_ids``."""
        broker_ids = set(broker_ids)
        return [(key, replica) for key in self.all_partitions() for replica in self.replicas(key)
                if replica in broker_ids]

    # -- states --------------------------------------------------------------------------

    def partition_state(self, key):
        return self.partition_states.get(key, PartitionState.NON_EXISTENT)

    def replica_state(self, key, broker_id):
        return self.replica_states.get((key, broker_id), ReplicaState.NON_EXISTENT)

    def partitions_in(self, *states):
        """Partitions (not being deleted) in one of ``states``."""
        wanted = set(states)
        return [key for key in self.all_partitions()
                if self.partition_state(key) in wanted and not self.is_being_deleted(key)]

    def offline_partition_count(self):
        """Partitions without a live leader (Kafka's OfflinePartitionsCount)."""
        return sum(1 for key in self.all_partitions() if not self.is_being_deleted(key) and
                   (key not in self.leaderships or self.leaderships[key].leader not in self.live_brokers))
