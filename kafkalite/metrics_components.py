"""Scrape-time gauges of the broker's own bookkeeping: its run state, the controller's work
queues, the group coordinator's groups and the fetch session cache, under Kafka's JMX-exporter names.

Owns :class:`ComponentStateCollector`. Like :mod:`kafkalite.metrics_state`, it reads state on
the reactor thread at scrape time and keeps nothing up to date on a hot path. MBean → gauge
(see :mod:`kafkalite.metrics` for the naming rule):

- ``kafka.server:type=KafkaServer,name=BrokerState`` → ``kafka_server_kafkaserver_brokerstate``,
  with Kafka 2.8's values: 1 starting, 3 running as a broker (registered), 6 pending controlled
  shutdown, 7 shutting down.
- ``kafka.controller:type=KafkaController,name=PreferredReplicaImbalanceCount`` →
  ``kafka_controller_kafkacontroller_preferredreplicaimbalancecount`` (partitions not led by their
  first replica, topics being deleted excepted); likewise ``TopicsToDeleteCount``,
  ``ReplicasToDeleteCount``, ``TopicsIneligibleToDeleteCount`` and
  ``ReplicasIneligibleToDeleteCount``. As in Kafka they are 0 on a broker that is not the
  active controller.
- ``kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec`` → counter
  ``kafka_controller_controllerstats_uncleanleaderelections_total``: leaders elected from outside
  the ISR by this broker's controller since start-up (kept across controller changes, as Kafka's meter).
- ``kafka.coordinator.group:type=GroupMetadataManager,name=NumGroups`` →
  ``kafka_coordinator_group_groupmetadatamanager_numgroups``; likewise ``NumOffsets`` and one
  ``NumGroups<State>`` per group state (``numgroupsstable``, ``numgroupsempty``, ...), for the
  groups this broker coordinates.
- ``kafka.server:type=ReplicaFetcherManager,name=MaxLag,clientId=Replica`` →
  ``kafka_server_replicafetchermanager_maxlag{clientId="Replica"}``: the largest lag in records of a
  partition this broker follows (leader's high watermark minus our log end after the last fetch).
- ``kafka.server:type=FetchSessionCache,name=NumIncrementalFetchSessions`` →
  ``kafka_server_fetchsessioncache_numincrementalfetchsessions``; likewise
  ``NumIncrementalFetchPartitionsCached``, and the counter
  ``kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total``.
"""

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from kafkalite.controller.states import ReplicaState
from kafkalite.coordinator.group import COMPLETING_REBALANCE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE

__all__ = ["BROKER_STATES", "ComponentStateCollector"]

#: Kafka 2.8's BrokerState values (kafka.server.BrokerStates) for the states we pass through.
BROKER_STATES = {"starting": 1, "running": 3, "pending_controlled_shutdown": 6, "shutting_down": 7}

_GROUP_STATES = ((PREPARING_REBALANCE, "numgroupspreparingrebalance"),
                 (COMPLETING_REBALANCE, "numgroupscompletingrebalance"), (STABLE, "numgroupsstable"),
                 (DEAD, "numgroupsdead"), (EMPTY, "numgroupsempty"))


