"""Integration tests for zk/zkctl (over kafkalite.local.zookeeper) and tests/support/zookeeper.py against real
ZooKeeper JVMs."""

import dataclasses
import os
import signal
import subprocess
import sys

import pytest

from kafkalite.local import zookeeper as local_zk
from tests.support import zookeeper
from tests.support.zookeeper import ZooKeeperEnsemble, ZooKeeperServer, free_port, free_port_block

ZKCTL = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "zk", "zkctl")


def run_zkctl(*args):
    return subprocess.run([sys.executable, ZKCTL, *args], check=False, capture_output=True, text=True, timeout=120)


@pytest.fixture
def zkctl_dir(tmp_path):
    """A directory for zkctl; whatever zkctl left running there is stopped by pid afterwards."""
    yield tmp_path
    try:
        spec = local_zk.ClusterSpec.load(tmp_path)
    except local_zk.ZkCtlError:
        return
    for node in spec.nodes:
        pid = local_zk.node_pid(spec, node.node_id)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)


def test_zkctl_standalone_start_status_stop(zkctl_dir):
    """start prints the connect string of a serving node; a second start says it runs; stop ends the JVM."""
    port = free_port()
    started = run_zkctl("start", "--dir", str(zkctl_dir), "--port", str(port))
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"127.0.0.1:{port}"
    spec = local_zk.ClusterSpec.load(zkctl_dir)
    pid = local_zk.node_pid(spec, 1)
    assert pid is not None
    assert local_zk.four_letter_word("127.0.0.1", port, "ruok") == "imok"
    assert local_zk.node_mode("127.0.0.1", port) == "standalone"

    again = run_zkctl("start", "--dir", str(zkctl_dir), "--port", str(port))
    assert again.returncode == 0
    assert "already running" in again.stderr
    assert local_zk.node_pid(spec, 1) == pid

    status = run_zkctl("status", "--dir", str(zkctl_dir))
    assert status.returncode == 0
    assert f"pid={pid} mode=standalone" in status.stdout

    stopped = run_zkctl("stop", "--dir", str(zkctl_dir))
    assert stopped.returncode == 0
    assert f"stopped (pid {pid})" in stopped.stdout
    assert local_zk.node_pid(spec, 1) is None
    assert local_zk.node_mode("127.0.0.1", port) is None
    assert run_zkctl("status", "--dir", str(zkctl_dir)).returncode == 1


def test_zkctl_ensemble_elects_a_leader(zkctl_dir):
    """An ensemble started by zkctl has three serving nodes, exactly one of them leader, and stops fully."""
    # Each node's ports are --port, --quorum-port and --election-port plus its index: blocks
    # of three free ports, out of the range other tests' connections take ports from.
    port = free_port_block(3)
    started = run_zkctl(
        "start", "--ensemble", "--dir", str(zkctl_dir), "--port", str(port),
        "--quorum-port", str(free_port_block(3)), "--election-port", str(free_port_block(3)),
    )
    if started.returncode != 0 and "ports clash" in started.stderr:
        pytest.fail(started.stderr)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == ",".join(f"127.0.0.1:{port + i}" for i in range(3))
    spec = local_zk.ClusterSpec.load(zkctl_dir)
    modes = sorted(local_zk.node_mode("127.0.0.1", n.client_port) for n in spec.nodes)
    assert modes == ["follower", "follower", "leader"]
    for node in spec.nodes:
        with open(os.path.join(spec.node_dir(node.node_id), "data", "myid")) as f:
            assert f.read().strip() == str(node.node_id)

    assert run_zkctl("stop", "--dir", str(zkctl_dir)).returncode == 0
    assert all(local_zk.node_pid(spec, n.node_id) is None for n in spec.nodes)


def test_zkctl_refuses_a_different_cluster_in_a_running_dir(zkctl_dir):
    """Starting a different layout in a directory whose ZooKeeper runs fails and leaves it running."""
    port = free_port()
    assert run_zkctl("start", "--dir", str(zkctl_dir), "--port", str(port)).returncode == 0
    other = run_zkctl("start", "--dir", str(zkctl_dir), "--port", str(free_port()))
    assert other.returncode == 1
    assert "already running" in other.stderr
    assert local_zk.node_mode("127.0.0.1", port) == "standalone"
    run_zkctl("stop", "--dir", str(zkctl_dir))


def test_server_fixture_start_stop_kill(tmp_path):
    """ZooKeeperServer picks a free port, serves after start(), and stop()/kill() end the JVM by pid."""
    server = ZooKeeperServer(tmp_path / "zk")
    try:
        server.start()
        pid = server.pid
        assert pid is not None
        assert local_zk.node_mode("127.0.0.1", server.port) == "standalone"
        server.kill()
        assert server.pid is None
        assert local_zk.node_mode("127.0.0.1", server.port) is None
        server.start()
        assert server.pid not in (None, pid)
    finally:
        server.stop()
    assert server.pid is None


def test_server_refuses_a_port_in_use(tmp_path):
    """A second server on a port that is already serving fails start() instead of trusting the other one."""
    with ZooKeeperServer(tmp_path / "a") as first:
        second = ZooKeeperServer(tmp_path / "b", port=first.port)
        with pytest.raises(zookeeper.ZkCtlError, match="already in use"):
            second.start()
        assert second.pid is None
        assert first.pid is not None


def test_server_start_failure_reports_log_tail(tmp_path):
    """A JVM that dies during start-up fails start() with its log tail in the message, leaving nothing running."""
    server = ZooKeeperServer(tmp_path / "zk")
    server.spec = dataclasses.replace(server.spec, heap="1k")  # the JVM refuses this heap size and exits
    try:
        with pytest.raises(zookeeper.ZkCtlError) as info:
            server.start(timeout=30)
        assert "exited during start-up" in str(info.value)
        assert "heap" in str(info.value).lower()
    finally:
        server.stop()
    assert server.pid is None


def test_ensemble_survives_losing_one_node(tmp_path):
    """A 3-node ensemble keeps a leader after one node is killed, and the node rejoins after start_node."""
    ensemble = ZooKeeperEnsemble(tmp_path / "ens")
    try:
        ensemble.start()
        assert len(ensemble.connect_string.split(",")) == 3
        leader = ensemble.leader()
        assert leader is not None
        ensemble.kill_node(leader)
        assert ensemble.pid(leader) is None
        others = [i for i in (1, 2, 3) if i != leader]
        local_zk.wait_serving(ensemble.spec, others, timeout=60)
        assert sorted(ensemble.mode(i) for i in others) == ["follower", "leader"]
        ensemble.start_node(leader)
        assert ensemble.mode(leader) in ("follower", "leader")
        ensemble.stop_node(others[0])
        assert ensemble.pid(others[0]) is None
    finally:
        ensemble.stop()
    assert all(ensemble.pid(i) is None for i in (1, 2, 3))
