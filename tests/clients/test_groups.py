"""Consumer groups with real clients: confluent-kafka, kafka-python, aiokafka and kcat.

Each test starts one broker on a real ZooKeeper, produces keyed records, consumes them
in a group through the group coordinator, commits, and checks the committed offsets
through the coordinator (OffsetFetch) against the log end offsets.
"""

import asyncio
import subprocess
import time

import pytest

from tests.support.clients import (
    GROUP_OVERRIDES,
    committed_offsets,
    consume_in_group,
    create_topic,
    produce_round_robin,
)
from tests.support.cluster import wait_until

pytestmark = pytest.mark.cluster(size=1, overrides=GROUP_OVERRIDES)


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_confluent_group_consumes_and_commits(broker, assignor):
    """A confluent-kafka group consumer with ``assignor`` reads every record and commits the log end offsets."""
    topic = "groups-%s" % assignor
    create_topic(broker.bootstrap, topic, 3)
    counts = produce_round_robin(broker.bootstrap, topic, 60, 3)
    seen = consume_in_group(broker.bootstrap, topic, "g-" + assignor, 60,
                             {"partition.assignment.strategy": assignor})
    assert sorted(v for _, _, v in seen) == sorted(b"v%d" % i for i in range(60))
    assert committed_offsets(broker.bootstrap, "g-" + assignor, topic, 3) == counts


@pytest.mark.parametrize("assignor", ["range", "roundrobin"])
def test_kafka_python_group_consumer_commits(broker, assignor):
    """kafka-python's group consumer (``assignor``) reads every record and its commit is fetched back."""
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    strategy = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[assignor]
    topic = "kp-" + assignor
    create_topic(broker.bootstrap, topic, 3)
    counts = produce_round_robin(broker.bootstrap, topic, 45, 3)
    consumer = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id="kp-" + assignor,
                             auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
                             heartbeat_interval_ms=500, partition_assignment_strategy=[strategy])
    values = []
    try:
        deadline = time.monotonic() + 60
        while len(values) < 45 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
        consumer.commit()
    finally:
        consumer.close()
    assert sorted(values) == sorted(b"v%d" % i for i in range(45))
    assert committed_offsets(broker.bootstrap, "kp-" + assignor, topic, 3) == counts


def test_aiokafka_group_consumer_commits(broker):
    """aiokafka's group consumer reads every record and commits the log end offsets."""
    from aiokafka import AIOKafkaConsumer

    topic = "aio-groups"
    create_topic(broker.bootstrap, topic, 3)
    counts = produce_round_robin(broker.bootstrap, topic, 30, 3)

    async def run():
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id="aio",
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    session_timeout_ms=6000, heartbeat_interval_ms=500)
        await consumer.start()
        values = []
        try:
            deadline = time.monotonic() + 60
            while len(values) < 30 and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    values.extend(r.value for r in records)
            await consumer.commit()
        finally:
            await consumer.stop()
        return values

    values = asyncio.run(run())
    assert sorted(values) == sorted(b"v%d" % i for i in range(30))
    assert committed_offsets(broker.bootstrap, "aio", topic, 3) == counts


def test_kcat_balanced_consumer(broker, kcat):
    """``kcat -G`` joins a group, reads every record to the end and commits on exit."""
    topic = "kcat-groups"
    create_topic(broker.bootstrap, topic, 2)
    counts = produce_round_robin(broker.bootstrap, topic, 20, 2)
    done = subprocess.run(
        [kcat, "-b", broker.bootstrap, "-G", "kcat-group", "-X", "auto.offset.reset=earliest",
         "-X", "session.timeout.ms=6000", "-e", "-q", "-f", "%p %o %s\\n", topic],
        capture_output=True, timeout=90, check=True)
    lines = done.stdout.decode().split()
    values = sorted(v for v in lines if v.startswith("v"))
    assert values == sorted("v%d" % i for i in range(20))
    wait_until(lambda: committed_offsets(broker.bootstrap, "kcat-group", topic, 2) == counts, 30,
               message="kcat's committed offsets")


def test_confluent_static_membership_survives_restart(broker):
    """A static member (group.instance.id) that restarts within its session keeps its partitions, no rebalance."""
    from confluent_kafka import Consumer

    topic = "static-groups"
    create_topic(broker.bootstrap, topic, 4)
    assigned = {"a": [], "b": []}

    def make(name, instance):
        def on_assign(consumer, partitions):
            assigned[name].append(sorted(p.partition for p in partitions))
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "static",
                             "group.instance.id": instance, "session.timeout.ms": 10000,
                             "heartbeat.interval.ms": 500, "auto.offset.reset": "earliest"})
        consumer.subscribe([topic], on_assign=on_assign)
        return consumer

    a, b = make("a", "instance-a"), make("b", "instance-b")
    try:
        def settled():
            a.poll(0.1)
            b.poll(0.1)
            return assigned["a"] and assigned["b"] and \
                sorted(assigned["a"][-1] + assigned["b"][-1]) == [0, 1, 2, 3]
        wait_until(settled, 60, message="both static members assigned")
        for _ in range(10):  # let a trailing rebalance (if any) show
            a.poll(0.1)
            b.poll(0.1)
        rounds_a = len(assigned["a"])
        before = assigned["b"][-1]
        b.close()
        assigned["b"] = []
        b = make("b", "instance-b")

        def reassigned():
            a.poll(0.1)
            b.poll(0.1)
            return bool(assigned["b"])
        wait_until(reassigned, 30, message="restarted static member assigned")
        for _ in range(10):
            a.poll(0.1)
            b.poll(0.1)
        assert assigned["b"][-1] == before
        assert len(assigned["a"]) == rounds_a, "the other member saw a rebalance"
    finally:
        a.close()
        b.close()
