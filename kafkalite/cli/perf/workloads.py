"""The client workloads: kcat (and optionally confluent-kafka) producing and consuming one topic each.

The reference kcat workloads of DESIGN.md section 11: ``kcat -P`` (acks=1, linger.ms=5,
batch.num.messages=10000) fed N newline-separated records, then ``kcat -C -o beginning
-e -q`` piped into a counter (and once to /dev/null with ``-c N``), for 100 B and 1 KiB
records, each on a fresh single-partition topic (RF 1); once per ``--compression`` codec,
the producer compressing its batches with it (``-X compression.codec=``); with
``--confluent`` the same with confluent-kafka's Python producer and consumer.
"""

import os
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass

from kafkalite.cli.perf.raw import MB

__all__ = [
    "CODECS",
    "JVM_CONSUME_RECORDS_S",
    "KCAT_PRODUCE_OPTIONS",
    "PRODUCE_TARGET_RECORDS_S",
    "RecordRates",
    "WorkloadResult",
    "codec_label",
    "confluent_consume",
    "confluent_produce",
    "create_topic",
    "kcat_consume",
    "kcat_produce",
    "kcat_version",
    "records_for_size",
    "run_workloads",
    "size_label",
    "unique_topic",
    "write_kcat_input",
]

#: DESIGN.md §11: the JVM broker's kcat produce rate for 100 B records on this kind of machine.
PRODUCE_TARGET_RECORDS_S = 1_300_000
#: DESIGN.md §11: the JVM broker's rate serving ``kcat -C`` piped to a counter.
JVM_CONSUME_RECORDS_S = 700_000
_CHUNK = 1 << 20

KCAT_PRODUCE_OPTIONS = ("-X", "linger.ms=5", "-X", "batch.num.messages=10000", "-X", "acks=1")
#: The producer codecs of ``--compression`` (librdkafka's compression.codec values).
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


class RecordRates:
    """``records_per_s`` and ``mb_per_s`` of a result with ``records`` of ``record_size`` bytes in ``seconds``."""

    @property
    def records_per_s(self):
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self):
        return self.records * self.record_size / MB / self.seconds if self.seconds > 0 else 0.0


@dataclass
class WorkloadResult(RecordRates):
    """One workload's outcome.

    :ivar limit: the raw limit it is compared with ("socket_to_file" or "file_to_socket").
    :ivar error: why it failed (then the rates are meaningless), or None.
    :ivar compression: the producer's codec for the records of the workload's topic.
    """

    name: str
    kind: str
    record_size: int
    records: int
    seconds: float
    limit: str
    error: str | None = None
    compression: str = "none"


def records_for_size(args, record_size):
    """Records to send at ``record_size``: ``--records`` for 100 B, a fifth of it for larger records."""
    if record_size <= 100:
        return args.records
    return max(1, args.records // 5)


def size_label(record_size):
    """``100 B``, ``1 KiB``..."""
    if record_size % 1024 == 0:
        return f"{record_size // 1024} KiB"
    return f"{record_size} B"


def codec_label(compression):
    """`` lz4`` to append to a workload's name; nothing for uncompressed records (the reference workloads)."""
    return "" if compression == "none" else f" {compression}"


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


def kcat_produce(kcat, bootstrap, topic, input_path, count, record_size, timeout, compression="none"):
    """Time ``kcat -P`` (acks=1, linger.ms=5, batch.num.messages=10000) reading ``input_path`` on stdin.

    The time runs from starting kcat to its exit, which waits for every delivery report.
    ``compression``: the codec its batches are compressed with (one of :data:`CODECS`).
    """
    command = [kcat, "-P", "-b", bootstrap, "-t", topic, *KCAT_PRODUCE_OPTIONS]
    if compression != "none":
        command += ["-X", f"compression.codec={compression}"]
    name = f"kcat produce {size_label(record_size)} acks=1{codec_label(compression)}"
    with open(input_path, "rb") as stdin:
        start = time.perf_counter()
        try:
            completed = subprocess.run(command, check=False, stdin=stdin, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            return WorkloadResult(name, "produce", record_size, count, timeout, "socket_to_file",
                                  f"kcat -P did not finish in {timeout} s", compression)
        seconds = time.perf_counter() - start
    error = None
    if completed.returncode != 0 or b"Failed" in completed.stderr or b"ERROR" in completed.stderr:
        error = f"kcat -P exit {completed.returncode}: {completed.stderr.decode(errors='replace')[-500:]}"
    return WorkloadResult(name, "produce", record_size, count, seconds, "socket_to_file", error, compression)


def kcat_consume(kcat, bootstrap, topic, expected, record_size, timeout, to_null=False, compression="none"):
    """Time ``kcat -C -o beginning -e -q`` piped into a counter of records (lines) and bytes.

    The time runs from starting kcat until it exits at the end of the partition. With
    ``to_null`` kcat writes to /dev/null and stops after ``-c expected`` records instead:
    kcat's own output path (a write per record) is then out of the measurement, and so is
    the last empty long-poll that ``-e`` waits for, so the figure shows what the broker serves.
    ``compression``: the codec the topic's records were produced with (for the workload's name).
    """
    command = [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"]
    name = f"kcat consume {size_label(record_size)}{codec_label(compression)}"
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
    return WorkloadResult(name, "consume", record_size, lines, seconds, "file_to_socket", error, compression)


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
    return WorkloadResult(f"confluent-kafka produce {size_label(record_size)} acks=1", "produce", record_size,
                          count, seconds, "socket_to_file", error)


def confluent_consume(bootstrap, topic, expected, record_size, timeout):
    """Time confluent-kafka's Consumer reading the topic from the beginning to its end."""
    from confluent_kafka import Consumer, KafkaError

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"perf-{uuid.uuid4().hex[:10]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    name = f"confluent-kafka consume {size_label(record_size)}"
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


def run_workloads(args, workdir, bootstrap, log=print):
    """Run the kcat workloads for each record size and codec (and optionally confluent-kafka's per size)."""
    results = []
    for record_size in args.record_sizes:
        count = records_for_size(args, record_size)
        input_path = os.path.join(workdir, f"kcat-input-{record_size}.txt")
        log(f"# writing {count:,} records of {record_size} B for kcat")
        write_kcat_input(input_path, count, record_size)
        for compression in args.compression:
            topic = unique_topic(args.topic_prefix, f"kcat-{record_size}{codec_label(compression).replace(' ', '-')}")
            log(f"# topic {topic}: {create_topic(bootstrap, topic)}")
            produced = kcat_produce(args.kcat, bootstrap, topic, input_path, count, record_size, args.timeout,
                                    compression)
            results.append(produced)
            log(f"# {produced.name}: {produced.seconds:.2f} s" + (f" ERROR {produced.error}" if produced.error else ""))
            for to_null in (False, True):
                consumed = kcat_consume(args.kcat, bootstrap, topic, count, record_size, args.timeout, to_null,
                                        compression)
                results.append(consumed)
                log(f"# {consumed.name}: {consumed.seconds:.2f} s" +
                    (f" ERROR {consumed.error}" if consumed.error else ""))
        os.unlink(input_path)
        if args.confluent:
            topic = unique_topic(args.topic_prefix, f"confluent-{record_size}")
            log(f"# topic {topic}: {create_topic(bootstrap, topic)}")
            results.append(confluent_produce(bootstrap, topic, count, record_size))
            results.append(confluent_consume(bootstrap, topic, count, record_size, args.timeout))
    return results
