"""The broker's view of the cluster, as the controller last told it.

Every broker answers Metadata from this cache, which only UpdateMetadata
requests change (reference §2.3): in ZooKeeper mode brokers never read
partition state from ZooKeeper to serve clients. Listeners registered with
:meth:`MetadataCache.add_listener` are called after every update, which is how
CreateTopics/DeleteTopics wait for their outcome without polling.
"""

from dataclasses import dataclass, field

from twisted.internet import defer

__all__ = ["BrokerEndpoint", "LiveBroker", "PartitionInfo", "MetadataCache"]


@dataclass(frozen=True)
class BrokerEndpoint:
    listener: str
    host: str
    port: int
    security_protocol: int = 0


@dataclass(frozen=True)
class LiveBroker:
    broker_id: int
    endpoints: tuple
    rack: str | None = None

    def endpoint(self, listener):
        for endpoint in self.endpoints:
            if endpoint.listener == listener:
                return endpoint
        return None


@dataclass
class PartitionInfo:
    """Leadership of one partition as the controller announced it."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int
    isr: list
    replicas: list
    offline_replicas: list = field(default_factory=list)
    zk_version: int = 0
    controller_epoch: int = 0


class MetadataCache:
    """Live brokers, partition leadership and the controller id, per UpdateMetadata."""

    def __init__(self, broker_id):
        self.broker_id = broker_id
        self.controller_id = -1
        self.controller_epoch = 0
        self.brokers = {}
        self.topics = {}
        self.topic_ids = {}  # topic -> uuid.UUID, for the topics the controller sent one for
        self._listeners = []
        self._own_endpoints = {}

    def register_self(self, endpoints):
        """This broker's advertised :class:`BrokerEndpoint` s, which Metadata serves before the
        controller's first UpdateMetadata names it (a client must always find someone to ask)."""
        self._own_endpoints = {endpoint.listener: endpoint for endpoint in endpoints}

    def own_endpoint(self, listener):
        """This broker's advertised endpoint on ``listener`` (its first one if none), or None."""
        endpoint = self._own_endpoints.get(listener)
        if endpoint is None and self._own_endpoints:
            endpoint = next(iter(self._own_endpoints.values()))
        return endpoint

    def add_listener(self, callback):
        """Call ``callback()`` after each update until it returns True."""
        self._listeners.append(callback)

    def wait_for(self, condition, timeout_ms, clock):
        """A Deferred firing True once ``condition()`` holds after an update (at once if it holds
        now), or False after ``timeout_ms`` on ``clock`` — how admin requests wait for the
        controller's UpdateMetadata to show their outcome (Kafka's DelayedCreatePartitions...)."""
        if condition():
            return defer.succeed(True)
        done = defer.Deferred()

        def check():
            if done.called:
                return True
            if condition():
                timer.cancel()
                done.callback(True)
                return True
            return False

        def expire():
            if not done.called:
                done.callback(False)

        timer = clock.callLater(max(timeout_ms, 0) / 1000.0, expire)
        self.add_listener(check)
        return done

    def broker_endpoints(self, listener, own_rack=None):
        """``(broker_id, host, port, rack)`` of every live broker on ``listener`` (its first
        listener when it has none of that name); before the controller's first UpdateMetadata
        names this broker, this broker too: a client must always find someone to ask."""
        endpoints = []
        for broker in self.brokers.values():
            endpoint = broker.endpoint(listener) or (broker.endpoints[0] if broker.endpoints else None)
            if endpoint is not None:
                endpoints.append((broker.broker_id, endpoint.host, endpoint.port, broker.rack))
        if self.broker_id not in self.brokers:
            own = self.own_endpoint(listener)
            if own is not None:
                endpoints.append((self.broker_id, own.host, own.port, own_rack))
        return endpoints

    def _notify(self):
        listeners, self._listeners = self._listeners, []
        for callback in listeners:
            if not callback():
                self._listeners.append(callback)

    def update(self, request):
        """Apply a decoded UpdateMetadata request (any version).

        :returns: the topic-partitions whose state was deleted (leader -2).
        """
        self.controller_id = request["controller_id"]
        self.controller_epoch = request["controller_epoch"]
        brokers = {}
        for broker in request["live_brokers"]:
            endpoints = broker.get("endpoints") or []
            if endpoints:
                eps = tuple(
                    BrokerEndpoint(e.get("listener") or "PLAINTEXT", e["host"], e["port"],
                                   e.get("security_protocol", 0))
                    for e in endpoints)
            else:
                eps = (BrokerEndpoint("PLAINTEXT", broker.get("v0_host", ""), broker.get("v0_port", -1)),)
            brokers[broker["id"]] = LiveBroker(broker["id"], eps, broker.get("rack"))
        self.brokers = brokers
        deleted = []
        for state in iter_partition_states(request, "ungrouped_partition_states"):
            topic, partition = state["topic_name"], state["partition_index"]
            if state["leader"] == LEADER_DURING_DELETE:
                partitions = self.topics.get(topic)
                if partitions is not None:
                    partitions.pop(partition, None)
                    if not partitions:
                        del self.topics[topic]
                        self.topic_ids.pop(topic, None)
                deleted.append((topic, partition))
                continue
            topic_id = state.get("topic_id")
            if topic_id is not None and topic_id.int:
                self.topic_ids[topic] = topic_id
            self.topics.setdefault(topic, {})[partition] = PartitionInfo(
                topic, partition, state["leader"], state["leader_epoch"], list(state["isr"]),
                list(state["replicas"]), list(state.get("offline_replicas") or []), state["zk_version"],
                state["controller_epoch"])
        self._notify()
        return deleted

    def partition(self, topic, partition):
        partitions = self.topics.get(topic)
        return None if partitions is None else partitions.get(partition)

    def partitions(self, topic):
        """The partitions of ``topic`` by index, or None for an unknown topic."""
        return self.topics.get(topic)

    def topic_names(self):
        return list(self.topics)

    def alive_broker_ids(self):
        return sorted(self.brokers)

    def racks(self):
        """``{broker_id: rack or None}`` of the live brokers."""
        return {broker_id: broker.rack for broker_id, broker in self.brokers.items()}

    def has_leaders(self, topic):
        partitions = self.topics.get(topic)
        return bool(partitions) and all(p.leader >= 0 for p in partitions.values())


#: UpdateMetadata marks a partition being deleted with leader -2 (LeaderAndIsr.LeaderDuringDelete).
LEADER_DURING_DELETE = -2


def iter_partition_states(request, ungrouped_key):
    """Yield partition-state dicts with ``topic_name`` set, from either the flat (old) or grouped layout."""
    for state in request.get(ungrouped_key) or ():
        yield state
    for topic_state in request.get("topic_states") or ():
        name = topic_state["topic_name"]
        topic_id = topic_state.get("topic_id")
        for state in topic_state["partition_states"]:
            state["topic_name"] = name
            state["topic_id"] = topic_id
            yield state
