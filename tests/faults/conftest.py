"""Fixtures of the fault tests: a three-node ZooKeeper ensemble and three brokers with short timeouts.

- ``fault_ensemble`` (session scope, one per xdist worker): a 3-node ensemble shared by the
  fault tests (each test gets its own chroot in it, so tests never see each other's znodes).
- ``fault_cluster`` (function scope): 3 brokers on a fresh chroot of ``fault_ensemble`` with
  :data:`~tests.faults.helpers.FAULT_BROKER_DEFAULTS`; ``@pytest.mark.cluster(overrides={...})``
  adds properties. Tests that kill ZooKeeper nodes build their own cluster on
  ``zookeeper_ensemble`` instead.
- ``zk_view``: a :class:`~tests.faults.helpers.ZkView` of ``fault_cluster``'s chroot.

Brokers are stopped by pid in teardown (SIGCONT first, so a SIGSTOPped broker can exit).
"""

import itertools
import re

import pytest

from tests.faults.helpers import FAULT_BROKER_DEFAULTS, ZkView
from tests.support.cluster import Cluster, ZooKeeperChroot

_chroot_counter = itertools.count(1)


@pytest.fixture(scope="session")
def fault_ensemble(tmp_path_factory):
    """A 3-node ZooKeeper ensemble for this worker's fault tests, stopped by pid afterwards."""
    from tests.support.zookeeper import ZooKeeperEnsemble

    ensemble = ZooKeeperEnsemble(tmp_path_factory.mktemp("fault-ensemble"), size=3)
    ensemble.start()
    try:
        yield ensemble
    finally:
        ensemble.stop()


@pytest.fixture
def fault_cluster(request, fault_ensemble, tmp_path):
    """3 started brokers on a fresh chroot of the module's ensemble, stopped after the test."""
    marker = request.node.get_closest_marker("cluster")
    overrides = dict(marker.kwargs.get("overrides") or {}) if marker else {}
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)[:50]
    chroot = ZooKeeperChroot(fault_ensemble, f"/faults{next(_chroot_counter)}-{name}").create()
    cluster = Cluster(chroot, tmp_path / "cluster", size=3, overrides={**FAULT_BROKER_DEFAULTS, **overrides})
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def zk_view(fault_cluster):
    """A read-only ZooKeeper view of ``fault_cluster``."""
    view = ZkView(fault_cluster.zk_connect)
    try:
        yield view
    finally:
        view.close()
