"""What ``make run`` tells as the cluster comes up: a line per broker, then the controller.

``python -m kafkalite.local start`` prints :func:`broker_up_line` as each broker serves
(its listener and, when it has one, its metrics port accept connections) and then
:func:`controller_line` once ``/controller`` names a broker. The controller is read from
ZooKeeper by ``kafkalite-admin cluster --zookeeper ... --json`` run as a subprocess: the
launcher stays standard library only (``make stop`` and ``make status`` run without the
virtualenv), and the one ZooKeeper client of the repository does the reading.
"""

import json
import subprocess
import sys
import time

from kafkalite.config_keys import METRICS_PORT_DEFAULT

__all__ = ["BrokerAnnouncement", "controller_line", "find_controller"]

# Seconds one `kafkalite-admin cluster` may take before the next try.
_ADMIN_TIMEOUT_S = 10.0


class BrokerAnnouncement:
    """What is said about one broker once it serves, from its merged properties.

    :param name: the launcher's name for it (``broker-1``), used when ``broker.id`` is generated.
    :param host: the host its listener is reached on (metrics are served on every interface).
    :param port: its listener port.
    :param properties: its properties, overrides applied.
    """

    def __init__(self, name, host, port, properties):
        self.name = name
        self.host = host
        self.port = port
        broker_id = properties.get("broker.id", "").strip()
        self.label = f"broker {broker_id}" if broker_id and broker_id != "-1" else name
        try:
            self.metrics_port = int(properties.get("metrics.port", METRICS_PORT_DEFAULT))
        except ValueError:
            self.metrics_port = 0  # the broker itself refuses to start and says why

    @property
    def metrics_url(self):
        """``http://host:port/metrics``, or ``None`` when ``metrics.port=0``."""
        return f"http://{self.host}:{self.metrics_port}/metrics" if self.metrics_port else None

    def line(self, pid):
        """``broker 1 up on 127.0.0.1:9092 (pid 4242, metrics http://127.0.0.1:9192/metrics)``."""
        metrics = f", metrics {self.metrics_url}" if self.metrics_url else ""
        return f"{self.label} up on {self.host}:{self.port} (pid {pid}{metrics})"


def find_controller(zookeeper_connect, timeout, python=sys.executable):
    """The broker id ``/controller`` names, waiting up to ``timeout`` s for one to be elected.

    :param zookeeper_connect: the brokers' ``zookeeper.connect`` (chroot included).
    :returns: the id, or ``None`` when no controller appeared in time (or ZooKeeper could not be read).
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        admin_timeout = max(1.0, min(_ADMIN_TIMEOUT_S, remaining))
        try:
            done = subprocess.run(
                [python, "-m", "kafkalite.cli.admin", "cluster", "--zookeeper", zookeeper_connect, "--json",
                 "--timeout", f"{admin_timeout:g}"],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=admin_timeout + 10, check=False)
            controller = json.loads(done.stdout).get("controller") if done.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError, AttributeError):
            controller = None
        if isinstance(controller, int) and controller >= 0:
            return controller
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def controller_line(controller_id):
    """``controller: broker 2``, or what to check when none was elected in time."""
    if controller_id is None:
        return "controller: none elected yet (see kafkalite-admin cluster --zookeeper ... and the broker logs)"
    return f"controller: broker {controller_id}"
