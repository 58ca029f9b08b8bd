"""Real ZooKeeper servers for integration tests, from Debian's install.

Owns the test-facing API; the work (configs, JVM start, readiness, stop by
pid) is done by :mod:`kafkalite.local.zookeeper`, the same code behind the
``zk/zkctl`` script and ``kafkalite-perf``'s clusters. Every server is started in
the test's process group (and dies with it) and must be stopped by the test's
teardown (``stop()``), which signals it by pid. :func:`kazoo_client` is the
short-lived kazoo client tests read and write znodes with.
"""

import contextlib
import random
import socket

from kafkalite.local import zookeeper as local_zk
from kafkalite.local.zookeeper import ZkCtlError, free_port

__all__ = ["ZkCtlError", "ZooKeeperEnsemble", "ZooKeeperServer", "expire_session", "free_port", "free_port_block",
           "kazoo_client"]

START_TIMEOUT_S = 60.0


def free_port_block(count, host="127.0.0.1"):
    """The first of ``count`` consecutive free ports, below the kernel's ephemeral range.

    ``zkctl --ensemble`` derives a node's ports from one base (``port + i``). A free port
    from the kernel lies in the ephemeral range, where its neighbours may be taken at any
    moment by another test's connections; below that range only an explicit bind takes one.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    low = max(1024, ephemeral_low - 12000)
    for _ in range(200):
        base = random.randrange(low, ephemeral_low - count)
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind((host, port))
            return base
        except OSError:
            continue
    raise RuntimeError(f"no {count} consecutive free ports below {ephemeral_low}")


class ZooKeeperServer:
    """One standalone ZooKeeper on loopback.

    :param workdir: directory for config, data, log and pid file (created).
    :param port: client port; a free loopback port when ``None``.
    :param tick_time_ms: ZooKeeper tickTime (session timeouts may be as low as 2 ticks).
    """

    def __init__(self, workdir, port=None, tick_time_ms=local_zk.DEFAULT_TICK_TIME_MS):
        self.spec = local_zk.standalone_spec(str(workdir), port=port or free_port(), tick_time_ms=tick_time_ms)

    @property
    def port(self):
        """The client port."""
        return self.spec.nodes[0].client_port

    @property
    def connect_string(self):
        """``127.0.0.1:port``."""
        return self.spec.connect_string

    @property
    def pid(self):
        """Pid of the running JVM, or ``None``."""
        return local_zk.node_pid(self.spec, 1)

    @property
    def log_path(self):
        """Path of the server's log file."""
        return self.spec.log_path(1)

    def start(self, timeout=START_TIMEOUT_S):
        """Start the server and wait until it answers ``srvr``.

        :raises ZkCtlError: with the log tail if it does not come up in ``timeout`` s.
        """
        local_zk.start_cluster(self.spec, timeout=timeout, detach=False)
        return self

    def stop(self):
        """SIGTERM by pid, then SIGKILL if it lingers. Safe to call when stopped."""
        local_zk.stop_cluster(self.spec)

    def kill(self):
        """SIGKILL by pid (no clean shutdown)."""
        local_zk.kill_node(self.spec, 1)

    def log_tail(self, lines=40):
        """The last lines of the server's log."""
        return local_zk.log_tail(self.spec, 1, lines)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class ZooKeeperEnsemble:
    """A ``size``-node ZooKeeper ensemble on loopback, every port chosen free.

    Nodes are numbered from 1 (ZooKeeper's ``myid``).
    """

    def __init__(self, workdir, size=3, tick_time_ms=local_zk.DEFAULT_TICK_TIME_MS):
        ports = _distinct_free_ports(3 * size)
        self.spec = local_zk.ensemble_spec(
            str(workdir), size=size, client_ports=ports[:size], quorum_ports=ports[size:2 * size],
            election_ports=ports[2 * size:], tick_time_ms=tick_time_ms,
        )

    @property
    def size(self):
        return len(self.spec.nodes)

    @property
    def connect_string(self):
        """Every node, comma-separated."""
        return self.spec.connect_string

    def node_connect_string(self, i):
        """``127.0.0.1:port`` of node ``i``."""
        return self.spec.node_connect_string(i)

    def pid(self, i):
        """Pid of node ``i``'s JVM, or ``None``."""
        return local_zk.node_pid(self.spec, i)

    def mode(self, i):
        """``"leader"``/``"follower"`` when node ``i`` serves, else ``None``."""
        return local_zk.node_mode(self.spec.host, self.spec.node(i).client_port)

    def leader(self):
        """Id of the current leader, or ``None``."""
        for node in self.spec.nodes:
            if self.mode(node.node_id) == "leader":
                return node.node_id
        return None

    def start(self, timeout=START_TIMEOUT_S):
        """Start every node; wait until all serve and one is leader."""
        local_zk.start_cluster(self.spec, timeout=timeout, detach=False)
        return self

    def stop(self):
        """Stop every node by pid (SIGTERM, then SIGKILL)."""
        local_zk.stop_cluster(self.spec)

    def stop_node(self, i):
        """Stop node ``i`` cleanly."""
        local_zk.stop_node(self.spec, i)

    def kill_node(self, i):
        """SIGKILL node ``i``."""
        local_zk.kill_node(self.spec, i)

    def start_node(self, i, timeout=START_TIMEOUT_S):
        """Start node ``i`` again and wait until it serves (which needs a quorum)."""
        local_zk.start_node(self.spec, i, detach=False)
        local_zk.wait_serving(self.spec, [i], timeout=timeout)

    def log_tail(self, i, lines=40):
        return local_zk.log_tail(self.spec, i, lines)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def _distinct_free_ports(count):
    ports = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def expire_session(connect_string, session_id, password, timeout=10.0):
    """Expire a live ZooKeeper session from outside, as kazoo's old test harness did.

    Opens a second connection with the same session id and password (the
    server then drops the first connection) and closes it, which ends the
    session: the original client sees it expired when it reconnects.
    Blocking; call it from a thread, not the reactor thread.
    """
    from kazoo.client import KazooClient  # only this fault helper needs kazoo directly

    client = KazooClient(hosts=connect_string, client_id=(session_id, password), timeout=timeout)
    client.start(timeout=timeout)
    try:
        client.stop()
    finally:
        client.close()


@contextlib.contextmanager
def kazoo_client(connect_string, start_timeout=10):
    """A kazoo client on ``connect_string``, started (waiting up to ``start_timeout``), stopped and closed on exit."""
    from kazoo.client import KazooClient

    client = KazooClient(hosts=connect_string)
    client.start(timeout=start_timeout)
    try:
        yield client
    finally:
        client.stop()
        client.close()
