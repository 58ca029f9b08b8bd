"""Fault test of issue 3 item 6 (a) SIGKILL a partition leader under an acks=all producer, repeatedly.

Three brokers on a three-node ZooKeeper ensemble, RF=3, ``min.insync.replicas=2``,
``zookeeper.session.timeout.ms=6000``, ``replica.lag.time.max.ms=3000`` (see
``tests/faults/helpers.FAULT_BROKER_DEFAULTS``); leadership and ISRs are read from the
partition state znodes, records produced and read back with confluent-kafka.
"""

import signal

import pytest

from tests.faults.helpers import (
    MARGIN_S,
    SESSION_TIMEOUT_S,
    AckRecorder,
    assert_dense,
    create_topic,
    read_partition,
    topic_name,
    wait_isr,
    wait_leader,
)
from tests.support.cluster import wait_until

pytestmark = pytest.mark.slow


def test_killing_the_leader_repeatedly_loses_no_acknowledged_record(fault_cluster, zk_view):
    """(a) SIGKILL the partition leader under an acks=all producer three times, restarting it each time:
    every acknowledged record is read back at its acknowledged offset, and offsets are dense."""
    topic = topic_name("leaderkill")
    create_topic(fault_cluster.bootstrap, topic, [[1, 2, 3]])
    wait_isr(zk_view, topic, [1, 2, 3], timeout=30)
    recorder = AckRecorder(fault_cluster.bootstrap, topic, rate=200)
    recorder.start()
    try:
        wait_until(lambda: recorder.acked_count() >= 100, timeout=30, message="the first acknowledgements")
        for _round in range(3):
            leader = wait_leader(zk_view, topic, lambda b: b > 0, timeout=30, what="a leader")
            victim = fault_cluster.broker(leader)
            victim.kill(signal.SIGKILL)
            wait_leader(zk_view, topic, lambda b, dead=leader: b > 0 and b != dead,
                         timeout=SESSION_TIMEOUT_S + MARGIN_S, what=f"a leader other than the killed {leader}")
            before = recorder.acked_count()
            wait_until(lambda n=before: recorder.acked_count() >= n + 100, timeout=30,
                       message="acknowledgements from the new leader")
            victim.start()
            victim.wait_ready()
            wait_isr(zk_view, topic, [1, 2, 3], timeout=30)
    finally:
        pending = recorder.finish()
    assert pending == 0, f"{pending} records never got a delivery report"
    assert not recorder.failed, f"{len(recorder.failed)} deliveries failed, e.g. {recorder.failed[:3]}"
    records = read_partition(fault_cluster.bootstrap, topic)
    assert_dense(records)
    stored = dict(records)
    lost = [(offset, value) for offset, value in recorder.acked if stored.get(offset) != value]
    assert not lost, f"{len(lost)} acknowledged records not at their offsets, e.g. {lost[:5]}"
    values = [value for _, value in records]
    assert len(values) == len(set(values)), "the idempotent producer's records were duplicated"
