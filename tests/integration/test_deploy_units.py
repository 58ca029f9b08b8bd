"""The command lines of deploy/systemd's units, run for real, and ``systemd-analyze verify``.

No systemd runs in the test environment, so each unit's ``ExecStart`` is run the way
systemd would run it (``%i`` and ``Environment=`` expanded) with only the host paths swapped
for the test's: the ZooKeeper unit's JVM command line on a standalone copy of
deploy/config/zoo.cfg, and the broker unit's ``kafkalite-server`` on a copy of
deploy/config/server.properties whose ``zookeeper.connect`` keeps a chroot that does not
exist yet. The broker must create the chroot and register under it, and SIGTERM (what
``systemctl stop`` sends) must be a controlled shutdown that ends with exit status 0
within ``TimeoutStopSec``.
"""

import itertools
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kafkalite.local import zookeeper as local_zk
from kafkalite.local.broker import BrokerProcess
from kafkalite.local.process import free_port, spawn, terminate
from tests.support.cluster import wait_until
from tests.support.systemd_units import CONFIG_DIR, SYSTEMD_DIR, exec_start_argv, read_unit, service_option
from tests.support.zookeeper import kazoo_client

BROKER_UNIT = SYSTEMD_DIR / "kafkalite@.service"
ZOOKEEPER_UNIT = SYSTEMD_DIR / "zookeeper.service"
VENV_SERVER = Path(sys.executable).parent / "kafkalite-server"
_chroots = itertools.count(1)


def _with_values(lines, values):
    """The text of properties ``lines`` with ``values`` replacing their keys' values (comments kept)."""
    out = []
    for line in lines:
        key = line.partition("=")[0].strip()
        out.append(f"{key}={values[key]}" if not line.lstrip().startswith("#") and key in values else line)
    return "\n".join(out) + "\n"


def test_systemd_analyze_verify_accepts_both_units(tmp_path):
    """systemd-analyze verify finds no unknown key or bad value in either unit (the broker's binary made real)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the systemd package)")
    text = BROKER_UNIT.read_text().replace("/opt/kafkalite/venv/bin/kafkalite-server", str(VENV_SERVER))
    (tmp_path / "kafkalite@.service").write_text(text)
    shutil.copy(ZOOKEEPER_UNIT, tmp_path / "zookeeper.service")
    verified = subprocess.run([analyze, "verify", "kafkalite@1.service", "zookeeper.service"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=False)
    ours = [line for line in (verified.stdout + verified.stderr).splitlines()
            if "kafkalite@" in line or "zookeeper.service" in line]
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ours == []


def test_zookeeper_unit_command_line_serves_and_stops_cleanly(tmp_path):
    """The unit's JVM command line serves clients on deploy/config/zoo.cfg's settings and exits 143 on SIGTERM."""
    port = free_port()
    config = tmp_path / "zoo.cfg"
    standalone = [line for line in (CONFIG_DIR / "zoo.cfg").read_text().splitlines() if not line.startswith("server.")]
    config.write_text(_with_values(standalone, {"dataDir": str(tmp_path / "data"), "clientPort": str(port)})
                      + "clientPortAddress=127.0.0.1\n")
    unit = read_unit(ZOOKEEPER_UNIT)
    argv = [str(config) if arg == "/etc/zookeeper/conf/zoo.cfg" else arg for arg in exec_start_argv(unit)]
    assert str(config) in argv
    process = spawn(argv, tmp_path / "zookeeper.log", die_with_parent=True)
    try:
        wait_until(lambda: process.poll() is not None or local_zk.node_mode("127.0.0.1", port) == "standalone",
                   timeout=60, message="the unit's ZooKeeper to serve")
        assert process.poll() is None, (tmp_path / "zookeeper.log").read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=int(service_option(unit, "TimeoutStopSec")))
        assert status == 143, (tmp_path / "zookeeper.log").read_text()[-3000:]  # 128 + SIGTERM, from the JVM itself
        assert "143" in service_option(unit, "SuccessExitStatus").split()
    finally:
        if process.poll() is None:
            terminate(process.pid, 10)


def test_broker_unit_creates_its_chroot_and_stops_with_a_controlled_shutdown(zookeeper_session_server, tmp_path):
    """kafkalite@1's command line on the example config creates a missing chroot, registers, and exits 0 on SIGTERM."""
    chroot = f"/deploy-{next(_chroots)}/kafkalite"
    port = free_port()
    config = tmp_path / "server-1.properties"
    config.write_text(_with_values((CONFIG_DIR / "server.properties").read_text().splitlines(), {
        "listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "log.dirs": str(tmp_path / "data"),
        "metrics.port": "0",
        "zookeeper.connect": zookeeper_session_server.connect_string + chroot,
    }))
    unit = read_unit(BROKER_UNIT)
    program, unit_config, log_dir_option, log_dir = exec_start_argv(unit, instance="1")
    assert (unit_config, log_dir_option, log_dir) == (
        "/etc/kafkalite/server-1.properties", "--log-dir", "/var/log/kafkalite/broker-1")
    with kazoo_client(zookeeper_session_server.connect_string) as zk:
        assert zk.exists(chroot) is None

        broker = BrokerProcess(config, tmp_path / "broker.log", port, broker_id=1, die_with_parent=True,
                               app_log_dir=tmp_path / "logs")
        broker.command = (str(VENV_SERVER),)  # the unit's program, from this virtualenv
        assert Path(program).name == VENV_SERVER.name
        try:
            broker.start()
            broker.wait_ready(60, ready=lambda: zk.exists(f"{chroot}/brokers/ids/1") is not None)
            wait_until(lambda: zk.exists(f"{chroot}/controller"), timeout=30, message="broker 1 to be controller")
            assert zk.exists("/brokers/ids/1") is None  # nothing outside the chroot

            broker.kill(signal.SIGTERM)
            status = broker.wait_exit(int(service_option(unit, "TimeoutStopSec")))
            assert status == 0, broker.log_tail()
            log = broker.log_text()
            assert "controlled shutdown succeeded" in log
            assert "shut down cleanly" in log
            assert zk.exists(f"{chroot}/brokers/ids/1") is None
        finally:
            broker.stop(timeout=10)
