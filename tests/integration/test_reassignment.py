"""Partition reassignment on a real 3-broker cluster: from ``/admin/reassign_partitions`` and the Admin API.

A reassignment written by hand in the JSON of Kafka's own tools (0.9's, without
``log_dirs``, and 2.8's, with them) moves a partition {1,2} → {2,3}: the topic znode goes
through ``adding``/``removing`` and ends at the target, the leader moves into it, broker 1
deletes its replica, the request znode is removed and every record is still there.
Requests naming a dead broker or an unknown partition fail alone and never block the
next one. kafka-python's KafkaAdminClient reassigns, lists and cancels through
AlterPartitionReassignments / ListPartitionReassignments.
"""

import json
import signal

import pytest

from kafkalite.protocol import errors
from tests.integration.replication_support import create_topic, zk_exists, zk_get, zk_write
from tests.support.clients import read_from_start
from tests.support.cluster import wait_until

OVERRIDES = {"auto.leader.rebalance.enable": "false", "replica.lag.time.max.ms": "3000",
             "zookeeper.session.timeout.ms": "20000"}
REASSIGN = "/admin/reassign_partitions"


def topic_znode(zk_connect, topic):
    return json.loads(zk_get(zk_connect, "/brokers/topics/%s" % topic))


def partition_state(zk_connect, topic, partition=0):
    return json.loads(zk_get(zk_connect, "/brokers/topics/%s/partitions/%d/state" % (topic, partition)))


def produce(bootstrap, topic, count, partition=0):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    failures = []
    for i in range(count):
        producer.produce(topic, value=b"v%d" % i, partition=partition,
                         on_delivery=lambda err, _msg: err and failures.append(err))
    producer.flush(30)
    assert not failures


def wait_reassigned(cluster, topic, partition, target, timeout=60):
    """Until the topic znode holds exactly ``target`` for the partition, with nothing adding or removing."""
    zk = cluster.zk_connect

    def done():
        znode = topic_znode(zk, topic)
        return (znode["partitions"][str(partition)] == target and not znode.get("adding_replicas")
                and not znode.get("removing_replicas"))
    wait_until(done, timeout, message="%s-%d reassigned to %s (znode %s)" % (
        topic, partition, target, zk_get(zk, "/brokers/topics/%s" % topic)))


def replica_dir(cluster, broker_id, topic, partition=0):
    return cluster.broker(broker_id).log_dir / ("%s-%d" % (topic, partition))


@pytest.mark.cluster(size=3, overrides=OVERRIDES)
@pytest.mark.parametrize("kafka_json", ["0.9", "2.8"])
def test_a_hand_written_reassignment_moves_the_partition(cluster, kafka_json):
    """{1,2} → {2,3} from the znode Kafka's tool writes: moved, led from the target, old replica deleted."""
    zk = cluster.zk_connect
    topic = "moved-" + kafka_json.replace(".", "")
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2]])
    produce(cluster.bootstrap, topic, 500)
    wait_until(lambda: replica_dir(cluster, 1, topic).exists(), 20, message="broker 1's replica")

    entry = {"topic": topic, "partition": 0, "replicas": [2, 3]}
    if kafka_json == "2.8":
        entry["log_dirs"] = ["any", "any"]
    zk_write(zk, REASSIGN, json.dumps({"version": 1, "partitions": [entry]}).encode())

    wait_reassigned(cluster, topic, 0, [2, 3])
    wait_until(lambda: not zk_exists(zk, REASSIGN), 20, message="the request znode removed")
    state = partition_state(zk, topic)
    assert state["leader"] in (2, 3)
    wait_until(lambda: sorted(partition_state(zk, topic)["isr"]) == [2, 3], 20, message="ISR {2,3}")
    wait_until(lambda: not replica_dir(cluster, 1, topic).exists(), 20, message="broker 1's replica deleted")
    assert replica_dir(cluster, 3, topic).exists()
    values = [value for _, value in read_from_start(cluster.bootstrap, topic, 500)]
    assert values == [b"v%d" % i for i in range(500)]


