"""The group coordinator on real brokers: FindCoordinator, __consumer_offsets, legacy ZooKeeper offsets, failover.

- FindCoordinator creates ``__consumer_offsets`` (compacted, Kafka's segment size) on first use
  and answers COORDINATOR_NOT_AVAILABLE for transactional ids.
- The topic's records are Kafka's own formats, checked with an independent decoder here.
- OffsetCommit v0 / OffsetFetch v0 use ``/consumers/<group>/offsets/<topic>/<partition>``.
- Committed offsets survive SIGKILL of the coordinating broker and a restart of the cluster.
"""

import json
import struct

import pytest

from kafkalite.protocol.apis import ApiKey
from tests.support.clients import committed_offsets, consume_in_group, create_topic, produce_round_robin
from tests.support.cluster import wait_until
from tests.support.wire import WireClient
from tests.support.zookeeper import kazoo_client

OVERRIDES = {
    "zookeeper.session.timeout.ms": "6000",
    "group.min.session.timeout.ms": "1000",
    "offsets.topic.num.partitions": "5",
}


def find_coordinator(bootstrap, group, timeout=60, exclude=None):
    """FindCoordinator v2 (to each address of ``bootstrap`` in turn) until it names a coordinator.

    :param exclude: keep asking while the answer is this broker (e.g. one just killed).
    """
    addresses = bootstrap.split(",")
    attempts = []

    def ask():
        address = addresses[len(attempts) % len(addresses)]
        attempts.append(address)
        with WireClient(address) as client:
            response = client.request(ApiKey.FIND_COORDINATOR, 2, {"key": group, "key_type": 0})
        if response["error_code"] or response["node_id"] == exclude:
            return None
        return response["node_id"]
    return wait_until(ask, timeout, interval=0.2, message="a coordinator for %s" % group)


@pytest.mark.cluster(size=1, overrides=OVERRIDES)
def test_find_coordinator_creates_offsets_topic(single_broker, zookeeper):
    """The first FindCoordinator creates the compacted __consumer_offsets; transactional ids get error 15."""
    with WireClient(single_broker.bootstrap) as client:
        txn = client.request(ApiKey.FIND_COORDINATOR, 1, {"key": "txn", "key_type": 1})
        assert txn["error_code"] == 15
        first = client.request(ApiKey.FIND_COORDINATOR, 0, {"key": "g"})
        assert first["error_code"] in (0, 15)
    assert find_coordinator(single_broker.bootstrap, "g") == 1
    with kazoo_client(zookeeper.connect_string, start_timeout=15) as zk:
        config = json.loads(zk.get("/config/topics/__consumer_offsets")[0])["config"]
        assignment = json.loads(zk.get("/brokers/topics/__consumer_offsets")[0])["partitions"]
    assert config["cleanup.policy"] == "compact"
    assert config["segment.bytes"] == "104857600"
    assert sorted(assignment) == ["0", "1", "2", "3", "4"]


@pytest.mark.cluster(size=1, overrides={**OVERRIDES, "offsets.topic.replication.factor": "3"})
def test_offsets_topic_needs_enough_brokers(single_broker):
    """With fewer live brokers than offsets.topic.replication.factor, FindCoordinator keeps answering 15."""
    with WireClient(single_broker.bootstrap) as client:
        for _ in range(3):
            assert client.request(ApiKey.FIND_COORDINATOR, 1, {"key": "g", "key_type": 0})["error_code"] == 15


@pytest.mark.cluster(size=1, overrides=OVERRIDES)
def test_legacy_offsets_live_in_zookeeper(single_broker, zookeeper):
    """OffsetCommit v0 writes /consumers/<g>/offsets/<t>/<p> as a decimal string; OffsetFetch v0 reads it."""
    create_topic(single_broker.bootstrap, "legacy", 2)
    with WireClient(single_broker.bootstrap) as client:
        committed = client.request(ApiKey.OFFSET_COMMIT, 0, {"group_id": "old", "topics": [
            {"name": "legacy", "partitions": [
                {"partition_index": 0, "committed_offset": 42, "committed_metadata": "m"},
                {"partition_index": 7, "committed_offset": 1, "committed_metadata": ""}]}]})
        codes = {p["partition_index"]: p["error_code"] for p in committed["topics"][0]["partitions"]}
        assert codes == {0: 0, 7: 3}
        fetched = client.request(ApiKey.OFFSET_FETCH, 0, {"group_id": "old", "topics": [
            {"name": "legacy", "partition_indexes": [0, 1]}]})
        offsets = {p["partition_index"]: (p["committed_offset"], p["error_code"])
                   for p in fetched["topics"][0]["partitions"]}
        assert offsets == {0: (42, 0), 1: (-1, 0)}
    with kazoo_client(zookeeper.connect_string, start_timeout=15) as zk:
        assert zk.get("/consumers/old/offsets/legacy/0")[0] == b"42"


def _string(data, position):
    size = struct.unpack_from(">h", data, position)[0]
    return data[position + 2:position + 2 + size].decode(), position + 2 + size


