"""Fault test of issue 3 item 6 (d), the ZooKeeper side: after one ZooKeeper node of three is
SIGKILLed, the controller still reacts to ZooKeeper changes and topics can still be created.

Three brokers on a dedicated three-node ensemble, RF=3, ``min.insync.replicas=2``,
``zookeeper.session.timeout.ms=6000``.
"""

import signal

import pytest

from tests.faults.helpers import (
    MARGIN_S,
    SESSION_TIMEOUT_S,
    create_topic,
    produce_sync,
    read_partition,
    topic_name,
    wait_isr,
    wait_leader,
    zookeeper_loss_setup,
)
from tests.support.cluster import wait_until

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("victim", ["leader", "follower"])
def test_after_losing_one_zookeeper_node_topics_can_still_be_created(zookeeper_ensemble, tmp_path, victim):
    """(d) SIGKILL one ZooKeeper node: a new topic can still be created right away (Kafka's ZooKeeper
    client waits for the reconnection rather than fail), the controller elects its leader and
    sends LeaderAndIsr (it still watches /brokers/topics after the connection blip), and it serves."""
    with zookeeper_loss_setup(zookeeper_ensemble, tmp_path, victim) as (cluster, view, _topic, _before, _regs):
        second = topic_name("zkloss-new")
        create_topic(cluster.bootstrap, second, [[2, 3, 1]])
        wait_isr(view, second, [1, 2, 3], timeout=30)
        acked = produce_sync(cluster.bootstrap, second, [b"new-%d" % i for i in range(10)], timeout=30)
        assert read_partition(cluster.bootstrap, second) == acked


def test_after_losing_the_zookeeper_leader_a_dead_controller_is_still_replaced(zookeeper_ensemble, tmp_path):
    """(d) SIGKILL the ZooKeeper leader (every broker's connection drops once), then SIGKILL the controller
    broker: the others still watch /controller, so one of them becomes controller and the partitions
    the dead broker led get new leaders within the session timeout plus a few seconds."""
    with zookeeper_loss_setup(zookeeper_ensemble, tmp_path, "leader") as (cluster, view, topic, _before, _regs):
        controller = wait_until(view.controller, timeout=30, message="a controller")
        wait_until(lambda: view.registration_czxid(controller) is not None, timeout=30,
                   message="the controller to be registered")
        cluster.broker(controller).kill(signal.SIGKILL)
        wait_until(lambda: view.controller() not in (None, controller), timeout=SESSION_TIMEOUT_S + MARGIN_S,
                   message=f"a controller other than the killed {controller}")
        wait_leader(view, topic, lambda b: b > 0 and b != controller, timeout=SESSION_TIMEOUT_S + MARGIN_S,
                    what="a leader on a live broker")
