"""Fault test of issue 3 item 6 (f) losing every ISR member: offline, or an unclean election when enabled.

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
    create_topic,
    metadata_partition,
    produce_sync,
    read_partition,
    topic_name,
    wait_isr,
    wait_leader,
)
from tests.support.cluster import wait_until

pytestmark = pytest.mark.slow


def test_losing_every_isr_member_is_offline_unless_unclean_election_is_enabled(fault_cluster, zk_view):
    """(f) A follower is down while records are written, so it is stale and out of the ISR. Then both
    ISR members die and the stale broker comes back: the unclean.leader.election.enable=false topic
    stays offline (no leader), the =true topic elects the stale broker and serves again.

    The stale broker is a follower that is not the controller, so its removal from the ISR is the
    ordinary broker-death path (controller failover is test_controller_failover's subject)."""
    clean, unclean = topic_name("clean"), topic_name("unclean")
    create_topic(fault_cluster.bootstrap, clean, [[1, 2, 3]], {"unclean.leader.election.enable": "false"})
    create_topic(fault_cluster.bootstrap, unclean, [[1, 2, 3]], {"unclean.leader.election.enable": "true"})
    for topic in (clean, unclean):
        wait_isr(zk_view, topic, [1, 2, 3], timeout=30)
        produce_sync(fault_cluster.bootstrap, topic, [b"early-%d" % i for i in range(10)])
    controller = wait_until(zk_view.controller, timeout=30, message="a controller")
    stale_id = 3 if controller != 3 else 2
    others = [b for b in (1, 2, 3) if b != stale_id]
    stale = fault_cluster.broker(stale_id)
    stale.kill(signal.SIGKILL)
    for topic in (clean, unclean):
        wait_isr(zk_view, topic, others, timeout=SESSION_TIMEOUT_S + MARGIN_S)
        produce_sync(fault_cluster.bootstrap, topic, [b"late-%d" % i for i in range(10)])
    for broker_id in others:
        fault_cluster.broker(broker_id).kill(signal.SIGKILL)
    wait_until(lambda: not zk_view.live_brokers(), timeout=SESSION_TIMEOUT_S + MARGIN_S,
               message=f"brokers {others} to leave /brokers/ids")
    stale.start()
    stale.wait_ready()
    wait_until(lambda: zk_view.controller() == stale_id, timeout=30,
               message=f"broker {stale_id} to become controller")
    leader = wait_leader(zk_view, unclean, lambda b: b == stale_id, timeout=15,
                         what=f"unclean election of broker {stale_id}")
    assert zk_view.isr(unclean) == [leader]
    # The unclean topic's election shows the controller has run its offline-partition elections.
    state = zk_view.state(clean)
    assert state["leader"] == -1, f"a stale replica was elected with unclean election disabled: {state}"
    assert stale_id not in state["isr"]
    wait_until(lambda: (metadata_partition(stale.bootstrap, clean) or (None,))[0] == -1, timeout=15,
               message="Metadata to report the clean topic without a leader")
    records = read_partition(stale.bootstrap, unclean)
    assert [value for _, value in records] == [b"early-%d" % i for i in range(10)]
    acked = produce_sync(stale.bootstrap, unclean, [b"after-unclean"], acks="1", timeout=20)
    assert acked == [(10, b"after-unclean")]
