"""Brokers as subprocesses for integration, client and fault tests.

Owns the test-facing side of the package's broker launcher (:mod:`kafkalite.local`):
:class:`BrokerProcess` (a :class:`kafkalite.local.broker.BrokerProcess` with its own
properties file, log dir and log file under a test's work directory, and test-friendly
defaults), :class:`Cluster` (N of them sharing one ZooKeeper), :class:`ZooKeeperChroot` (a
per-test namespace in a shared ZooKeeper server) and :func:`wait_until` (poll a condition
with a deadline).

Every broker is stopped by its pid (SIGTERM, then SIGKILL after a grace period). Each
started broker is recorded in :data:`STARTED` so the pytest hooks in ``tests/conftest.py``
can print its log on failure and stop any left running after a test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from kafkalite.local import broker as local_broker
from kafkalite.local.broker import READY_TIMEOUT_S, BrokerStartError
from kafkalite.local.cluster import LocalCluster
from kafkalite.local.process import free_port, port_open

__all__ = [
    "REPO_ROOT",
    "STARTED",
    "BrokerProcess",
    "BrokerStartError",
    "Cluster",
    "ZooKeeperChroot",
    "free_port",
    "port_open",
    "reset_started",
    "stop_started",
    "wait_until",
]

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Brokers started since the last :func:`reset_started` (the current test's), in start order.
STARTED: list[BrokerProcess] = []

# Test-friendly settings in the spirit of Kafka's own TestUtils.createBrokerConfig: a small
# __consumer_offsets, no initial rebalance delay, internal topics that fit on one broker.
_TEST_DEFAULTS = {
    "offsets.topic.num.partitions": "5",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.num.partitions": "5",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "log.segment.delete.delay.ms": "1000",
    # The last replica of a partition cannot hand its leadership to anyone: don't spend
    # Kafka's 3 x 5 s of controlled-shutdown retries on it in every teardown.
    "controlled.shutdown.retry.backoff.ms": "200",
}


def wait_until(
    predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.05, message: str = "condition"
):
    """Poll ``predicate`` until it returns a truthy value and return that value.

    :raises TimeoutError: naming ``message`` if ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


class ZooKeeperChroot:
    """A per-test chroot inside a shared ZooKeeper server.

    :param server: anything with a ``connect_string`` (``host:port,...``, no chroot).
    :param chroot: absolute path, e.g. ``/test-17``; created (with parents) by :meth:`create`.
    """

    def __init__(self, server, chroot: str):
        self.server = server
        self.chroot = chroot

    @property
    def hosts(self) -> str:
        """The server's ``host:port`` list without the chroot."""
        return self.server.connect_string

    @property
    def connect_string(self) -> str:
        """``host:port/chroot``: what brokers put in ``zookeeper.connect``."""
        return self.server.connect_string + self.chroot

    def create(self) -> ZooKeeperChroot:
        """Create the chroot node so clients rooted there find it."""
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.hosts, timeout=10.0)
        client.start(timeout=30.0)
        try:
            client.ensure_path(self.chroot)
        finally:
            client.stop()
            client.close()
        return self


def _znode_exists(connect_string: str, path: str, timeout: float = 5.0) -> bool:
    from kazoo.client import KazooClient
    from kazoo.exceptions import KazooException
    from kazoo.handlers.threading import KazooTimeoutError

    client = KazooClient(hosts=connect_string, timeout=timeout)
    try:
        client.start(timeout=timeout)
        return client.exists(path) is not None
    except (KazooException, KazooTimeoutError):
        return False
    finally:
        client.stop()
        client.close()


