"""Fault test of issue 3 item 6 (b) a SIGSTOPped follower leaves the ISR and returns after SIGCONT.

Three brokers on a three-node ZooKeeper ensemble, RF=3, ``min.insync.replicas=2``,
``zookeeper.session.timeout.ms=6000``, ``replica.lag.time.max.ms=3000`` (see
``tests/faults/helpers.FAULT_BROKER_DEFAULTS``); leadership and ISRs are read from the
partition state znodes, records produced and read back with confluent-kafka.
"""

import signal

import pytest

from tests.faults.helpers import (
    LAG_TIME_MAX_S,
    MARGIN_S,
    create_topic,
    metadata_partition,
    produce_sync,
    segment_records,
    topic_name,
    wait_isr,
)
from tests.support.cluster import wait_until

pytestmark = pytest.mark.slow


@pytest.mark.cluster(overrides={"zookeeper.session.timeout.ms": "30000"})
def test_a_frozen_follower_leaves_the_isr_and_returns_when_resumed(fault_cluster, zk_view):
    """(b) SIGSTOP a follower and append to the leader: the leader drops the follower from the ISR within
    replica.lag.time.max.ms (plus margin) and acks=all produces go on with the two left; SIGCONT: the
    follower catches up and rejoins the ISR, in ZooKeeper and in Metadata.

    As in Kafka 2.8, a follower is out of sync only when it is behind the leader's log end offset
    for longer than the lag time, hence the acks=1 records after freezing it. The session timeout
    is raised to 30 s here so the follower leaves the ISR for lagging, not because its ZooKeeper
    session expired."""
    topic = topic_name("frozen")
    create_topic(fault_cluster.bootstrap, topic, [[1, 2, 3]])
    wait_isr(zk_view, topic, [1, 2, 3], timeout=30)
    produce_sync(fault_cluster.bootstrap, topic, [b"before-%d" % i for i in range(50)])
    follower = fault_cluster.broker(3)
    follower.kill(signal.SIGSTOP)
    try:
        produce_sync(fault_cluster.bootstrap, topic, [b"unfetched-%d" % i for i in range(50)], acks="1")
        wait_isr(zk_view, topic, [1, 2], timeout=1.5 * LAG_TIME_MAX_S + MARGIN_S)
        assert 3 in zk_view.live_brokers(), "the follower left the ISR only when its session died"
        produce_sync(fault_cluster.bootstrap, topic, [b"during-%d" % i for i in range(50)], timeout=20)
    finally:
        follower.kill(signal.SIGCONT)
    wait_isr(zk_view, topic, [1, 2, 3], timeout=30)
    wait_until(lambda: sorted((metadata_partition(fault_cluster.bootstrap, topic) or (0, [], []))[2]) == [1, 2, 3],
               timeout=30, message="Metadata to report the full ISR")
    wait_until(lambda: len(segment_records(follower.log_dir, topic)) == 150, timeout=30,
               message="the resumed follower to hold all 150 records")
