"""One broker process: ``python -m kafkalite CONFIG [--override key=value ...] --log-dir DIR [--log-level ...]``.

:class:`BrokerProcess` is the one broker launcher of the repository: ``make run`` and
``make run-single`` (through :mod:`kafkalite.local.rundir`), the test fixtures
(``tests/support/cluster.py`` subclasses it) and ``kafkalite-perf``'s clusters. It
starts the broker with its output in a log file, waits until the listener accepts
connections (failing with the log's tail when the broker exits or time runs out), and
stops it by pid: SIGTERM, then SIGKILL after a grace period. Its state-change log goes to
``app_log_dir`` (by default the log file's name without ``.log``, plus ``-logs``:
``.run/broker-1.log`` → ``.run/broker-1-logs/state-change.log``).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kafkalite.config import parse_properties
from kafkalite.local.process import log_tail, port_open, spawn, terminate

__all__ = [
    "READY_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "BrokerProcess",
    "BrokerStartError",
    "listener_address",
    "read_properties",
    "write_properties",
]

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class BrokerStartError(RuntimeError):
    """A broker exited during start-up or did not become ready in time (the message has its log tail)."""


def write_properties(path, properties):
    """Write ``properties`` (a mapping) as a ``server.properties`` file, creating its directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))


def read_properties(path, overrides=None):
    """The properties of the file at ``path`` with ``overrides`` (a mapping) applied."""
    properties = parse_properties(Path(path).read_text())
    properties.update({key: str(value) for key, value in (overrides or {}).items()})
    return properties


def listener_address(properties):
    """``(host, port)`` to connect to the first listener of ``properties``.

    An empty or wildcard host (``PLAINTEXT://:9092``, ``0.0.0.0``) is reached on loopback.

    :raises ValueError: when ``listeners`` is missing or has no port.
    """
    first = properties.get("listeners", "").split(",")[0].strip()
    _, _, hostport = first.rpartition("//")
    host, _, port = hostport.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"no port in listeners={properties.get('listeners', '')!r}")
    host = host.strip("[]")
    return (host if host not in ("", "0.0.0.0", "::") else "127.0.0.1"), int(port)


