"""The broker's Prometheus metrics, named as Kafka's are through the JMX exporter, and ``/metrics``.

Operators scrape Kafka 2.8 with the Prometheus JMX exporter and Strimzi's rule set
(strimzi/strimzi-kafka-operator ``packaging/examples/metrics/kafka-metrics.yaml``);
their alerts and dashboards use the names those rules produce. We export the same
names, types and labels for every metric we can honestly compute. The rules map
an MBean ``kafka.<domain>:type=<Type>,name=<Name>[,<k>=<v>...]`` (lower-cased) to:

- ``name=<X>PerSec`` (a Yammer meter), attribute ``Count`` → counter
  ``kafka_<domain>_<type>_<x>_total`` with the MBean's other keys as labels;
- ``name=<X>`` (a Yammer gauge), attribute ``Value`` → gauge
  ``kafka_<domain>_<type>_<x>`` with the other keys as labels;
- a Yammer histogram/timer → ``kafka_<domain>_<type>_<x>_count`` (counter) and
  ``kafka_<domain>_<type>_<x>{quantile="0.50"...}`` gauges;
- ``socket-server-metrics`` (a Kafka metric, not Yammer) → gauges
  ``kafka_server_socket_server_metrics_<attribute>{listener,networkProcessor}``.

The same HTTP site serves the operator's status page (``/`` and ``/status.json``,
:mod:`kafkalite.status_page`) beside ``/metrics``.

This module owns the series the network layer and the request handlers update
(hot paths: a dict lookup and a few additions; only the per-request counter and histogram
are prometheus_client objects); those read from broker state at scrape time live in
:mod:`kafkalite.metrics_state` and :mod:`kafkalite.metrics_components`. The mapping (MBean → series):

- ``kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec`` → counter
  ``kafka_server_brokertopicmetrics_messagesin_total``; likewise ``BytesInPerSec`` →
  ``..._bytesin_total``, ``BytesOutPerSec`` → ``..._bytesout_total``,
  ``TotalProduceRequestsPerSec`` → ``..._totalproducerequests_total``,
  ``TotalFetchRequestsPerSec`` → ``..._totalfetchrequests_total``,
  ``FailedProduceRequestsPerSec`` → ``..._failedproducerequests_total``,
  ``FailedFetchRequestsPerSec`` → ``..._failedfetchrequests_total``. Each has one series
  per topic (label ``topic``) and one broker-wide without labels, as Kafka has a
  per-topic MBean and an all-topics one. ``ReplicationBytesInPerSec`` /
  ``ReplicationBytesOutPerSec`` (all topics only, as in Kafka) → counters
  ``kafka_server_brokertopicmetrics_replicationbytesin_total`` / ``..._replicationbytesout_total``.
- ``kafka.server:type=ReplicaManager,name=IsrShrinksPerSec`` / ``IsrExpandsPerSec`` →
  counters ``kafka_server_replicamanager_isrshrinks_total`` / ``..._isrexpands_total``.
- ``kafka.server:type=SessionExpireListener,name=ZooKeeperSyncConnectsPerSec`` /
  ``ZooKeeperDisconnectsPerSec`` / ``ZooKeeperExpiresPerSec`` → counters
  ``kafka_server_sessionexpirelistener_zookeepersyncconnects_total`` / ``..._zookeeperdisconnects_total``
  / ``..._zookeeperexpires_total`` (counted from the session's state changes after start-up).
- ``kafka.server:type=ZooKeeperClientMetrics,name=ZooKeeperRequestLatencyMs`` → histogram
  ``kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms`` in milliseconds: every
  request the broker's ZooKeeper client got an answer to (a multi, or a batch of reads, is one).
- ``kafka.network:type=RequestMetrics,name=RequestsPerSec,request=R,version=V`` → counter
  ``kafka_network_requestmetrics_requests_total{request,version}``.
- ``kafka.network:type=RequestMetrics,name=TotalTimeMs,request=R`` → histogram
  ``kafka_network_requestmetrics_totaltimems{request}`` in milliseconds (see below).
- ``kafka.server:type=socket-server-metrics,listener=L,networkProcessor=N`` attributes
  ``connection-count``, ``incoming-byte-total``, ``outgoing-byte-total`` → gauges
  ``kafka_server_socket_server_metrics_connection_count``, ``..._incoming_byte_total``,
  ``..._outgoing_byte_total`` with labels ``listener`` and ``networkProcessor``.

Request time (and ZooKeeper request latency) is a Prometheus histogram, not the exporter's quantile gauges: Kafka's
percentiles come from a decaying reservoir we would have to keep per request on the
hot path, and quantile gauges cannot be aggregated across brokers. The histogram's
``kafka_network_requestmetrics_totaltimems_count{request}`` is the exporter's series
of the same name; percentiles are ``histogram_quantile(0.99, rate(..._bucket[5m]))``.
We have one network thread, so ``networkProcessor`` is always ``"0"``.

Every collector is registered in an injected ``CollectorRegistry`` (STYLE §16), so
each test and each broker in a process gets its own; the registry also carries
prometheus_client's ``process_*`` collector.
"""

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.samples import Sample
from twisted.web.pages import notFound
from twisted.web.resource import Resource
from twisted.web.server import Site

