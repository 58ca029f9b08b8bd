"""Unit tests of kafkalite.metrics and kafkalite.metrics_state: Kafka's JMX-exporter names
and labels, the hooks' effects, the scrape-time gauges over fake broker state, and the
/metrics resource rendering the registry (no sockets)."""

from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock
from twisted.web.test.requesthelper import DummyRequest

from kafkalite.controller.context import ControllerContext
from kafkalite.log.config import LogConfig
from kafkalite.metrics import BrokerMetrics, metrics_site
from kafkalite.metrics_state import BrokerStateCollector
from kafkalite.replica.purgatory import Purgatory


def value(registry, name, **labels):
    """A sample's value, or None when absent."""
    return registry.get_sample_value(name, labels)


def new_metrics(process=False):
    registry = CollectorRegistry()
    return registry, BrokerMetrics(registry, process=process)


def test_observe_request_counts_per_api_and_version_and_times_in_ms():
    """One request counts once per (API, version), lands in the ms histogram, and adds its bytes per listener."""
    registry, metrics = new_metrics()
    metrics.observe_request("PLAINTEXT", "Produce", 8, 0.003, 1000, 60)
    metrics.observe_request("PLAINTEXT", "Produce", 8, 0.2, 500, 0)
    metrics.observe_request("PLAINTEXT", "Produce", 3, 0.2, 500, 0)
    metrics.observe_request("REPLICATION", "Fetch", 12, 0.5, 100, 10_000)
    assert value(registry, "kafka_network_requestmetrics_requests_total", request="Produce", version="8") == 2
    assert value(registry, "kafka_network_requestmetrics_requests_total", request="Produce", version="3") == 1
    assert value(registry, "kafka_network_requestmetrics_totaltimems_count", request="Produce") == 3
    assert value(registry, "kafka_network_requestmetrics_totaltimems_bucket", request="Produce", le="5.0") == 1
    assert value(registry, "kafka_network_requestmetrics_totaltimems_bucket", request="Produce", le="250.0") == 3
    assert value(registry, "kafka_server_socket_server_metrics_incoming_byte_total",
                 listener="PLAINTEXT", networkProcessor="0") == 2000
    assert value(registry, "kafka_server_socket_server_metrics_outgoing_byte_total",
                 listener="REPLICATION", networkProcessor="0") == 10_000


def test_brokertopicmetrics_per_topic_and_broker_wide():
    """Each BrokerTopicMetrics counter has a series per topic and one without labels (all topics)."""
    registry, metrics = new_metrics()
    metrics.observe_messages_in("orders", 10, 1234)
    metrics.observe_messages_in("orders", 5, 100)
    metrics.observe_messages_in("audit", 1, 10)
    metrics.observe_bytes_out("orders", 4096)
    for _ in range(3):
        metrics.observe_produce_partition("orders")
    metrics.observe_failed_produce("orders")
    metrics.observe_fetch_partition("audit")
    metrics.observe_failed_fetch("audit")
    prefix = "kafka_server_brokertopicmetrics_"
    assert value(registry, prefix + "messagesin_total", topic="orders") == 15
    assert value(registry, prefix + "messagesin_total") == 16
    assert value(registry, prefix + "bytesin_total", topic="orders") == 1334
    assert value(registry, prefix + "bytesin_total") == 1344
    assert value(registry, prefix + "bytesout_total", topic="orders") == 4096
    assert value(registry, prefix + "totalproducerequests_total", topic="orders") == 3
    assert value(registry, prefix + "failedproducerequests_total") == 1
    assert value(registry, prefix + "totalfetchrequests_total", topic="audit") == 1
    assert value(registry, prefix + "failedfetchrequests_total", topic="audit") == 1
    assert value(registry, prefix + "failedfetchrequests_total", topic="orders") == 0


def test_remove_topic_drops_its_series_and_keeps_the_broker_wide_total():
    """A deleted topic's series go; the all-topics counter never goes backwards."""
    registry, metrics = new_metrics()
    metrics.observe_messages_in("orders", 10, 1234)
    metrics.remove_topic("orders")
    metrics.remove_topic("never-seen")
    assert value(registry, "kafka_server_brokertopicmetrics_messagesin_total", topic="orders") is None
    assert value(registry, "kafka_server_brokertopicmetrics_messagesin_total") == 10
    metrics.observe_messages_in("orders", 1, 1)
    assert value(registry, "kafka_server_brokertopicmetrics_messagesin_total", topic="orders") == 1