class BrokerProcess:
    """One broker process, started with this interpreter (``[sys.executable, "-m", "kafkalite", ...]``).

    :param config_path: the properties file the broker reads.
    :param log_path: the broker's stdout and stderr.
    :param port: the port its listener accepts connections on (on ``host``).
    :param broker_id: its ``broker.id``, for messages and :meth:`Cluster.broker
        <kafkalite.local.cluster.LocalCluster.broker>`.
    :param name: how messages name it (default ``broker-<id>``).
    :param properties: a mapping written to ``config_path`` at every start; ``None`` uses
        the file as it is. Subclasses may compute it by overriding :meth:`properties`.
    :param overrides: ``--override key=value`` arguments of the command line.
    :param cwd: the broker's working directory (relative paths in its config resolve there).
    :param pid_path: a file holding the pid while it runs (``make run``'s ``.run/NAME.pid``).
    :param detach: run it in a session of its own, so it outlives this process and its terminal.
    :param die_with_parent: SIGTERM it when the thread that started it dies (a hard-killed
        ``kafkalite-perf`` leaks no broker).
    :param truncate_log: start the log afresh at each start instead of appending.
    :param app_log_dir: the broker's ``--log-dir`` (its ``state-change.log``); default: see the module.
    :param log_levels: ``--log-level`` arguments (``LEVEL`` or ``COMPONENT=LEVEL``), in order.
    """

    #: The program started, followed by the properties file path and the overrides.
    command = (sys.executable, "-m", "kafkalite")

    def __init__(self, config_path, log_path, port, *, broker_id=None, name=None, properties=None, overrides=None,
                 host="127.0.0.1", cwd=None, pid_path=None, detach=False, die_with_parent=False,
                 truncate_log=False, app_log_dir=None, log_levels=()):
        self.config_path = Path(config_path)
        self.log_path = Path(log_path)
        self.port = port
        self.host = host
        self.broker_id = broker_id
        self.name = name or f"broker-{broker_id}"
        self._properties = None if properties is None else dict(properties)
        self._overrides = {key: str(value) for key, value in (overrides or {}).items()}
        self.cwd = cwd
        self.pid_path = None if pid_path is None else Path(pid_path)
        self.detach = detach
        self.die_with_parent = die_with_parent
        self.truncate_log = truncate_log
        self.app_log_dir = Path(app_log_dir) if app_log_dir is not None else \
            self.log_path.with_name(self.log_path.stem + "-logs")
        self.log_levels = tuple(log_levels)
        self.process: subprocess.Popen | None = None
        #: Wall-clock time (``time.time()``) of the last start, taken just before the process is spawned.
        self.started_at = None

    # --- addresses and settings ------------------------------------------------------------

    @property
    def bootstrap(self):
        """``host:port``."""
        return f"{self.host}:{self.port}"

    def properties(self):
        """The mapping written to ``config_path`` at each start, or ``None`` to use the file as it is."""
        return self._properties

    def argv(self):
        """The command line of the broker."""
        argv = [*self.command, str(self.config_path)]
        for key, value in self._overrides.items():
            argv += ["--override", f"{key}={value}"]
        argv += ["--log-dir", str(self.app_log_dir)]
        for level in self.log_levels:
            argv += ["--log-level", level]
        return argv

    # --- lifecycle -------------------------------------------------------------------------

    def start(self):
        """Write the properties file (if any) and spawn the broker; does not wait (see :meth:`wait_ready`).

        :raises RuntimeError: if it is already running.
        """
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running (pid {self.process.pid})")
        properties = self.properties()
        if properties is not None:
            write_properties(self.config_path, properties)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.started_at = time.time()
        self.process = spawn(self.argv(), self.log_path, cwd=self.cwd, env=env, detach=self.detach,
                             die_with_parent=self.die_with_parent, truncate_log=self.truncate_log)
        if self.pid_path is not None:
            self.pid_path.write_text(f"{self.process.pid}\n")
        return self

    def is_running(self):
        """True while the process has not exited."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self):
        """Pid of the running process, or ``None`` when not running."""
        return self.process.pid if self.is_running() else None

    @property
    def returncode(self):
        """The exit status once the process has exited (negative: killed by that signal)."""
        return None if self.process is None else self.process.poll()

    def wait_ready(self, timeout=READY_TIMEOUT_S, ready=None):
        """Wait until the port accepts connections and ``ready()`` (if given) is true.

        :raises BrokerStartError: with the log tail if the process exits or ``timeout`` s pass.
        """
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise BrokerStartError(
                    f"{self.name} exited with status {self.returncode} before accepting connections on "
                    f"{self.bootstrap}; last lines of {self.log_path}:\n{self.log_tail()}")
            if port_open(self.host, self.port) and (ready is None or ready()):
                return self
            if time.monotonic() >= deadline:
                raise BrokerStartError(
                    f"{self.name} did not accept connections on {self.bootstrap} within {timeout:g} s; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.1)

    def wait_exit(self, timeout):
        """Wait up to ``timeout`` s for the process to exit (after a signal): its status, or ``None`` if it runs."""
        if self.process is None:
            return None
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._remove_pid_file()
        return status

    def kill(self, sig=signal.SIGKILL):
        """Send ``sig`` to the broker's pid; for SIGKILL also wait until it is gone (and reap it)."""
        if not self.is_running():
            return
        os.kill(self.process.pid, sig)
        if sig == signal.SIGKILL:
            self.process.wait(timeout=STOP_TIMEOUT_S)
            self._remove_pid_file()

    def stop(self, timeout=STOP_TIMEOUT_S, log=None):
        """SIGTERM by pid (resuming a SIGSTOPped broker first), wait up to ``timeout`` s, then SIGKILL.

        Safe to call when not running.

        :param log: called with a line when SIGKILL was needed.
        :returns: the exit status.
        """
        if self.is_running():
            terminate(self.process.pid, timeout, log=log, name=self.name)
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self._remove_pid_file()
        return self.returncode

    def restart(self, wait=True, timeout=READY_TIMEOUT_S):
        """Stop (cleanly), start again on the same port and log dir, and by default wait until ready."""
        self.stop()
        self.start()
        if wait:
            self.wait_ready(timeout)
        return self

    def _remove_pid_file(self):
        if self.pid_path is not None:
            self.pid_path.unlink(missing_ok=True)

    # --- logs ------------------------------------------------------------------------------

    def log_text(self):
        """Everything the broker has written to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        """The last ``lines`` lines of the broker's log."""
        return log_tail(self.log_path, lines)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} {self.bootstrap} pid={self.pid}>"
