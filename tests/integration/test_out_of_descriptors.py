"""A broker that runs out of file descriptors fails the partitions it cannot open, not itself.

The test lowers a running broker's ``RLIMIT_NOFILE`` (soft and hard: it cannot be raised
again) to a little above what it uses, then creates a topic with more partitions than
that leaves room for. The broker must answer those partitions KAFKA_STORAGE_ERROR in
LeaderAndIsr with one log line each, keep its ZooKeeper session and registration, keep
serving the partitions it did open over the connections it has, keep its periodic
tasks alive through failed checkpoint writes, refuse (retriably) what needs a new file,
and write the next checkpoint and accept those appends once descriptors are free again.
"""

import os
import re
import resource

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches
from tests.support.cluster import wait_until
from tests.support.wire import WireClient, create_topic, is_led_by, produce

PARTITIONS = 40
HEADROOM = 16

pytestmark = pytest.mark.cluster(size=1, overrides={
    "replica.high.watermark.checkpoint.interval.ms": "300",
    "log.flush.offset.checkpoint.interval.ms": "300",
})

STORAGE_ERROR = re.compile(
    r"many-(\d+): answering KAFKA_STORAGE_ERROR to LeaderAndIsr: cannot open the log in (\S+): "
    r"\[Errno 24\] Too many open files")


def create_topic_on(client, topic, partitions):
    response = client.request(ApiKey.CREATE_TOPICS, 4, {"topics": [{
        "name": topic, "num_partitions": partitions, "replication_factor": 1, "assignments": [], "configs": []}],
        "timeout_ms": 30000, "validate_only": False})
    return response["topics"][0]


def produce_on(client, topic, partition, value):
    response = client.request(ApiKey.PRODUCE, 8, {
        "transactional_id": None, "acks": 1, "timeout_ms": 10000,
        "topic_data": [{"name": topic, "partition_data": [
            {"index": partition, "records": build_batch([Record(b"k", value)])}]}]})
    return response["responses"][0]["partition_responses"][0]


def fetch_on(client, topic, partition):
    response = client.request(ApiKey.FETCH, 11, {
        "replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 0,
        "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
        "topics": [{"topic": topic, "partitions": [{
            "partition": partition, "current_leader_epoch": -1, "fetch_offset": 0, "log_start_offset": -1,
            "partition_max_bytes": 1 << 20}]}]})
    result = response["responses"][0]["partitions"][0]
    assert result["error_code"] == 0, result
    return [record.value for _header, records in decode_batches(bytes(result["records"] or b""))
            for record in records]


def checkpointed(broker, topic):
    """Partitions of ``topic`` in the broker's replication-offset-checkpoint."""
    try:
        text = (broker.log_dir / "replication-offset-checkpoint").read_text()
    except FileNotFoundError:
        return set()
    return {int(line.split()[1]) for line in text.splitlines()[2:] if line.split()[0] == topic}


def test_running_out_of_descriptors_fails_partitions_not_the_broker(broker):
    """EMFILE during LeaderAndIsr: KAFKA_STORAGE_ERROR for those partitions alone, everything else keeps working."""
    address = broker.bootstrap
    assert create_topic(address, "before")["error_code"] == 0
    wait_until(lambda: is_led_by(address, "before"), 30, message="the topic created before the limit to be led")
    assert produce(address, "before", 0, build_batch([Record(b"k", b"first")]))["error_code"] == 0
    clients = [WireClient(address, timeout=30) for _ in range(4)]  # the limit leaves no room to accept more
    try:
        admin, data, spare = clients[0], clients[1], clients[2:]
        pid = broker.pid
        limit = len(os.listdir(f"/proc/{pid}/fd")) + HEADROOM
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))

        assert create_topic_on(admin, "many", PARTITIONS)["error_code"] == 0
        failed = wait_until(lambda: {int(m.group(1)): m.group(2) for m in STORAGE_ERROR.finditer(broker.log_text())},
                            60, message="KAFKA_STORAGE_ERROR lines")

        def settled():  # every partition either failed or has its directory
            present = {p for p in range(PARTITIONS) if (broker.log_dir / f"many-{p}").is_dir()}
            failed.update({int(m.group(1)): m.group(2) for m in STORAGE_ERROR.finditer(broker.log_text())})
            return len(present) + len(failed) == PARTITIONS and present
        opened = wait_until(settled, 60, message="every partition of the topic opened or failed")
        assert opened.isdisjoint(failed) and len(failed) >= PARTITIONS - HEADROOM
        for partition, path in failed.items():  # nothing half-registered on disk either
            assert path == str(broker.log_dir / f"many-{partition}") and not os.path.exists(path)
        text = broker.log_text()
        assert all(text.count(f"many-{partition}: answering KAFKA_STORAGE_ERROR") == 1 for partition in failed)

        assert broker.is_running() and broker.is_registered()
        # No descriptor left: a partition that has its epoch on disk is served; a first append to a
        # new one needs its leader-epoch checkpoint, so it is refused with the retriable storage error.
        assert produce_on(data, "before", 0, b"still served")["error_code"] == 0
        assert fetch_on(data, "before", 0) == [b"first", b"still served"]
        assert produce_on(data, "many", min(opened), b"first")["error_code"] == errors.KafkaStorageError.code
        assert produce_on(data, "many", min(failed), b"nowhere")["error_code"] == \
            errors.NotLeaderOrFollowerError.code
        wait_until(lambda: re.search(r"periodic task \w+ failed, retrying in \d+ ms: .*Too many open files",
                                     broker.log_text()), 30, message="a checkpoint write to fail and be retried")

        for client in spare:  # frees two descriptors in the broker
            client.close()
        for partition in sorted(opened):
            def produced(partition=partition):  # a client retries KAFKA_STORAGE_ERROR, as this does
                result = produce_on(data, "many", partition, b"value-%d" % partition)
                assert result["error_code"] in (0, errors.KafkaStorageError.code), (partition, result)
                return result["error_code"] == 0 and result
            assert wait_until(produced, 30, message=f"a produce to many-{partition}")["base_offset"] == 0
            assert fetch_on(data, "many", partition) == [b"value-%d" % partition]
        wait_until(lambda: opened <= checkpointed(broker, "many"), 30,
                   message="the high watermark checkpoint to be written once descriptors are free")
        assert broker.is_running() and broker.is_registered()
        assert "Traceback" not in broker.log_text()
    finally:
        for client in clients:
            client.close()