def test_connections_isr_changes_and_separate_registries():
    """The connection gauge follows opens/closes, ISR changes count; two registries share nothing."""
    registry, metrics = new_metrics()
    other, _ = new_metrics()
    metrics.connection_opened("PLAINTEXT")
    metrics.connection_opened("PLAINTEXT")
    metrics.connection_closed("PLAINTEXT")
    metrics.isr_changed(shrunk=True)
    metrics.isr_changed(shrunk=True)
    metrics.isr_changed(shrunk=False)
    assert value(registry, "kafka_server_socket_server_metrics_connection_count",
                 listener="PLAINTEXT", networkProcessor="0") == 1
    assert value(registry, "kafka_server_replicamanager_isrshrinks_total") == 2
    assert value(registry, "kafka_server_replicamanager_isrexpands_total") == 1
    assert value(other, "kafka_server_socket_server_metrics_connection_count",
                 listener="PLAINTEXT", networkProcessor="0") is None
    assert value(other, "kafka_server_replicamanager_isrshrinks_total") == 0


def test_replication_bytes_are_counted_broker_wide_only():
    registry, metrics = new_metrics()
    metrics.observe_replication_bytes_in(100)
    metrics.observe_replication_bytes_out(30)
    metrics.observe_replication_bytes_out(12)
    assert value(registry, "kafka_server_brokertopicmetrics_replicationbytesin_total") == 100
    assert value(registry, "kafka_server_brokertopicmetrics_replicationbytesout_total") == 42


def test_zookeeper_request_latency_is_a_histogram_in_milliseconds():
    registry, metrics = new_metrics()
    metrics.observe_zookeeper_request(0.003)
    metrics.observe_zookeeper_request(0.2)
    name = "kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms"
    assert value(registry, name + "_count") == 2
    assert value(registry, name + "_sum") == pytest.approx(203.0)
    assert value(registry, name + "_bucket", le="5.0") == 1


def test_zookeeper_session_events_are_counted():
    """CONNECTED, SUSPENDED and LOST count as Kafka's sync connects, disconnects and expires."""
    registry, metrics = new_metrics()
    for state in ("SUSPENDED", "CONNECTED", "SUSPENDED", "LOST", "CONNECTED", "UNKNOWN"):
        metrics.zookeeper_state_changed(state)
    prefix = "kafka_server_sessionexpirelistener_"
    assert value(registry, prefix + "zookeepersyncconnects_total") == 2
    assert value(registry, prefix + "zookeeperdisconnects_total") == 2
    assert value(registry, prefix + "zookeeperexpires_total") == 1


def test_process_metrics_are_in_the_registry():
    """The standard process_* series come with the broker's registry."""
    registry, _ = new_metrics(process=True)
    assert value(registry, "process_cpu_seconds_total") is not None


def _partition(topic, index, leader, isr, replicas, min_isr=1, broker_id=1):
    return SimpleNamespace(key=(topic, index), is_leader=leader == broker_id, isr=isr, replicas=replicas,
                           log=SimpleNamespace(config=LogConfig(min_insync_replicas=min_isr)))


def _log(size, segments, start=0, end=0):
    return SimpleNamespace(size_in_bytes=size, num_segments=segments, log_start_offset=start, log_end_offset=end)


def _state(active, zk=None):
    clock = Clock()
    partitions = {p.key: p for p in (
        _partition("a", 0, 1, [1, 2, 3], [1, 2, 3]),
        _partition("a", 1, 1, [1], [1, 2, 3], min_isr=2),
        _partition("a", 2, 2, [2], [1, 2, 3]),
    )}
    replica_manager = SimpleNamespace(partitions=partitions, produce_purgatory=Purgatory(clock, "Produce"),
                                      fetch_purgatory=Purgatory(clock, "Fetch"),
                                      delete_records_purgatory=Purgatory(clock, "DeleteRecords"))
    context = ControllerContext()
    context.assignments = {"a": {0: [1, 2, 3], 1: [1, 2, 3], 2: [1, 2, 3]}, "b": {0: [2]}}
    controller = SimpleNamespace(is_active=active, context=context)
    log_manager = SimpleNamespace(logs={("a", 0): _log(100, 1), ("a", 1): _log(2000, 3, 5, 40),
                                        ("a", 2): _log(0, 1)})
    registry = CollectorRegistry()
    registry.register(BrokerStateCollector(replica_manager, controller, log_manager, zk))
    return registry, replica_manager, log_manager


