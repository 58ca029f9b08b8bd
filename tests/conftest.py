"""Shared pytest fixtures and hooks: ZooKeeper, brokers, kcat, failure logs, strict dependencies.

ZooKeeper fixtures (Debian's ZooKeeper, started by ``tests/support/zookeeper.py``):

- ``zookeeper_session_server`` (session scope, one per xdist worker): a standalone server
  shared by the tests of that worker.
- ``zookeeper`` (function scope): a fresh **chroot** (``/t<N>-<test name>``) in the shared
  server, created before the test. Brokers and clients use ``zookeeper.connect_string``
  (``host:port/chroot``), so tests never see each other's znodes and no JVM starts per test.
- ``zookeeper_server`` (function scope): a dedicated standalone server, for tests that stop,
  kill or restart ZooKeeper itself.
- ``zookeeper_ensemble`` (function scope): a dedicated 3-node ensemble.

Broker fixtures (``tests/support/cluster.py``), function scope, started and ready:

- ``cluster``: 3 brokers on ``zookeeper``; ``@pytest.mark.cluster(size=N, overrides={...},
  metrics=True)`` changes the size or properties.
- ``single_broker``: one broker (a :class:`BrokerProcess`); honours the same marker's
  ``overrides``/``metrics``.
- ``kcat``: path of the kcat binary; fails (never skips) when it is missing.

On a failing test the tails of the logs of every broker it started are attached to the
report. Every broker a test started is stopped by pid in teardown, even if the test forgot.
A ``pytest.importorskip`` of a missing module is reported as a failure: a missing
dependency must not turn into a silent skip.
"""

import itertools
import re
import shutil

import pytest

from tests.support import cluster as cluster_support
from tests.support.cluster import BrokerProcess, Cluster, ZooKeeperChroot

_chroot_counter = itertools.count(1)
_LOG_TAIL_LINES = 60


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "cluster(size=3, overrides=None, metrics=False): parameters of the cluster / single_broker fixtures",
    )


def _cluster_marker(request):
    marker = request.node.get_closest_marker("cluster")
    return dict(marker.kwargs) if marker else {}


# --- ZooKeeper -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def zookeeper_session_server(tmp_path_factory):
    """A standalone ZooKeeper shared by this worker's tests (use ``zookeeper`` for a chroot in it)."""
    from tests.support.zookeeper import ZooKeeperServer

    server = ZooKeeperServer(tmp_path_factory.mktemp("zookeeper-shared"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def zookeeper(request, zookeeper_session_server):
    """A fresh chroot in the shared ZooKeeper; ``.connect_string`` is ``host:port/chroot``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)[:60]
    return ZooKeeperChroot(zookeeper_session_server, f"/t{next(_chroot_counter)}-{name}").create()


@pytest.fixture
def zookeeper_server(tmp_path):
    """A dedicated standalone ZooKeeper, stopped by pid after the test."""
    from tests.support.zookeeper import ZooKeeperServer

    server = ZooKeeperServer(tmp_path / "zookeeper")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def zookeeper_ensemble(tmp_path):
    """A dedicated 3-node ZooKeeper ensemble, stopped by pid after the test."""
    from tests.support.zookeeper import ZooKeeperEnsemble

    ensemble = ZooKeeperEnsemble(tmp_path / "zookeeper-ensemble", size=3)
    ensemble.start()
    try:
        yield ensemble
    finally:
        ensemble.stop()


# --- brokers -------------------------------------------------------------------------------


@pytest.fixture
def cluster(request, zookeeper, tmp_path):
    """A started cluster (3 brokers unless ``@pytest.mark.cluster(size=...)``), stopped after the test."""
    options = _cluster_marker(request)
    brokers = Cluster(
        zookeeper,
        tmp_path / "cluster",
        size=options.get("size", 3),
        overrides=options.get("overrides"),
        metrics=options.get("metrics", False),
    )
    try:
        brokers.start()
        yield brokers
    finally:
        brokers.stop()


@pytest.fixture
def broker(cluster):
    """The first broker of ``cluster``: with ``@pytest.mark.cluster(size=1, ...)``, a test's one broker."""
    return cluster.brokers[0]


@pytest.fixture
def single_broker(request, zookeeper, tmp_path):
    """One started broker (``broker.id=1``), stopped after the test."""
    options = _cluster_marker(request)
    broker = BrokerProcess(
        1,
        zookeeper.connect_string,
        tmp_path / "single",
        overrides=options.get("overrides"),
        metrics=options.get("metrics", False),
    )
    try:
        broker.start()
        broker.wait_ready()
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kcat():
    """Path of the ``kcat`` binary (Debian package ``kcat``; ``make install`` installs it)."""
    path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat is not installed: run `make install` (Debian package kcat)", pytrace=False)
    return path


# --- hooks ---------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    cluster_support.reset_started()


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    yield
    # Safety net: fixtures stop their brokers; this catches brokers a test started by hand.
    cluster_support.stop_started()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    _fail_missing_dependency(report)
    if report.failed:
        for broker in cluster_support.STARTED:
            report.sections.append(
                (
                    f"broker {broker.broker_id} log ({broker.log_path}, last {_LOG_TAIL_LINES} lines, {report.when})",
                    broker.log_tail(_LOG_TAIL_LINES),
                )
            )


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_missing_dependency(outcome.get_result())


def _fail_missing_dependency(report):
    """Turn a skip caused by ``pytest.importorskip`` into a failure."""
    if not report.skipped:
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    if "could not import" in reason:
        report.outcome = "failed"
        report.longrepr = f"missing dependency (make install provides it): {reason}"


def pytest_sessionfinish(session, exitstatus):
    cluster_support.stop_started()
