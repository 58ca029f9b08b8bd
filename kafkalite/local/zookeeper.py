"""Local ZooKeeper processes from Debian's ``zookeeper`` install.

Owns the one implementation behind the ``zk/zkctl`` script, the test fixtures in
``tests/support/zookeeper.py`` and ``kafkalite-perf``'s own clusters: laying out a
directory per node, filling in the config templates of :mod:`kafkalite.local.zkconfig`,
starting ``QuorumPeerMain`` on the JVM, waiting (with a deadline) until each node
answers the ``srvr`` four-letter word, and stopping nodes by pid (SIGTERM, then SIGKILL).

Standard library only, so ``zk/zkctl`` runs with any ``python3``.

Layout under the base directory::

    zkctl.json            the cluster spec (mode, host, ports) written by start
    node1/zoo.cfg         the node's config (filled-in template)
    node1/data/           dataDir (and myid for an ensemble)
    node1/zookeeper.log   the JVM's stdout/stderr (slf4j-simple logs to stderr)
    node1/zookeeper.pid   pid of the running JVM
"""

import dataclasses
import json
import os
import signal
import socket
import time

from kafkalite.local.process import free_port, is_child, pid_alive, pid_cmdline, port_open, signal_and_wait, spawn
from kafkalite.local.process import log_tail as _file_tail
from kafkalite.local.zkconfig import render_config

__all__ = [
    "ClusterSpec",
    "NodeSpec",
    "ZkCtlError",
    "classpath",
    "cluster_status",
    "ensemble_spec",
    "four_letter_word",
    "free_port",
    "kill_node",
    "log_tail",
    "node_mode",
    "node_pid",
    "standalone_spec",
    "start_cluster",
    "start_node",
    "stop_cluster",
    "stop_node",
    "wait_serving",
]

MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
# zookeeper.jar's manifest Class-Path names its dependencies; slf4j-simple is added
# so the server logs somewhere (to stderr, which we redirect into zookeeper.log).
CLASSPATH_JARS = ("/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar")
SPEC_FILE = "zkctl.json"
DEFAULT_PORT = 2181
DEFAULT_TICK_TIME_MS = 200
DEFAULT_HEAP = "256m"
# Offsets from the first client port to the first quorum and election ports, so
# 2181 gives Kafka's and ZooKeeper's familiar 2888/3888.
QUORUM_PORT_OFFSET = 2888 - 2181
ELECTION_PORT_OFFSET = 3888 - 2181


