"""`make run PROMETHEUS=1`, `make status` and `make stop` on the repository's fixed ports.

Marked ``serial``: the targets use fixed ports (ZooKeeper 2181, brokers 9092-9094, their
metrics 9192-9194, Prometheus 9190) and the repository's ``.run/`` directory, so ``make test``
runs this after the parallel pass. If a developer's own ``make run`` cluster (or anything
else) holds those ports, the test is skipped rather than touching it.
"""

import json
import pathlib
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from kafkalite.local.process import pid_alive
from tests.support.cluster import port_open, wait_until

REPO = pathlib.Path(__file__).resolve().parents[2]
PROMETHEUS_PORT = 9190
PORTS = (2181, 9092, 9093, 9094, 9192, 9193, 9194, PROMETHEUS_PORT)

pytestmark = [pytest.mark.serial, pytest.mark.slow]


def make(*args, timeout=300):
    """Run ``make`` in the repository root and return the completed process (output captured)."""
    return subprocess.run(
        ["make", *args],
        check=False,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def make_cluster():
    """Run `make run PROMETHEUS=1`, and `make stop` afterwards whatever happens (it stops everything by pid)."""
    busy = [port for port in PORTS if port_open("127.0.0.1", port)]
    if busy:
        pytest.skip(f"ports {busy} are in use (a local `make run` cluster?); not touching it")
    for program in ("make", "prometheus"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed (make install installs prometheus)")
    try:
        yield make("run", "PROMETHEUS=1")
    finally:
        stopped = make("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def _prometheus(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{PROMETHEUS_PORT}{path}", timeout=5) as response:
        return response.status, response.read().decode()


def _scrape_urls():
    _, body = _prometheus("/api/v1/targets")
    return sorted(target["scrapeUrl"] for target in json.loads(body)["data"]["activeTargets"])


def test_run_status_stop(make_cluster, kcat):
    """make run PROMETHEUS=1 says what comes up (ZooKeeper, each broker, the controller, Prometheus), starts
    what kcat and Prometheus see; a second run says so; make status shows it all; make stop ends it all by pid."""
    started = make_cluster
    assert started.returncode == 0, started.stdout + started.stderr
    out = started.stdout
    assert re.search(r"^zookeeper 127\.0\.0\.1:2181 up \(pid \d+\)$", out, re.M), out
    for n in (1, 2, 3):
        assert re.search(rf"^broker {n} up on 127\.0\.0\.1:909{n + 1} \(pid \d+, "
                         rf"metrics http://127\.0\.0\.1:919{n + 1}/metrics\)$", out, re.M), out
    block = dict(re.findall(r"^  ([a-z ]+): +(.*)$", out, re.M))
    assert block["metrics"].split() == [f"http://127.0.0.1:{port}/metrics" for port in (9192, 9193, 9194)]
    assert block["status pages"].split()[:3] == [f"http://127.0.0.1:{port}/" for port in (9192, 9193, 9194)]
    assert block["prometheus"].split()[0] == "http://127.0.0.1:9190/"
    controller = re.search(r"^controller: broker (\d)$", out, re.M)
    assert controller and int(controller.group(1)) in (1, 2, 3), out
    prometheus_line = re.search(r"^prometheus up on http://127\.0\.0\.1:9190/ \(pid (\d+), "
                                r"alerts http://127\.0\.0\.1:9190/alerts\)$", out, re.M)
    assert prometheus_line, out
    prometheus_pid = int(prometheus_line.group(1))
    # The lines come in the order things come up, before the status block.
    order = [out.index(marker) for marker in ("zookeeper 127.0.0.1:2181 up", "broker 1 up", "broker 3 up",
                                              "controller: broker", "prometheus up", "kafkalite is running")]
    assert order == sorted(order), out
    assert "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094" in out

    assert _prometheus("/-/ready")[0] == 200
    # Prometheus applies its scrape targets a few seconds after it is ready.
    expected = [f"http://127.0.0.1:{port}/metrics" for port in (9192, 9193, 9194)]
    wait_until(lambda: _scrape_urls() == expected, timeout=30, interval=0.5, message="Prometheus's scrape targets")

    # make run returns once every broker listens; the controller's UpdateMetadata naming all
    # three reaches broker 1 a moment later.
    deadline = time.monotonic() + 30
    while True:
        metadata = subprocess.run(
            [kcat, "-b", "127.0.0.1:9092", "-L", "-m", "30"], check=False, capture_output=True, text=True, timeout=60
        )
        assert metadata.returncode == 0, metadata.stderr
        if " 3 brokers:" in metadata.stdout or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    assert " 3 brokers:" in metadata.stdout

    again = make("run", "PROMETHEUS=1")
    assert again.returncode == 0
    assert "kafkalite is already running" in again.stdout
    assert f"prometheus already running (pid {prometheus_pid})" in again.stdout

    status = make("status")
    for n in (1, 2, 3):
        assert f"broker-{n}: running" in status.stdout
    assert f"prometheus: running (pid {prometheus_pid}), ready on http://127.0.0.1:9190/" in status.stdout

    stopped = make("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"stopping prometheus (pid {prometheus_pid})" in stopped.stdout
    assert not pid_alive(prometheus_pid)
    assert not (REPO / ".run" / "prometheus.pid").exists()
    assert not any(port_open("127.0.0.1", port) for port in PORTS)
    after = make("status").stdout
    assert "brokers: none running" in after
    assert "prometheus: not running" in after


def test_run_that_cannot_start_prometheus_stops_everything_it_started():
    """With 127.0.0.1:9190 taken, make run PROMETHEUS=1 says so, stops the brokers and ZooKeeper it started, exits 1."""
    busy = [port for port in PORTS if port_open("127.0.0.1", port)]
    if busy:
        pytest.skip(f"ports {busy} are in use (a local `make run` cluster?); not touching it")
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past the TIME_WAITs of the other test
        squatter.bind(("127.0.0.1", PROMETHEUS_PORT))
        squatter.listen()
        try:
            failed = make("run", "PROMETHEUS=1")
        finally:
            make("stop")
    assert failed.returncode != 0, failed.stdout
    assert "127.0.0.1:9190 is already in use" in failed.stderr
    assert "controller: broker" in failed.stdout  # the cluster did come up first
    assert "kafkalite is running" not in failed.stdout
    assert not any(port_open("127.0.0.1", port) for port in PORTS)
    status = make("status").stdout
    assert "brokers: none running" in status
    assert "mode=stopped" in status