from kafkalite.status_page import StatusHtmlResource, StatusJsonResource

__all__ = [
    "REQUEST_TIME_MS_BUCKETS", "BrokerMetrics", "MetricsResource", "metrics_site", "new_registry", "serve_metrics",
]

# From 0.5 ms (an in-memory answer) to 30 s (request.timeout.ms for admin requests);
# fetch long polls (fetch.max.wait.ms, 500 ms by default) land in the middle.
REQUEST_TIME_MS_BUCKETS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)

# Slots of a topic's (and the all-topics) tally list, with the series each feeds.
MESSAGES_IN, BYTES_IN, BYTES_OUT, TOTAL_PRODUCE, TOTAL_FETCH, FAILED_PRODUCE, FAILED_FETCH = range(7)
_TOPIC_SERIES = (
    ("messagesin", "Records appended by producers."),
    ("bytesin", "Record bytes appended by producers."),
    ("bytesout", "Record bytes served to consumers (not to follower replicas)."),
    ("totalproducerequests", "Partitions in produce requests (one per partition appended to)."),
    ("totalfetchrequests", "Partitions in fetch requests (consumers and followers)."),
    ("failedproducerequests", "Produce partitions that failed (not leader/unknown/too large excepted, as Kafka)."),
    ("failedfetchrequests", "Fetch partitions that failed (not leader/unknown/out of range excepted, as Kafka)."),
)
_SOCKET_PREFIX = "kafka_server_socket_server_metrics_"
# Session state → Kafka's SessionExpireListener meter counting it.
_ZOOKEEPER_EVENTS = {
    "CONNECTED": ("zookeepersyncconnects", "Connections (and reconnections) to ZooKeeper."),
    "SUSPENDED": ("zookeeperdisconnects", "Disconnections from ZooKeeper (the session may survive)."),
    "LOST": ("zookeeperexpires", "ZooKeeper sessions expired."),
}