class ZkCtlError(Exception):
    """A ZooKeeper node could not be started, found or stopped."""


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """One ZooKeeper node.

    :ivar node_id: 1-based id (``myid`` in an ensemble, the ``nodeN`` directory).
    :ivar client_port: the loopback port clients connect to.
    :ivar quorum_port: follower → leader port (ensemble only).
    :ivar election_port: leader election port (ensemble only).
    """

    node_id: int
    client_port: int
    quorum_port: int | None = None
    election_port: int | None = None


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    """A standalone server or an ensemble rooted at ``base_dir``."""

    base_dir: str
    nodes: tuple
    ensemble: bool = False
    host: str = "127.0.0.1"
    tick_time_ms: int = DEFAULT_TICK_TIME_MS
    heap: str = DEFAULT_HEAP
    force_sync: bool = False

    def node(self, node_id):
        """Return the :class:`NodeSpec` with ``node_id`` (1-based)."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise ZkCtlError(f"no node {node_id} in {self.base_dir} (nodes: {[n.node_id for n in self.nodes]})")

    def node_dir(self, node_id):
        """Directory holding one node's config, data, log and pid file."""
        return os.path.join(self.base_dir, f"node{node_id}")

    def data_dir(self, node_id):
        """The node's ``dataDir`` (and ``myid`` in an ensemble)."""
        return os.path.join(self.node_dir(node_id), "data")

    def config_path(self, node_id):
        return os.path.join(self.node_dir(node_id), "zoo.cfg")

    def pid_path(self, node_id):
        return os.path.join(self.node_dir(node_id), "zookeeper.pid")

    def log_path(self, node_id):
        return os.path.join(self.node_dir(node_id), "zookeeper.log")

    def node_connect_string(self, node_id):
        """``host:port`` of one node."""
        return f"{self.host}:{self.node(node_id).client_port}"

    @property
    def connect_string(self):
        """``host:port[,host:port...]`` of every node, as ``zookeeper.connect`` wants it."""
        return ",".join(f"{self.host}:{n.client_port}" for n in self.nodes)

    def to_json(self):
        data = dataclasses.asdict(self)
        data["nodes"] = [dataclasses.asdict(n) for n in self.nodes]
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        data["nodes"] = tuple(NodeSpec(**n) for n in data["nodes"])
        return cls(**data)

    def save(self):
        """Write the spec to ``base_dir/zkctl.json`` so stop/status can find the nodes."""
        os.makedirs(self.base_dir, exist_ok=True)
        path = os.path.join(self.base_dir, SPEC_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(self.to_json())
        os.replace(tmp, path)

    @classmethod
    def load(cls, base_dir):
        """Read the spec saved by :meth:`save`; :class:`ZkCtlError` if there is none."""
        path = os.path.join(os.path.abspath(base_dir), SPEC_FILE)
        try:
            with open(path) as f:
                return cls.from_json(f.read())
        except FileNotFoundError:
            raise ZkCtlError(f"no ZooKeeper was started in {base_dir} ({path} is missing)") from None


def standalone_spec(base_dir, port=DEFAULT_PORT, **options):
    """Spec of one standalone server on ``127.0.0.1:port``."""
    return ClusterSpec(os.path.abspath(base_dir), (NodeSpec(1, port),), ensemble=False, **options)


def ensemble_spec(base_dir, port=DEFAULT_PORT, size=3, quorum_port=None, election_port=None,
                  client_ports=None, quorum_ports=None, election_ports=None, **options):
    """Spec of a ``size``-node ensemble on loopback.

    Client ports are ``port .. port+size-1`` unless ``client_ports`` lists them;
    quorum and election ports likewise start at ``quorum_port``/``election_port``
    (default: derived from ``port`` so 2181 gives 2888.. and 3888..) unless listed.
    """
    client_ports = list(client_ports or range(port, port + size))
    base = client_ports[0]
    quorum_port = quorum_port or base + QUORUM_PORT_OFFSET
    election_port = election_port or base + ELECTION_PORT_OFFSET
    quorum_ports = list(quorum_ports or range(quorum_port, quorum_port + size))
    election_ports = list(election_ports or range(election_port, election_port + size))
    if not len(client_ports) == len(quorum_ports) == len(election_ports) == size:
        raise ZkCtlError("need one client, quorum and election port per node")
    all_ports = client_ports + quorum_ports + election_ports
    if len(set(all_ports)) != len(all_ports):
        raise ZkCtlError(f"ports clash: {all_ports}")
    nodes = tuple(NodeSpec(i + 1, client_ports[i], quorum_ports[i], election_ports[i]) for i in range(size))
    return ClusterSpec(os.path.abspath(base_dir), nodes, ensemble=True, **options)


def classpath():
    """The JVM classpath for the Debian install; :class:`ZkCtlError` if it is missing."""
    missing = [jar for jar in CLASSPATH_JARS if not os.path.exists(jar)]
    if missing:
        raise ZkCtlError(
            f"missing {', '.join(missing)}: install Debian's zookeeper package (apt-get install zookeeper)"
        )
    return ":".join(CLASSPATH_JARS)


def _java():
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.path.exists(os.path.join(java_home, "bin", "java")):
        return os.path.join(java_home, "bin", "java")
    for candidate in ("/usr/bin/java",):
        if os.path.exists(candidate):
            return candidate
    raise ZkCtlError("no java found (set JAVA_HOME or install default-jre-headless)")


def _write_node_files(spec, node_id):
    data_dir = spec.data_dir(node_id)
    os.makedirs(data_dir, exist_ok=True)
    with open(spec.config_path(node_id), "w") as f:
        f.write(render_config(spec, node_id))
    if spec.ensemble:
        with open(os.path.join(data_dir, "myid"), "w") as f:
            f.write(f"{node_id}\n")


def _is_our_zookeeper(pid, config_path):
    """Guard against pid reuse: the process must be QuorumPeerMain with this config."""
    argv = pid_cmdline(pid) or ()
    return MAIN_CLASS in argv and config_path in argv


def node_pid(spec, node_id):
    """Pid of the node's running JVM, or ``None`` if it is not running."""
    try:
        with open(spec.pid_path(node_id)) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    if is_child(pid):
        # Our own child: trust the Popen (just after exec, /proc/<pid>/cmdline can read empty).
        return pid if pid_alive(pid) else None
    if pid_alive(pid) and _is_our_zookeeper(pid, spec.config_path(node_id)):
        return pid
    return None


def four_letter_word(host, port, word, timeout=1.0):
    """Send a four-letter word (``ruok``, ``srvr``, ``mntr``...) and return the reply text.

    :raises OSError: when the node does not accept the connection.
    """
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word.encode("ascii"))
        chunks = []
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def node_mode(host, port, timeout=1.0):
    """``"standalone"``, ``"leader"`` or ``"follower"`` if the node serves clients, else ``None``."""
    try:
        reply = four_letter_word(host, port, "srvr", timeout)
    except OSError:
        return None
    for line in reply.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def log_tail(spec, node_id, lines=40):
    """The last ``lines`` lines of the node's log, for error messages."""
    return _file_tail(spec.log_path(node_id), lines)