def test_replica_manager_gauges_count_the_partitions_led_here():
    """Under-replicated and under-min-ISR count partitions led here; partition/leader counts all hosted."""
    registry, replica_manager, _ = _state(active=False)
    assert value(registry, "kafka_server_replicamanager_underreplicatedpartitions") == 1
    assert value(registry, "kafka_server_replicamanager_underminisrpartitioncount") == 1
    assert value(registry, "kafka_server_replicamanager_partitioncount") == 3
    assert value(registry, "kafka_server_replicamanager_leadercount") == 2
    replica_manager.partitions[("a", 1)].isr = [1, 2, 3]
    assert value(registry, "kafka_server_replicamanager_underreplicatedpartitions") == 0


def test_controller_gauges_only_on_the_active_controller():
    """ActiveControllerCount is 1 only on the controller; the global counts are its view, 0 elsewhere."""
    registry, _, _ = _state(active=True)
    assert value(registry, "kafka_controller_kafkacontroller_activecontrollercount") == 1
    assert value(registry, "kafka_controller_kafkacontroller_globalpartitioncount") == 4
    assert value(registry, "kafka_controller_kafkacontroller_globaltopiccount") == 2
    # No leaderships known: every partition is offline in this context.
    assert value(registry, "kafka_controller_kafkacontroller_offlinepartitionscount") == 4
    registry, _, _ = _state(active=False)
    assert value(registry, "kafka_controller_kafkacontroller_activecontrollercount") == 0
    assert value(registry, "kafka_controller_kafkacontroller_globalpartitioncount") == 0
    assert value(registry, "kafka_controller_kafkacontroller_offlinepartitionscount") == 0


def test_log_gauges_follow_the_log_manager_and_deleted_logs_disappear():
    """Log size and segment count per partition are read at scrape; a deleted log's series vanish."""
    registry, _, log_manager = _state(active=False)
    assert value(registry, "kafka_log_log_size", topic="a", partition="1") == 2000
    assert value(registry, "kafka_log_log_numlogsegments", topic="a", partition="1") == 3
    assert value(registry, "kafka_log_log_logendoffset", topic="a", partition="1") == 40
    assert value(registry, "kafka_log_logmanager_offlinelogdirectorycount") == 0
    del log_manager.logs[("a", 1)]
    assert value(registry, "kafka_log_log_size", topic="a", partition="1") is None
    assert value(registry, "kafka_log_log_size", topic="a", partition="0") == 100


def test_purgatory_sizes_by_delayed_operation():
    """PurgatorySize per delayedOperation, as Kafka's DelayedOperationPurgatory MBeans."""
    registry, _, _ = _state(active=False)
    name = "kafka_server_delayedoperationpurgatory_purgatorysize"
    assert value(registry, name, delayedOperation="Produce") == 0
    assert value(registry, name, delayedOperation="Fetch") == 0
    assert value(registry, name, delayedOperation="DeleteRecords") == 0


def test_session_state_gauge_follows_the_zookeeper_client():
    """One of CONNECTED/SUSPENDED/LOST is 1, read from the client at scrape."""
    zk = SimpleNamespace(state="CONNECTED")
    registry, _, _ = _state(active=False, zk=zk)
    name = "kafka_server_sessionexpirelistener_sessionstate"
    assert value(registry, name, sessionstate="CONNECTED") == 1
    assert value(registry, name, sessionstate="LOST") == 0
    zk.state = "LOST"
    assert value(registry, name, sessionstate="CONNECTED") == 0
    assert value(registry, name, sessionstate="LOST") == 1


def test_metrics_resource_renders_the_registry():
    """GET /metrics on the site returns the exposition text with our series."""
    registry, metrics = new_metrics()
    metrics.observe_request("PLAINTEXT", "Metadata", 9, 0.001, 30, 200)
    site = metrics_site(registry)
    request = DummyRequest([b"metrics"])
    resource = site.getResourceFor(request)
    text = resource.render_GET(request).decode()
    assert request.responseHeaders.getRawHeaders(b"content-type")[0].startswith(b"text/plain")
    assert 'kafka_network_requestmetrics_requests_total{request="Metadata",version="9"} 1.0' in text
    assert "kafka_network_requestmetrics_totaltimems_bucket" in text
    assert "\nkafka_server_brokertopicmetrics_messagesin_total 0.0\n" in text


def test_metrics_resource_speaks_openmetrics_when_asked():
    """An OpenMetrics Accept header gets the OpenMetrics format (ends with # EOF)."""
    registry, _ = new_metrics()
    request = DummyRequest([b"metrics"])
    request.requestHeaders.addRawHeader(b"accept", b"application/openmetrics-text; version=1.0.0")
    text = metrics_site(registry).getResourceFor(request).render_GET(request).decode()
    assert text.endswith("# EOF\n")
    assert request.responseHeaders.getRawHeaders(b"content-type")[0].startswith(b"application/openmetrics-text")
