"""A local Prometheus for ``make run PROMETHEUS=1``: Debian's ``prometheus``, started detached, stopped by pid.

The commands behind ``make run PROMETHEUS=1``, ``make stop`` and ``make status``::

    python -m kafkalite.local.prometheus [--run-dir .run] start [--config FILE] [--listen HOST:PORT] [--timeout S]
    python -m kafkalite.local.prometheus [--run-dir .run] stop [--timeout S]
    python -m kafkalite.local.prometheus [--run-dir .run] status

``start`` runs ``prometheus --config.file=FILE --storage.tsdb.path=RUN_DIR/prometheus
--web.listen-address=HOST:PORT`` in a session of its own, output in
``RUN_DIR/prometheus.log``, pid in ``RUN_DIR/prometheus.pid``, its address in
``RUN_DIR/prometheus.addr``; it waits until ``/-/ready`` answers 200 and prints the
URLs, or prints the end of the log, stops it and exits 1. ``stop`` is SIGTERM by pid
(Prometheus closes its database), then SIGKILL after ``--timeout`` s. A pid file only
counts while its process lives and is a ``prometheus`` with this run directory's
storage path (a guard against pid reuse). Standard library only.
"""

import argparse
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from kafkalite.local.process import is_child, log_tail, pid_alive, pid_cmdline, port_open, spawn, stop_recorded

__all__ = ["DEFAULT_CONFIG", "DEFAULT_LISTEN", "is_ready", "main", "running_pid", "start", "status", "stop"]

DEFAULT_CONFIG = "deploy/prometheus/prometheus.yml"
DEFAULT_LISTEN = "127.0.0.1:9190"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
NAME = "prometheus"


def _paths(run_dir):
    run_dir = Path(run_dir).absolute()
    return (run_dir / f"{NAME}.pid", run_dir / f"{NAME}.addr", run_dir / f"{NAME}.log", run_dir / NAME)


def running_pid(run_dir):
    """The pid of this run directory's Prometheus if it lives, else ``None``."""
    pid_path, _, _, storage = _paths(run_dir)
    try:
        pid = int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if is_child(pid):  # ours, just started: /proc/<pid>/cmdline can still read empty
        return pid if pid_alive(pid) else None
    argv = pid_cmdline(pid) or ()
    if not pid_alive(pid) or not argv or os.path.basename(argv[0]) != NAME \
            or f"--storage.tsdb.path={storage}" not in argv:
        return None
    return pid


def is_ready(listen, timeout=1.0):
    """True when the Prometheus listening on ``listen`` (``HOST:PORT``) answers ``/-/ready`` with 200."""
    try:
        with urllib.request.urlopen(f"http://{listen}/-/ready", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def urls(listen):
    """``(web UI, alerts page)`` of a Prometheus listening on ``listen``."""
    return f"http://{listen}/", f"http://{listen}/alerts"


def start(run_dir, config, listen, timeout, out=print, err=None):
    """Start Prometheus detached and wait until it is ready; 0, or 1 after saying why (nothing left running)."""
    err = err or (lambda line: print(line, file=sys.stderr))
    pid_path, addr_path, log_path, storage = _paths(run_dir)
    pid = running_pid(run_dir)
    if pid is not None:
        running_at = addr_path.read_text().strip() if addr_path.exists() else listen
        out(f"prometheus already running (pid {pid}) on {urls(running_at)[0]}")
        return 0
    binary = shutil.which(NAME)
    if binary is None:
        err("prometheus is not installed: apt-get install prometheus (Debian's package)")
        return 1
    if not Path(config).is_file():
        err(f"prometheus: no configuration at {config}")
        return 1
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not host:
        err(f"prometheus: --listen takes HOST:PORT, not {listen!r}")
        return 1
    if port_open(host, int(port)):
        err(f"prometheus: {listen} is already in use; stop what listens there or choose PROMETHEUS_LISTEN")
        return 1
    storage.mkdir(parents=True, exist_ok=True)
    argv = [binary, f"--config.file={Path(config).absolute()}", f"--storage.tsdb.path={storage}",
            f"--web.listen-address={listen}"]
    process = spawn(argv, log_path, detach=True, truncate_log=True)
    pid_path.write_text(f"{process.pid}\n")
    addr_path.write_text(f"{listen}\n")
    deadline = time.monotonic() + timeout
    while not is_ready(listen):
        failure = None
        if process.poll() is not None:
            failure = f"prometheus exited with status {process.returncode} before it was ready"
        elif time.monotonic() >= deadline:
            failure = f"prometheus was not ready on {listen} within {timeout:g} s"
        if failure:
            err(f"{failure}; last lines of {log_path}:\n{log_tail(log_path)}")
            stop(run_dir, STOP_TIMEOUT_S, out=lambda line: None)
            return 1
        time.sleep(0.2)
    web, alerts = urls(listen)
    out(f"prometheus up on {web} (pid {process.pid}, alerts {alerts})")
    return 0


def stop(run_dir, timeout, out=print):
    """Stop this run directory's Prometheus by pid: SIGTERM, then SIGKILL after ``timeout`` s."""
    pid_path, addr_path, _, _ = _paths(run_dir)
    stop_recorded(NAME, running_pid(run_dir), (pid_path, addr_path), timeout, out)
    return 0


def status(run_dir, out=print):
    """One line: running (pid, ready or not, URL) or not running; 0 either way."""
    _, addr_path, _, _ = _paths(run_dir)
    pid = running_pid(run_dir)
    if pid is None:
        out("prometheus: not running")
        return 0
    listen = addr_path.read_text().strip() if addr_path.exists() else DEFAULT_LISTEN
    state = f"ready on {urls(listen)[0]}" if is_ready(listen) else f"not ready on {listen}"
    out(f"prometheus: running (pid {pid}), {state}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kafkalite.local.prometheus",
                                     description="Start, stop and show a local Prometheus tracked by a pid file.")
    parser.add_argument("--run-dir", default=".run", help="pid file, log and data directory (default %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    start_parser = sub.add_parser("start", help="start Prometheus detached and wait until it is ready")
    start_parser.add_argument("--config", default=DEFAULT_CONFIG, help="prometheus.yml (default %(default)s)")
    start_parser.add_argument("--listen", default=DEFAULT_LISTEN, help="web address (default %(default)s)")
    start_parser.add_argument("--timeout", type=float, default=START_TIMEOUT_S,
                              help="seconds to wait until ready (default %(default)s)")
    stop_parser = sub.add_parser("stop", help="stop it by pid")
    stop_parser.add_argument("--timeout", type=float, default=STOP_TIMEOUT_S,
                             help="seconds to wait after SIGTERM before SIGKILL (default %(default)s)")
    sub.add_parser("status", help="show whether it runs")
    args = parser.parse_args(argv)
    if args.command == "start":
        return start(args.run_dir, args.config, args.listen, args.timeout)
    if args.command == "stop":
        return stop(args.run_dir, args.timeout)
    return status(args.run_dir)


if __name__ == "__main__":
    sys.exit(main())
