"""The replicated workloads: RF=3 ``acks=all`` throughput and latency, and unavailability after a leader fails.

An RF=3 ``acks=all`` workload (confluent-kafka producer; throughput, and p50/p99 produce
latency from each record's produce() call to its delivery callback, both at full speed
and at a light fixed rate), then the unavailability of a partition after ``kill -9`` of
its leader and after a clean shutdown (SIGTERM) of its leader: the time from the signal
until a record produced after it is acknowledged. Killing needs the brokers' processes,
so the failover part runs only on a cluster ``kafkalite-perf`` started itself
(``--start-cluster --brokers 3``).
"""

import signal
import threading
import time
from dataclasses import dataclass

from kafkalite.cli.perf.workloads import RecordRates, create_topic, size_label, unique_topic

__all__ = [
    "LatencyResult",
    "ProduceProbe",
    "UnavailabilityResult",
    "acks_all_produce",
    "measure_unavailability",
    "partition_leader",
    "percentile",
    "replicated_records",
    "run_replicated",
]


@dataclass
class LatencyResult(RecordRates):
    """An ``acks=all`` produce workload with per-record latencies (produce() call to delivery callback).

    :ivar latencies_ms: sorted latencies of the acknowledged records (not kept in the JSON output).
    :ivar target_rate: records/s the producer was paced at, or None for full speed.
    """

    name: str
    record_size: int
    records: int
    seconds: float
    latencies_ms: list
    target_rate: float | None = None
    error: str | None = None

    @property
    def p50_ms(self):
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self):
        return percentile(self.latencies_ms, 99)


@dataclass
class UnavailabilityResult:
    """How long a partition took to accept produces again after its leader got ``signal_name``.

    :ivar seconds: from sending the signal to the acknowledgement of the first record produced after it.
    :ivar old_leader: the broker that was signalled; ``new_leader`` the one that acknowledged.
    """

    name: str
    signal_name: str
    seconds: float
    old_leader: int
    new_leader: int | None = None
    error: str | None = None


def percentile(sorted_values, pct):
    """The nearest-rank ``pct`` percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil(n * pct / 100), at least 1
    return sorted_values[min(len(sorted_values), int(rank)) - 1]


def replicated_records(args):
    """Records of the full-speed RF=3 acks=all run: a fifth of ``--records``."""
    return max(1, args.records // 5)


def acks_all_produce(bootstrap, topic, count, record_size, rate=None, timeout=600.0, acks="all"):
    """Produce ``count`` records with ``acks`` (default all) and time each from produce() to its delivery callback.

    Each value starts with its zero-padded sequence number, which the callback uses to find
    the record's send time. ``rate`` paces the producer (records/s); None sends at full speed
    (then the latencies include the time records wait in the client's queue, as in Kafka's
    ProducerPerformance at ``--throughput -1``).

    :returns: a :class:`LatencyResult`.
    """
    from confluent_kafka import Producer

    send_times = [0.0] * count
    latencies = []
    failures = []
    clock = time.perf_counter

    def on_delivery(err, msg):
        if err is not None:
            failures.append(err)
            return
        latencies.append((clock() - send_times[int(msg.value()[:10])]) * 1000.0)

    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5 if rate is None else 0,
                         "batch.num.messages": 10000, "queue.buffering.max.messages": 1_000_000,
                         "message.timeout.ms": int(timeout * 1000)})
    filler = b"abcdefghijklmnopqrstuvwxyz0123456789" * (record_size // 36 + 1)
    produce = producer.produce
    start = clock()
    for sequence in range(count):
        value = (b"%010d-" % sequence + filler)[:record_size]
        if rate is not None:
            delay = start + sequence / rate - clock()
            if delay > 0:
                producer.poll(delay)
        while True:
            try:
                send_times[sequence] = clock()
                produce(topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    remaining = producer.flush(timeout)
    seconds = clock() - start
    error = None
    if remaining or failures:
        error = f"{remaining} undelivered, {len(failures)} failed (first: {failures[:1]})"
    label = "full speed" if rate is None else f"at {rate:,.0f}/s"
    latencies.sort()
    return LatencyResult(f"RF=3 acks={acks} {size_label(record_size)} {label}", record_size, len(latencies), seconds,
                         latencies, rate, error)


def partition_leader(bootstrap, topic, partition=0, timeout=5.0):
    """``(leader, isrs)`` of a partition as Metadata reports it, or ``(None, [])``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    try:
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=timeout)
        info = metadata.topics[topic].partitions[partition]
    except (KafkaException, KeyError):
        return None, []
    return info.leader, list(info.isrs)


