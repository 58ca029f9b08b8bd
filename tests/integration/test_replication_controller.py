"""Controller failover: a controller that loses its ZooKeeper session resigns; another takes over.

The controller is SIGSTOPped past its session timeout: its ephemeral nodes vanish,
another broker wins ``/controller`` at a higher ``/controller_epoch``, moves the
partitions the frozen broker led and keeps serving. On SIGCONT the old controller
finds its session expired, resigns, registers again and rejoins as an ordinary
broker; the new controller still reacts to changes (a leader killed afterwards is
replaced).
"""

import json
import signal

import pytest

from tests.integration.replication_support import create_topic, wait_for_partition, zk_get, zk_state
from tests.support.cluster import wait_until

SESSION_MS = 4000
OVERRIDES = {"controlled.shutdown.retry.backoff.ms": "200",
             "zookeeper.session.timeout.ms": str(SESSION_MS), "replica.lag.time.max.ms": "3000",
             "auto.leader.rebalance.enable": "false"}


def controller(zk_connect):
    data = zk_get(zk_connect, "/controller")
    return json.loads(data)["brokerid"] if data else None


def controller_epoch(zk_connect):
    return int(zk_get(zk_connect, "/controller_epoch"))


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_controller_losing_its_session_resigns_and_a_new_one_takes_over(cluster):
    """Frozen controller: a new controller with a higher epoch moves its leaderships; the old one resigns."""
    zk = cluster.zk_connect
    wait_until(lambda: controller(zk) is not None, 20, message="a controller")
    old = controller(zk)
    epoch = controller_epoch(zk)
    topic = "ctl"
    others = [b.broker_id for b in cluster.brokers if b.broker_id != old]
    create_topic(cluster.bootstrap, topic, assignment=[[old, *others]])
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == old and len(p.isrs) == 3,
                       "the controller leading")

    cluster.broker(old).kill(signal.SIGSTOP)
    try:
        wait_until(lambda: controller(zk) not in (None, old), SESSION_MS / 1000 + 20, message="a new controller")
        new = controller(zk)
        assert controller_epoch(zk) > epoch
        survivors = ",".join(cluster.broker(b).bootstrap for b in others)
        wait_for_partition(survivors, topic, 0, lambda p: p.leader == others[0], "leadership moved off the old one")
    finally:
        cluster.broker(old).kill(signal.SIGCONT)

    wait_until(lambda: "resigned as controller" in cluster.broker(old).log_text(), 30,
               message="the old controller to resign")
    wait_until(cluster.broker(old).is_registered, 30, message="the old controller to register again")
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "the old controller back in the ISR",
                       timeout=40)
    assert controller(zk) == new

    # The new controller is in charge: kill the current leader and see it replaced.
    cluster.broker(others[0]).kill(signal.SIGKILL)
    if others[0] == new:
        wait_until(lambda: controller(zk) not in (None, new), SESSION_MS / 1000 + 20, message="a third controller")
    remaining = ",".join(cluster.broker(b).bootstrap for b in (old, others[1]))
    wait_for_partition(remaining, topic, 0, lambda p: p.leader in (old, others[1]), "a leader after the kill",
                       timeout=SESSION_MS / 1000 + 30)
    assert zk_state(zk, topic)["leader"] in (old, others[1])
