"""The broker's Prometheus metrics (first set) and the ``/metrics`` web resource.

Owns the collectors named in DESIGN.md §9 that the network layer and the request
handlers update: requests, request latency and request/response bytes per API,
messages and bytes in/out per topic, open connections per listener. Every collector
is registered in an injected ``CollectorRegistry`` (STYLE §16), so each test and
each broker in a process gets its own. Labelled children are cached in plain dicts:
a hot-path hook costs a dict lookup and a few ``inc``/``observe`` calls.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from twisted.web.resource import Resource
from twisted.web.server import Site

__all__ = [
    "REQUEST_DURATION_BUCKETS", "BrokerMetrics", "MetricsResource", "metrics_site", "new_registry", "serve_metrics",
]

# From 0.5 ms (an in-memory answer) to 30 s (request.timeout.ms for admin requests);
# fetch long polls (fetch.max.wait.ms, 500 ms by default) land in the middle.
REQUEST_DURATION_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)


class BrokerMetrics:
    """The broker's request and throughput metrics.

    :param registry: the ``CollectorRegistry`` every collector is registered in.

    Collectors (Prometheus names):

    - ``kafkalite_requests_total{api}``
    - ``kafkalite_request_duration_seconds{api}`` (histogram, receipt to response)
    - ``kafkalite_request_bytes_total{api}``, ``kafkalite_response_bytes_total{api}``
      (size prefix included: the bytes on the wire)
    - ``kafkalite_messages_in_total{topic}``, ``kafkalite_bytes_in_total{topic}``,
      ``kafkalite_bytes_out_total{topic}`` (record data appended / served)
    - ``kafkalite_network_connections{listener}`` (open client connections)
    """

    def __init__(self, registry):
        self.registry = registry
        self.requests_total = Counter(
            "kafkalite_requests", "Requests answered, by API.", ["api"], registry=registry)
        self.request_duration_seconds = Histogram(
            "kafkalite_request_duration_seconds", "Time from a request's arrival to its response, by API.",
            ["api"], buckets=REQUEST_DURATION_BUCKETS, registry=registry)
        self.request_bytes_total = Counter(
            "kafkalite_request_bytes", "Request bytes received, by API.", ["api"], registry=registry)
        self.response_bytes_total = Counter(
            "kafkalite_response_bytes", "Response bytes sent, by API.", ["api"], registry=registry)
        self.messages_in_total = Counter(
            "kafkalite_messages_in", "Records appended by producers, by topic.", ["topic"], registry=registry)
        self.bytes_in_total = Counter(
            "kafkalite_bytes_in", "Record bytes appended by producers, by topic.", ["topic"], registry=registry)
        self.bytes_out_total = Counter(
            "kafkalite_bytes_out", "Record bytes served to fetchers, by topic.", ["topic"], registry=registry)
        self.network_connections = Gauge(
            "kafkalite_network_connections", "Open client connections, by listener.", ["listener"],
            registry=registry)
        self._api_children = {}
        self._topic_in_children = {}
        self._topic_out_children = {}

    def observe_request(self, api_name, seconds, request_bytes, response_bytes):
        """Count one answered request (called by the network layer per request).

        :param api_name: Kafka's API name, e.g. ``"Produce"``.
        :param seconds: time from receipt to the response being ready.
        :param request_bytes: request size on the wire.
        :param response_bytes: response size on the wire (0 for no response).
        """
        children = self._api_children.get(api_name)
        if children is None:
            children = self._api_children[api_name] = (
                self.requests_total.labels(api_name),
                self.request_duration_seconds.labels(api_name),
                self.request_bytes_total.labels(api_name),
                self.response_bytes_total.labels(api_name),
            )
        requests, duration, request_bytes_total, response_bytes_total = children
        requests.inc()
        duration.observe(seconds)
        request_bytes_total.inc(request_bytes)
        if response_bytes:
            response_bytes_total.inc(response_bytes)

    def observe_messages_in(self, topic, messages, nbytes):
        """Count ``messages`` records of ``nbytes`` bytes appended to ``topic`` by a producer."""
        children = self._topic_in_children.get(topic)
        if children is None:
            children = self._topic_in_children[topic] = (
                self.messages_in_total.labels(topic), self.bytes_in_total.labels(topic))
        children[0].inc(messages)
        children[1].inc(nbytes)

    def observe_bytes_out(self, topic, nbytes):
        """Count ``nbytes`` bytes of ``topic``'s records served in a fetch response."""
        child = self._topic_out_children.get(topic)
        if child is None:
            child = self._topic_out_children[topic] = self.bytes_out_total.labels(topic)
        child.inc(nbytes)

    def connection_opened(self, listener):
        """A client connected on ``listener``."""
        self.network_connections.labels(listener).inc()

    def connection_closed(self, listener):
        """A client connection on ``listener`` went away."""
        self.network_connections.labels(listener).dec()

    def remove_topic(self, topic):
        """Drop ``topic``'s series (the topic was deleted)."""
        self._topic_in_children.pop(topic, None)
        self._topic_out_children.pop(topic, None)
        for collector in (self.messages_in_total, self.bytes_in_total, self.bytes_out_total):
            try:
                collector.remove(topic)
            except KeyError:
                pass


class MetricsResource(Resource):
    """``/metrics``: the registry in Prometheus (or OpenMetrics, if asked) text format.

    Rendered on the reactor thread. prometheus_client's own
    ``prometheus_client.twisted.MetricsResource`` wraps the WSGI app in a
    ``WSGIResource`` on the global reactor's thread pool: collectors that compute
    gauges at scrape time (STYLE §16) would then read broker state from a pool thread
    while the reactor mutates it, and the module imports the global reactor. Rendering
    here keeps every collector on the reactor thread and the reactor injectable.
    """

    isLeaf = True

    def __init__(self, registry):
        super().__init__()
        self.registry = registry

    def render_GET(self, request):
        """Encode the registry for the request's ``Accept`` header."""
        accept = request.getHeader(b"accept")
        encoder, content_type = choose_encoder(accept.decode("latin-1") if accept else "")
        body = encoder(self.registry)
        request.setHeader(b"content-type", content_type.encode("latin-1"))
        return body


def metrics_site(registry):
    """Return a Twisted ``Site`` serving ``registry`` at ``/metrics``."""
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry))
    return Site(root)


def serve_metrics(reactor, port, registry, interface=""):
    """Serve ``registry`` over HTTP at ``/metrics``.

    :param reactor: provides ``IReactorTCP``.
    :param port: TCP port (``metrics.port``); 0 picks a free one.
    :param interface: address to bind; empty means every interface.
    :return: the listening port (``getHost().port`` is the real port).
    """
    return reactor.listenTCP(port, metrics_site(registry), interface=interface)


def new_registry():
    """Return a fresh ``CollectorRegistry`` (one per broker)."""
    return CollectorRegistry()
