"""Fault test of issue 3 item 6 (e) a cut-off leader's unreplicated records are truncated when it rejoins.

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
    produce_sync,
    read_partition,
    segment_records,
    topic_name,
    wait_isr,
    wait_leader,
)
from tests.support.cluster import wait_until

pytestmark = pytest.mark.slow


@pytest.mark.cluster(overrides={"replica.lag.time.max.ms": "10000", "replica.fetch.wait.max.ms": "100"})
def test_a_cut_off_leaders_unreplicated_records_are_truncated(fault_cluster, zk_view):
    """(e) The leader appends acks=1 records its frozen followers never fetch, then is frozen itself;
    the followers resume, one is elected and takes new records; when the old leader resumes it
    truncates its unreplicated tail to the diverging point, and consumers see only the new leader's log.

    replica.lag.time.max.ms is 10 s here so the leader cannot drop its briefly frozen followers
    from the ISR (which would leave no eligible leader once it is gone)."""
    topic = topic_name("truncate")
    create_topic(fault_cluster.bootstrap, topic, [[1, 2, 3]])
    wait_isr(zk_view, topic, [1, 2, 3], timeout=30)
    base = produce_sync(fault_cluster.bootstrap, topic, [b"base-%d" % i for i in range(20)])
    wait_until(lambda: all(len(segment_records(b.log_dir, topic)) == 20 for b in fault_cluster.brokers),
               timeout=20, message="every replica to hold the 20 base records")
    old_leader = fault_cluster.broker(zk_view.leader(topic))
    followers = [b for b in fault_cluster.brokers if b is not old_leader]
    for follower in followers:
        follower.kill(signal.SIGSTOP)
    try:
        # A fetch a follower sent just before it froze is answered (into its socket buffer) as soon
        # as the leader has new data, and the follower would append that on resuming. The leader
        # answers a fetch after replica.fetch.wait.max.ms (100 ms here) at the latest, so after this
        # bounded wait no follower fetch is outstanding and the orphans below reach no follower.
        time.sleep(1.0)
        orphans = produce_sync(old_leader.bootstrap, topic, [b"orphan-%d" % i for i in range(10)], acks="1",
                               timeout=10)
        assert [offset for offset, _ in orphans] == list(range(20, 30))
        old_leader.kill(signal.SIGSTOP)
    finally:
        for follower in followers:
            follower.kill(signal.SIGCONT)
    try:
        follower_ids = {b.broker_id for b in followers}
        new_leader_id = wait_leader(zk_view, topic, lambda b: b in follower_ids,
                                     timeout=SESSION_TIMEOUT_S + MARGIN_S + 5, what="a follower elected leader")
        survivors = ",".join(b.bootstrap for b in followers)
        fresh = produce_sync(survivors, topic, [b"new-%d" % i for i in range(15)], timeout=30)
    finally:
        old_leader.kill(signal.SIGCONT)
    expected = [*base, *fresh]
    assert [offset for offset, _ in fresh] == list(range(20, 35))
    wait_isr(zk_view, topic, [1, 2, 3], timeout=40)
    wait_until(lambda: segment_records(old_leader.log_dir, topic) == expected, timeout=30,
               message=f"the old leader {old_leader.broker_id} to truncate its orphans and copy leader "
                       f"{new_leader_id}'s records")
    records = read_partition(fault_cluster.bootstrap, topic)
    assert records == expected
    assert not any(value.startswith(b"orphan") for _, value in records)