class BrokerMetrics:
    """The series the network layer, the replica manager and the broker's ZooKeeper listener update:
    requests, topic throughput, connections and bytes per listener, ISR changes, ZooKeeper session events.

    :param registry: the ``CollectorRegistry`` every collector is registered in.
    :param process: also register prometheus_client's ``process_*`` collector (off for
        tests building many registries in one process).
    """

    def __init__(self, registry, process=True):
        self.registry = registry
        self.requests_total = Counter(
            "kafka_network_requestmetrics_requests", "Requests answered, by API and API version.",
            ["request", "version"], registry=registry)
        self.total_time_ms = Histogram(
            "kafka_network_requestmetrics_totaltimems",
            "Milliseconds from a request's arrival to its response being ready, by API.",
            ["request"], buckets=REQUEST_TIME_MS_BUCKETS, registry=registry)
        self.zookeeper_request_latency_ms = Histogram(
            "kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms",
            "Milliseconds from sending a request to ZooKeeper to its answer.",
            buckets=REQUEST_TIME_MS_BUCKETS, registry=registry)
        self._request_children = {}  # (listener, api, version) -> (requests, total time, listener tally)
        self._listeners = {}  # listener -> [connections, incoming bytes, outgoing bytes]
        self._topics = {}  # topic -> tally list (see the slot constants)
        self._all_topics = [0] * len(_TOPIC_SERIES)
        self._isr_changes = [0, 0]  # shrinks, expands
        self._replication_bytes = [0, 0]  # in (appended as a follower), out (served to followers)
        self._zookeeper_events = dict.fromkeys(_ZOOKEEPER_EVENTS, 0)
        registry.register(_HookedCollector(self))
        if process:
            ProcessCollector(registry=registry)

    # -- network layer -------------------------------------------------------------------

    def observe_request(self, listener, api_name, api_version, seconds, request_bytes, response_bytes):
        """Count one answered request (called by the network layer per request).

        :param listener: the listener name the request came in on.
        :param api_name: Kafka's API name, e.g. ``"Produce"``.
        :param api_version: the request's API version.
        :param seconds: time from receipt to the response being ready.
        :param request_bytes: request size on the wire.
        :param response_bytes: response size on the wire (0 for no response).
        """
        children = self._request_children.get((listener, api_name, api_version))
        if children is None:
            children = self._new_request_children(listener, api_name, api_version)
        children[0].inc()
        children[1].observe(seconds * 1000.0)
        tally = children[2]
        tally[1] += request_bytes
        tally[2] += response_bytes

    def _new_request_children(self, listener, api_name, api_version):
        children = self._request_children[(listener, api_name, api_version)] = (
            self.requests_total.labels(api_name, str(api_version)),
            self.total_time_ms.labels(api_name),
            self._listener_tally(listener),
        )
        return children

    def _listener_tally(self, listener):
        tally = self._listeners.get(listener)
        if tally is None:
            tally = self._listeners[listener] = [0, 0, 0]
        return tally

    def connection_opened(self, listener):
        """A client connected on ``listener``."""
        self._listener_tally(listener)[0] += 1

    def connection_closed(self, listener):
        """A client connection on ``listener`` went away."""
        self._listener_tally(listener)[0] -= 1

    # -- replica manager -----------------------------------------------------------------

    def _topic(self, topic):
        tally = self._topics.get(topic)
        if tally is None:
            tally = self._topics[topic] = [0] * len(_TOPIC_SERIES)
        return tally

    def observe_messages_in(self, topic, messages, nbytes):
        """Count ``messages`` records of ``nbytes`` bytes appended to ``topic`` by a producer."""
        tally = self._topics.get(topic) or self._topic(topic)
        tally[MESSAGES_IN] += messages
        tally[BYTES_IN] += nbytes
        tally = self._all_topics
        tally[MESSAGES_IN] += messages
        tally[BYTES_IN] += nbytes

    def observe_bytes_out(self, topic, nbytes):
        """Count ``nbytes`` bytes of ``topic``'s records served to a consumer."""
        (self._topics.get(topic) or self._topic(topic))[BYTES_OUT] += nbytes
        self._all_topics[BYTES_OUT] += nbytes

    def observe_replication_bytes_in(self, nbytes):
        """Count ``nbytes`` bytes fetched from a leader and appended as its follower."""
        self._replication_bytes[0] += nbytes

    def observe_replication_bytes_out(self, nbytes):
        """Count ``nbytes`` bytes served to a follower replica."""
        self._replication_bytes[1] += nbytes

    def _count_partition(self, topic, slot):
        if topic is not None:
            (self._topics.get(topic) or self._topic(topic))[slot] += 1
        self._all_topics[slot] += 1

    # Each takes the partition's topic, or None for a partition not hosted here (counted broker-wide
    # only, so requests for deleted or unknown topics create no series).

    def observe_produce_partition(self, topic):
        """A produce request carried a partition of ``topic`` (Kafka's TotalProduceRequestsPerSec)."""
        self._count_partition(topic, TOTAL_PRODUCE)

    def observe_failed_produce(self, topic):
        """Appending to a partition of ``topic`` failed unexpectedly (FailedProduceRequestsPerSec)."""
        self._count_partition(topic, FAILED_PRODUCE)

    def observe_fetch_partition(self, topic):
        """A fetch request (consumer's or follower's) carried a partition of ``topic`` (TotalFetchRequestsPerSec)."""
        self._count_partition(topic, TOTAL_FETCH)

    def observe_failed_fetch(self, topic):
        """Reading a partition of ``topic`` failed unexpectedly (FailedFetchRequestsPerSec)."""
        self._count_partition(topic, FAILED_FETCH)

    def observe_zookeeper_request(self, seconds):
        """The broker's ZooKeeper client got an answer ``seconds`` after sending a request."""
        self.zookeeper_request_latency_ms.observe(seconds * 1000.0)

    def zookeeper_state_changed(self, state):
        """The ZooKeeper session went ``"CONNECTED"``, ``"SUSPENDED"`` (disconnected) or ``"LOST"`` (expired)."""
        if state in self._zookeeper_events:
            self._zookeeper_events[state] += 1

    def isr_changed(self, shrunk):
        """A partition we lead had its ISR shrunk (``shrunk``) or expanded (IsrShrinksPerSec, IsrExpandsPerSec)."""
        self._isr_changes[0 if shrunk else 1] += 1

    def remove_topic(self, topic):
        """Drop ``topic``'s series (its last partition here was deleted); the broker-wide totals keep counting."""
        self._topics.pop(topic, None)

    def collect_hooked(self):
        """The metric families of the tallies above (called at scrape)."""
        topics = list(self._topics.items())
        for slot, (name, documentation) in enumerate(_TOPIC_SERIES):
            family = CounterMetricFamily("kafka_server_brokertopicmetrics_" + name, documentation, labels=["topic"])
            for topic, tally in topics:
                family.add_metric([topic], tally[slot])
            # The all-topics MBean has no topic key: the same family, a sample without labels.
            family.samples.append(Sample(family.name + "_total", {}, self._all_topics[slot]))
            yield family
        for index, direction in enumerate(("in", "out")):
            yield CounterMetricFamily("kafka_server_brokertopicmetrics_replicationbytes" + direction,
                                      ("Record bytes fetched from leaders as a follower.",
                                       "Record bytes served to follower replicas.")[index],
                                      value=self._replication_bytes[index])
        for index, name in enumerate(("isrshrinks", "isrexpands")):
            yield CounterMetricFamily("kafka_server_replicamanager_" + name,
                                      "ISR %s of partitions this broker leads." % ("shrinks", "expansions")[index],
                                      value=self._isr_changes[index])
        for state, (name, documentation) in _ZOOKEEPER_EVENTS.items():
            yield CounterMetricFamily("kafka_server_sessionexpirelistener_" + name, documentation,
                                      value=self._zookeeper_events[state])
        listeners = list(self._listeners.items())
        for slot, attribute, documentation in (
                (0, "connection_count", "Open client connections."),
                (1, "incoming_byte_total", "Request bytes received (size prefix included)."),
                (2, "outgoing_byte_total", "Response bytes sent (size prefix included).")):
            family = GaugeMetricFamily(_SOCKET_PREFIX + attribute, documentation,
                                       labels=["listener", "networkProcessor"])
            for listener, tally in listeners:
                family.add_metric([listener, "0"], tally[slot])
            yield family


