"""Helpers of the fault tests: ZooKeeper views of leadership, real-client producers and readers.

Owns :class:`ZkView` (reads ``/controller``, ``/brokers/ids`` and partition ``state`` znodes
through kazoo), :class:`AckRecorder` (a confluent-kafka producer in a thread recording every
acknowledged ``(offset, value)``), :func:`create_topic` (CreateTopics with an explicit
replica assignment and topic configs), :func:`read_partition` (a confluent-kafka consumer
reading a partition from offset 0 to its high watermark), :func:`metadata_partition`
(leader/replicas/ISR as a client sees them) and :func:`segment_records` (the records in a
broker's on-disk segments of a partition).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from pathlib import Path

from kafkalite.protocol.recordcodec import decode_batches
from tests.support import clients

#: Broker properties every fault test starts from: Kafka's defaults with short timeouts.
FAULT_BROKER_DEFAULTS = {
    "zookeeper.session.timeout.ms": "6000",
    "replica.lag.time.max.ms": "3000",
    "min.insync.replicas": "2",
    "default.replication.factor": "3",
    "unclean.leader.election.enable": "false",
    "offsets.topic.replication.factor": "3",
    "auto.create.topics.enable": "false",
}


class ZkView:
    """Read-only view of a cluster's ZooKeeper state (a kazoo client rooted at the cluster's chroot).

    :param connect_string: ``host:port,.../chroot`` as the brokers use it.
    """

    def __init__(self, connect_string: str):
        from kazoo.client import KazooClient

        self.client = KazooClient(hosts=connect_string, timeout=10.0)
        self.client.start(timeout=30.0)

    def close(self) -> None:
        """Stop and close the kazoo client."""
        self.client.stop()
        self.client.close()

    def _get_json(self, path: str):
        from kazoo.exceptions import NoNodeError

        try:
            data, _ = self.client.get(path)
        except NoNodeError:
            return None
        return json.loads(data) if data else None

    def controller(self) -> int | None:
        """The id of the broker holding ``/controller``, or ``None``."""
        data = self._get_json("/controller")
        return None if data is None else data["brokerid"]

    def live_brokers(self) -> set[int]:
        """Ids registered under ``/brokers/ids``."""
        from kazoo.exceptions import NoNodeError

        try:
            return {int(child) for child in self.client.get_children("/brokers/ids")}
        except NoNodeError:
            return set()

    def registration_czxid(self, broker_id: int) -> int | None:
        """The czxid (Kafka's broker epoch) of ``/brokers/ids/<id>``, or ``None`` when unregistered."""
        stat = self.client.exists(f"/brokers/ids/{broker_id}")
        return None if stat is None else stat.czxid

    def state(self, topic: str, partition: int = 0) -> dict | None:
        """The partition's ``state`` znode (``leader``, ``leader_epoch``, ``isr``...), or ``None``."""
        return self._get_json(f"/brokers/topics/{topic}/partitions/{partition}/state")

    def leader(self, topic: str, partition: int = 0) -> int | None:
        """The leader in the state znode (-1 when offline), or ``None`` when there is no state yet."""
        state = self.state(topic, partition)
        return None if state is None else state["leader"]

    def isr(self, topic: str, partition: int = 0) -> list[int]:
        """The ISR in the state znode (empty when there is no state yet)."""
        state = self.state(topic, partition)
        return [] if state is None else list(state["isr"])


def create_topic(bootstrap: str, topic: str, assignment: list[list[int]], configs: dict | None = None,
                 timeout: float = 30.0) -> None:
    """Create ``topic`` with ``assignment[p]`` as partition p's replicas (the first is preferred leader).

    :raises Exception: whatever CreateTopics answered if it failed.
    """
    clients.create_topic(bootstrap, topic, configs=configs, assignment=assignment, operation_timeout=timeout,
                         result_timeout=timeout, request_timeout=timeout)


def metadata_partition(bootstrap: str, topic: str, partition: int = 0, timeout: float = 5.0):
    """``(leader, replicas, isrs)`` of a partition from a Metadata request, or ``None`` if absent."""
    from confluent_kafka import KafkaException

    info = clients.partition_metadata(bootstrap, topic, partition, timeout=timeout, tolerate=KafkaException)
    return None if info is None else (info.leader, list(info.replicas), list(info.isrs))


def produce_sync(bootstrap: str, topic: str, values: list[bytes], acks: str = "all", partition: int = 0,
                 timeout: float = 60.0, **extra) -> list[tuple[int, bytes]]:
    """Produce ``values`` and wait for every delivery report; return the acknowledged ``(offset, value)``.

    :raises AssertionError: a record was not acknowledged (with the errors).
    """
    from confluent_kafka import Producer

    config = {"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5, "message.timeout.ms": int(timeout * 1000),
              "topic.metadata.refresh.interval.ms": 1000, "retry.backoff.ms": 100, **extra}
    producer = Producer(config)
    acked: list[tuple[int, bytes]] = []
    errors = []

    def on_delivery(err, msg):
        if err is None:
            acked.append((msg.offset(), msg.value()))
        else:
            errors.append((msg.value(), err))

    for value in values:
        producer.produce(topic, value, partition=partition, on_delivery=on_delivery)
    remaining = producer.flush(timeout + 10)
    assert not errors and not remaining, f"{remaining} undelivered, errors {errors[:3]}"
    return sorted(acked)


class AckRecorder(threading.Thread):
    """An idempotent ``acks=all`` confluent-kafka producer in a thread, recording every acknowledgement.

    Produces ``v<seq>`` values to one partition at about ``rate`` records/s until :meth:`finish`.

    :ivar acked: ``(offset, value)`` of every acknowledged record, in delivery order.
    :ivar failed: ``(value, error)`` of every record whose delivery failed.
    """

    def __init__(self, bootstrap: str, topic: str, partition: int = 0, rate: float = 200.0):
        super().__init__(name=f"ack-recorder-{topic}", daemon=True)
        from confluent_kafka import Producer

        self.topic = topic
        self.partition = partition
        self.interval = 1.0 / rate
        self.acked: list[tuple[int, bytes]] = []
        self.failed: list[tuple[bytes, object]] = []
        self.sent = 0
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._producer = Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
            "message.timeout.ms": 120000, "request.timeout.ms": 10000, "retry.backoff.ms": 100,
            "topic.metadata.refresh.interval.ms": 1000, "reconnect.backoff.max.ms": 1000,
        })

    def _on_delivery(self, err, msg):
        with self._lock:
            if err is None:
                self.acked.append((msg.offset(), msg.value()))
            else:
                self.failed.append((msg.value(), err))

    def acked_count(self) -> int:
        """How many records have been acknowledged so far."""
        with self._lock:
            return len(self.acked)

    def run(self):
        while not self._stop_event.is_set():
            value = b"v%08d" % self.sent
            try:
                self._producer.produce(self.topic, value, partition=self.partition, on_delivery=self._on_delivery)
                self.sent += 1
            except BufferError:
                pass
            self._producer.poll(self.interval)

    def finish(self, timeout: float = 120.0) -> int:
        """Stop producing, wait for every outstanding delivery report; return how many are still pending."""
        self._stop_event.set()
        self.join(timeout=10)
        return self._producer.flush(timeout)


