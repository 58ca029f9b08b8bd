"""Unit tests of kafkalite.metrics: collector names and labels, the hooks' effects,
and the /metrics resource rendering the registry (no sockets)."""

from prometheus_client import CollectorRegistry
from twisted.web.test.requesthelper import DummyRequest

from kafkalite.metrics import BrokerMetrics, metrics_site


def value(registry, name, **labels):
    """A sample's value, or None when absent."""
    return registry.get_sample_value(name, labels)


def test_observe_request_updates_per_api_series():
    """One request counts once, observes its latency and adds its bytes, per API."""
    registry = CollectorRegistry()
    metrics = BrokerMetrics(registry)
    metrics.observe_request("Produce", 0.003, 1000, 60)
    metrics.observe_request("Produce", 0.2, 500, 0)
    metrics.observe_request("Fetch", 0.5, 100, 10_000)
    assert value(registry, "kafkalite_requests_total", api="Produce") == 2
    assert value(registry, "kafkalite_request_bytes_total", api="Produce") == 1500
    assert value(registry, "kafkalite_response_bytes_total", api="Produce") == 60
    assert value(registry, "kafkalite_request_duration_seconds_count", api="Produce") == 2
    assert value(registry, "kafkalite_request_duration_seconds_bucket", api="Produce", le="0.005") == 1
    assert value(registry, "kafkalite_request_duration_seconds_bucket", api="Produce", le="0.25") == 2
    assert value(registry, "kafkalite_requests_total", api="Fetch") == 1
    assert value(registry, "kafkalite_response_bytes_total", api="Fetch") == 10_000


def test_topic_throughput_and_remove_topic():
    """Messages/bytes in and bytes out accumulate per topic; remove_topic drops the series."""
    registry = CollectorRegistry()
    metrics = BrokerMetrics(registry)
    metrics.observe_messages_in("orders", 10, 1234)
    metrics.observe_messages_in("orders", 5, 100)
    metrics.observe_bytes_out("orders", 4096)
    assert value(registry, "kafkalite_messages_in_total", topic="orders") == 15
    assert value(registry, "kafkalite_bytes_in_total", topic="orders") == 1334
    assert value(registry, "kafkalite_bytes_out_total", topic="orders") == 4096
    metrics.remove_topic("orders")
    metrics.remove_topic("never-seen")
    assert value(registry, "kafkalite_messages_in_total", topic="orders") is None
    metrics.observe_messages_in("orders", 1, 1)
    assert value(registry, "kafkalite_messages_in_total", topic="orders") == 1


def test_connection_gauge_and_separate_registries():
    """The connection gauge follows opens/closes; two registries do not share state."""
    first, second = CollectorRegistry(), CollectorRegistry()
    metrics = BrokerMetrics(first)
    BrokerMetrics(second)
    metrics.connection_opened("PLAINTEXT")
    metrics.connection_opened("PLAINTEXT")
    metrics.connection_closed("PLAINTEXT")
    assert value(first, "kafkalite_network_connections", listener="PLAINTEXT") == 1
    assert value(second, "kafkalite_network_connections", listener="PLAINTEXT") is None


def test_metrics_resource_renders_the_registry():
    """GET /metrics on the site returns the exposition text with our series."""
    registry = CollectorRegistry()
    BrokerMetrics(registry).observe_request("Metadata", 0.001, 30, 200)
    site = metrics_site(registry)
    request = DummyRequest([b"metrics"])
    resource = site.getResourceFor(request)
    text = resource.render_GET(request).decode()
    assert request.responseHeaders.getRawHeaders(b"content-type")[0].startswith(b"text/plain")
    assert 'kafkalite_requests_total{api="Metadata"} 1.0' in text
    assert "kafkalite_request_duration_seconds_bucket" in text


def test_metrics_resource_speaks_openmetrics_when_asked():
    """An OpenMetrics Accept header gets the OpenMetrics format (ends with # EOF)."""
    registry = CollectorRegistry()
    BrokerMetrics(registry)
    request = DummyRequest([b"metrics"])
    request.requestHeaders.addRawHeader(b"accept", b"application/openmetrics-text; version=1.0.0")
    text = metrics_site(registry).getResourceFor(request).render_GET(request).decode()
    assert text.endswith("# EOF\n")
    assert request.responseHeaders.getRawHeaders(b"content-type")[0].startswith(b"application/openmetrics-text")
