"""``kafkalite-perf``: cluster throughput next to this machine's own raw limits (DESIGN.md §11).

Owns the benchmark tool behind ``make bench``. In one run it measures

- the raw limits: a loopback TCP stream written into a page-cache file
  (produce's ceiling) and a page-cache file sent to a socket with
  ``os.sendfile`` (consume's ceiling);
- the reference kcat workloads: ``kcat -P`` (acks=1, linger.ms=5,
  batch.num.messages=10000) fed N newline-separated records, then
  ``kcat -C -o beginning -e -q`` piped into a counter, for 100 B and 1 KiB records,
  each on a fresh single-partition topic (RF 1);
- optionally the same with confluent-kafka's Python producer/consumer;
- with ``--replicated``: an RF=3 ``acks=all`` workload (confluent-kafka producer;
  throughput, and p50/p99 produce latency from each record's produce() call to its
  delivery callback, both at full speed and at a light fixed rate), then the
  unavailability of a partition after ``kill -9`` of its leader and after a clean
  shutdown (SIGTERM) of its leader: the time from the signal until a record produced
  after it is acknowledged. Killing needs the brokers' processes, so the failover
  part runs only with ``--start-cluster`` (``--brokers 3``);

and prints one line per workload: records/s, MB/s (1 MB = 10^6 bytes of record
payload), the ratio to the matching raw limit and, for 100 B produce, the ratio
to the 1.3 M records/s target. Speed is reported, never asserted.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass

__all__ = [
    "PRODUCE_TARGET_RECORDS_S",
    "LatencyResult",
    "LocalCluster",
    "RawLimit",
    "UnavailabilityResult",
    "WorkloadResult",
    "format_replicated_report",
    "format_report",
    "percentile",
    "main",
    "measure_file_to_socket",
    "measure_socket_to_file",
    "parse_args",
    "write_kcat_input",
]

#: DESIGN.md §11: the JVM broker's kcat produce rate for 100 B records on this kind of machine.
PRODUCE_TARGET_RECORDS_S = 1_300_000
#: DESIGN.md §11: the JVM broker's rate serving ``kcat -C`` piped to a counter.
JVM_CONSUME_RECORDS_S = 700_000
MB = 1_000_000
_CHUNK = 1 << 20

KCAT_PRODUCE_OPTIONS = ("-X", "linger.ms=5", "-X", "batch.num.messages=10000", "-X", "acks=1")


@dataclass
class RawLimit:
    """One raw-limit measurement: ``bytes`` moved in ``seconds`` (best of the repeats)."""

    name: str
    bytes: int
    seconds: float

    @property
    def mb_per_s(self):
        return self.bytes / MB / self.seconds


class _RecordRates:
    """``records_per_s`` and ``mb_per_s`` of a result with ``records`` of ``record_size`` bytes in ``seconds``."""

    @property
    def records_per_s(self):
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self):
        return self.records * self.record_size / MB / self.seconds if self.seconds > 0 else 0.0


@dataclass
class WorkloadResult(_RecordRates):
    """One workload's outcome.

    :ivar limit: the raw limit it is compared with ("socket_to_file" or "file_to_socket").
    :ivar error: why it failed (then the rates are meaningless), or None.
    """

    name: str
    kind: str
    record_size: int
    records: int
    seconds: float
    limit: str
    error: str | None = None


@dataclass
class LatencyResult(_RecordRates):
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


def parse_args(argv=None):
    """Parse the command line (see ``kafkalite-perf --help``)."""
    parser = argparse.ArgumentParser(
        prog="kafkalite-perf",
        description="Produce/consume throughput of a local kafkalite cluster, next to the machine's raw "
                    "loopback-socket->file and file->socket (sendfile) limits (DESIGN.md section 11).")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092",
                        help="bootstrap servers of a running cluster (default %(default)s)")
    parser.add_argument("--start-cluster", action="store_true",
                        help="start ZooKeeper and --brokers brokers in a temporary directory, stop them at the end")
    parser.add_argument("--brokers", type=int, choices=(1, 3), default=1,
                        help="brokers --start-cluster starts: 1 (config/server.properties) or 3 "
                             "(config/cluster/server-{1,2,3}.properties) (default %(default)s)")
    parser.add_argument("--replicated", action="store_true",
                        help="also run the RF=3 acks=all workload (throughput, p50/p99 latency) and, with "
                             "--start-cluster --brokers 3, the leader kill -9 / clean shutdown unavailability")
    parser.add_argument("--replicated-only", action="store_true",
                        help="run only the --replicated measurements (no raw limits, no kcat workloads)")
    parser.add_argument("--latency-rate", type=float, default=1000.0,
                        help="records/s of the paced acks=all latency run (default %(default)s)")
    parser.add_argument("--latency-seconds", type=float, default=None,
                        help="length of the paced latency run (default 5; 2 with --quick)")
    parser.add_argument("--session-timeout-ms", type=int, default=None,
                        help="zookeeper.session.timeout.ms of the brokers --start-cluster starts "
                             "(default: the config file's, i.e. Kafka's 18000)")
    parser.add_argument("--records", type=int, default=None,
                        help="records of 100 B (default 1,000,000; 20,000 with --quick); 1 KiB runs use a fifth")
    parser.add_argument("--record-sizes", default="100,1024",
                        help="comma-separated record sizes in bytes, newline included (default %(default)s)")
    parser.add_argument("--topic-prefix", default="kafkalite-perf",
                        help="prefix of the fresh topic made for each workload (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="few records and a small raw transfer: a smoke run, not a measurement")
    parser.add_argument("--raw-mb", type=int, default=None,
                        help="MB moved per raw-limit measurement (default 1024; 64 with --quick)")
    parser.add_argument("--raw-repeats", type=int, default=None,
                        help="raw-limit repeats, best kept (default 3; 1 with --quick)")
    parser.add_argument("--raw-only", action="store_true", help="measure the raw limits only (no cluster needed)")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw limits (no ratios printed)")
    parser.add_argument("--confluent", action="store_true",
                        help="also run confluent-kafka Python producer/consumer workloads")
    parser.add_argument("--kcat", default="kcat", help="kcat executable (default %(default)s)")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one, removed)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results as JSON here")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds allowed for each client process (default %(default)s)")
    args = parser.parse_args(argv)
    if args.records is None:
        args.records = 20_000 if args.quick else 1_000_000
    if args.raw_mb is None:
        args.raw_mb = 64 if args.quick else 1024
    if args.raw_repeats is None:
        args.raw_repeats = 1 if args.quick else 3
    if args.latency_seconds is None:
        args.latency_seconds = 2.0 if args.quick else 5.0
    if args.replicated_only:
        args.replicated = True
        args.no_raw = True
    try:
        args.record_sizes = [int(size) for size in args.record_sizes.split(",") if size.strip()]
    except ValueError:
        parser.error("--record-sizes takes comma-separated integers")
    if args.records < 1 or args.raw_mb < 1 or args.raw_repeats < 1:
        parser.error("--records, --raw-mb and --raw-repeats must be positive")
    if not args.record_sizes or min(args.record_sizes) < 2:
        parser.error("record sizes must be at least 2 bytes (one character and the newline)")
    if args.raw_only and args.no_raw:
        parser.error("--raw-only and --no-raw exclude each other")
    if args.latency_rate <= 0 or args.latency_seconds <= 0:
        parser.error("--latency-rate and --latency-seconds must be positive")
    return args


def records_for_size(args, record_size):
    """Records to send at ``record_size``: ``--records`` for 100 B, a fifth of it for larger records."""
    if record_size <= 100:
        return args.records
    return max(1, args.records // 5)


# --- raw limits -----------------------------------------------------------------------------------------------


def _listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server


def _receive(server, sink, done):
    """Accept one connection and pour it into ``sink`` (a raw file, or None to discard)."""
    try:
        connection, _ = server.accept()
        with connection:
            buf = bytearray(_CHUNK)
            view = memoryview(buf)
            while True:
                count = connection.recv_into(buf)
                if not count:
                    break
                if sink is not None:
                    sink.write(view[:count])
    finally:
        done.append(time.perf_counter())


def measure_socket_to_file(total_bytes, path):
    """Push ``total_bytes`` through a loopback TCP connection into the file ``path`` (no fsync).

    A receiver thread does what a broker does on produce: ``recv_into`` a buffer,
    ``write`` it to a file that stays in the page cache. The sender writes 1 MiB
    chunks with ``sendall``. Both sides' system calls release the GIL.

    :returns: a :class:`RawLimit` named "socket_to_file".
    """
    payload = bytes(range(256)) * (_CHUNK // 256)
    server = _listener()
    done = []
    with server, open(path, "wb", buffering=0) as sink:
        receiver = threading.Thread(target=_receive, args=(server, sink, done), daemon=True)
        receiver.start()
        start = time.perf_counter()
        with socket.create_connection(server.getsockname()) as sender:
            remaining = total_bytes
            while remaining > 0:
                piece = payload if remaining >= len(payload) else payload[:remaining]
                sender.sendall(piece)
                remaining -= len(piece)
            sender.shutdown(socket.SHUT_WR)
            receiver.join()
    if not done:
        raise RuntimeError("socket->file receiver did not finish")
    written = os.path.getsize(path)
    if written != total_bytes:
        raise RuntimeError(f"socket->file wrote {written} of {total_bytes} bytes")
    return RawLimit("socket_to_file", total_bytes, done[0] - start)


def measure_file_to_socket(path):
    """Send the whole file ``path`` to a loopback TCP receiver with ``os.sendfile``.

    The receiver discards what it reads, as a consumer piped to a counter does.
    Run it on a file that is in the page cache (the one just written by
    :func:`measure_socket_to_file`).

    :returns: a :class:`RawLimit` named "file_to_socket".
    """
    size = os.path.getsize(path)
    server = _listener()
    done = []
    with server, open(path, "rb") as source:
        receiver = threading.Thread(target=_receive, args=(server, None, done), daemon=True)
        receiver.start()
        start = time.perf_counter()
        with socket.create_connection(server.getsockname()) as sender:
            offset = 0
            while offset < size:
                sent = os.sendfile(sender.fileno(), source.fileno(), offset, min(size - offset, 8 * _CHUNK))
                if sent == 0:
                    raise RuntimeError("sendfile sent nothing before the end of the file")
                offset += sent
            sender.shutdown(socket.SHUT_WR)
            receiver.join()
    if not done:
        raise RuntimeError("file->socket receiver did not finish")
    return RawLimit("file_to_socket", size, done[0] - start)


def measure_raw_limits(total_bytes, repeats, workdir):
    """Best of ``repeats`` runs of both raw limits; the scratch file is removed afterwards.

    :returns: ``{"socket_to_file": RawLimit, "file_to_socket": RawLimit}``.
    """
    path = os.path.join(workdir, "raw-limit.bin")
    best = {}
    try:
        for _ in range(repeats):
            for result in (measure_socket_to_file(total_bytes, path), measure_file_to_socket(path)):
                if result.name not in best or result.seconds < best[result.name].seconds:
                    best[result.name] = result
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return best


# --- workloads ------------------------------------------------------------------------------------------------


def write_kcat_input(path, count, record_size):
    """Write ``count`` lines of ``record_size`` bytes each (``record_size - 1`` characters and a newline).

    Each line starts with its zero-padded sequence number so records differ (and
    compress like real data would, rather than to nothing).
    """
    width = record_size - 1
    filler = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (width // 36 + 1))
    with open(path, "wb") as out:
        batch = []
        for number in range(count):
            head = b"%010d-" % number
            batch.append((head + filler)[:width] + b"\n")
            if len(batch) == 10_000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    return path


def unique_topic(prefix, label):
    """A fresh topic name (Kafka's legal characters only)."""
    return f"{prefix}-{label}-{uuid.uuid4().hex[:10]}"


def create_topic(bootstrap, topic, timeout=30.0, replication_factor=1, config=None):
    """Create ``topic`` with 1 partition and ``replication_factor`` replicas and wait until it has a leader.

    Uses CreateTopics through confluent-kafka's AdminClient; when that fails
    (for example, CreateTopics not served), falls back to auto-creation by
    asking a producer for the topic's metadata.

    :raises RuntimeError: no leader within ``timeout`` seconds.
    """
    from concurrent.futures import TimeoutError as FutureTimeoutError

    from confluent_kafka import KafkaException, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    created_by = "CreateTopics"
    try:
        futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=replication_factor,
                                                config=dict(config or {}))],
                                      operation_timeout=timeout, request_timeout=timeout)
        futures[topic].result(timeout=timeout)
    except (KafkaException, FutureTimeoutError) as exc:  # try the auto-creation path before giving up
        created_by = f"auto-creation (CreateTopics failed: {exc})"
    producer = Producer({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            metadata = producer.list_topics(topic, timeout=5.0)
            partitions = metadata.topics[topic].partitions
            if (metadata.topics[topic].error is None and 0 in partitions and partitions[0].leader >= 0
                    and len(partitions[0].isrs) >= replication_factor):
                return created_by
        except (KafkaException, KeyError) as exc:  # the broker may still be creating it
            last_error = exc
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no leader after {timeout} s ({created_by}; last error {last_error})")
        time.sleep(0.2)


def kcat_version(kcat):
    """kcat's and librdkafka's versions, as ``kcat -V`` reports them (one line)."""
    try:
        output = subprocess.run([kcat, "-V"], check=False, capture_output=True, text=True, timeout=10).stdout
    except OSError as exc:
        return f"kcat unavailable: {exc}"
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    version = next((line for line in lines if "version" in line.lower()), lines[0] if lines else "?")
    return version


def kcat_produce(kcat, bootstrap, topic, input_path, count, record_size, timeout):
    """Time ``kcat -P`` (acks=1, linger.ms=5, batch.num.messages=10000) reading ``input_path`` on stdin.

    The time runs from starting kcat to its exit, which waits for every delivery report.
    """
    command = [kcat, "-P", "-b", bootstrap, "-t", topic, *KCAT_PRODUCE_OPTIONS]
    name = f"kcat produce {_size_label(record_size)} acks=1"
    with open(input_path, "rb") as stdin:
        start = time.perf_counter()
        try:
            completed = subprocess.run(command, check=False, stdin=stdin, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            return WorkloadResult(name, "produce", record_size, count, timeout, "socket_to_file",
                                  f"kcat -P did not finish in {timeout} s")
        seconds = time.perf_counter() - start
    error = None
    if completed.returncode != 0 or b"Failed" in completed.stderr or b"ERROR" in completed.stderr:
        error = f"kcat -P exit {completed.returncode}: {completed.stderr.decode(errors='replace')[-500:]}"
    return WorkloadResult(name, "produce", record_size, count, seconds, "socket_to_file", error)


def kcat_consume(kcat, bootstrap, topic, expected, record_size, timeout, to_null=False):
    """Time ``kcat -C -o beginning -e -q`` piped into a counter of records (lines) and bytes.

    The time runs from starting kcat until it exits at the end of the partition. With
    ``to_null`` kcat writes to /dev/null and stops after ``-c expected`` records instead:
    kcat's own output path (a write per record) is then out of the measurement, and so is
    the last empty long-poll that ``-e`` waits for, so the figure shows what the broker serves.
    """
    command = [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"]
    name = f"kcat consume {_size_label(record_size)}"
    if to_null:
        command += ["-c", str(expected)]
        name += " (to /dev/null)"
    lines = 0
    received = 0
    timed_out = threading.Event()
    # stderr goes to a file: a pipe nobody reads could fill up and stall kcat.
    with tempfile.TemporaryFile() as stderr_file:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL if to_null else subprocess.PIPE,
                                   stderr=stderr_file)

        def kill_on_timeout():
            timed_out.set()
            process.kill()

        killer = threading.Timer(timeout, kill_on_timeout)
        killer.start()
        try:
            stream = process.stdout
            while stream is not None:
                chunk = stream.read1(_CHUNK)
                if not chunk:
                    break
                lines += chunk.count(b"\n")
                received += len(chunk)
            returncode = process.wait()
        finally:
            killer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        seconds = time.perf_counter() - start
        stderr_file.seek(0)
        stderr = stderr_file.read()
    if to_null and returncode == 0 and not timed_out.is_set():
        # kcat -c exits 0 only once it has consumed exactly that many records.
        lines, received = expected, expected * record_size
    error = None
    if timed_out.is_set():
        error = f"kcat -C did not reach the end of the partition in {timeout} s ({lines} records read)"
    elif returncode != 0:
        error = f"kcat -C exit {returncode}: {stderr.decode(errors='replace')[-500:]}"
    elif lines != expected or received != expected * record_size:
        error = f"consumed {lines} records / {received} bytes, expected {expected} / {expected * record_size}"
    return WorkloadResult(name, "consume", record_size, lines, seconds, "file_to_socket", error)


def confluent_produce(bootstrap, topic, count, record_size):
    """Time confluent-kafka's Producer (same settings as the kcat workload) sending ``count`` records."""
    from confluent_kafka import Producer

    failures = []

    def on_delivery(err, _msg):
        if err is not None:
            failures.append(err)

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 10000,
                         "acks": 1, "queue.buffering.max.messages": 1_000_000})
    value = b"x" * record_size
    produce = producer.produce
    start = time.perf_counter()
    for _ in range(count):
        while True:
            try:
                produce(topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
    remaining = producer.flush(120)
    seconds = time.perf_counter() - start
    error = None
    if remaining or failures:
        error = f"{remaining} undelivered, {len(failures)} failed (first: {failures[:1]})"
    return WorkloadResult(f"confluent-kafka produce {_size_label(record_size)} acks=1", "produce", record_size,
                          count, seconds, "socket_to_file", error)


def confluent_consume(bootstrap, topic, expected, record_size, timeout):
    """Time confluent-kafka's Consumer reading the topic from the beginning to its end."""
    from confluent_kafka import Consumer, KafkaError

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"perf-{uuid.uuid4().hex[:10]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    name = f"confluent-kafka consume {_size_label(record_size)}"
    count = 0
    error = None
    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    try:
        consumer.subscribe([topic])
        while count < expected:
            if time.monotonic() > deadline:
                error = f"only {count} of {expected} records within {timeout} s"
                break
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                message_error = message.error()
                if message_error is None:
                    count += 1
                elif message_error.code() != KafkaError._PARTITION_EOF:
                    error = str(message_error)
            if error:
                break
    finally:
        seconds = time.perf_counter() - start
        consumer.close()
    return WorkloadResult(name, "consume", record_size, count, seconds, "file_to_socket", error)


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
    return LatencyResult(f"RF=3 acks={acks} {_size_label(record_size)} {label}", record_size, len(latencies), seconds,
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
    import signal as signals

    name = {signals.SIGKILL: "kill -9", signals.SIGTERM: "clean shutdown"}.get(sig, f"signal {sig}")
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
        cluster.signal_broker(leader, sig)
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
    cluster.restart_broker(leader)
    deadline = time.monotonic() + timeout
    while len(partition_leader(bootstrap, topic)[1]) < 3:
        if time.monotonic() > deadline:
            result.error = f"broker {leader} did not rejoin the ISR within {timeout} s after its restart"
            break
        time.sleep(0.2)
    return result


def run_replicated(args, bootstrap, cluster=None, log=print):
    """The RF=3 acks=all workloads and, when ``cluster`` can signal brokers, the failover measurements.

    :returns: ``(latency_results, unavailability_results)``.
    """
    import signal as signals

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
    for sig in (signals.SIGKILL, signals.SIGTERM):
        unavailability.append(measure_unavailability(cluster, bootstrap, topic, sig, log=log))
    return latency_results, unavailability


def _size_label(record_size):
    if record_size % 1024 == 0:
        return f"{record_size // 1024} KiB"
    return f"{record_size} B"


def run_workloads(args, workdir, bootstrap, log=print):
    """Run the kcat (and optionally confluent-kafka) workloads for each record size."""
    results = []
    for record_size in args.record_sizes:
        count = records_for_size(args, record_size)
        input_path = os.path.join(workdir, f"kcat-input-{record_size}.txt")
        log(f"# writing {count:,} records of {record_size} B for kcat")
        write_kcat_input(input_path, count, record_size)
        topic = unique_topic(args.topic_prefix, f"kcat-{record_size}")
        log(f"# topic {topic}: {create_topic(bootstrap, topic)}")
        produced = kcat_produce(args.kcat, bootstrap, topic, input_path, count, record_size, args.timeout)
        results.append(produced)
        log(f"# {produced.name}: {produced.seconds:.2f} s" + (f" ERROR {produced.error}" if produced.error else ""))
        for to_null in (False, True):
            consumed = kcat_consume(args.kcat, bootstrap, topic, count, record_size, args.timeout, to_null)
            results.append(consumed)
            log(f"# {consumed.name}: {consumed.seconds:.2f} s" + (f" ERROR {consumed.error}" if consumed.error else ""))
        os.unlink(input_path)
        if args.confluent:
            topic = unique_topic(args.topic_prefix, f"confluent-{record_size}")
            log(f"# topic {topic}: {create_topic(bootstrap, topic)}")
            results.append(confluent_produce(bootstrap, topic, count, record_size))
            results.append(confluent_consume(bootstrap, topic, count, record_size, args.timeout))
    return results


# --- report -----------------------------------------------------------------------------------------------------


def _ratio(value, limit):
    return f"{100.0 * value / limit:6.1f}%" if limit else "     -"


def format_report(limits, results):
    """The table: raw limits, then one line per workload with its ratios (a list of lines)."""
    lines = []
    if limits:
        lines.append("raw limits (this machine, loopback, page cache):")
        for key, label in (("socket_to_file", "loopback socket -> page-cache file"),
                           ("file_to_socket", "page-cache file -> socket (sendfile)")):
            if key in limits:
                limit = limits[key]
                lines.append(f"  {label:<40} {limit.mb_per_s:10.1f} MB/s  "
                             f"({limit.bytes // MB} MB in {limit.seconds:.3f} s)")
    if results:
        lines.append("")
        lines.append(f"{'workload':<36} {'records':>11} {'records/s':>12} {'MB/s':>9} {'vs raw':>8}  notes")
        for result in results:
            limit = limits.get(result.limit) if limits else None
            versus = _ratio(result.mb_per_s, limit.mb_per_s) if limit else "     -"
            notes = []
            if result.kind == "produce" and result.record_size == 100:
                notes.append(f"{_ratio(result.records_per_s, PRODUCE_TARGET_RECORDS_S).strip()} of the 1.3 M/s target")
            if result.kind == "consume" and result.record_size == 100 and "/dev/null" not in result.name:
                notes.append(f"{_ratio(result.records_per_s, JVM_CONSUME_RECORDS_S).strip()} of the JVM's 0.7 M/s")
            if result.error:
                notes.append(f"ERROR: {result.error}")
            lines.append(f"{result.name:<36} {result.records:>11,} {result.records_per_s:>12,.0f} "
                         f"{result.mb_per_s:>9.1f} {versus:>8}  {'; '.join(notes)}")
    return lines


def _ms(value):
    return "-" if value is None else f"{value:.1f}"


def format_replicated_report(latency_results, unavailability_results):
    """The RF=3 lines: acks=all throughput and latency percentiles, then unavailability after faults."""
    lines = []
    if latency_results:
        lines.append("")
        lines.append(f"{'replicated workload':<36} {'records':>11} {'records/s':>12} {'MB/s':>9} "
                     f"{'p50 ms':>8} {'p99 ms':>8}  notes")
        for result in latency_results:
            notes = f"ERROR: {result.error}" if result.error else ""
            lines.append(f"{result.name:<36} {result.records:>11,} {result.records_per_s:>12,.0f} "
                         f"{result.mb_per_s:>9.1f} {_ms(result.p50_ms):>8} {_ms(result.p99_ms):>8}  {notes}".rstrip())
    if unavailability_results:
        lines.append("")
        lines.append(f"{'failover (RF=3, acks=all)':<36} {'unavailable':>12}  leader")
        for result in unavailability_results:
            moved = f"{result.old_leader} -> {result.new_leader if result.new_leader is not None else '?'}"
            notes = f"  ERROR: {result.error}" if result.error else ""
            lines.append(f"{result.name:<36} {result.seconds:>10.2f} s  {moved}{notes}")
    return lines


def results_json(limits, results, latency_results=(), unavailability_results=()):
    """The run's results as a JSON-serialisable dict."""
    return {
        "replicated": [
            {"name": r.name, "record_size": r.record_size, "records": r.records, "seconds": r.seconds,
             "records_per_s": r.records_per_s, "mb_per_s": r.mb_per_s, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
             "target_rate": r.target_rate, "error": r.error}
            for r in latency_results
        ],
        "failover": [asdict(r) for r in unavailability_results],
        "raw_limits": {key: {**asdict(limit), "mb_per_s": limit.mb_per_s} for key, limit in limits.items()},
        "workloads": [
            {**asdict(result), "records_per_s": result.records_per_s, "mb_per_s": result.mb_per_s,
             "ratio_to_raw": (result.mb_per_s / limits[result.limit].mb_per_s) if result.limit in limits else None,
             "ratio_to_target": (result.records_per_s / PRODUCE_TARGET_RECORDS_S
                                 if result.kind == "produce" and result.record_size == 100 else None)}
            for result in results
        ],
    }


# --- cluster ----------------------------------------------------------------------------------------------------


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class LocalBroker:
    """One ``python -m kafkalite CONFIG --override ...`` process started by :class:`LocalCluster`."""

    def __init__(self, broker_id, config_path, overrides, log_path):
        self.broker_id = broker_id
        self.config_path = config_path
        self.overrides = overrides
        self.log_path = log_path
        self.port = int(overrides["listeners"].rsplit(":", 1)[1])
        self.process = None

    def start(self):
        """Spawn the broker (output appended to its log file)."""
        command = [sys.executable, "-m", "kafkalite", self.config_path]
        for key, value in self.overrides.items():
            command += ["--override", f"{key}={value}"]
        with open(self.log_path, "ab") as broker_log:  # the child keeps its own fd
            self.process = subprocess.Popen(command, stdout=broker_log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                            stdin=subprocess.DEVNULL)

    def wait_listening(self, timeout):
        """Wait until the port accepts connections.

        :raises RuntimeError: with the log tail if the broker exits or ``timeout`` s pass.
        """
        deadline = time.monotonic() + timeout
        while not _port_open("127.0.0.1", self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"broker {self.broker_id} exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker {self.broker_id} not listening after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout=60.0):
        """SIGTERM by pid (resuming it first), then SIGKILL if it lingers."""
        import signal

        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, size=4000):
        """The end of the broker's output."""
        with open(self.log_path, "rb") as log_file:
            return log_file.read()[-size:].decode(errors="replace")


class LocalCluster:
    """ZooKeeper and one or three brokers started for this run, stopped by pid at the end.

    One broker runs ``config/server.properties``; three run ``config/cluster/server-{1,2,3}.properties``
    (RF=3, ``min.insync.replicas=2``). Ports, log dirs and ``zookeeper.connect`` are overridden
    so the run never touches a cluster started by ``make run``.
    """

    def __init__(self, workdir, brokers=1, session_timeout_ms=None, log=print):
        self.workdir = workdir
        self.size = brokers
        self.session_timeout_ms = session_timeout_ms
        self.log = log
        self.zk_spec = None
        self.brokers = {}
        self.bootstrap = None

    def start(self, timeout=60.0):
        """Start ZooKeeper then the brokers; returns the bootstrap addresses.

        :raises RuntimeError: a piece does not come up in ``timeout`` s.
        """
        from kafkalite.local import zookeeper as zklocal

        self.zk_spec = zklocal.standalone_spec(os.path.join(self.workdir, "zookeeper"), port=zklocal.free_port())
        zklocal.start_cluster(self.zk_spec, timeout=timeout, detach=False)
        for broker_id in range(1, self.size + 1):
            if self.size == 1:
                config = os.path.join(REPO_ROOT, "config", "server.properties")
            else:
                config = os.path.join(REPO_ROOT, "config", "cluster", f"server-{broker_id}.properties")
            address = f"127.0.0.1:{zklocal.free_port()}"
            overrides = {
                "broker.id": str(broker_id), "listeners": f"PLAINTEXT://{address}",
                "log.dirs": os.path.join(self.workdir, f"broker-{broker_id}-logs"),
                "zookeeper.connect": self.zk_spec.connect_string, "metrics.port": "0",
            }
            if self.session_timeout_ms is not None:
                overrides["zookeeper.session.timeout.ms"] = str(self.session_timeout_ms)
            broker = LocalBroker(broker_id, config, overrides, os.path.join(self.workdir, f"broker-{broker_id}.log"))
            broker.start()
            self.brokers[broker_id] = broker
        self.bootstrap = ",".join(f"127.0.0.1:{broker.port}" for broker in self.brokers.values())
        for broker in self.brokers.values():
            broker.wait_listening(timeout)
        self.log(f"# started ZooKeeper at {self.zk_spec.connect_string} and {self.size} broker(s) at {self.bootstrap}")
        self._wait_brokers_known(timeout)
        return self.bootstrap

    def _wait_brokers_known(self, timeout):
        """Wait until Metadata lists every broker (the controller has sent UpdateMetadata)."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + timeout
        while True:
            try:
                if len(admin.list_topics(timeout=5.0).brokers) >= self.size:
                    return
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Metadata does not list {self.size} brokers after {timeout} s")
            time.sleep(0.2)

    def signal_broker(self, broker_id, sig):
        """Send ``sig`` to broker ``broker_id``'s pid (SIGKILL: also reap it)."""
        import signal

        process = self.brokers[broker_id].process
        os.kill(process.pid, sig)
        if sig == signal.SIGKILL:
            process.wait()

    def restart_broker(self, broker_id, timeout=120.0):
        """Wait for broker ``broker_id`` to exit (after a signal), start it again and wait until it listens."""
        broker = self.brokers[broker_id]
        try:
            broker.process.wait(timeout)
        except subprocess.TimeoutExpired:
            broker.process.kill()
            broker.process.wait()
        broker.start()
        broker.wait_listening(timeout)

    def broker_log_tail(self, size=4000):
        """The end of every broker's output."""
        return "\n".join(f"--- broker {i}:\n{b.log_tail(size)}" for i, b in self.brokers.items())

    def stop(self):
        """Stop the brokers (SIGTERM, then SIGKILL; one at a time) and ZooKeeper, by pid."""
        for broker in reversed(list(self.brokers.values())):
            broker.stop()
        if self.zk_spec is not None:
            from kafkalite.local import zookeeper as zklocal

            zklocal.stop_cluster(self.zk_spec)


def _port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# --- main -------------------------------------------------------------------------------------------------------


def main(argv=None):
    """Entry point of ``kafkalite-perf``; returns the exit status (1 when a workload failed)."""
    args = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        import signal

        # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the finally below stops the cluster we started.
        signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    workdir = args.workdir or tempfile.mkdtemp(prefix="kafkalite-perf-")
    os.makedirs(workdir, exist_ok=True)
    cluster = None
    limits = {}
    results = []
    latency_results = []
    unavailability_results = []
    status = 0
    try:
        if not args.no_raw:
            print(f"# raw limits: {args.raw_mb} MB, best of {args.raw_repeats}", flush=True)
            limits = measure_raw_limits(args.raw_mb * MB, args.raw_repeats, workdir)
        if not args.raw_only:
            if shutil.which(args.kcat) is None:
                print(f"kafkalite-perf: kcat not found ({args.kcat})", file=sys.stderr)
                return 2
            bootstrap = args.bootstrap
            if args.start_cluster:
                cluster = LocalCluster(workdir, brokers=args.brokers, session_timeout_ms=args.session_timeout_ms)
                try:
                    bootstrap = cluster.start()
                except RuntimeError as exc:
                    print(f"kafkalite-perf: {exc}", file=sys.stderr)
                    return 2
            print(f"# {kcat_version(args.kcat)}; bootstrap {bootstrap}", flush=True)
            log = lambda line: print(line, flush=True)  # noqa: E731
            if not args.replicated_only:
                results = run_workloads(args, workdir, bootstrap, log=log)
            if args.replicated:
                latency_results, unavailability_results = run_replicated(args, bootstrap, cluster, log=log)
            if any(result.error for result in [*results, *latency_results, *unavailability_results]):
                status = 1
        print()
        for line in format_report(limits, results) + format_replicated_report(latency_results,
                                                                               unavailability_results):
            print(line)
        if args.json_path:
            with open(args.json_path, "w") as out:
                json.dump(results_json(limits, results, latency_results, unavailability_results), out, indent=2)
        return status
    finally:
        if cluster is not None:
            cluster.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
