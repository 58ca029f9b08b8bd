"""Fault test of issue 3 item 6 (c), the follower side: a SIGKILLed controller's replicas leave every ISR.

Three brokers on a three-node ZooKeeper ensemble, RF=3, ``min.insync.replicas=2``,
``zookeeper.session.timeout.ms=6000``. Kafka's new controller, on failover, moves the replicas
of dead brokers to OfflineReplica (ReplicaStateMachine.startup), which takes them out of the
ISR of partitions they only followed, not just of those they led.
"""

import signal

import pytest

from tests.faults.helpers import MARGIN_S, SESSION_TIMEOUT_S, create_topic, produce_sync, topic_name, wait_isr
from tests.support.cluster import wait_until

pytestmark = pytest.mark.slow


def test_a_dead_controller_leaves_the_isr_of_partitions_it_followed(fault_cluster, zk_view):
    """(c) SIGKILL the controller while it follows a partition (no traffic, so the leader has no lag
    to notice): the new controller takes it out of that partition's ISR within the session
    timeout plus a few seconds, and the leader is unchanged."""
    controller = wait_until(zk_view.controller, timeout=30, message="a controller")
    others = [b for b in (1, 2, 3) if b != controller]
    topic = topic_name("ctlfollower")
    create_topic(fault_cluster.bootstrap, topic, [[others[0], controller, others[1]]])
    wait_isr(zk_view, topic, [1, 2, 3], timeout=30)
    # acks=all: every follower has fetched up to the leader's log end, so afterwards the leader has no
    # reason of its own to shrink the ISR (Kafka 2.8 keeps a follower at the leader's LEO in sync).
    produce_sync(fault_cluster.bootstrap, topic, [b"replicated"])
    fault_cluster.broker(controller).kill(signal.SIGKILL)
    wait_isr(zk_view, topic, others, timeout=SESSION_TIMEOUT_S + MARGIN_S)
    assert zk_view.leader(topic) == others[0]
    assert zk_view.controller() in others