class ProduceProbe(threading.Thread):
    """Produces one ``acks=all`` record at a time to a partition and records ``(sent, acked, broker, error)``.

    Each record is sent only after the previous one got its delivery report, so after a fault
    the first record sent after it shows when the partition accepts produces again.
    """

    def __init__(self, bootstrap, topic, interval=0.01):
        super().__init__(name="produce-probe", daemon=True)
        from confluent_kafka import Producer

        self.topic = topic
        self.interval = interval
        self.events = []
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0,
                                   "message.timeout.ms": 300000, "retry.backoff.ms": 20,
                                   "topic.metadata.refresh.interval.ms": 500, "reconnect.backoff.ms": 20,
                                   "reconnect.backoff.max.ms": 200})

    def run(self):
        while not self._stop_event.is_set():
            outcome = []
            sent = time.monotonic()
            self._producer.produce(self.topic, b"probe", partition=0,
                                   on_delivery=lambda err, msg, out=outcome: out.append((time.monotonic(), err)))
            while not outcome and not self._stop_event.is_set():
                self._producer.poll(0.05)
            if outcome:
                with self._lock:
                    self.events.append((sent, outcome[0][0], outcome[0][1]))
            self._stop_event.wait(self.interval)

    def acked_since(self, moment):
        """The first ``(sent, acked)`` of a record sent at or after ``moment`` and acknowledged, or None."""
        with self._lock:
            for sent, acked, error in self.events:
                if sent >= moment and error is None:
                    return sent, acked
        return None

    def finish(self):
        """Stop probing (the last outstanding record is abandoned)."""
        self._stop_event.set()
        self.join(timeout=30)
        self._producer.flush(5)


def measure_unavailability(cluster, bootstrap, topic, sig, log=print, timeout=180.0):
    """Signal the leader of ``topic``'s partition 0 with ``sig`` while a :class:`ProduceProbe` runs.

    Returns an :class:`UnavailabilityResult`; afterwards the broker is started again and the
    partition is back to a full ISR, ready for the next measurement.
    """
    name = {signal.SIGKILL: "kill -9", signal.SIGTERM: "clean shutdown"}.get(sig, f"signal {sig}")
    leader, _ = partition_leader(bootstrap, topic)
    if leader is None or leader < 0:
        return UnavailabilityResult(f"leader {name}", name, 0.0, -1, error="the partition has no leader")
    probe = ProduceProbe(bootstrap, topic)
    probe.start()
    try:
        deadline = time.monotonic() + 30
        while probe.acked_since(time.monotonic() - 0.5) is None:
            if time.monotonic() > deadline:
                return UnavailabilityResult(f"leader {name}", name, 0.0, leader, error="the probe got no ack")
            time.sleep(0.05)
        signalled = time.monotonic()
        cluster.broker(leader).kill(sig)
        deadline = signalled + timeout
        while (acked := probe.acked_since(signalled)) is None:
            if time.monotonic() > deadline:
                return UnavailabilityResult(f"leader {name}", name, timeout, leader,
                                            error=f"no produce succeeded within {timeout} s")
            time.sleep(0.01)
    finally:
        probe.finish()
    new_leader, _ = partition_leader(bootstrap, topic)
    result = UnavailabilityResult(f"leader {name}", name, acked[1] - signalled, leader, new_leader)
    log(f"# {result.name}: broker {leader} -> {new_leader}, produce unavailable for {result.seconds:.2f} s")
    _restart(cluster.broker(leader), timeout)
    deadline = time.monotonic() + timeout
    while len(partition_leader(bootstrap, topic)[1]) < 3:
        if time.monotonic() > deadline:
            result.error = f"broker {leader} did not rejoin the ISR within {timeout} s after its restart"
            break
        time.sleep(0.2)
    return result


def _restart(broker, timeout):
    """Wait for ``broker`` to exit after its signal (SIGKILL it if it lingers), start it and wait until it listens."""
    if broker.wait_exit(timeout) is None:
        broker.kill()
    broker.start()
    broker.wait_ready(timeout)


def run_replicated(args, bootstrap, cluster=None, log=print):
    """The RF=3 acks=all workloads and, when ``cluster`` can signal brokers, the failover measurements.

    :returns: ``(latency_results, unavailability_results)``.
    """
    record_size = 100
    topic = unique_topic(args.topic_prefix, "rf3")
    log(f"# topic {topic} (RF=3, min.insync.replicas=2): "
        f"{create_topic(bootstrap, topic, replication_factor=3, config={'min.insync.replicas': '2'})}")
    latency_results = []
    count = replicated_records(args)
    result = acks_all_produce(bootstrap, topic, count, record_size, timeout=args.timeout)
    log(f"# {result.name}: {result.seconds:.2f} s" + (f" ERROR {result.error}" if result.error else ""))
    latency_results.append(result)
    paced = max(1, int(args.latency_rate * args.latency_seconds))
    result = acks_all_produce(bootstrap, topic, paced, record_size, rate=args.latency_rate, timeout=args.timeout)
    log(f"# {result.name}: {result.seconds:.2f} s" + (f" ERROR {result.error}" if result.error else ""))
    latency_results.append(result)
    unavailability = []
    if cluster is None or len(cluster.brokers) < 3:
        log("# failover measurements skipped: they need --start-cluster --brokers 3 (kafkalite-perf must own "
            "the broker processes to kill them)")
        return latency_results, unavailability
    topic = unique_topic(args.topic_prefix, "failover")
    log(f"# topic {topic} (RF=3, min.insync.replicas=2): "
        f"{create_topic(bootstrap, topic, replication_factor=3, config={'min.insync.replicas': '2'})}")
    for sig in (signal.SIGKILL, signal.SIGTERM):
        unavailability.append(measure_unavailability(cluster, bootstrap, topic, sig, log=log))
    return latency_results, unavailability
