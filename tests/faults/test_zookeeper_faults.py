"""Fault test of issue 3 item 6 (d): SIGKILL one ZooKeeper node of three; the cluster keeps serving.

Three brokers on a dedicated three-node ensemble (``zookeeper_ensemble``: these tests kill a
node, so they must not share an ensemble with other tests), RF=3, ``min.insync.replicas=2``,
``zookeeper.session.timeout.ms=6000``. ``test_zookeeper_admin_faults.py`` checks that the
controller, which needs ZooKeeper, also keeps working.
"""

import pytest

from tests.faults.helpers import produce_sync, read_partition, zookeeper_loss_setup

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("victim", ["leader", "follower"])
def test_losing_one_zookeeper_node_of_three_keeps_produce_and_consume_serving(zookeeper_ensemble, tmp_path, victim):
    """(d) SIGKILL one ZooKeeper node (the ensemble's leader, or a follower): the brokers keep their
    sessions (same registration znodes, i.e. broker epochs), and acks=all produces and consumes
    go on at the expected offsets."""
    with zookeeper_loss_setup(zookeeper_ensemble, tmp_path, victim) as (cluster, view, topic, before, registrations):
        after = produce_sync(cluster.bootstrap, topic, [b"after-%d" % i for i in range(20)], timeout=30)
        assert [offset for offset, _ in after] == list(range(20, 40))
        assert read_partition(cluster.bootstrap, topic) == [*before, *after]
        assert {b: view.registration_czxid(b) for b in (1, 2, 3)} == registrations
        assert all(broker.is_running() for broker in cluster.brokers)
