"""Racks: rack-aware replica assignment and fetching from the follower in the consumer's rack (KIP-392)."""

import re
import urllib.request

import pytest

from kafkalite.config import RACK_AWARE_REPLICA_SELECTOR
from tests.support.clients import create_topic, partition_metadata
from tests.support.cluster import Cluster, wait_until

RACKS = {1: "rack-a", 2: "rack-b", 3: "rack-c"}


def _racked_cluster(zookeeper, workdir, racks, overrides=None):
    cluster = Cluster(zookeeper, workdir, size=3, metrics=True,
                      overrides={"zookeeper.session.timeout.ms": "6000", **(overrides or {})})
    for broker in cluster.brokers:
        rack = racks.get(broker.broker_id)
        if rack is not None:
            broker.overrides["broker.rack"] = rack
    return cluster.start()


def _bytes_out(broker, topic):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % broker.metrics_port, timeout=10).read().decode()
    pattern = r'^kafka_server_brokertopicmetrics_bytesout_total\{topic="%s"\} (\S+)$' % re.escape(topic)
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0


def _produce(bootstrap, topic, count):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        producer.produce(topic, value=b"value-%d" % i, partition=0)
    assert producer.flush(30) == 0


def _consume(bootstrap, topic, count, rack):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "racked-" + rack, "client.rack": rack,
                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        values = []
        while len(values) < count:
            message = consumer.poll(30)
            assert message is not None, "no record within 30 s after %d" % len(values)
            assert message.error() is None, message.error()
            values.append(message.value())
        return values
    finally:
        consumer.close()


def test_consumer_reads_from_the_follower_in_its_rack(zookeeper, tmp_path):
    """With Kafka's RackAwareReplicaSelector a consumer in rack-b fetches from broker 2, the follower there;
    leader 1 and the rack-c follower serve it nothing."""
    cluster = _racked_cluster(zookeeper, tmp_path / "c", RACKS,
                              {"replica.selector.class": RACK_AWARE_REPLICA_SELECTOR})
    try:
        create_topic(cluster.bootstrap, "nearby", assignment=[[1, 2, 3]])
        _produce(cluster.bootstrap, "nearby", 200)
        values = _consume(cluster.bootstrap, "nearby", 200, "rack-b")
        assert values == [b"value-%d" % i for i in range(200)]
        assert _bytes_out(cluster.broker(2), "nearby") > 0
        assert _bytes_out(cluster.broker(1), "nearby") == 0
        assert _bytes_out(cluster.broker(3), "nearby") == 0
        # a consumer in the leader's rack (or no rack) stays on the leader
        assert len(_consume(cluster.bootstrap, "nearby", 200, "rack-a")) == 200
        assert _bytes_out(cluster.broker(1), "nearby") > 0
    finally:
        cluster.stop()


def test_without_a_selector_consumers_read_from_leaders(zookeeper, tmp_path):
    """No replica.selector.class (Kafka's default): the leader serves every consumer, whatever its rack."""
    cluster = _racked_cluster(zookeeper, tmp_path / "c", RACKS)
    try:
        create_topic(cluster.bootstrap, "faraway", assignment=[[1, 2, 3]])
        _produce(cluster.bootstrap, "faraway", 50)
        assert len(_consume(cluster.bootstrap, "faraway", 50, "rack-b")) == 50
        assert _bytes_out(cluster.broker(1), "faraway") > 0
        assert _bytes_out(cluster.broker(2), "faraway") == 0
    finally:
        cluster.stop()


def test_rack_aware_assignment(zookeeper, tmp_path):
    """Every broker has a rack: each partition's replicas are in distinct racks, for new topics, auto-created
    ones and added partitions alike."""
    from confluent_kafka.admin import AdminClient, NewPartitions

    racks = {1: "rack-a", 2: "rack-a", 3: "rack-b"}
    cluster = _racked_cluster(zookeeper, tmp_path / "c", racks,
                              {"num.partitions": "4", "default.replication.factor": "2"})
    try:
        create_topic(cluster.bootstrap, "spread", partitions=6, replication_factor=2)
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_partitions([NewPartitions("spread", 9)], operation_timeout=30)["spread"].result(timeout=60)
        _produce(cluster.bootstrap, "auto-spread", 1)  # auto-created: num.partitions 4, replication factor 2
        for topic, count in (("spread", 9), ("auto-spread", 4)):
            for partition in range(count):
                replicas = partition_metadata(cluster.bootstrap, topic, partition).replicas
                assert len({racks[b] for b in replicas}) == 2, (topic, partition, replicas)
    finally:
        cluster.stop()


def test_mixed_racks_refuse_assignment(zookeeper, tmp_path):
    """Some brokers with a rack and some without: CreateTopics answers INVALID_REPLICATION_FACTOR, as the
    admin tools' rack-aware mode does."""
    from confluent_kafka import KafkaException

    cluster = _racked_cluster(zookeeper, tmp_path / "c", {1: "rack-a", 2: "rack-b"})
    try:
        with pytest.raises(KafkaException) as caught:
            create_topic(cluster.bootstrap, "mixed", partitions=1, replication_factor=2)
        assert caught.value.args[0].name() == "INVALID_REPLICATION_FACTOR"
        assert "rack" in caught.value.args[0].str()
        # an explicit assignment needs no racks
        create_topic(cluster.bootstrap, "mixed", assignment=[[1, 3]])
        wait_until(lambda: partition_metadata(cluster.bootstrap, "mixed") is not None, 30,
                   message="the explicitly assigned topic")
    finally:
        cluster.stop()