def start_node(spec, node_id, detach=True):
    """Start one node's JVM in the background and return its pid (does not wait).

    :param detach: start it in a new session, so it outlives the caller (the
        script); otherwise (tests) it stays in the caller's process group and is
        SIGTERMed by the kernel if the caller dies without stopping it.
    :raises ZkCtlError: if the node is already running.
    """
    pid = node_pid(spec, node_id)
    if pid is not None:
        raise ZkCtlError(f"ZooKeeper node {node_id} in {spec.base_dir} is already running (pid {pid})")
    port = spec.node(node_id).client_port
    if port_open(spec.host, port):
        raise ZkCtlError(f"cannot start ZooKeeper node {node_id}: {spec.host}:{port} is already in use")
    _write_node_files(spec, node_id)
    argv = [
        _java(),
        f"-Xmx{spec.heap}",
        "-Xms32m",
        # Start-up time matters more than peak throughput for a test server.
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Xss512k",
        "-Djava.net.preferIPv4Stack=true",
        "-Dzookeeper.admin.enableServer=false",
        "-Dzookeeper.cnxTimeout=1000",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
        "-cp",
        classpath(),
        MAIN_CLASS,
        spec.config_path(node_id),
    ]
    # Not detached (tests, kafkalite-perf): the JVM dies with its parent, so a run killed hard
    # (pytest-timeout's os._exit, kill -9) leaks no ZooKeeper.
    process = spawn(argv, spec.log_path(node_id), cwd=spec.node_dir(node_id), detach=detach,
                    die_with_parent=not detach)
    with open(spec.pid_path(node_id), "w") as f:
        f.write(f"{process.pid}\n")
    return process.pid


def wait_serving(spec, node_ids=None, timeout=30.0):
    """Wait until every listed node serves clients (and, in an ensemble, one is leader).

    :raises ZkCtlError: with the log tail of the first node that died or did
        not come up before the deadline.
    """
    node_ids = list(node_ids or [n.node_id for n in spec.nodes])
    deadline = time.monotonic() + timeout
    while True:
        modes = {}
        for node_id in node_ids:
            if node_pid(spec, node_id) is None:
                raise ZkCtlError(
                    f"ZooKeeper node {node_id} exited during start-up; log tail:\n{log_tail(spec, node_id)}"
                )
            modes[node_id] = node_mode(spec.host, spec.node(node_id).client_port)
        if all(modes.values()) and (not spec.ensemble or _has_leader(spec)):
            return modes
        if time.monotonic() >= deadline:
            waiting = [i for i, mode in modes.items() if not mode] or node_ids
            raise ZkCtlError(
                f"ZooKeeper node(s) {waiting} not serving after {timeout}s (modes: {modes}); "
                f"log tail of node {waiting[0]}:\n{log_tail(spec, waiting[0])}"
            )
        time.sleep(0.05)


def _has_leader(spec):
    return any(node_mode(spec.host, n.client_port) == "leader" for n in spec.nodes)


def stop_node(spec, node_id, timeout=10.0):
    """Stop one node: SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns the pid or ``None``."""
    pid = node_pid(spec, node_id)
    if pid is None:
        _remove_pid_file(spec, node_id)
        return None
    if not signal_and_wait(pid, signal.SIGTERM, timeout):
        signal_and_wait(pid, signal.SIGKILL, timeout)
    _remove_pid_file(spec, node_id)
    return pid


def kill_node(spec, node_id, timeout=10.0):
    """SIGKILL one node and wait until it is gone. Returns the pid or ``None``."""
    pid = node_pid(spec, node_id)
    if pid is None:
        return None
    signal_and_wait(pid, signal.SIGKILL, timeout)
    _remove_pid_file(spec, node_id)
    return pid


def _remove_pid_file(spec, node_id):
    try:
        os.unlink(spec.pid_path(node_id))
    except FileNotFoundError:
        pass


def start_cluster(spec, timeout=30.0, detach=True):
    """Start every node of ``spec`` that is not running and wait until all serve.

    Returns the list of node ids that were already running.
    """
    spec.save()
    already, started = [], []
    try:
        for node in spec.nodes:
            if node_pid(spec, node.node_id) is not None:
                already.append(node.node_id)
                continue
            start_node(spec, node.node_id, detach=detach)
            started.append(node.node_id)
        wait_serving(spec, timeout=timeout)
    except BaseException:  # Ctrl-C too: leave nothing half-started behind
        for node_id in started:
            stop_node(spec, node_id)
        raise
    return already


def stop_cluster(spec, timeout=10.0):
    """Stop every node of ``spec``; returns ``{node_id: pid or None}``."""
    stopped = {}
    for node in spec.nodes:
        pid = node_pid(spec, node.node_id)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        stopped[node.node_id] = pid
    for node_id in stopped:
        stop_node(spec, node_id, timeout)
    return stopped


def cluster_status(spec):
    """``[(node_id, connect string, pid or None, mode or None)]`` for every node."""
    return [
        (n.node_id, spec.node_connect_string(n.node_id), node_pid(spec, n.node_id), node_mode(spec.host, n.client_port))
        for n in spec.nodes
    ]