class _HookedCollector:
    """Adapts :meth:`BrokerMetrics.collect_hooked` to prometheus_client's Collector protocol."""

    def __init__(self, metrics):
        self._metrics = metrics

    def collect(self):
        return self._metrics.collect_hooked()

    def describe(self):
        return []


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


class _Root(Resource):
    """The site's root: its children, and a plain 404 for any other path (Twisted's default
    404 resource is deprecated for not escaping what it echoes)."""

    def getChild(self, path, request):
        return notFound()


def metrics_site(registry, status=None):
    """Return a Twisted ``Site`` serving ``registry`` at ``/metrics`` and, given ``status`` (a
    :class:`kafkalite.status_page.StatusSource`), the operator's status page at ``/`` and
    ``/status.json``. Any other path is 404."""
    root = _Root()
    root.putChild(b"metrics", MetricsResource(registry))
    if status is not None:
        root.putChild(b"", StatusHtmlResource(status))
        root.putChild(b"status.json", StatusJsonResource(status))
    return Site(root)


def serve_metrics(reactor, port, registry, interface="", status=None):
    """Serve ``registry`` over HTTP at ``/metrics`` (and ``status`` at ``/`` and ``/status.json``).

    :param reactor: provides ``IReactorTCP``.
    :param port: TCP port (``metrics.port``); 0 picks a free one.
    :param interface: address to bind; empty means every interface.
    :param status: optional :class:`kafkalite.status_page.StatusSource`.
    :return: the listening port (``getHost().port`` is the real port).
    """
    return reactor.listenTCP(port, metrics_site(registry, status), interface=interface)


def new_registry():
    """Return a fresh ``CollectorRegistry`` (one per broker)."""
    return CollectorRegistry()
