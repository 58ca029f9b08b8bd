"""Replication throttles on a real 3-broker cluster: a throttled move keeps to its rate, producers keep going.

Set up as Kafka's ``kafka-reassign-partitions --execute --throttle`` does it, by hand in
ZooKeeper: each broker's ``/config/brokers/<id>`` gets ``leader.`` and
``follower.replication.throttled.rate``; the moving topic's ``/config/topics/<t>`` gets
``leader.replication.throttled.replicas`` = its current replicas (``p:b``) and
``follower.replication.throttled.replicas`` = the replica being added; a
``/config/changes`` notification names each; then ``/admin/reassign_partitions``.

The move's rate is the bytes copied over the time between the controller's two writes of
the topic znode (the assignment becoming old + target, and the target alone), both taken
from ZooKeeper's own ``mtime``. While the move runs, an ``acks=all`` producer on another
topic led by the same broker and replicated to the same new broker (one fetch session
carries both) keeps getting its acknowledgements quickly. Removing the throttle, as
``--verify`` does, lets the next move run at full speed.
"""

import json
import os
import time

import pytest

from tests.integration.replication_support import acks_all_producer, create_topic
from tests.support.cluster import wait_until
from tests.support.zk_admin import write_entity_config
from tests.support.zookeeper import kazoo_client

OVERRIDES = {"auto.leader.rebalance.enable": "false", "zookeeper.session.timeout.ms": "20000"}
RATE = 4_000_000  # bytes/s, leader and follower alike
RECORD = 10_000
RECORDS = 2_400  # ~24 MB: about 6 s at RATE
REASSIGN = "/admin/reassign_partitions"
THROTTLE_RATES = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")


def fill(bootstrap, topic):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 20,
                         "queue.buffering.max.kbytes": 65536})
    failures = []
    value = os.urandom(RECORD)
    for _ in range(RECORDS):
        producer.produce(topic, value=value, partition=0, on_delivery=lambda err, _msg: err and failures.append(err))
        producer.poll(0)
    assert producer.flush(60) == 0 and not failures


def log_bytes(broker, topic):
    return sum(path.stat().st_size for path in (broker.log_dir / f"{topic}-0").glob("*.log"))


def broker_logs_say(cluster, broker_ids, text):
    return all(text in cluster.broker(b).log_text() for b in broker_ids)


def move(zk, topic, target, on_tick=lambda: None, timeout=40):
    """Reassign ``topic``-0 to ``target``; ``(seconds between the controller's two topic znode writes,
    ticks)``, calling ``on_tick`` about every 50 ms while the move runs."""
    path = "/brokers/topics/" + topic
    before = zk.get(path)[1].mtime
    zk.create(REASSIGN, json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": target}]}).encode())
    started = None
    deadline = time.monotonic() + timeout
    while True:
        data, stat = zk.get(path)
        znode = json.loads(data)
        moving = bool(znode.get("adding_replicas") or znode.get("removing_replicas"))
        if moving and started is None:
            started = stat.mtime
        if not moving and stat.mtime != before:
            assert znode["partitions"]["0"] == target, znode
            assert started is not None, "the move was never seen running"
            wait_until(lambda: not zk.exists(REASSIGN), 10, message="the request znode removed")
            return (stat.mtime - started) / 1000.0
        assert time.monotonic() < deadline, "%s-0 still moving to %s: %s" % (topic, target, znode)
        on_tick()
        time.sleep(0.05)


@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_a_throttled_move_keeps_to_its_rate_and_does_not_starve_producers(cluster):
    bootstrap = cluster.bootstrap
    create_topic(bootstrap, "big", assignment=[[1, 2]])
    create_topic(bootstrap, "live", assignment=[[1, 3]])
    fill(bootstrap, "big")
    size = log_bytes(cluster.broker(1), "big")
    assert size >= RECORDS * RECORD

    with kazoo_client(cluster.zk_connect) as zk:
        # kafka-reassign-partitions --throttle RATE, for {1,2} -> {1,3}
        for broker_id in (1, 2, 3):
            write_entity_config(zk, "brokers/%d" % broker_id, {key: str(RATE) for key in THROTTLE_RATES}, notify=True)
        write_entity_config(zk, "topics/big", {"leader.replication.throttled.replicas": "0:1,0:2",
                                               "follower.replication.throttled.replicas": "0:3"}, notify=True)
        wait_until(lambda: broker_logs_say(cluster, (1, 2), "replication throttles: leader {'big': [0]} at %d B/s"
                                           % RATE), 20, message="brokers 1 and 2 throttle big-0 as leaders")
        wait_until(lambda: broker_logs_say(cluster, (3,), "follower {'big': [0]} at %d B/s" % RATE), 20,
                   message="broker 3 throttles big-0 as a follower")

        producer = acks_all_producer(bootstrap)
        latencies, failures, sent = [], [], {}

        def delivered(err, msg):
            if err is not None:
                failures.append(err)
            else:
                latencies.append(time.monotonic() - sent[msg.value()])

        def produce_one():
            value = b"%d" % len(sent)
            sent[value] = time.monotonic()
            producer.produce("live", value=value, partition=0, on_delivery=delivered)
            producer.poll(0)

        elapsed = move(zk, "big", [1, 3], on_tick=produce_one)
        assert producer.flush(30) == 0 and not failures
        copied = log_bytes(cluster.broker(3), "big")
        assert copied == size
        rate = copied / elapsed
        assert rate <= RATE * 1.3, "moved %d bytes in %.2f s: %.0f B/s over the %d B/s throttle" % (
            copied, elapsed, rate, RATE)
        assert elapsed >= 2, "the move took %.2f s: was it throttled at all?" % elapsed
        # the producer on the same leader and follower was served all along
        assert len(latencies) == len(sent) >= 20
        assert max(latencies) < 2.0, sorted(latencies)[-5:]

        # kafka-reassign-partitions --verify: the throttles go; the next move is not held back
        for broker_id in (1, 2, 3):
            write_entity_config(zk, "brokers/%d" % broker_id, {}, notify=True)
        write_entity_config(zk, "topics/big", {}, notify=True)
        wait_until(lambda: broker_logs_say(cluster, (1, 2, 3), "replication throttles: leader none at unbounded B/s, "
                                           "follower none at unbounded B/s"), 20, message="throttles removed")
        elapsed = move(zk, "big", [1, 2])
        assert log_bytes(cluster.broker(2), "big") == size
        assert size / elapsed > RATE * 2, "unthrottled, %d bytes took %.2f s" % (size, elapsed)