def read_partition(bootstrap: str, topic: str, partition: int = 0, timeout: float = 60.0) -> list[tuple[int, bytes]]:
    """Every ``(offset, value)`` of a partition from offset 0 up to its high watermark, read by a real consumer."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"faults-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False, "enable.partition.eof": True, "topic.metadata.refresh.interval.ms": 1000,
    })
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5.0)
                break
            except Exception:  # noqa: BLE001 - a leader may still be moving; retry until the deadline
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert low == 0, f"log start offset {low}, expected 0"
        records: list[tuple[int, bytes]] = []
        if high == 0:
            return records
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        while not records or records[-1][0] < high - 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} records of {topic}-{partition}, high watermark {high}")
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(f"consumer error: {error}")
            records.append((message.offset(), message.value()))
        return records
    finally:
        consumer.close()


def segment_records(log_dir: Path, topic: str, partition: int = 0) -> list[tuple[int, bytes]]:
    """``(offset, value)`` of every record in a broker's segment files of a partition (on disk, now)."""
    directory = Path(log_dir) / f"{topic}-{partition}"
    records: list[tuple[int, bytes]] = []
    for segment in sorted(directory.glob("*.log")):
        for _header, batch in decode_batches(segment.read_bytes()):
            records.extend((record.offset, bytes(record.value)) for record in batch)
    return records


