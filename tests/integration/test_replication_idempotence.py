"""Idempotent producers across a leader failover: no duplicates, nothing acknowledged is lost.

The new leader's producer state was rebuilt from the batches it appended as a
follower, so a batch the old leader appended and replicated but never acknowledged
(the producer retries it with the same sequence) is recognised as a duplicate.
"""

import signal
import threading
import time

import pytest

from tests.integration.replication_support import create_topic, wait_for_partition
from tests.support.clients import read_from_start
from tests.support.cluster import wait_until

OVERRIDES = {"controlled.shutdown.retry.backoff.ms": "200",
             "zookeeper.session.timeout.ms": "6000", "replica.lag.time.max.ms": "3000", "min.insync.replicas": "2",
             "auto.leader.rebalance.enable": "false"}


def check_log(records, acked):
    values = [value for _, value in records]
    assert len(values) == len(set(values)), "duplicates in the log"
    assert [offset for offset, _ in records] == list(range(len(records))), "offsets are not dense"
    by_value = {value: offset for offset, value in records}
    for offset, value in acked:
        assert by_value.get(value) == offset, f"acknowledged {value!r} at {offset} not found there"


def kill_leader_while_producing(cluster, topic, produce_one, flush):
    """Produce through a SIGKILL of the leader; returns the (offset, value) pairs acknowledged."""
    meta = wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "a full ISR")
    acked, stop = [], threading.Event()

    def run():
        sequence = 0
        while not stop.is_set():
            produce_one(b"v-%06d" % sequence, acked)
            sequence += 1
            time.sleep(0.002)
        flush()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(acked) >= 200, 30, message="records acknowledged before the kill")
        cluster.broker(meta.leader).kill(signal.SIGKILL)
        count = len(acked)
        wait_until(lambda: len(acked) >= count + 200, 60, message="records acknowledged after the failover")
    finally:
        stop.set()
        thread.join(90)
    assert not thread.is_alive()
    return meta.leader, acked


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_confluent_idempotent_producer_across_leader_sigkill(cluster):
    """librdkafka's idempotent producer keeps going through a failover without duplicates or losses."""
    from confluent_kafka import Producer

    topic = "idempotent-confluent"
    create_topic(cluster.bootstrap, topic)
    producer = Producer({"bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 60000})
    errors = []

    def produce_one(value, acked):
        def report(error, message):
            if error is not None:
                errors.append(error)
            else:
                acked.append((message.offset(), message.value()))
        producer.produce(topic, value=value, partition=0, on_delivery=report)
        producer.poll(0)

    def flush():
        while producer.flush(1):
            pass

    old_leader, acked = kill_leader_while_producing(cluster, topic, produce_one, flush)
    assert errors == []
    cluster.broker(old_leader).restart()
    check_log(read_from_start(cluster.bootstrap, topic, len(acked), drain_s=2), acked)


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_kafka_python_idempotent_producer_across_leader_sigkill(cluster):
    """kafka-python's idempotent producer retrying across a failover leaves no duplicate."""
    from kafka import KafkaProducer

    topic = "idempotent-kafka-python"
    create_topic(cluster.bootstrap, topic)
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, enable_idempotence=True, acks="all",
                             linger_ms=5, retries=1000, retry_backoff_ms=100, request_timeout_ms=10000,
                             delivery_timeout_ms=120000)
    errors = []

    def produce_one(value, acked):
        future = producer.send(topic, value=value, partition=0)
        future.add_callback(lambda meta: acked.append((meta.offset, value)))
        future.add_errback(errors.append)

    def flush():
        producer.flush(120)

    try:
        old_leader, acked = kill_leader_while_producing(cluster, topic, produce_one, flush)
    finally:
        producer.close(10)
    assert errors == []
    cluster.broker(old_leader).restart()
    check_log(read_from_start(cluster.bootstrap, topic, len(acked), drain_s=2), acked)
