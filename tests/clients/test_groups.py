"""Consumer groups with real clients: confluent-kafka, kafka-python, aiokafka and kcat.

Each test starts one broker on a real ZooKeeper, produces keyed records, consumes them
in a group through the group coordinator, commits, and checks the committed offsets
through the coordinator (OffsetFetch) against the log end offsets.
"""

import asyncio
import subprocess
import time

import pytest

from tests.support.cluster import wait_until

GROUP_OVERRIDES = {
    "zookeeper.session.timeout.ms": "6000",
    "group.min.session.timeout.ms": "1000",
    "group.initial.rebalance.delay.ms": "0",
}


@pytest.fixture
def broker(zookeeper, tmp_path):
    from tests.support.cluster import Cluster

    cluster = Cluster(zookeeper, tmp_path, size=1, overrides=GROUP_OVERRIDES).start()
    yield cluster.brokers[0]
    cluster.stop()


def create_topic(bootstrap, topic, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=30)
    futures[topic].result(timeout=60)


def produce(bootstrap, topic, count, partitions):
    """Produce ``count`` records spread round-robin over ``partitions``; returns per-partition counts."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    per_partition = {}
    for i in range(count):
        partition = i % partitions
        producer.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=partition)
        per_partition[partition] = per_partition.get(partition, 0) + 1
    assert producer.flush(30) == 0
    return per_partition


def committed_offsets(bootstrap, group, topic, partitions):
    """The group's committed offsets, read back through OffsetFetch."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def consume_confluent(bootstrap, topic, group, count, extra=None):
    """Consume ``count`` records in ``group`` with confluent-kafka, committing synchronously at the end."""
    from confluent_kafka import Consumer

    config = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    config.update(extra or {})
    consumer = Consumer(config)
    consumer.subscribe([topic])
    seen = []
    try:
        deadline = time.monotonic() + 60
        while len(seen) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            seen.append((message.partition(), message.offset(), message.value()))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return seen


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_confluent_group_consumes_and_commits(broker, assignor):
    """A confluent-kafka group consumer with ``assignor`` reads every record and commits the log end offsets."""
    topic = "groups-%s" % assignor
    create_topic(broker.bootstrap, topic, 3)
    counts = produce(broker.bootstrap, topic, 60, 3)
    seen = consume_confluent(broker.bootstrap, topic, "g-" + assignor, 60,
                             {"partition.assignment.strategy": assignor})
    assert sorted(v for _, _, v in seen) == sorted(b"v%d" % i for i in range(60))
    assert committed_offsets(broker.bootstrap, "g-" + assignor, topic, 3) == counts
