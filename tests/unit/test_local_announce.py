"""What ``make run`` says (kafkalite.local.announce) and what its Prometheus launcher refuses.

The lines are built from a broker's properties alone; the Prometheus launcher's refusals
(not installed, a bad address, no config) happen before anything is started. The real
processes are ``tests/integration/test_make_targets.py``'s.
"""

from pathlib import Path

import pytest

from kafkalite.local import prometheus
from kafkalite.local.announce import BrokerAnnouncement, controller_line

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_broker_line_names_its_id_address_pid_and_metrics_url():
    """A broker with a metrics port is announced with its id, listener, pid and /metrics URL."""
    announcement = BrokerAnnouncement("broker-1", "127.0.0.1", 9092, {"broker.id": "1", "metrics.port": "9192"})
    assert announcement.line(4242) == "broker 1 up on 127.0.0.1:9092 (pid 4242, metrics http://127.0.0.1:9192/metrics)"


def test_broker_line_without_metrics_or_with_a_generated_id():
    """metrics.port=0 leaves the URL out; broker.id=-1 (generated) is named by the launcher's name."""
    announcement = BrokerAnnouncement("broker-single", "127.0.0.1", 9092, {"broker.id": "-1", "metrics.port": "0"})
    assert announcement.metrics_url is None
    assert announcement.line(7) == "broker-single up on 127.0.0.1:9092 (pid 7)"


def test_broker_metrics_port_defaults_as_the_broker_does():
    """Without metrics.port the broker serves metrics on kafkalite's default, 9404, and the line says so."""
    assert BrokerAnnouncement("b", "h", 1, {"broker.id": "2"}).metrics_url == "http://h:9404/metrics"


def test_controller_line():
    """The controller is named; none elected in time says where to look."""
    assert controller_line(3) == "controller: broker 3"
    assert controller_line(None).startswith("controller: none elected yet")


@pytest.mark.parametrize(("which", "config", "listen", "error"), [
    (None, CONFIG / "server.properties", "127.0.0.1:9190", "prometheus is not installed"),
    ("/usr/bin/prometheus", Path("/nonexistent/prometheus.yml"), "127.0.0.1:9190", "no configuration at"),
    ("/usr/bin/prometheus", CONFIG / "server.properties", "9090", "--listen takes HOST:PORT"),
])
def test_prometheus_start_refuses_with_one_line(tmp_path, monkeypatch, which, config, listen, error):
    """A missing binary, config or a bad address is one line on stderr, exit 1, and nothing started."""
    monkeypatch.setattr(prometheus.shutil, "which", lambda name: which)
    errors, said = [], []
    assert prometheus.start(tmp_path, str(config), listen, 1.0, out=said.append, err=errors.append) == 1
    assert len(errors) == 1 and error in errors[0], errors
    assert said == []
    assert not (tmp_path / "prometheus.pid").exists()
