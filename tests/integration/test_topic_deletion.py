"""Topic deletion that finishes correctly, and topic ids, on a real 3-broker cluster.

A topic deleted while one of its brokers is down waits for it (Kafka's ineligible
replicas) and completes when it returns, which deletes its copy; the same name created
again starts empty and has another id in Metadata (v10+, read by confluent-kafka). A
broker that was down while its replica was moved away and the topic was deleted and
created again finds its old directory stray at start-up and never serves those records.
"""

import json

import pytest

from tests.integration.replication_support import create_topic, zk_exists, zk_get, zk_write
from tests.support.clients import read_from_start
from tests.support.cluster import wait_until

OVERRIDES = {"auto.leader.rebalance.enable": "false", "replica.lag.time.max.ms": "3000"}


def produce(bootstrap, topic, values):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for value in values:
        producer.produce(topic, value=value, partition=0)
    assert producer.flush(30) == 0


def delete_topic(bootstrap, topic):
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: the futures die with their client
    futures = admin.delete_topics([topic], operation_timeout=1)
    try:
        futures[topic].result(10)
    except Exception:  # noqa: BLE001 -- a deletion waiting for a broker times out; ZooKeeper tells the rest
        pass


def topic_id(bootstrap, topic):
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.describe_topics(TopicCollection([topic]))
    # librdkafka prints ids in standard base64, Kafka (and the znode) in the URL-safe alphabet.
    return str(futures[topic].result(10).topic_id).replace("+", "-").replace("/", "_")


def replica_dir(cluster, broker_id, topic, partition=0):
    return cluster.broker(broker_id).log_dir / ("%s-%d" % (topic, partition))


@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_deletion_waits_for_a_stopped_broker_and_the_topic_created_again_starts_empty(cluster):
    """Broker 3 down: the deletion waits; back: its copy goes, the topic vanishes; created again: empty, new id."""
    zk = cluster.zk_connect
    topic = "reborn"
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2, 3]])
    produce(cluster.bootstrap, topic, [b"old-%d" % i for i in range(50)])
    old_id = topic_id(cluster.bootstrap, topic)
    assert old_id and old_id != "AAAAAAAAAAAAAAAAAAAAAA"
    assert json.loads(zk_get(zk, "/brokers/topics/" + topic))["topic_id"] == old_id
    assert (replica_dir(cluster, 1, topic) / "partition.metadata").read_text() == "version: 0\ntopic_id: %s\n" % old_id
    wait_until(lambda: replica_dir(cluster, 3, topic).exists(), 20, message="broker 3's replica")

    cluster.broker(3).stop()
    wait_until(lambda: not cluster.broker(3).is_registered(), 30, message="broker 3 gone")
    delete_topic(cluster.bootstrap, topic)
    wait_until(lambda: not replica_dir(cluster, 1, topic).exists() and not replica_dir(cluster, 2, topic).exists(),
               20, message="brokers 1 and 2 deleted their replicas")
    assert zk_exists(zk, "/brokers/topics/" + topic), "the deletion must wait for broker 3"
    assert zk_exists(zk, "/admin/delete_topics/" + topic)

    cluster.broker(3).start().wait_ready()
    wait_until(lambda: not zk_exists(zk, "/brokers/topics/" + topic), 30, message="the deletion completed")
    assert not zk_exists(zk, "/admin/delete_topics/" + topic)
    wait_until(lambda: not replica_dir(cluster, 3, topic).exists(), 20, message="broker 3 deleted its replica")

    create_topic(cluster.bootstrap, topic, assignment=[[3, 1, 2]])
    produce(cluster.bootstrap, topic, [b"new-%d" % i for i in range(5)])
    assert [value for _, value in read_from_start(cluster.bootstrap, topic, 5, drain_s=1.0)] == \
        [b"new-%d" % i for i in range(5)]
    assert topic_id(cluster.bootstrap, topic) not in (old_id, "AAAAAAAAAAAAAAAAAAAAAA")


@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_a_returning_broker_drops_the_log_of_a_topic_deleted_and_created_again(cluster):
    """Broker 3's replica moved away and the topic recreated on it while it was down: its old log never serves."""
    zk = cluster.zk_connect
    topic = "stray"
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2, 3]])
    produce(cluster.bootstrap, topic, [b"old-%d" % i for i in range(30)])
    wait_until(lambda: replica_dir(cluster, 3, topic).exists(), 20, message="broker 3's replica")
    cluster.broker(3).stop()
    wait_until(lambda: not cluster.broker(3).is_registered(), 30, message="broker 3 gone")

    # The removed replica's broker is down: the move completes without it, which leaves its directory.
    zk_write(zk, "/admin/reassign_partitions", json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [1, 2]}]}).encode())
    wait_until(lambda: json.loads(zk_get(zk, "/brokers/topics/" + topic))["partitions"] == {"0": [1, 2]}, 30,
               message="the replica moved off broker 3")
    delete_topic(cluster.bootstrap, topic)
    wait_until(lambda: not zk_exists(zk, "/brokers/topics/" + topic), 30, message="the deletion completed")
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2]])
    produce(cluster.bootstrap, topic, [b"new-0"])
    assert replica_dir(cluster, 3, topic).exists()

    cluster.broker(3).start().wait_ready()
    assert not replica_dir(cluster, 3, topic).exists()
    assert "deleted the stray log stray-0: topic stray was created again" in cluster.broker(3).log_text()
    zk_write(zk, "/admin/reassign_partitions", json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [3, 1, 2]}]}).encode())
    wait_until(lambda: json.loads(zk_get(zk, "/brokers/topics/" + topic))["partitions"] == {"0": [3, 1, 2]}, 30,
               message="the partition moved back onto broker 3")
    three = cluster.broker(3).bootstrap
    assert [value for _, value in read_from_start(three, topic, 1, drain_s=1.0)] == [b"new-0"]


@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_a_topic_written_by_hand_in_kafka_0_9_json_gets_an_id_and_leaders(cluster):
    """``kafka-topics --zookeeper`` of 0.9 wrote version 1 without an id: the controller adds one, leaders follow."""
    zk = cluster.zk_connect
    zk_write(zk, "/config/topics/handmade", b'{"version":1,"config":{"retention.ms":"3600000"}}')
    zk_write(zk, "/brokers/topics/handmade", b'{"version":1,"partitions":{"0":[2,3],"1":[3,1]}}')
    wait_until(lambda: json.loads(zk_get(zk, "/brokers/topics/handmade")).get("topic_id"), 20,
               message="the controller to give the topic an id")
    znode = json.loads(zk_get(zk, "/brokers/topics/handmade"))
    assert znode["partitions"] == {"0": [2, 3], "1": [3, 1]} and znode["version"] == 3
    produce(cluster.bootstrap, "handmade", [b"by-hand"])
    assert [value for _, value in read_from_start(cluster.bootstrap, "handmade", 1)] == [b"by-hand"]
    assert topic_id(cluster.bootstrap, "handmade") == znode["topic_id"]
