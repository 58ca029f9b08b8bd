"""Unit tests of kafkalite.metrics_groups: kafka_exporter's partition and consumer-group gauges
read at scrape time from fake replica state and real GroupMetadata."""

from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from kafkalite.coordinator.group import DEAD, GroupMetadata, OffsetAndMetadata
from kafkalite.metrics_groups import GroupLagCollector


def _partition(leader_id, isr, replicas, high_watermark, log_start_offset=0, broker_id=1):
    return SimpleNamespace(is_leader=leader_id == broker_id, leader_id=leader_id, isr=isr, replicas=replicas,
                           log=SimpleNamespace(high_watermark=high_watermark, log_start_offset=log_start_offset))


def _registry(partitions, groups, offset_commits=0):
    replica_manager = SimpleNamespace(partitions=partitions)
    group_manager = SimpleNamespace(current_groups=lambda: list(groups), offset_commits=offset_commits)
    registry = CollectorRegistry()
    registry.register(GroupLagCollector(replica_manager, group_manager))
    return registry


def _group(group_id, offsets, members=0, state="Stable"):
    group = GroupMetadata(group_id, state=state)
    group.offsets = {key: OffsetAndMetadata(offset) for key, offset in offsets.items()}
    group.members = {"m%d" % i: object() for i in range(members)}
    return group


def value(registry, name, **labels):
    return registry.get_sample_value(name, labels)


def test_partition_gauges_only_for_partitions_led_here():
    """current/oldest offset, replicas, ISR, leader and under-replication on the leader; followers stay silent."""
    registry = _registry({("t", 0): _partition(1, [1, 2], [2, 1, 3], 50, 7), ("t", 1): _partition(2, [2], [2], 9)},
                         [])
    labels = {"topic": "t", "partition": "0"}
    assert value(registry, "kafka_topic_partition_current_offset", **labels) == 50
    assert value(registry, "kafka_topic_partition_oldest_offset", **labels) == 7
    assert value(registry, "kafka_topic_partition_replicas", **labels) == 3
    assert value(registry, "kafka_topic_partition_in_sync_replica", **labels) == 2
    assert value(registry, "kafka_topic_partition_leader", **labels) == 1
    assert value(registry, "kafka_topic_partition_leader_is_preferred", **labels) == 0
    assert value(registry, "kafka_topic_partition_under_replicated_partition", **labels) == 1
    assert value(registry, "kafka_topic_partition_current_offset", topic="t", partition="1") is None


def test_group_offsets_and_lag_where_a_replica_is_local():
    """Committed offsets always; lag where this broker holds a replica (leader or follower), summed per topic."""
    partitions = {("t", 0): _partition(1, [1], [1], 50), ("t", 1): _partition(2, [2, 1], [2, 1], 30)}
    groups = [_group("g", {("t", 0): 45, ("t", 1): 30, ("t", 2): 5}, members=2),
              _group("gone", {("t", 0): 1}, state=DEAD)]
    registry = _registry(partitions, groups, offset_commits=12)
    assert value(registry, "kafka_consumergroup_current_offset", consumergroup="g", topic="t", partition="2") == 5
    assert value(registry, "kafka_consumergroup_lag", consumergroup="g", topic="t", partition="0") == 5
    assert value(registry, "kafka_consumergroup_lag", consumergroup="g", topic="t", partition="1") == 0
    assert value(registry, "kafka_consumergroup_lag", consumergroup="g", topic="t", partition="2") is None
    assert value(registry, "kafka_consumergroup_current_offset_sum", consumergroup="g", topic="t") == 80
    assert value(registry, "kafka_consumergroup_lag_sum", consumergroup="g", topic="t") == 5
    assert value(registry, "kafka_consumergroup_members", consumergroup="g") == 2
    assert value(registry, "kafka_consumergroup_members", consumergroup="gone") is None
    assert value(registry, "kafka_server_group_coordinator_metrics_offset_commit_count") == 12


def test_a_group_moved_away_disappears():
    """The series are computed at scrape: a group no longer coordinated here has none."""
    groups = [_group("g", {("t", 0): 1})]
    registry = _registry({}, groups)
    assert value(registry, "kafka_consumergroup_current_offset", consumergroup="g", topic="t", partition="0") == 1
    groups.clear()
    assert value(registry, "kafka_consumergroup_current_offset", consumergroup="g", topic="t", partition="0") is None
