"""Followers replicate through incremental fetch sessions (KIP-227) on a three-broker cluster.

Every follower's fetcher opens one session with each leader (its log says so, with the
session id the leader gave it). A fetcher only sends a full request — which would open
another session, logged again — when it starts over (a failed request, a session error),
so one session per follower and leader after records have gone through means every fetch
that carried them was incremental. The records' arrival is checked as real outcomes:
``acks=all`` with ``min.insync.replicas=3`` succeeds only once both followers have told the
leader they hold them, and every replica's segment file ends up byte-for-byte the leader's.
"""

import re

import pytest

from tests.integration.replication_support import acks_all_producer, create_topic, produce_sync, wait_for_partition
from tests.support.cluster import wait_until

TOPIC = "sessions"
PARTITIONS = 6
RECORDS = 20
OVERRIDES = {"min.insync.replicas": "3", "auto.leader.rebalance.enable": "false"}
STARTED = re.compile(r"fetch session (\d+) with broker (\d+) started for (\d+) partitions")
STARTS_OVER = re.compile(r"fetch session \d+ with broker \d+ starts over")


def sessions_started(broker):
    """``[(session id, leader id), ...]`` in the order ``broker``'s fetchers opened them."""
    return [(int(m.group(1)), int(m.group(2))) for m in STARTED.finditer(broker.log_text())]


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_followers_replicate_through_one_incremental_session_per_leader(cluster):
    """Sessions open once; records produced afterwards reach every follower (acks=all, identical segments)
    without any fetcher starting over."""
    create_topic(cluster.bootstrap, TOPIC, partitions=PARTITIONS, replication_factor=3)
    leaders = {}
    for partition in range(PARTITIONS):
        meta = wait_for_partition(cluster.bootstrap, TOPIC, partition, lambda p: len(p.isrs) == 3, "a full ISR")
        leaders[partition] = meta.leader
    assert len(set(leaders.values())) == 3, leaders  # every broker leads, so every broker follows the other two

    def every_fetcher_has_a_session():
        return all({leader for _, leader in sessions_started(broker)} == set(leaders.values()) - {broker.broker_id}
                   for broker in cluster.brokers)

    wait_until(every_fetcher_has_a_session, 30, message="every fetcher to open a session with its leader")
    opened = {broker.broker_id: sessions_started(broker) for broker in cluster.brokers}

    producer = acks_all_producer(cluster.bootstrap)
    for partition in range(PARTITIONS):
        offsets, failures = produce_sync(producer, TOPIC, [b"%d-%d" % (partition, i) for i in range(RECORDS)],
                                         partition=partition)
        assert (failures, offsets) == ([], list(range(RECORDS))), partition

    for partition in range(PARTITIONS):
        segment = f"{TOPIC}-{partition}/{0:020d}.log"
        leader_bytes = (cluster.broker(leaders[partition]).log_dir / segment).read_bytes()
        assert leader_bytes
        for broker in cluster.brokers:
            assert (broker.log_dir / segment).read_bytes() == leader_bytes, (partition, broker.broker_id)

    for broker in cluster.brokers:
        assert sessions_started(broker) == opened[broker.broker_id], broker.broker_id
        assert len(opened[broker.broker_id]) == 2, opened
        assert not STARTS_OVER.search(broker.log_text()), broker.broker_id
