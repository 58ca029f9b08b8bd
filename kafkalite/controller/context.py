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

__all__ = ["ControllerContext", "LiveBrokerInfo", "ReplicaAssignment"]


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


@dataclass(frozen=True)
class ReplicaAssignment:
    """A partition's full assignment (Kafka's ``ReplicaAssignment``): while a reassignment runs,
    ``replicas`` is the original set plus the target, ``adding`` the target's new members and
    ``removing`` the original members not in the target (KIP-455)."""

    replicas: tuple
    adding: tuple = ()
    removing: tuple = ()

    @property
    def origin(self):
        """The replicas before the reassignment (ORS)."""
        return tuple(r for r in self.replicas if r not in self.adding)

    @property
    def target(self):
        """The replicas after it (TRS)."""
        return tuple(r for r in self.replicas if r not in self.removing)

    @property
    def is_being_reassigned(self):
        return bool(self.adding or self.removing)

    def reassign_to(self, target):
        """The assignment while moving from this one's origin to ``target``: the target first,
        in its order, then the origin's other replicas."""
        origin = self.origin
        full = tuple(dict.fromkeys(tuple(target) + origin))
        return ReplicaAssignment(full, tuple(r for r in full if r not in origin),
                                 tuple(r for r in full if r not in target))


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
    :ivar adding_replicas: ``{(topic, partition): (broker_id, ...)}`` replicas a reassignment adds
        (in ``assignments`` already); ``removing_replicas`` likewise, the ones it removes.
    :ivar partitions_being_reassigned: the partitions with a reassignment in progress.
    :ivar topic_ids: ``{topic: base64 topic id}`` of the topics whose znode has one.
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
    adding_replicas: dict = field(default_factory=dict)
    removing_replicas: dict = field(default_factory=dict)
    partitions_being_reassigned: set = field(default_factory=set)
    topic_ids: dict = field(default_factory=dict)

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

    def add_topic(self, topic, assignment, adding=None, removing=None, topic_id=None):
        """Record a topic's ``{partition: replicas}`` (and the replicas its reassignments add and
        remove, ``{partition: replicas}``); new partitions start NonExistent."""
        self.assignments[topic] = {int(p): list(r) for p, r in assignment.items()}
        for partition, replicas in (adding or {}).items():
            if replicas:
                self.adding_replicas[(topic, int(partition))] = tuple(replicas)
        for partition, replicas in (removing or {}).items():
            if replicas:
                self.removing_replicas[(topic, int(partition))] = tuple(replicas)
        if topic_id is not None:
            self.topic_ids[topic] = topic_id

    def full_assignment(self, key):
        """``key``'s :class:`ReplicaAssignment` (empty replicas for an unknown partition)."""
        return ReplicaAssignment(tuple(self.replicas(key)), self.adding_replicas.get(key, ()),
                                 self.removing_replicas.get(key, ()))

    def set_full_assignment(self, key, assignment):
        """Record ``key``'s assignment, adding and removing replicas included."""
        self.assignments.setdefault(key[0], {})[key[1]] = list(assignment.replicas)
        for mapping, replicas in ((self.adding_replicas, assignment.adding),
                                  (self.removing_replicas, assignment.removing)):
            if replicas:
                mapping[key] = tuple(replicas)
            else:
                mapping.pop(key, None)

    def topic_assignment(self, topic):
        """``(partitions, adding, removing, topic_id)`` of ``topic`` as its znode should hold them."""
        keys = self.partitions_of(topic)
        return ({p: tuple(self.assignments[topic][p]) for _, p in keys},
                {k[1]: self.adding_replicas[k] for k in keys if k in self.adding_replicas},
                {k[1]: self.removing_replicas[k] for k in keys if k in self.removing_replicas},
                self.topic_ids.get(topic))

    def topic_name_of(self, topic_id):
        """The topic whose id is ``topic_id`` (base64), or None."""
        for topic, known in self.topic_ids.items():
            if known == topic_id:
                return topic
        return None

    def is_topic_being_reassigned(self, topic):
        return any(key[0] == topic for key in self.partitions_being_reassigned)

    def remove_topic(self, topic):
        """Forget a topic and every state of its partitions and replicas."""
        for key in self.partitions_of(topic):
            self.leaderships.pop(key, None)
            self.partition_states.pop(key, None)
            for replica in self.replicas(key):
                self.replica_states.pop((key, replica), None)
            self.adding_replicas.pop(key, None)
            self.removing_replicas.pop(key, None)
            self.partitions_being_reassigned.discard(key)
        self.assignments.pop(topic, None)
        self.topic_ids.pop(topic, None)
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
