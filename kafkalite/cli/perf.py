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
    "RawLimit",
    "WorkloadResult",
    "format_report",
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


@dataclass
class WorkloadResult:
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

    @property
    def records_per_s(self):
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self):
        return self.records * self.record_size / MB / self.seconds if self.seconds > 0 else 0.0


def parse_args(argv=None):
    """Parse the command line (see ``kafkalite-perf --help``)."""
    parser = argparse.ArgumentParser(
        prog="kafkalite-perf",
        description="Produce/consume throughput of a local kafkalite cluster, next to the machine's raw "
                    "loopback-socket->file and file->socket (sendfile) limits (DESIGN.md section 11).")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092",
                        help="bootstrap servers of a running cluster (default %(default)s)")
    parser.add_argument("--start-cluster", action="store_true",
                        help="start ZooKeeper and one broker in a temporary directory, stop them at the end")
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


def create_topic(bootstrap, topic, timeout=30.0):
    """Create ``topic`` with 1 partition and RF 1 and wait until it has a leader.

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
        futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
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
            if metadata.topics[topic].error is None and 0 in partitions and partitions[0].leader >= 0:
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
            completed = subprocess.run(command, check=False, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       timeout=timeout)
        except subprocess.TimeoutExpired:
            return WorkloadResult(name, "produce", record_size, count, timeout, "socket_to_file",
                                  f"kcat -P did not finish in {timeout} s")
        seconds = time.perf_counter() - start
    error = None
    if completed.returncode != 0 or b"Failed" in completed.stderr or b"ERROR" in completed.stderr:
        error = f"kcat -P exit {completed.returncode}: {completed.stderr.decode(errors='replace')[-500:]}"
    return WorkloadResult(name, "produce", record_size, count, seconds, "socket_to_file", error)


def kcat_consume(kcat, bootstrap, topic, expected, record_size, timeout):
    """Time ``kcat -C -o beginning -e -q`` piped into a counter of records (lines) and bytes.

    The time runs from starting kcat until it exits at the end of the partition.
    """
    command = [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"]
    name = f"kcat consume {_size_label(record_size)}"
    lines = 0
    received = 0
    timed_out = threading.Event()
    # stderr goes to a file: a pipe nobody reads could fill up and stall kcat.
    with tempfile.TemporaryFile() as stderr_file:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file)

        def kill_on_timeout():
            timed_out.set()
            process.kill()

        killer = threading.Timer(timeout, kill_on_timeout)
        killer.start()
        try:
            stream = process.stdout
            while True:
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
            process.stdout.close()
        seconds = time.perf_counter() - start
        stderr_file.seek(0)
        stderr = stderr_file.read()
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
        consumed = kcat_consume(args.kcat, bootstrap, topic, count, record_size, args.timeout)
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
                lines.append(f"  {label:<40} {limit.mb_per_s:10.1f} MB/s  ({limit.bytes // MB} MB in {limit.seconds:.3f} s)")
    if results:
        lines.append("")
        lines.append(f"{'workload':<36} {'records':>11} {'records/s':>12} {'MB/s':>9} {'vs raw':>8}  notes")
        for result in results:
            limit = limits.get(result.limit) if limits else None
            versus = _ratio(result.mb_per_s, limit.mb_per_s) if limit else "     -"
            notes = []
            if result.kind == "produce" and result.record_size == 100:
                notes.append(f"{_ratio(result.records_per_s, PRODUCE_TARGET_RECORDS_S).strip()} of the 1.3 M/s target")
            if result.kind == "consume" and result.record_size == 100:
                notes.append(f"{_ratio(result.records_per_s, JVM_CONSUME_RECORDS_S).strip()} of the JVM's 0.7 M/s")
            if result.error:
                notes.append(f"ERROR: {result.error}")
            lines.append(f"{result.name:<36} {result.records:>11,} {result.records_per_s:>12,.0f} "
                         f"{result.mb_per_s:>9.1f} {versus:>8}  {'; '.join(notes)}")
    return lines


def results_json(limits, results):
    """The run's results as a JSON-serialisable dict."""
    return {
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


class LocalCluster:
    """ZooKeeper and one broker started for this run, stopped by pid at the end.

    TODO(--start-cluster): written against DESIGN.md §8's interface
    (``python -m kafkalite.cli.server <server.properties>``) and ``zk/zklocal.py``;
    recheck once ``kafkalite.cli.server`` exists. Until then ``start`` fails with a
    clear message and ``make bench`` should start the cluster itself.
    """

    def __init__(self, workdir, log=print):
        self.workdir = workdir
        self.log = log
        self.zk_spec = None
        self.broker = None
        self.bootstrap = None

    def start(self, timeout=60.0):
        """Start ZooKeeper then the broker; returns the bootstrap address.

        :raises RuntimeError: a piece is missing or does not come up in ``timeout`` s.
        """
        try:
            import kafkalite.cli.server  # noqa: F401  (only checking it exists)
        except ImportError as exc:
            raise RuntimeError("--start-cluster needs kafkalite.cli.server, which does not exist yet; start a "
                               "cluster yourself and pass --bootstrap") from exc
        zk_dir = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "zk")
        if zk_dir not in sys.path:
            sys.path.insert(0, zk_dir)
        import zklocal

        self.zk_spec = zklocal.standalone_spec(os.path.join(self.workdir, "zookeeper"), port=zklocal.free_port())
        zklocal.start_cluster(self.zk_spec, timeout=timeout, detach=False)
        port = zklocal.free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        properties = os.path.join(self.workdir, "server.properties")
        settings = {
            "broker.id": "0", "listeners": f"PLAINTEXT://{self.bootstrap}",
            "advertised.listeners": f"PLAINTEXT://{self.bootstrap}",
            "log.dirs": os.path.join(self.workdir, "broker-logs"),
            "zookeeper.connect": self.zk_spec.connect_string, "offsets.topic.replication.factor": "1",
            "num.partitions": "1", "default.replication.factor": "1",
        }
        with open(properties, "w") as out:
            out.writelines(f"{key}={value}\n" for key, value in settings.items())
        command = [sys.executable, "-m", "kafkalite.cli.server", properties]
        with open(os.path.join(self.workdir, "broker.log"), "wb") as broker_log:  # the child keeps its own fd
            self.broker = subprocess.Popen(command, stdout=broker_log, stderr=subprocess.STDOUT)
        self.log(f"# started ZooKeeper at {self.zk_spec.connect_string}, broker pid {self.broker.pid} at "
                 f"{self.bootstrap}")
        deadline = time.monotonic() + timeout
        while not _port_open("127.0.0.1", port):
            if self.broker.poll() is not None:
                raise RuntimeError(f"broker exited with {self.broker.returncode}:\n{self.broker_log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker not listening after {timeout} s:\n{self.broker_log_tail()}")
            time.sleep(0.1)
        return self.bootstrap

    def broker_log_tail(self, size=4000):
        """The end of the broker's output."""
        with open(os.path.join(self.workdir, "broker.log"), "rb") as log_file:
            return log_file.read()[-size:].decode(errors="replace")

    def stop(self):
        """Stop the broker (SIGTERM, then SIGKILL) and ZooKeeper, by pid."""
        if self.broker is not None and self.broker.poll() is None:
            self.broker.terminate()
            try:
                self.broker.wait(30)
            except subprocess.TimeoutExpired:
                self.broker.kill()
                self.broker.wait()
        if self.zk_spec is not None:
            import zklocal

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
    workdir = args.workdir or tempfile.mkdtemp(prefix="kafkalite-perf-")
    os.makedirs(workdir, exist_ok=True)
    cluster = None
    limits = {}
    results = []
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
                cluster = LocalCluster(workdir)
                try:
                    bootstrap = cluster.start()
                except RuntimeError as exc:
                    print(f"kafkalite-perf: {exc}", file=sys.stderr)
                    return 2
            print(f"# {kcat_version(args.kcat)}; bootstrap {bootstrap}", flush=True)
            results = run_workloads(args, workdir, bootstrap, log=lambda line: print(line, flush=True))
            if any(result.error for result in results):
                status = 1
        print()
        for line in format_report(limits, results):
            print(line)
        if args.json_path:
            with open(args.json_path, "w") as out:
                json.dump(results_json(limits, results), out, indent=2)
        return status
    finally:
        if cluster is not None:
            cluster.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
