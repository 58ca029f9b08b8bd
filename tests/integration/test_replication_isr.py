"""ISR shrink and expand on a three-broker cluster, seen through ZooKeeper and client metadata.

A SIGSTOPped follower stops fetching: the leader drops it from the ISR after
``replica.lag.time.max.ms`` (a version-checked write of the state znode, announced
under ``/isr_change_notification``), the controller propagates the new ISR to every
broker's metadata, and an ``acks=all`` producer parked on it completes. SIGCONT: the
follower catches up and the leader adds it back.
"""

import signal
import subprocess

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.recordcodec import Record, build_batch
from tests.integration.replication_support import (
    acks_all_producer,
    create_topic,
    produce_sync,
    wait_for_partition,
    zk_children,
    zk_state,
)
from tests.support import wire
from tests.support.cluster import wait_until

LAG_MS = 2000
OVERRIDES = {"controlled.shutdown.retry.backoff.ms": "200",
             "zookeeper.session.timeout.ms": "30000", "replica.lag.time.max.ms": str(LAG_MS),
             "min.insync.replicas": "2", "auto.leader.rebalance.enable": "false"}


def kcat_metadata(kcat, bootstrap, topic):
    """``kcat -L`` for one topic: lines like ``partition 0, leader 1, replicas: 1,2,3, isrs: 1,2,3``."""
    result = subprocess.run([kcat, "-b", bootstrap, "-L", "-t", topic, "-m", "10"], capture_output=True, text=True,
                            timeout=30, check=True)
    return result.stdout


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_stopped_follower_leaves_isr_and_returns_after_sigcont(cluster, kcat):
    """SIGSTOP a follower: out of the ISR (ZK and metadata), acks=all still succeeds; SIGCONT: back in."""
    topic = "isr-shrink"
    create_topic(cluster.bootstrap, topic)
    meta = wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "a full ISR")
    follower = next(r for r in meta.replicas if r != meta.leader)
    producer = acks_all_producer(cluster.bootstrap)
    offsets, failures = produce_sync(producer, topic, [b"a-%d" % i for i in range(20)])
    assert failures == [] and offsets == list(range(20))
    version_before = zk_state(cluster.zk_connect, topic, with_version=True)[1]

    cluster.broker(follower).kill(signal.SIGSTOP)
    try:
        # Produced while the follower is stopped: parked until the ISR shrinks, then acknowledged.
        offsets, failures = produce_sync(producer, topic, [b"b-%d" % i for i in range(20)])
        assert failures == [] and offsets == list(range(20, 40))
        state, version = zk_state(cluster.zk_connect, topic, with_version=True)
        assert follower not in state["isr"] and state["leader"] == meta.leader
        assert version > version_before
        live = ",".join(b.bootstrap for b in cluster.brokers if b.broker_id != follower)
        wait_for_partition(live, topic, 0, lambda p: follower not in p.isrs and len(p.isrs) == 2,
                           "the stopped follower out of the ISR in metadata")
        wait_until(lambda: not zk_children(cluster.zk_connect, "/isr_change_notification"), 10,
                   message="the controller to consume ISR change notifications")
        shrunk = sorted(r for r in meta.replicas if r != follower)
        listing = kcat_metadata(kcat, live, topic)
        assert f"leader {meta.leader}, replicas: {','.join(map(str, meta.replicas))}, " \
               f"isrs: {','.join(map(str, state['isr']))}" in listing, listing
        assert sorted(state["isr"]) == shrunk
    finally:
        cluster.broker(follower).kill(signal.SIGCONT)

    # ZooKeeper first: the resumed follower's own metadata may still show the ISR from before
    # it was stopped, so asking the whole cluster could pass before the ISR really grew back.
    wait_until(lambda: sorted(zk_state(cluster.zk_connect, topic)["isr"]) == sorted(meta.replicas), 30,
               message="the follower back in the ISR in ZooKeeper")
    wait_for_partition(cluster.broker(meta.leader).bootstrap, topic, 0,
                       lambda p: sorted(p.isrs) == sorted(meta.replicas), "the follower back in the ISR in metadata")
    state = zk_state(cluster.zk_connect, topic)
    assert sorted(state["isr"]) == sorted(meta.replicas) and state["leader"] == meta.leader


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_acks_all_fails_with_not_enough_replicas_when_isr_below_min(cluster):
    """Two followers stopped: ISR shrinks to the leader alone and acks=all gets NOT_ENOUGH_REPLICAS."""
    topic = "isr-min"
    create_topic(cluster.bootstrap, topic)
    meta = wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "a full ISR")
    followers = [r for r in meta.replicas if r != meta.leader]
    for follower in followers:
        cluster.broker(follower).kill(signal.SIGSTOP)
    try:
        # Kafka's rule: a follower at the leader's log end is in sync however long it is silent, so
        # the leader must have something the stopped followers lack.
        leader = cluster.broker(meta.leader).bootstrap
        batch = build_batch([Record(b"k", b"v")])
        assert wire.produce(leader, topic, 0, batch, acks=1)["error_code"] == 0
        wait_until(lambda: zk_state(cluster.zk_connect, topic)["isr"] == [meta.leader], 20,
                   message="the ISR to shrink to the leader")
        result = wire.produce(leader, topic, 0, batch, acks=-1)
        assert result["error_code"] == errors.NotEnoughReplicasError.code
    finally:
        for follower in followers:
            cluster.broker(follower).kill(signal.SIGCONT)
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "the followers back in the ISR")