class ComponentStateCollector:
    """Reads the broker's run state, controller queues, groups and fetch sessions into gauges at scrape time.

    :param broker_state: a callable returning the broker's state, a key of :data:`BROKER_STATES`.
    :param controller: a :class:`kafkalite.controller.controller.KafkaController` (``is_active``, ``context``).
    :param group_manager: a :class:`kafkalite.coordinator.group_metadata_manager.GroupMetadataManager`
        (``current_groups()``).
    :param fetch_sessions: a :class:`kafkalite.replica.fetch_session.FetchSessionCache`.
    :param replica_fetchers: a :class:`kafkalite.replica.fetcher.ReplicaFetcherManager` (``max_lag()``).
    """

    def __init__(self, broker_state, controller, group_manager, fetch_sessions, replica_fetchers):
        self._replica_fetchers = replica_fetchers
        self._broker_state = broker_state
        self._controller = controller
        self._group_manager = group_manager
        self._fetch_sessions = fetch_sessions

    def describe(self):
        return []

    def collect(self):
        yield GaugeMetricFamily("kafka_server_kafkaserver_brokerstate",
                                "Kafka's broker state: 1 starting, 3 running, 6 pending controlled shutdown, "
                                "7 shutting down.", value=BROKER_STATES[self._broker_state()])
        yield from self._controller_gauges()
        yield from self._group_gauges()
        yield from self._fetch_session_gauges()
        family = GaugeMetricFamily("kafka_server_replicafetchermanager_maxlag",
                                   "Largest lag in records of a partition followed here.", labels=["clientId"])
        family.add_metric(["Replica"], self._replica_fetchers.max_lag())
        yield family

    def _controller_gauges(self):
        active = bool(self._controller.is_active)
        counts = controller_queue_counts(self._controller.context) if active else dict.fromkeys(_CONTROLLER_GAUGES, 0)
        for name, documentation in _CONTROLLER_GAUGES.items():
            yield GaugeMetricFamily("kafka_controller_kafkacontroller_" + name, documentation, value=counts[name])
        yield CounterMetricFamily("kafka_controller_controllerstats_uncleanleaderelections",
                                  "Leaders elected from outside the ISR by this broker's controller.",
                                  value=self._controller.unclean_leader_elections)

    def _group_gauges(self):
        groups = self._group_manager.current_groups()
        prefix = "kafka_coordinator_group_groupmetadatamanager_"
        yield GaugeMetricFamily(prefix + "numgroups", "Groups this broker coordinates.", value=len(groups))
        yield GaugeMetricFamily(prefix + "numoffsets", "Committed offsets of the groups this broker coordinates.",
                                value=sum(len(group.offsets) for group in groups))
        for state, name in _GROUP_STATES:
            yield GaugeMetricFamily(prefix + name, "Groups this broker coordinates in state %s." % state,
                                    value=sum(1 for group in groups if group.state == state))

    def _fetch_session_gauges(self):
        cache = self._fetch_sessions
        prefix = "kafka_server_fetchsessioncache_"
        yield GaugeMetricFamily(prefix + "numincrementalfetchsessions", "Incremental fetch sessions cached.",
                                value=len(cache))
        yield GaugeMetricFamily(prefix + "numincrementalfetchpartitionscached",
                                "Partitions in the cached incremental fetch sessions.", value=cache.total_partitions)
        yield CounterMetricFamily(prefix + "incrementalfetchsessionevictions",
                                  "Fetch sessions evicted to make room for new ones.", value=cache.evictions)


_CONTROLLER_GAUGES = {
    "preferredreplicaimbalancecount": "Partitions not led by their preferred (first) replica (active controller).",
    "topicstodeletecount": "Topics queued for deletion (active controller).",
    "replicastodeletecount": "Replicas of the topics queued for deletion (active controller).",
    "topicsineligibletodeletecount": "Topics whose deletion waits: a replica's broker is down, or partitions "
                                     "move (active controller).",
    "replicasineligibletodeletecount": "Replicas whose deletion waits for their broker (active controller).",
}


def controller_queue_counts(context):
    """The controller gauges above, from a :class:`kafkalite.controller.context.ControllerContext`."""
    deleting = context.topics_to_be_deleted
    imbalanced = 0
    for (topic, partition), leadership in context.leaderships.items():
        if topic in deleting:
            continue
        replicas = context.assignments.get(topic, {}).get(partition)
        if replicas and leadership.leader != replicas[0]:
            imbalanced += 1
    replicas_to_delete = ineligible_replicas = 0
    ineligible_topics = set()
    for topic in deleting:
        for partition, replicas in context.assignments.get(topic, {}).items():
            replicas_to_delete += len(replicas)
            for broker_id in replicas:
                if context.replica_state((topic, partition), broker_id) is ReplicaState.DELETION_INELIGIBLE:
                    ineligible_replicas += 1
                    ineligible_topics.add(topic)
        if context.is_topic_being_reassigned(topic):
            ineligible_topics.add(topic)
    return {"preferredreplicaimbalancecount": imbalanced, "topicstodeletecount": len(deleting),
            "replicastodeletecount": replicas_to_delete, "topicsineligibletodeletecount": len(ineligible_topics),
            "replicasineligibletodeletecount": ineligible_replicas}
