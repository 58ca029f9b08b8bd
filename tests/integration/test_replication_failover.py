"""Three brokers, RF=3: leadership moves when a leader dies, and acknowledged records survive.

Real clients only: confluent-kafka produces with ``acks=all`` and reads back, librdkafka's
metadata shows leaders and ISRs.
"""

import signal

import pytest

from tests.integration.replication_support import (
    acks_all_producer,
    create_topic,
    produce_sync,
    wait_for_partition,
    zk_state,
)
from tests.support.clients import read_from_start

FAST = {"controlled.shutdown.retry.backoff.ms": "200",
        "zookeeper.session.timeout.ms": "6000", "replica.lag.time.max.ms": "3000",
        "min.insync.replicas": "2", "auto.leader.rebalance.enable": "false"}


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=FAST)
def test_leader_sigkill_moves_leadership_and_keeps_acknowledged_records(cluster):
    """SIGKILL of a partition leader: another ISR member leads at a higher epoch; every acked record reads back."""
    topic = "failover"
    create_topic(cluster.bootstrap, topic)
    meta = wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "a full ISR")
    producer = acks_all_producer(cluster.bootstrap)
    offsets, failures = produce_sync(producer, topic, [b"before-%d" % i for i in range(50)])
    assert failures == [] and offsets == list(range(50))

    old_leader = meta.leader
    epoch_before = zk_state(cluster.zk_connect, topic)["leader_epoch"]
    cluster.broker(old_leader).kill(signal.SIGKILL)
    meta = wait_for_partition(cluster.bootstrap.replace(cluster.broker(old_leader).bootstrap, "").strip(","),
                              topic, 0, lambda p: p.leader not in (-1, old_leader), "a new leader", timeout=40)
    assert old_leader not in meta.isrs
    state = zk_state(cluster.zk_connect, topic)
    assert state["leader"] == meta.leader and state["leader_epoch"] > epoch_before

    offsets, failures = produce_sync(producer, topic, [b"after-%d" % i for i in range(50)])
    assert failures == [] and offsets == list(range(50, 100))

    cluster.broker(old_leader).restart()
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "the old leader back in the ISR",
                       timeout=40)
    records = read_from_start(cluster.bootstrap, topic, 100, group="check-" + topic)
    assert records == [(i, b"before-%d" % i) for i in range(50)] + [(50 + i, b"after-%d" % i) for i in range(50)]
