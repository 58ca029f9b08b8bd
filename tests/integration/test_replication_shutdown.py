"""Controlled shutdown and preferred-replica election on three brokers, with real clients.

SIGTERM makes a leader ask the controller to move its leaderships away before it
stops serving, so an ``acks=all`` producer sees no error. Leadership returns to the
preferred (first) replica on demand through ``/admin/preferred_replica_election``,
or by itself with ``auto.leader.rebalance.enable``.
"""

import json
import threading

import pytest

from tests.integration.replication_support import (
    acks_all_producer,
    create_topic,
    wait_for_partition,
    zk_exists,
    zk_state,
    zk_write,
)
from tests.support.cluster import wait_until

BASE = {"zookeeper.session.timeout.ms": "30000", "replica.lag.time.max.ms": "5000", "min.insync.replicas": "2",
        "controlled.shutdown.retry.backoff.ms": "500"}


class BackgroundProducer:
    """Produces ``acks=all`` records in a thread until stopped; records delivery reports."""

    def __init__(self, bootstrap, topic):
        self.producer = acks_all_producer(bootstrap)
        self.topic = topic
        self.acked = []
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _report(self, error, message):
        if error is not None:
            self.failures.append(error)
        else:
            self.acked.append((message.offset(), message.value()))

    def _run(self):
        sequence = 0
        while not self._stop.is_set():
            self.producer.produce(self.topic, value=b"v-%d" % sequence, partition=0, on_delivery=self._report)
            sequence += 1
            self.producer.poll(0.01)
        while self.producer.flush(1):
            pass

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(90)
        assert not self._thread.is_alive(), "producer did not drain"


def produce_across_controlled_shutdown(cluster, topic, broker_id):
    """Stop ``broker_id`` with SIGTERM while an ``acks=all`` producer writes ``topic``: 50 records acknowledged
    before, 50 after, no delivery failure, and the broker logged a controlled shutdown. Returns the producer."""
    producer = BackgroundProducer(cluster.bootstrap, topic).start()
    try:
        wait_until(lambda: len(producer.acked) >= 50, 30, message="records acknowledged before the shutdown")
        assert cluster.broker(broker_id).stop() == 0
        count = len(producer.acked)
        wait_until(lambda: len(producer.acked) >= count + 50, 30, message="records acknowledged after the shutdown")
    finally:
        producer.stop()
    assert producer.failures == []
    assert "controlled shutdown succeeded" in cluster.broker(broker_id).log_text()
    return producer


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides={**BASE, "auto.leader.rebalance.enable": "false"})
def test_sigterm_of_leader_moves_leadership_and_acks_all_producer_sees_no_error(cluster):
    """A leader stopped with SIGTERM hands leadership to an ISR member first; no produce fails."""
    topic = "controlled"
    create_topic(cluster.bootstrap, topic)
    meta = wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "a full ISR")
    leader = meta.leader
    producer = produce_across_controlled_shutdown(cluster, topic, leader)
    state = zk_state(cluster.zk_connect, topic)
    assert state["leader"] not in (-1, leader) and leader not in state["isr"]
    offsets = sorted(offset for offset, _ in producer.acked)
    assert len(set(offsets)) == len(offsets)


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides={**BASE, "auto.leader.rebalance.enable": "false"})
def test_preferred_replica_election_on_demand(cluster):
    """After the preferred leader comes back, /admin/preferred_replica_election moves leadership to it."""
    topic = "preferred"
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2, 3]])
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1 and len(p.isrs) == 3, "leader 1")
    assert cluster.broker(1).stop() == 0
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 2, "leader 2")
    cluster.broker(1).restart()
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "broker 1 back in the ISR")
    assert zk_state(cluster.zk_connect, topic)["leader"] == 2

    request = {"version": 1, "partitions": [{"topic": topic, "partition": 0}]}
    zk_write(cluster.zk_connect, "/admin/preferred_replica_election", json.dumps(request).encode())
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1, "the preferred leader back")
    wait_until(lambda: not zk_exists(cluster.zk_connect, "/admin/preferred_replica_election"), 10,
               message="the election request to be deleted")
    state = zk_state(cluster.zk_connect, topic)
    assert state["leader"] == 1 and sorted(state["isr"]) == [1, 2, 3]


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides={**BASE, "auto.leader.rebalance.enable": "true",
                                        "leader.imbalance.check.interval.seconds": "1",
                                        "leader.imbalance.per.broker.percentage": "10"})
def test_automatic_preferred_replica_election(cluster):
    """With auto.leader.rebalance.enable, leadership returns to the preferred replica on its own."""
    topic = "rebalance"
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2, 3]])
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1 and len(p.isrs) == 3, "leader 1")
    assert cluster.broker(1).stop() == 0
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 2, "leader 2")
    cluster.broker(1).restart()
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1 and len(p.isrs) == 3,
                       "the preferred leader back without being asked")


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides={**BASE, "auto.leader.rebalance.enable": "false"})
def test_sigterm_of_the_controller_that_leads_moves_leadership_and_control(cluster):
    """The controller shuts down cleanly: it moves its own leaderships first, then another broker takes over."""
    from tests.integration.replication_support import zk_get

    wait_until(lambda: zk_get(cluster.zk_connect, "/controller"), 20, message="a controller")
    controller = json.loads(zk_get(cluster.zk_connect, "/controller"))["brokerid"]
    others = [b.broker_id for b in cluster.brokers if b.broker_id != controller]
    topic = "controller-leads"
    create_topic(cluster.bootstrap, topic, assignment=[[controller, *others]])
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == controller and len(p.isrs) == 3,
                       "the controller leading")
    produce_across_controlled_shutdown(cluster, topic, controller)
    new_controller = wait_until(lambda: zk_get(cluster.zk_connect, "/controller"), 20, message="a new controller")
    assert json.loads(new_controller)["brokerid"] in others
    assert zk_state(cluster.zk_connect, topic)["leader"] == others[0]
