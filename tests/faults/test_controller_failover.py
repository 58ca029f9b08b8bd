"""Fault test of issue 3 item 6 (c) SIGKILL the controller: control and its leaderships move.

Three brokers on a three-node ZooKeeper ensemble, RF=3, ``min.insync.replicas=2``,
``zookeeper.session.timeout.ms=6000``, ``replica.lag.time.max.ms=3000`` (see
``tests/faults/helpers.FAULT_BROKER_DEFAULTS``); leadership and ISRs are read from the
partition state znodes, records produced and read back with confluent-kafka.
"""

import signal
import time

import pytest

from tests.faults.helpers import (
    MARGIN_S,
    SESSION_TIMEOUT_S,
    create_topic,
    metadata_partition,
    produce_sync,
    topic_name,
    wait_isr,
    wait_leader,
)
from tests.support.cluster import wait_until

pytestmark = pytest.mark.slow


def test_killing_the_controller_moves_control_and_its_leaderships(fault_cluster, zk_view):
    """(c) SIGKILL the controller: another broker becomes controller, and every partition the dead
    broker led gets a new leader within the session timeout plus a few seconds; clients see it."""
    topic = topic_name("controller")
    create_topic(fault_cluster.bootstrap, topic, [[1, 2, 3], [2, 3, 1], [3, 1, 2]])
    for partition in range(3):
        wait_isr(zk_view, topic, [1, 2, 3], timeout=30, partition=partition)
    controller = wait_until(zk_view.controller, timeout=30, message="a controller")
    led = [p for p in range(3) if zk_view.leader(topic, p) == controller]
    assert led, f"controller {controller} leads none of {topic}'s partitions"
    epochs = {p: zk_view.state(topic, p)["leader_epoch"] for p in led}
    fault_cluster.broker(controller).kill(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: zk_view.controller() not in (None, controller), timeout=SESSION_TIMEOUT_S + MARGIN_S,
               message=f"a controller other than the killed {controller}")
    for partition in led:
        remaining = max(0.5, SESSION_TIMEOUT_S + MARGIN_S - (time.monotonic() - killed_at))
        new_leader = wait_leader(zk_view, topic, lambda b: b > 0 and b != controller, remaining,
                                  partition=partition, what="a leader other than the dead controller")
        state = zk_view.state(topic, partition)
        assert state["leader_epoch"] > epochs[partition]
        assert controller not in state["isr"] and new_leader in state["isr"]
    survivors = ",".join(b.bootstrap for b in fault_cluster.brokers if b.broker_id != controller)
    for partition in led:
        wait_until(lambda p=partition: (metadata_partition(survivors, topic, p) or (-1,))[0]
                   == zk_view.leader(topic, p), timeout=15,
                   message=f"Metadata to show the new leader of partition {partition}")
        acked = produce_sync(survivors, topic, [b"after-failover"], partition=partition, timeout=20)
        assert len(acked) == 1
