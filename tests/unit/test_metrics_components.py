"""Unit tests of kafkalite.metrics_components: the broker state, the controller's queue gauges
(active controller only), the coordinator's group counts and the fetch session cache, over small
real or fake broker state."""

from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from kafkalite.controller.context import ControllerContext
from kafkalite.controller.election import LeaderAndIsr
from kafkalite.controller.states import ReplicaState
from kafkalite.coordinator.group import STABLE, GroupMetadata
from kafkalite.metrics_components import ComponentStateCollector


def value(registry, name, **labels):
    return registry.get_sample_value(name, labels)


class _Sessions(list):
    """Two cached sessions of 7 partitions in all; one evicted."""

    total_partitions = 7
    evictions = 1

    def __init__(self):
        super().__init__(["session-1", "session-2"])


def _context():
    context = ControllerContext()
    context.assignments = {"a": {0: [1, 2], 1: [2, 1], 2: [3, 1]}, "gone": {0: [1, 3], 1: [3, 2]}}
    context.leaderships = {("a", 0): LeaderAndIsr(1, 0, (1, 2), 1), ("a", 1): LeaderAndIsr(1, 0, (1,), 1),
                           ("a", 2): LeaderAndIsr(1, 0, (1,), 1), ("gone", 0): LeaderAndIsr(3, 0, (3,), 1)}
    context.topics_to_be_deleted = {"gone"}
    context.replica_states[(("gone", 0), 3)] = ReplicaState.DELETION_INELIGIBLE
    context.replica_states[(("gone", 1), 3)] = ReplicaState.DELETION_INELIGIBLE
    return context


def _registry(active=True, state="running"):
    groups = [GroupMetadata("g1", state=STABLE), GroupMetadata("g2", state=STABLE), GroupMetadata("g3")]
    groups[0].offsets = {("a", 0): 5, ("a", 1): 7}
    groups[2].offsets = {("a", 2): 1}
    sessions = _Sessions()
    registry = CollectorRegistry()
    registry.register(ComponentStateCollector(
        lambda: state, SimpleNamespace(is_active=active, context=_context(), unclean_leader_elections=2),
        SimpleNamespace(current_groups=lambda: groups), sessions, SimpleNamespace(max_lag=lambda: 42)))
    return registry


def test_broker_state_uses_kafkas_values():
    assert value(_registry(state="running"), "kafka_server_kafkaserver_brokerstate") == 3
    assert value(_registry(state="pending_controlled_shutdown"), "kafka_server_kafkaserver_brokerstate") == 6


def test_controller_queue_gauges_on_the_active_controller_only():
    """Imbalance skips topics being deleted; ineligible replicas are those whose broker was down."""
    registry = _registry(active=True)
    prefix = "kafka_controller_kafkacontroller_"
    assert value(registry, prefix + "preferredreplicaimbalancecount") == 2  # a-1 and a-2
    assert value(registry, prefix + "topicstodeletecount") == 1
    assert value(registry, prefix + "replicastodeletecount") == 4
    assert value(registry, prefix + "topicsineligibletodeletecount") == 1
    assert value(registry, prefix + "replicasineligibletodeletecount") == 2
    assert value(registry, "kafka_controller_controllerstats_uncleanleaderelections_total") == 2
    idle = _registry(active=False)
    assert value(idle, prefix + "preferredreplicaimbalancecount") == 0
    assert value(idle, prefix + "topicstodeletecount") == 0


def test_group_gauges_count_groups_by_state_and_their_offsets():
    registry = _registry()
    prefix = "kafka_coordinator_group_groupmetadatamanager_"
    assert value(registry, prefix + "numgroups") == 3
    assert value(registry, prefix + "numoffsets") == 3
    assert value(registry, prefix + "numgroupsstable") == 2
    assert value(registry, prefix + "numgroupsempty") == 1
    assert value(registry, prefix + "numgroupspreparingrebalance") == 0


def test_replica_fetcher_max_lag_is_labelled_like_the_exporters():
    assert value(_registry(), "kafka_server_replicafetchermanager_maxlag", clientId="Replica") == 42


def test_fetch_session_cache_gauges():
    registry = _registry()
    assert value(registry, "kafka_server_fetchsessioncache_numincrementalfetchsessions") == 2
    assert value(registry, "kafka_server_fetchsessioncache_numincrementalfetchpartitionscached") == 7
    assert value(registry, "kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total") == 1