@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_bad_requests_fail_alone_and_do_not_block_the_next(cluster):
    """A dead broker and an unknown partition are refused; the good partition moves; the next request runs."""
    zk = cluster.zk_connect
    topic = "partly"
    create_topic(cluster.bootstrap, topic, partitions=2, assignment=[[1, 2], [1, 2]])
    zk_write(zk, REASSIGN, json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [2, 3]},
        {"topic": topic, "partition": 1, "replicas": [2, 9]},
        {"topic": "no-such-topic", "partition": 0, "replicas": [1]},
    ]}).encode())
    wait_reassigned(cluster, topic, 0, [2, 3])
    wait_until(lambda: not zk_exists(zk, REASSIGN), 20, message="the request znode removed")
    assert topic_znode(zk, topic)["partitions"]["1"] == [1, 2]
    controller_log = "\n".join(b.log_text() for b in cluster.brokers)
    assert "reassignment of partly-1 to [2, 9] refused: INVALID_REPLICA_ASSIGNMENT" in controller_log
    assert "reassignment of no-such-topic-0 to [1] refused: UNKNOWN_TOPIC_OR_PARTITION" in controller_log

    zk_write(zk, REASSIGN, json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 1, "replicas": [3, 1]}]}).encode())
    wait_reassigned(cluster, topic, 1, [3, 1])
    wait_until(lambda: not zk_exists(zk, REASSIGN), 20, message="the second request znode removed")


@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_kafka_python_admin_reassigns_lists_and_cancels(cluster):
    """AlterPartitionReassignments moves a partition; a stuck one is listed with adding/removing and cancelled."""
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient

    zk = cluster.zk_connect
    topic = "api-moved"
    wait_until(lambda: zk_exists(zk, "/controller"), 20, message="a controller")
    controller = json.loads(zk_get(zk, "/controller"))["brokerid"]
    # The broker frozen below must not be the controller, which answers the requests.
    stay, frozen = [b for b in (1, 2, 3) if b != controller]
    create_topic(cluster.bootstrap, topic, partitions=2, assignment=[[controller, stay], [controller, stay]])
    produce(cluster.bootstrap, topic, 100)
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        result = admin.alter_partition_reassignments({TopicPartition(topic, 0): [frozen, stay]})
        assert result == {TopicPartition(topic, 0): None}
        wait_reassigned(cluster, topic, 0, [frozen, stay])
        assert admin.list_partition_reassignments() == {}

        refused = admin.alter_partition_reassignments({TopicPartition(topic, 1): [stay, 7],
                                                       TopicPartition("nope", 0): [1]})
        assert refused[TopicPartition(topic, 1)].errno == errors.InvalidReplicaAssignmentError.code
        assert refused[TopicPartition("nope", 0)].errno == errors.UnknownTopicOrPartitionError.code
        nothing = admin.alter_partition_reassignments({TopicPartition(topic, 1): None})
        assert nothing[TopicPartition(topic, 1)].errno == errors.NoReassignmentInProgressError.code

        # A frozen broker (still registered): a move onto it cannot finish; it is listed, then cancelled.
        cluster.broker(frozen).kill(signal.SIGSTOP)
        try:
            assert admin.alter_partition_reassignments({TopicPartition(topic, 1): [stay, frozen]}) == {
                TopicPartition(topic, 1): None}
            assert admin.list_partition_reassignments() == {TopicPartition(topic, 1): {
                "replicas": [stay, frozen, controller], "adding_replicas": [frozen],
                "removing_replicas": [controller]}}
            assert topic_znode(zk, topic)["adding_replicas"] == {"1": [frozen]}
            assert admin.alter_partition_reassignments({TopicPartition(topic, 1): None}) == {
                TopicPartition(topic, 1): None}
            assert admin.list_partition_reassignments() == {}
        finally:
            cluster.broker(frozen).kill(signal.SIGCONT)
        # As in Kafka, a cancelled reassignment's replicas keep the order they had while it ran.
        wait_reassigned(cluster, topic, 1, [stay, controller])
        wait_until(lambda: not replica_dir(cluster, frozen, topic, 1).exists(), 20,
                   message="the cancelled replica deleted")
        values = [value for _, value in read_from_start(cluster.bootstrap, topic, 100)]
        assert values == [b"v%d" % i for i in range(100)]
    finally:
        admin.close()
