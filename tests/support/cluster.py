"""Brokers as subprocesses for integration, client and fault tests.

Owns :class:`BrokerProcess` (one ``python -m kafkalite`` process with its own properties
file, log dir and log file under a test's work directory), :class:`Cluster` (N of them
sharing one ZooKeeper), :class:`ZooKeeperChroot` (a per-test namespace in a shared
ZooKeeper server) and :func:`wait_until` (poll a condition with a deadline).

Every broker is started with ``subprocess.Popen`` and stopped by its pid (SIGTERM, then
SIGKILL after a grace period). Each started broker is recorded in :data:`STARTED` so the
pytest hooks in ``tests/conftest.py`` can print its log on failure and stop any left
running after a test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self

__all__ = [
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
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

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


class BrokerStartError(RuntimeError):
    """A broker exited during start-up or did not become ready in time (message has its log tail)."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if ``host:port`` accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


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


class BrokerProcess:
    """One kafkalite broker run as ``[sys.executable, "-m", "kafkalite", props]``.

    :param broker_id: ``broker.id``.
    :param zk_connect: ``zookeeper.connect`` (may carry a chroot).
    :param workdir: parent directory; the broker uses ``workdir/broker-<id>/`` for its
        ``server.properties``, ``broker.log`` and ``data/`` log dir.
    :param port: listener port; a free loopback port when ``None``. Kept across restarts.
    :param overrides: extra ``key: value`` properties, applied after the test defaults.
    :param metrics: give the broker a free ``metrics.port`` (else ``metrics.port=0``).
    """

    #: The program started, followed by the properties file path.
    command = (sys.executable, "-m", "kafkalite")

    def __init__(
        self,
        broker_id: int,
        zk_connect: str,
        workdir,
        port: int | None = None,
        overrides: Mapping[str, object] | None = None,
        metrics: bool = False,
    ):
        self.broker_id = broker_id
        self.zk_connect = zk_connect
        self.dir = Path(workdir) / f"broker-{broker_id}"
        self.port = port or free_port()
        self.metrics_port = free_port() if metrics else 0
        self.overrides = dict(overrides or {})
        self.process: subprocess.Popen | None = None
        self._log_stream = None

    # --- paths and addresses ---------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:port``."""
        return f"{self.host}:{self.port}"

    @property
    def properties_path(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log_path(self) -> Path:
        """The broker's stdout+stderr (appended to across restarts)."""
        return self.dir / "broker.log"

    @property
    def log_dir(self) -> Path:
        """The broker's ``log.dirs``."""
        return self.dir / "data"

    @property
    def pid(self) -> int | None:
        """Pid of the running process, or ``None`` when not running."""
        return self.process.pid if self.is_running() else None

    def properties(self) -> dict[str, str]:
        """The properties this broker is started with."""
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

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> BrokerProcess:
        """Write the properties file and spawn the broker (does not wait; see :meth:`wait_ready`)."""
        if self.is_running():
            raise RuntimeError(f"broker {self.broker_id} is already running (pid {self.process.pid})")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.properties_path.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        self._close_log_stream()
        self._log_stream = open(self.log_path, "ab")  # noqa: SIM115 - held open for the process's lifetime
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [*self.command, str(self.properties_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._log_stream,
            stderr=subprocess.STDOUT,
            cwd=str(REPO_ROOT),
            env=env,
        )
        if self not in STARTED:
            STARTED.append(self)
        return self

    def is_running(self) -> bool:
        """True while the process has not exited."""
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited (negative: killed by that signal)."""
        return None if self.process is None else self.process.poll()

    def is_registered(self) -> bool:
        """True if ``/brokers/ids/<id>`` exists in ZooKeeper."""
        return _znode_exists(self.zk_connect, f"/brokers/ids/{self.broker_id}")

    def wait_ready(self, timeout: float = READY_TIMEOUT_S, registered: bool = True) -> BrokerProcess:
        """Wait until the port accepts connections and (``registered``) ``/brokers/ids/<id>`` exists.

        :raises BrokerStartError: with the log tail if the process exits or time runs out.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise BrokerStartError(
                    f"broker {self.broker_id} exited with status {self.returncode} during start-up; "
                    f"log tail:\n{self.log_tail()}"
                )
            if port_open(self.host, self.port) and (not registered or self.is_registered()):
                return self
            if time.monotonic() >= deadline:
                raise BrokerStartError(
                    f"broker {self.broker_id} not ready on {self.bootstrap} within {timeout} s; "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the broker's pid; for SIGKILL also reap it."""
        if not self.is_running():
            return
        os.kill(self.process.pid, sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM by pid, wait up to ``timeout`` s, then SIGKILL; return the exit status.

        Safe to call when not running; resumes a SIGSTOPped broker first.
        """
        if self.is_running():
            pid = self.process.pid
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_S)
        self._close_log_stream()
        return self.returncode

    def restart(self, wait: bool = True, timeout: float = READY_TIMEOUT_S) -> BrokerProcess:
        """Stop (cleanly), start again on the same port and log dir, and by default wait until ready."""
        self.stop()
        self.start()
        if wait:
            self.wait_ready(timeout)
        return self

    def _close_log_stream(self) -> None:
        if self._log_stream is not None:
            self._log_stream.close()
            self._log_stream = None

    # --- logs ------------------------------------------------------------------------------

    def log_text(self) -> str:
        """Everything the broker has written to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of :meth:`log_text`."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __repr__(self) -> str:
        return f"<BrokerProcess id={self.broker_id} {self.bootstrap} pid={self.pid}>"


class Cluster:
    """``size`` brokers (ids 1..size) sharing one ZooKeeper.

    :param zk: a ZooKeeper fixture object (``connect_string``) or a connect string.
    :param workdir: each broker gets ``workdir/broker-<id>/``.
    :param overrides: properties for every broker. Unless overridden, internal topics get
        replication factor ``min(size, 3)``.
    :param metrics: give each broker a free ``metrics.port``.
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
        self.brokers = [
            BrokerProcess(broker_id, self.zk_connect, self.workdir, overrides=common, metrics=metrics)
            for broker_id in range(1, size + 1)
        ]

    @property
    def bootstrap(self) -> str:
        """Every broker's ``host:port``, comma-separated."""
        return ",".join(broker.bootstrap for broker in self.brokers)

    def broker(self, broker_id: int) -> BrokerProcess:
        """The broker with ``broker.id`` ``broker_id``."""
        for broker in self.brokers:
            if broker.broker_id == broker_id:
                return broker
        raise KeyError(broker_id)

    def start(self, timeout: float = READY_TIMEOUT_S) -> Cluster:
        """Start every broker, then wait until each is ready; stops them all if one fails."""
        try:
            for broker in self.brokers:
                broker.start()
            for broker in self.brokers:
                broker.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every broker (one at a time, by pid)."""
        for broker in reversed(self.brokers):
            broker.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def reset_started() -> None:
    """Forget the brokers recorded in :data:`STARTED` (called at the start of each test)."""
    STARTED.clear()


def stop_started() -> list[BrokerProcess]:
    """Stop every recorded broker still running; return those that were."""
    leftover = [broker for broker in STARTED if broker.is_running()]
    for broker in leftover:
        broker.stop()
    return leftover
