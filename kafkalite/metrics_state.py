"""Gauges read from the broker's own state at scrape time, under Kafka's JMX-exporter names.

Owns :class:`BrokerStateCollector`, a prometheus_client collector that, on every
scrape (on the reactor thread, see :class:`kafkalite.metrics.MetricsResource`),
reads the replica manager, the controller and the log manager. Nothing is kept
up to date on a hot path, and the series of a partition that is gone (deleted,
moved away) disappear with it. Names follow :mod:`kafkalite.metrics`' mapping of a
Yammer gauge's ``Value`` (MBean → gauge):

- ``kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions`` →
  ``kafka_server_replicamanager_underreplicatedpartitions``; likewise
  ``UnderMinIsrPartitionCount``, ``PartitionCount`` and ``LeaderCount`` →
  ``..._underminisrpartitioncount``, ``..._partitioncount``, ``..._leadercount``.
- ``kafka.controller:type=KafkaController,name=ActiveControllerCount`` →
  ``kafka_controller_kafkacontroller_activecontrollercount``; likewise
  ``OfflinePartitionsCount``, ``GlobalPartitionCount``, ``GlobalTopicCount``.
- ``kafka.log:type=Log,name=Size,topic=T,partition=P`` → ``kafka_log_log_size{topic,partition}``;
  likewise ``NumLogSegments``, ``LogStartOffset``, ``LogEndOffset``.
- ``kafka.log:type=LogManager,name=OfflineLogDirectoryCount`` →
  ``kafka_log_logmanager_offlinelogdirectorycount``.
- ``kafka.server:type=DelayedOperationPurgatory,name=PurgatorySize,delayedOperation=D`` →
  ``kafka_server_delayedoperationpurgatory_purgatorysize{delayedOperation}`` (``Produce``,
  ``Fetch``, ``DeleteRecords``).

- ``kafka.server:type=SessionExpireListener,name=SessionState`` (a string, which the JMX
  exporter skips) → ``kafka_server_sessionexpirelistener_sessionstate{sessionstate}``: 1 for
  the current state (``CONNECTED``, ``SUSPENDED``, ``LOST``), 0 for the others, shaped as
  Strimzi's rule for KRaft's ``current-state`` shapes a state.

As in Kafka, the controller gauges other than ActiveControllerCount are 0 on a
broker that is not the active controller, and the ReplicaManager's under-replicated
and under-min-ISR counts cover the partitions this broker leads. We never take a log
directory offline (an I/O error on one stops the broker), so the offline directory
count is 0 while the broker serves.
"""

from prometheus_client.core import GaugeMetricFamily

from kafkalite.health import is_under_min_isr, is_under_replicated

__all__ = ["BrokerStateCollector"]


class BrokerStateCollector:
    """Reads broker state into gauges at scrape time.

    :param replica_manager: a :class:`kafkalite.replica.manager.ReplicaManager`
        (``partitions``, ``produce_purgatory``, ``fetch_purgatory``, ``delete_records_purgatory``).
    :param controller: a :class:`kafkalite.controller.controller.KafkaController`
        (``is_active``, ``context``).
    :param log_manager: a :class:`kafkalite.log.manager.LogManager` (``logs``, ``log_dirs``).
    :param zk: optional :class:`kafkalite.zkclient.ZkClient` (``state``) for the session state gauge.
    """

    def __init__(self, replica_manager, controller, log_manager, zk=None):
        self._replica_manager = replica_manager
        self._controller = controller
        self._log_manager = log_manager
        self._zk = zk

    def describe(self):
        return []

    def collect(self):
        yield from self._replica_manager_gauges()
        yield from self._controller_gauges()
        yield from self._log_gauges()
        yield from self._purgatory_gauges()
        if self._zk is not None:
            yield self._session_state_gauge()

    def _session_state_gauge(self):
        family = GaugeMetricFamily("kafka_server_sessionexpirelistener_sessionstate",
                                   "1 for the ZooKeeper session's current state, 0 for the others.",
                                   labels=["sessionstate"])
        current = self._zk.state
        for state in ("CONNECTED", "SUSPENDED", "LOST"):
            family.add_metric([state], 1 if current == state else 0)
        return family

    def _replica_manager_gauges(self):
        partitions = list(self._replica_manager.partitions.values())
        leaders = [partition for partition in partitions if partition.is_leader]
        under_replicated = sum(1 for partition in leaders if is_under_replicated(partition.isr, partition.replicas))
        under_min_isr = sum(1 for partition in leaders
                            if is_under_min_isr(partition.isr, partition.log.config.min_insync_replicas))
        for name, documentation, value in (
                ("underreplicatedpartitions", "Partitions led here whose ISR is smaller than their replica set.",
                 under_replicated),
                ("underminisrpartitioncount", "Partitions led here whose ISR is smaller than min.insync.replicas.",
                 under_min_isr),
                ("partitioncount", "Partitions with a replica on this broker.", len(partitions)),
                ("leadercount", "Partitions this broker leads.", len(leaders))):
            yield GaugeMetricFamily("kafka_server_replicamanager_" + name, documentation, value=value)

    def _controller_gauges(self):
        controller = self._controller
        active = bool(controller.is_active)
        context = controller.context
        for name, documentation, value in (
                ("activecontrollercount", "1 on the active controller, else 0.", 1 if active else 0),
                ("offlinepartitionscount", "Partitions without a live leader (active controller only).",
                 context.offline_partition_count() if active else 0),
                ("globalpartitioncount", "Partitions in the cluster (active controller only).",
                 sum(1 for _ in context.all_partitions()) if active else 0),
                ("globaltopiccount", "Topics in the cluster (active controller only).",
                 len(context.assignments) if active else 0)):
            yield GaugeMetricFamily("kafka_controller_kafkacontroller_" + name, documentation, value=value)

    def _log_gauges(self):
        labels = ["topic", "partition"]
        size = GaugeMetricFamily("kafka_log_log_size", "Bytes in the partition's log segments.", labels=labels)
        segments = GaugeMetricFamily("kafka_log_log_numlogsegments", "Segments of the partition's log.",
                                     labels=labels)
        start = GaugeMetricFamily("kafka_log_log_logstartoffset", "The partition log's start offset.",
                                  labels=labels)
        end = GaugeMetricFamily("kafka_log_log_logendoffset", "The partition log's end offset.", labels=labels)
        for (topic, partition), log in list(self._log_manager.logs.items()):
            values = [topic, str(partition)]
            size.add_metric(values, log.size_in_bytes)
            segments.add_metric(values, log.num_segments)
            start.add_metric(values, log.log_start_offset)
            end.add_metric(values, log.log_end_offset)
        yield from (size, segments, start, end)
        yield GaugeMetricFamily("kafka_log_logmanager_offlinelogdirectorycount",
                                "Log directories taken offline (always 0: an I/O error stops the broker).", value=0)

    def _purgatory_gauges(self):
        manager = self._replica_manager
        family = GaugeMetricFamily("kafka_server_delayedoperationpurgatory_purgatorysize",
                                   "Requests parked in the purgatory.", labels=["delayedOperation"])
        for purgatory in (manager.produce_purgatory, manager.fetch_purgatory, manager.delete_records_purgatory):
            family.add_metric([purgatory.name], len(purgatory))
        yield family
