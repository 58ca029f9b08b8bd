"""A former leader's unreplicated tail is truncated by leader epoch when it rejoins, never served.

Broker 1 leads; its followers are frozen for a moment while it appends records with
``acks=1``; then broker 1 is frozen past its session and the followers resume. The
first batch may still reach them (a fetch they sent before freezing is parked in the
leader's purgatory and answered with it), the second cannot: a frozen follower sends
no further fetch. Broker 2 takes over at a new epoch and gets different records. When
broker 1 resumes it becomes a follower, learns from the diverging epoch where the logs
part, truncates there and copies broker 2's records. Made leader again (preferred
election), it serves exactly what broker 2 acknowledged.
"""

import json
import signal

import pytest

from kafkalite.protocol.recordcodec import Record, build_batch
from tests.integration.replication_support import create_topic, wait_for_partition, zk_state, zk_write
from tests.support import wire
from tests.support.clients import read_from_start

SESSION_MS = 4000
OVERRIDES = {"controlled.shutdown.retry.backoff.ms": "200",
             "zookeeper.session.timeout.ms": str(SESSION_MS), "replica.lag.time.max.ms": "10000",
             "auto.leader.rebalance.enable": "false", "min.insync.replicas": "1"}


def read_values(bootstrap, topic, count):
    """The values of partition 0 from offset 0: at least ``count`` within 30 s, then whatever else comes within 1 s."""
    return [value for _, value in read_from_start(bootstrap, topic, count, timeout=30, drain_s=1, batch=100)]


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_former_leader_truncates_its_unreplicated_tail(cluster):
    """Records only the old leader had are gone from it after it rejoins; it serves the new leader's log."""
    topic = "diverge"
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2, 3]])
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1 and len(p.isrs) == 3, "leader 1")
    old_leader = cluster.broker(1).bootstrap
    first = build_batch([Record(None, b"replicated-%d" % i) for i in range(3)])
    assert wire.produce(old_leader, topic, 0, first, acks=-1)["error_code"] == 0

    for broker_id in (2, 3):
        cluster.broker(broker_id).kill(signal.SIGSTOP)
    try:
        maybe = build_batch([Record(None, b"maybe-%d" % i) for i in range(2)])
        assert wire.produce(old_leader, topic, 0, maybe, acks=1)["error_code"] == 0
        lost = build_batch([Record(None, b"unreplicated-%d" % i) for i in range(5)])
        assert wire.produce(old_leader, topic, 0, lost, acks=1)["error_code"] == 0
        cluster.broker(1).kill(signal.SIGSTOP)
    finally:
        for broker_id in (2, 3):
            cluster.broker(broker_id).kill(signal.SIGCONT)
    try:
        survivors = ",".join(cluster.broker(b).bootstrap for b in (2, 3))
        wait_for_partition(survivors, topic, 0, lambda p: p.leader == 2, "broker 2 leading",
                           timeout=SESSION_MS / 1000 + 30)
        kept = build_batch([Record(None, b"new-leader-%d" % i) for i in range(2)])
        assert wire.produce(cluster.broker(2).bootstrap, topic, 0, kept, acks=-1)["error_code"] == 0
    finally:
        cluster.broker(1).kill(signal.SIGCONT)

    # Ask brokers 2 and 3: broker 1's own metadata is stale right after it resumes.
    wait_for_partition(survivors, topic, 0, lambda p: p.leader == 2 and 1 in p.isrs, "broker 1 back in the ISR",
                       timeout=40)
    assert "truncating to" in cluster.broker(1).log_text()
    served_by_2 = read_values(cluster.broker(2).bootstrap, topic, 5)
    assert served_by_2[:3] == [b"replicated-%d" % i for i in range(3)]
    assert served_by_2[-2:] == [b"new-leader-%d" % i for i in range(2)]
    assert not any(v.startswith(b"unreplicated") for v in served_by_2)

    request = {"version": 1, "partitions": [{"topic": topic, "partition": 0}]}
    zk_write(cluster.zk_connect, "/admin/preferred_replica_election", json.dumps(request).encode())
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1, "broker 1 leading again")
    assert zk_state(cluster.zk_connect, topic)["leader"] == 1
    assert read_values(old_leader, topic, len(served_by_2)) == served_by_2
