"""`make run`, `make status` and `make stop` on the repository's fixed ports (2181, 9092-9094).

Marked ``serial``: the targets use fixed ports and the repository's ``.run/`` directory, so
``make test`` runs this after the parallel pass. If a developer's own ``make run`` cluster (or
anything else) holds those ports, the test is skipped rather than touching it.
"""

import pathlib
import shutil
import subprocess
import time

import pytest

from tests.support.cluster import port_open

REPO = pathlib.Path(__file__).resolve().parents[2]
PORTS = (2181, 9092, 9093, 9094)

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
    """Run `make run`, and `make stop` afterwards whatever happens (it stops everything by pid)."""
    busy = [port for port in PORTS if port_open("127.0.0.1", port)]
    if busy:
        pytest.skip(f"ports {busy} are in use (a local `make run` cluster?); not touching it")
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    try:
        yield make("run")
    finally:
        stopped = make("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def test_run_status_stop(make_cluster, kcat):
    """make run starts ZooKeeper and 3 brokers kcat can see; a second run says so; make stop ends them."""
    started = make_cluster
    assert started.returncode == 0, started.stdout + started.stderr
    assert "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094" in started.stdout

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

    again = make("run")
    assert again.returncode == 0
    assert "already running" in again.stdout

    status = make("status")
    for n in (1, 2, 3):
        assert f"broker-{n}: running" in status.stdout

    stopped = make("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not any(port_open("127.0.0.1", port) for port in PORTS)
    assert "brokers: none running" in make("status").stdout
