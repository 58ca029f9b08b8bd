"""Fault test of issue 8: a reassignment survives its controller's SIGKILL and loses nothing.

Three brokers on the fault ensemble (``tests/faults/helpers.FAULT_BROKER_DEFAULTS``). A
partition on {a, c} — c the controller — moves to {c, z} while an idempotent ``acks=all``
producer runs. z is frozen first, so the move stops midway (z added, not caught up); the
controller is then SIGKILLed. The new controller resumes the move from the topic znode's
``adding``/``removing`` replicas once z and c are back, every acknowledged record is in the
partition afterwards, and a's replica directory is gone.
"""

import json
import signal

import pytest

from tests.faults.helpers import (
    MARGIN_S,
    SESSION_TIMEOUT_S,
    AckRecorder,
    create_topic,
    read_partition,
    topic_name,
    wait_isr,
)
from tests.support.cluster import wait_until

pytestmark = pytest.mark.slow


def test_a_reassignment_survives_its_controller_being_killed(fault_cluster, zk_view):
    """{a,c} → {c,z} with c the controller, killed midway: resumed, no acknowledged record lost, a's replica deleted."""
    topic = topic_name("reassign")
    controller = wait_until(zk_view.controller, timeout=30, message="a controller")
    a, z = [b for b in (1, 2, 3) if b != controller]
    c = controller
    create_topic(fault_cluster.bootstrap, topic, [[a, c]])
    wait_isr(zk_view, topic, [a, c], timeout=30)
    producer = AckRecorder(fault_cluster.bootstrap, topic, rate=300)
    producer.start()
    try:
        wait_until(lambda: producer.acked_count() >= 200, 30, message="records acknowledged before the move")
        fault_cluster.broker(z).kill(signal.SIGSTOP)
        try:
            zk_view.client.create("/admin/reassign_partitions", json.dumps({"version": 1, "partitions": [
                {"topic": topic, "partition": 0, "replicas": [c, z], "log_dirs": ["any", "any"]}]}).encode(),
                makepath=True)

            def adding():
                data, _ = zk_view.client.get("/brokers/topics/%s" % topic)
                return json.loads(data).get("adding_replicas") == {"0": [z]}
            wait_until(adding, 20, message="the move started (z being added)")
            fault_cluster.broker(c).kill(signal.SIGKILL)
            wait_until(lambda: zk_view.controller() not in (None, c), SESSION_TIMEOUT_S + MARGIN_S,
                       message="a new controller")
        finally:
            fault_cluster.broker(z).kill(signal.SIGCONT)
        fault_cluster.broker(c).start()
        wait_isr(zk_view, topic, [c, z], timeout=60)
        wait_until(lambda: zk_view.client.exists("/admin/reassign_partitions") is None, 30,
                   message="the reassignment request removed")
        data, _ = zk_view.client.get("/brokers/topics/%s" % topic)
        znode = json.loads(data)
        assert znode["partitions"] == {"0": [c, z]} and not znode["adding_replicas"] and not znode["removing_replicas"]
        moved_at = producer.acked_count()
        wait_until(lambda: producer.acked_count() >= moved_at + 200, 60, message="records acknowledged after the move")
    finally:
        pending = producer.finish()
    assert pending == 0 and not producer.failed
    records = dict(read_partition(fault_cluster.bootstrap, topic))
    lost = [(offset, value) for offset, value in producer.acked if records.get(offset) != value]
    assert not lost, "acknowledged records lost: %s" % lost[:5]
    replica_dir = fault_cluster.broker(a).log_dir / ("%s-0" % topic)
    wait_until(lambda: not replica_dir.exists(), 30, message="broker %d's replica deleted" % a)