class BrokerProcess(local_broker.BrokerProcess):
    """One kafkalite broker of a test, with its own directory under the test's work directory.

    :param broker_id: ``broker.id``.
    :param zk_connect: ``zookeeper.connect`` (may carry a chroot).
    :param workdir: parent directory; the broker uses ``workdir/broker-<id>/`` for its
        ``server.properties``, ``broker.log`` (appended to across restarts), ``state-change.log``
        and ``data/`` log dir.
    :param port: listener port; a free loopback port when ``None``. Kept across restarts.
    :param overrides: extra ``key: value`` properties, applied after the test defaults; a test
        may change them before a restart.
    :param metrics: give the broker a free ``metrics.port`` (else ``metrics.port=0``).
    """

    def __init__(
        self,
        broker_id: int,
        zk_connect: str,
        workdir,
        port: int | None = None,
        overrides: Mapping[str, object] | None = None,
        metrics: bool = False,
    ):
        self.dir = Path(workdir) / f"broker-{broker_id}"
        super().__init__(self.dir / "server.properties", self.dir / "broker.log", port or free_port(),
                         broker_id=broker_id, cwd=str(REPO_ROOT), app_log_dir=self.dir)
        self.zk_connect = zk_connect
        self.metrics_port = free_port() if metrics else 0
        self.overrides = dict(overrides or {})

    @property
    def properties_path(self) -> Path:
        return self.config_path

    @property
    def log_dir(self) -> Path:
        """The broker's ``log.dirs``."""
        return self.dir / "data"

    def properties(self) -> dict[str, str]:
        """The properties this broker is started with (written to :attr:`properties_path` at each start)."""
        props = {
            "broker.id": str(self.broker_id),
            "listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "log.dirs": str(self.log_dir),
            "zookeeper.connect": self.zk_connect,
            "metrics.port": str(self.metrics_port),
            **_TEST_DEFAULTS,
        }
        props.update({key: str(value) for key, value in self.overrides.items()})
        return props

    def start(self) -> BrokerProcess:
        """Write the properties file and spawn the broker (does not wait; see :meth:`wait_ready`)."""
        super().start()
        if self not in STARTED:
            STARTED.append(self)
        return self

    def is_registered(self) -> bool:
        """True if ``/brokers/ids/<id>`` exists in ZooKeeper."""
        return _znode_exists(self.zk_connect, f"/brokers/ids/{self.broker_id}")

    def wait_ready(self, timeout: float = READY_TIMEOUT_S, registered: bool = True) -> BrokerProcess:
        """Wait until the port accepts connections and (``registered``) ``/brokers/ids/<id>`` exists.

        :raises BrokerStartError: with the log tail if the process exits or time runs out.
        """
        return super().wait_ready(timeout, ready=self.is_registered if registered else None)


class Cluster(LocalCluster):
    """``size`` brokers (ids 1..size) sharing one ZooKeeper (the test's, not started or stopped here).

    :param zk: a ZooKeeper fixture object (``connect_string``) or a connect string.
    :param workdir: each broker gets ``workdir/broker-<id>/``.
    :param overrides: properties for every broker. Unless overridden, internal topics get
        replication factor ``min(size, 3)``.
    :param metrics: give each broker a free ``metrics.port``.

    :meth:`start` waits until every broker is registered, and stops them all if one fails.
    """

    def __init__(self, zk, workdir, size: int = 1, overrides: Mapping[str, object] | None = None, metrics=False):
        self.zk = zk
        self.zk_connect = zk if isinstance(zk, str) else zk.connect_string
        self.workdir = Path(workdir)
        replication = str(min(size, 3))
        common = {
            "offsets.topic.replication.factor": replication,
            "transaction.state.log.replication.factor": replication,
            "transaction.state.log.min.isr": str(min(size, 2)),
            **(overrides or {}),
        }
        super().__init__([
            BrokerProcess(broker_id, self.zk_connect, self.workdir, overrides=common, metrics=metrics)
            for broker_id in range(1, size + 1)
        ])


def reset_started() -> None:
    """Forget the brokers recorded in :data:`STARTED` (called at the start of each test)."""
    STARTED.clear()


def stop_started() -> list[BrokerProcess]:
    """Stop every recorded broker still running; return those that were."""
    leftover = [broker for broker in STARTED if broker.is_running()]
    for broker in leftover:
        broker.stop()
    return leftover
