"""Unclean leader election, honoured per topic, when the only ISR member dies.

Two topics, both on replicas [1, 2]; one allows unclean election. Broker 2 is
stopped until the ISRs shrink to [1] (records it lacks are appended meanwhile),
then broker 1 is killed and broker 2 resumes: only an out-of-sync replica is alive.
The clean topic goes offline (leader -1) and returns with broker 1; the unclean one
elects broker 2 at once.
"""

import signal

import pytest

from kafkalite.protocol.recordcodec import Record, build_batch
from tests.integration.replication_support import create_topic, wait_for_partition, zk_state
from tests.support import wire
from tests.support.cluster import wait_until

OVERRIDES = {"controlled.shutdown.retry.backoff.ms": "200",
             "zookeeper.session.timeout.ms": "8000", "replica.lag.time.max.ms": "1000",
             "auto.leader.rebalance.enable": "false", "unclean.leader.election.enable": "false"}


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_unclean_election_only_for_topics_that_allow_it(cluster):
    """Clean topic: offline until an ISR member returns. Unclean topic: the stale replica leads."""
    clean, unclean = "clean", "unclean"
    create_topic(cluster.bootstrap, clean, assignment=[[1, 2]])
    create_topic(cluster.bootstrap, unclean, assignment=[[1, 2]], configs={"unclean.leader.election.enable": "true"})
    for topic in (clean, unclean):
        wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1 and len(p.isrs) == 2, "ISR [1, 2]")

    cluster.broker(2).kill(signal.SIGSTOP)
    try:
        for topic in (clean, unclean):
            batch = build_batch([Record(b"k", b"only-on-1")])
            assert wire.produce(cluster.broker(1).bootstrap, topic, 0, batch, acks=1)["error_code"] == 0
        wait_until(lambda: all(zk_state(cluster.zk_connect, t)["isr"] == [1] for t in (clean, unclean)), 20,
                   message="both ISRs to shrink to [1]")
        cluster.broker(1).kill(signal.SIGKILL)
    finally:
        cluster.broker(2).kill(signal.SIGCONT)

    survivors = ",".join(cluster.broker(b).bootstrap for b in (2, 3))
    wait_for_partition(survivors, unclean, 0, lambda p: p.leader == 2, "the stale replica elected", timeout=40)
    assert zk_state(cluster.zk_connect, unclean)["isr"] == [2]
    wait_until(lambda: zk_state(cluster.zk_connect, clean)["leader"] == -1, 20, message="the clean topic offline")
    meta = wait_for_partition(survivors, clean, 0, lambda p: p.leader == -1, "no leader in metadata")
    assert meta.replicas == [1, 2]
    assert zk_state(cluster.zk_connect, clean)["isr"] == [1]

    cluster.broker(1).restart()
    wait_for_partition(cluster.bootstrap, clean, 0, lambda p: p.leader == 1, "the ISR member leading again",
                       timeout=40)