@pytest.mark.cluster(size=1, overrides=OVERRIDES)
def test_offsets_topic_records_are_kafkas_formats(single_broker):
    """A consumer group's commit appears in __consumer_offsets as offset key v1 / value v3 and group key v2."""
    from confluent_kafka import Consumer, TopicPartition

    from kafkalite.coordinator.group_metadata_manager import partition_for_group

    create_topic(single_broker.bootstrap, "fmt", 1)
    produce_round_robin(single_broker.bootstrap, "fmt", 5, 1)
    consume_in_group(single_broker.bootstrap, "fmt", "fmt-group", 5)
    reader = Consumer({"bootstrap.servers": single_broker.bootstrap, "group.id": "reader",
                       "enable.auto.commit": False, "enable.partition.eof": True})
    reader.assign([TopicPartition("__consumer_offsets", partition_for_group("fmt-group", 5), 0)])
    offsets, groups = {}, []
    try:
        while True:
            message = reader.poll(10)
            assert message is not None, "timed out reading __consumer_offsets"
            if message.error():
                break
            key, value = message.key(), message.value()
            version = struct.unpack_from(">h", key)[0]
            if version == 1:
                group, position = _string(key, 2)
                topic, position = _string(key, position)
                partition = struct.unpack_from(">i", key, position)[0]
                assert struct.unpack_from(">h", value)[0] == 3
                offsets[(group, topic, partition)] = struct.unpack_from(">q", value, 2)[0]
            elif version == 2:
                groups.append(_string(key, 2)[0])
                assert value is None or struct.unpack_from(">h", value)[0] == 3
    finally:
        reader.close()
    assert offsets == {("fmt-group", "fmt", 0): 5}
    assert "fmt-group" in groups


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_committed_offsets_survive_coordinator_kill_and_cluster_restart(cluster):
    """Offsets committed with acks=all outlive SIGKILL of the coordinator and a full cluster restart."""
    create_topic(cluster.bootstrap, "durable", 3, replication_factor=3)
    counts = produce_round_robin(cluster.bootstrap, "durable", 90, 3)
    consume_in_group(cluster.bootstrap, "durable", "durable-group", 90)
    assert committed_offsets(cluster.bootstrap, "durable-group", "durable", 3) == counts

    coordinator = find_coordinator(cluster.bootstrap, "durable-group")
    victim = cluster.broker(coordinator)
    victim.kill()
    others = ",".join(b.bootstrap for b in cluster.brokers if b is not victim)
    find_coordinator(others, "durable-group", exclude=coordinator)
    assert committed_offsets(others, "durable-group", "durable", 3) == counts

    cluster.stop()
    cluster.start()
    assert committed_offsets(cluster.bootstrap, "durable-group", "durable", 3) == counts


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_live_group_follows_its_coordinator_to_another_broker(cluster):
    """A consuming group keeps its generation and goes on committing after its coordinator is SIGKILLed."""
    from confluent_kafka import Consumer

    create_topic(cluster.bootstrap, "moving", 2, replication_factor=3)
    produce_round_robin(cluster.bootstrap, "moving", 20, 2)
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "moving-group",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    assignments = []
    consumer.subscribe(["moving"], on_assign=lambda c, ps: assignments.append(ps))
    seen = []
    try:
        def consume(count):
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                seen.append(message.value())
            return len(seen) >= count
        wait_until(lambda: consume(20), 60, interval=0, message="the first 20 records")
        consumer.commit(asynchronous=False)
        coordinator = find_coordinator(cluster.bootstrap, "moving-group")
        rounds = len(assignments)
        cluster.broker(coordinator).kill()
        others = ",".join(b.bootstrap for b in cluster.brokers if b.broker_id != coordinator)
        find_coordinator(others, "moving-group", exclude=coordinator)
        produce_round_robin(others, "moving", 20, 2)
        wait_until(lambda: consume(40), 60, interval=0, message="records produced after the failover")
        consumer.commit(asynchronous=False)
        assert len(assignments) == rounds, "the group rebalanced although its member stayed alive"
    finally:
        consumer.close()
    assert committed_offsets(others, "moving-group", "moving", 2) == {0: 20, 1: 20}


@pytest.mark.cluster(size=1, overrides=OVERRIDES)
def test_deleting_a_topic_drops_its_committed_offsets(single_broker):
    """After DeleteTopics, the group's offsets of that topic are gone from OffsetFetch (all partitions)."""
    from confluent_kafka.admin import AdminClient

    create_topic(single_broker.bootstrap, "doomed", 1)
    create_topic(single_broker.bootstrap, "kept", 1)
    produce_round_robin(single_broker.bootstrap, "doomed", 3, 1)
    produce_round_robin(single_broker.bootstrap, "kept", 3, 1)
    consume_in_group(single_broker.bootstrap, "doomed", "del-group", 3)
    consume_in_group(single_broker.bootstrap, "kept", "del-group", 3)
    admin = AdminClient({"bootstrap.servers": single_broker.bootstrap})
    admin.delete_topics(["doomed"], operation_timeout=30)["doomed"].result(timeout=60)

    def committed_topics():
        with WireClient(single_broker.bootstrap) as client:
            response = client.request(ApiKey.OFFSET_FETCH, 7, {"group_id": "del-group", "topics": None,
                                                               "require_stable": False})
        return sorted(t["name"] for t in response["topics"])
    wait_until(lambda: committed_topics() == ["kept"], 30, interval=0.2, message="offsets of the deleted topic gone")