def assert_dense(records: list[tuple[int, bytes]]) -> None:
    """Offsets run 0, 1, 2... with no gap and no repeat."""
    offsets = [offset for offset, _ in records]
    assert offsets == list(range(len(offsets))), f"offsets not dense: first gap near {_first_gap(offsets)}"


def _first_gap(offsets):
    for expected, offset in enumerate(offsets):
        if offset != expected:
            return expected
    return None


# --- waiting on the cluster ------------------------------------------------------------------------------

SESSION_TIMEOUT_S = float(FAULT_BROKER_DEFAULTS["zookeeper.session.timeout.ms"]) / 1000
LAG_TIME_MAX_S = float(FAULT_BROKER_DEFAULTS["replica.lag.time.max.ms"]) / 1000
#: Slack on top of Kafka's own bounds for process scheduling on a loaded 2-core machine.
MARGIN_S = 8.0


def topic_name(label: str) -> str:
    """A fresh topic name for a test."""
    return f"faults-{label}-{uuid.uuid4().hex[:8]}"


def wait_isr(zk_view: ZkView, topic: str, expected, timeout: float, partition: int = 0):
    """Wait until the state znode's ISR is ``expected`` (any order)."""
    from tests.support.cluster import wait_until

    return wait_until(lambda: sorted(zk_view.isr(topic, partition)) == sorted(expected), timeout=timeout,
                      interval=0.1, message=f"ISR of {topic}-{partition} to be {sorted(expected)} "
                                            f"(state {zk_view.state(topic, partition)})")


def wait_leader(zk_view: ZkView, topic: str, predicate, timeout: float, partition: int = 0,
                what: str = "a new leader") -> int:
    """Wait until the state znode's leader satisfies ``predicate``; return it."""
    from tests.support.cluster import wait_until

    def check():
        leader = zk_view.leader(topic, partition)
        return leader is not None and predicate(leader) and leader

    return wait_until(check, timeout=timeout, interval=0.1,
                      message=f"{what} of {topic}-{partition} (state {zk_view.state(topic, partition)})")


def start_fault_cluster(zk, workdir, overrides=None):
    """Start 3 brokers on ``zk`` (a chroot or connect string) with the fault defaults plus ``overrides``."""
    from tests.support.cluster import Cluster

    return Cluster(zk, workdir, size=3, overrides={**FAULT_BROKER_DEFAULTS, **(overrides or {})}).start()


@contextlib.contextmanager
def zookeeper_loss_setup(ensemble, workdir, victim: str):
    """3 brokers on a fresh chroot of ``ensemble``, a replicated topic with 20 records, then SIGKILL
    of ZooKeeper node ``victim`` ("leader" or "follower" of the ensemble).

    Yields ``(cluster, zk_view, topic, acked_before, registration_czxids)``; stops the brokers after.
    """
    from tests.support.cluster import ZooKeeperChroot, wait_until

    chroot = ZooKeeperChroot(ensemble, f"/faults-zk-{uuid.uuid4().hex[:8]}").create()
    cluster = start_fault_cluster(chroot, Path(workdir) / "cluster")
    view = None
    try:
        view = ZkView(chroot.connect_string)
        topic = topic_name("zkloss")
        create_topic(cluster.bootstrap, topic, [[1, 2, 3]])
        wait_isr(view, topic, [1, 2, 3], timeout=30)
        registrations = {b: view.registration_czxid(b) for b in (1, 2, 3)}
        before = produce_sync(cluster.bootstrap, topic, [b"before-%d" % i for i in range(20)])
        zk_leader = wait_until(ensemble.leader, timeout=30, message="a ZooKeeper leader")
        if victim == "leader":
            ensemble.kill_node(zk_leader)
            wait_until(lambda: ensemble.leader() not in (None, zk_leader), timeout=30,
                       message="the remaining ZooKeeper nodes to elect a leader")
        else:
            ensemble.kill_node(next(i for i in range(1, ensemble.size + 1) if i != zk_leader))
        yield cluster, view, topic, before, registrations
    finally:
        if view is not None:
            view.close()
        cluster.stop()
