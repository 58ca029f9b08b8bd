"""Consumer lag and partition offsets at scrape time, under the widely used kafka_exporter's names.

Owns :class:`GroupLagCollector`. kafka_exporter (danielqsj/kafka_exporter) asks the
cluster for every partition's offsets and every group's committed offsets; here each
broker exports what it knows first hand, so summing or joining across brokers gives the
cluster's view without duplicates:

- the partition gauges come from the partition's leader only:
  ``kafka_topic_partition_current_offset`` (the high watermark, what ListOffsets "latest"
  answers a consumer), ``kafka_topic_partition_oldest_offset`` (the log start offset),
  ``kafka_topic_partition_replicas``, ``kafka_topic_partition_in_sync_replica``,
  ``kafka_topic_partition_leader`` (the leader's id), ``kafka_topic_partition_leader_is_preferred``
  and ``kafka_topic_partition_under_replicated_partition`` (1 or 0), all labelled
  ``topic`` and ``partition``;
- the group gauges come from the group's coordinator: ``kafka_consumergroup_current_offset``
  and ``kafka_consumergroup_lag`` (``consumergroup``, ``topic``, ``partition``),
  ``kafka_consumergroup_current_offset_sum`` and ``kafka_consumergroup_lag_sum``
  (``consumergroup``, ``topic``), ``kafka_consumergroup_members`` (``consumergroup``).
  The lag is the partition's high watermark here minus the committed offset: exact when
  the coordinator leads the partition, a follower's high watermark (one fetch behind the
  leader's) when it follows it, and not exported when it holds no replica (the committed
  offset still is; ``kafka_topic_partition_current_offset - on(topic, partition)
  group_right kafka_consumergroup_current_offset`` gives it across brokers);
- ``kafka_server_group_coordinator_metrics_offset_commit_count``: offsets committed
  through this coordinator (Kafka's ``group-coordinator-metrics`` ``offset-commit-count``),
  for the commit rate.
"""

from prometheus_client.core import GaugeMetricFamily

from kafkalite.coordinator.group import DEAD
from kafkalite.health import group_lags, is_under_replicated

__all__ = ["GroupLagCollector"]

_PARTITION = ["topic", "partition"]
_GROUP_PARTITION = ["consumergroup", "topic", "partition"]
_GROUP_TOPIC = ["consumergroup", "topic"]


class GroupLagCollector:
    """Reads partition offsets and the coordinator's groups into gauges at scrape time.

    :param replica_manager: a :class:`kafkalite.replica.manager.ReplicaManager` (``partitions``).
    :param group_manager: a :class:`kafkalite.coordinator.group_metadata_manager.GroupMetadataManager`
        (``current_groups()``, ``offset_commits``).
    """

    def __init__(self, replica_manager, group_manager):
        self._replica_manager = replica_manager
        self._group_manager = group_manager

    def describe(self):
        return []

    def collect(self):
        partitions = dict(self._replica_manager.partitions)
        yield from self._partition_gauges(partitions)
        yield from self._group_gauges(partitions)
        yield GaugeMetricFamily("kafka_server_group_coordinator_metrics_offset_commit_count",
                                "Offsets committed through this coordinator.",
                                value=self._group_manager.offset_commits)

    @staticmethod
    def _partition_gauges(partitions):
        families = {name: GaugeMetricFamily("kafka_topic_partition_" + name, documentation, labels=_PARTITION)
                    for name, documentation in (
                        ("current_offset", "The partition's high watermark (on its leader)."),
                        ("oldest_offset", "The partition's log start offset (on its leader)."),
                        ("replicas", "Replicas of the partition."),
                        ("in_sync_replica", "In-sync replicas of the partition."),
                        ("leader", "The partition leader's broker id."),
                        ("leader_is_preferred", "1 when the leader is the preferred (first) replica."),
                        ("under_replicated_partition", "1 when the ISR is smaller than the replica set."))}
        for (topic, index), partition in sorted(partitions.items()):
            if not partition.is_leader:
                continue
            labels = [topic, str(index)]
            replicas, isr = partition.replicas, partition.isr
            for name, value in (
                    ("current_offset", partition.log.high_watermark),
                    ("oldest_offset", partition.log.log_start_offset),
                    ("replicas", len(replicas)),
                    ("in_sync_replica", len(isr)),
                    ("leader", partition.leader_id),
                    ("leader_is_preferred", int(bool(replicas) and replicas[0] == partition.leader_id)),
                    ("under_replicated_partition", int(is_under_replicated(isr, replicas)))):
                families[name].add_metric(labels, value)
        yield from families.values()

    def _group_gauges(self, partitions):
        current = GaugeMetricFamily("kafka_consumergroup_current_offset",
                                    "The group's committed offset of the partition.", labels=_GROUP_PARTITION)
        lag = GaugeMetricFamily("kafka_consumergroup_lag",
                                "The partition's high watermark minus the group's committed offset.",
                                labels=_GROUP_PARTITION)
        current_sum = GaugeMetricFamily("kafka_consumergroup_current_offset_sum",
                                        "The group's committed offsets summed over the topic's partitions.",
                                        labels=_GROUP_TOPIC)
        lag_sum = GaugeMetricFamily("kafka_consumergroup_lag_sum",
                                    "The group's lag summed over the topic's partitions known here.",
                                    labels=_GROUP_TOPIC)
        members = GaugeMetricFamily("kafka_consumergroup_members", "Members of the group.",
                                    labels=["consumergroup"])
        for group in sorted(self._group_manager.current_groups(), key=lambda g: g.group_id):
            if group.is_(DEAD):
                continue
            group_id = group.group_id
            members.add_metric([group_id], len(group.members))
            offset_sums, lag_sums = {}, {}
            for entry in group_lags(group, partitions):
                topic, labels = entry.topic, [group_id, entry.topic, str(entry.partition)]
                current.add_metric(labels, entry.committed_offset)
                offset_sums[topic] = offset_sums.get(topic, 0) + entry.committed_offset
                if entry.lag is not None:
                    lag.add_metric(labels, entry.lag)
                    lag_sums[topic] = lag_sums.get(topic, 0) + entry.lag
            for topic, total in offset_sums.items():
                current_sum.add_metric([group_id, topic], total)
            for topic, total in lag_sums.items():
                lag_sum.add_metric([group_id, topic], total)
        yield from (current, lag, current_sum, lag_sum, members)
