"""``python -m kafkalite.local``: brokers that outlive the command, tracked by pid files in a run directory.

The commands behind ``make run``, ``make run-single``, ``make stop``, ``make status`` and
``make bench`` (ZooKeeper is ``zk/zkctl``'s)::

    python -m kafkalite.local [--run-dir .run] start [--timeout S] [--override KEY=VALUE ...]
                                              [--log-level [COMPONENT=]LEVEL ...] NAME=CONFIG ...
    python -m kafkalite.local [--run-dir .run] stop [--timeout S] NAME ...
    python -m kafkalite.local [--run-dir .run] status NAME ...
    python -m kafkalite.local [--run-dir .run] running NAME ...

``start`` runs each broker as ``python -m kafkalite CONFIG --override ... --log-level ...``
in a session of its own, output in ``RUN_DIR/NAME.log`` (started afresh), its state-change
log in ``RUN_DIR/NAME-logs/state-change.log``, pid in ``RUN_DIR/NAME.pid``,
its address in ``RUN_DIR/NAME.addr``; it waits until every broker serves (its listener
and metrics port accept connections), printing ``broker 1 up on 127.0.0.1:9092 (pid N,
metrics http://127.0.0.1:9192/metrics)`` for each and then ``controller: broker N`` (read
from ZooKeeper); if one exits or does not serve within ``--timeout`` s, it prints the end
of its log, stops every broker it started and exits 1. ``stop`` stops the named brokers one at a time by
pid (SIGTERM, then SIGKILL after ``--timeout`` s). ``status`` shows which run and
serve. ``running`` prints the running ones and exits 0 if there are any, else 1.

A pid file only counts while its process lives and is a kafkalite process (a guard
against pid reuse). Standard library only: ``stop`` and ``status`` work with any ``python3``.
"""

import argparse
import functools
import os
import sys
from pathlib import Path

from kafkalite.local.announce import BrokerAnnouncement, controller_line, find_controller
from kafkalite.local.broker import STOP_TIMEOUT_S, BrokerProcess, BrokerStartError, listener_address, read_properties
from kafkalite.local.process import pid_alive, pid_cmdline, port_open, stop_recorded

__all__ = ["main", "running_pid"]

START_TIMEOUT_S = 60.0


def running_pid(pid_path):
    """The pid in ``pid_path`` if that process lives and runs kafkalite, else ``None``."""
    try:
        pid = int(Path(pid_path).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not pid_alive(pid) or not any("kafkalite" in arg for arg in pid_cmdline(pid) or ()):
        return None
    return pid


def _paths(run_dir, name):
    run_dir = Path(run_dir)
    return run_dir / f"{name}.pid", run_dir / f"{name}.addr", run_dir / f"{name}.log"


def _overrides(pairs):
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--override takes KEY=VALUE, not {pair!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def _say(line):
    print(line, flush=True)  # progress lines reach `make run`'s pipe as they happen


def start(run_dir, specs, overrides, timeout, stop_timeout, out=_say, err=None, log_levels=()):
    """Start the brokers ``specs`` (``[(name, config path)]``) detached and wait until each serves.

    A broker serves once its listener and (unless ``metrics.port=0``) its metrics port accept
    connections; a line says so for each (:class:`~kafkalite.local.announce.BrokerAnnouncement`),
    then one names the controller, read from ZooKeeper (waiting up to ``timeout`` s for one).

    ``log_levels`` are passed to every broker as ``--log-level`` arguments.

    :returns: 0, or 1 after reporting a failure and stopping every broker started.
    """
    err = err or (lambda line: print(line, file=sys.stderr))
    os.makedirs(run_dir, exist_ok=True)
    brokers = []
    zookeeper_connects = set()
    for name, config in specs:
        pid_path, addr_path, log_path = _paths(run_dir, name)
        pid = running_pid(pid_path)
        if pid is not None:
            err(f"{name} is already running (pid {pid}); stop it first")
            return 1
        try:
            properties = read_properties(config, overrides)
            host, port = listener_address(properties)
            zookeeper_connects.add(properties.get("zookeeper.connect", ""))
        except (OSError, ValueError) as exc:
            err(f"{name}: cannot start from {config}: {exc}")
            return 1
        broker = BrokerProcess(config, log_path, port, host=host, name=name, overrides=overrides,
                               pid_path=pid_path, detach=True, truncate_log=True, log_levels=log_levels)
        brokers.append((broker, BrokerAnnouncement(name, host, port, properties)))
        addr_path.write_text(f"{host}:{port}\n")
    started = []
    try:
        for broker, _ in brokers:
            started.append(broker.start())
        for broker, announcement in brokers:
            metrics_open = functools.partial(port_open, broker.host, announcement.metrics_port)
            broker.wait_ready(timeout, ready=metrics_open if announcement.metrics_port else None)
            out(announcement.line(broker.pid))
    except BrokerStartError as exc:
        err(str(exc))
        _abandon(run_dir, started, stop_timeout, out)
        return 1
    except BaseException:  # Ctrl-C: stop what was started, then let it propagate
        _abandon(run_dir, started, stop_timeout, out)
        raise
    if len(zookeeper_connects) == 1 and "" not in zookeeper_connects:
        out(controller_line(find_controller(zookeeper_connects.pop(), timeout)))
    return 0


def _abandon(run_dir, brokers, timeout, out):
    for broker in brokers:
        if broker.is_running():
            out(f"stopping {broker.name} (pid {broker.pid})")
        broker.stop(timeout, log=out)
        _paths(run_dir, broker.name)[1].unlink(missing_ok=True)


def stop(run_dir, names, timeout, out=print):
    """Stop the named brokers one at a time, by pid: SIGTERM, then SIGKILL after ``timeout`` s."""
    for name in names:
        pid_path, addr_path, _ = _paths(run_dir, name)
        stop_recorded(name, running_pid(pid_path), (pid_path, addr_path), timeout, out)
    return 0


def status(run_dir, names, out=print):
    """One line per running broker (pid, and whether it accepts connections)."""
    any_running = False
    for name in names:
        pid_path, addr_path, _ = _paths(run_dir, name)
        pid = running_pid(pid_path)
        if pid is None:
            continue
        any_running = True
        try:
            host, _, port = addr_path.read_text().strip().rpartition(":")
            serving = port_open(host, int(port))
            state = f"serving on {host}:{port}" if serving else f"not accepting connections on {port}"
        except (FileNotFoundError, ValueError):
            state = "address unknown"
        out(f"{name}: running (pid {pid}), {state}")
    if not any_running:
        out("brokers: none running")
    return 0


def running(run_dir, names, out=print):
    """Print the names of the running brokers; 0 if there are any, else 1."""
    names = [name for name in names if running_pid(_paths(run_dir, name)[0]) is not None]
    if names:
        out(" ".join(names))
    return 0 if names else 1


def _spec(text):
    name, sep, config = text.partition("=")
    if not sep or not name or not config:
        raise argparse.ArgumentTypeError(f"expected NAME=CONFIG, not {text!r}")
    return name, config


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kafkalite.local",
        description="Start, stop and show brokers tracked by pid files in a run directory.")
    parser.add_argument("--run-dir", default=".run", help="pid files, addresses and logs (default %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    start_parser = sub.add_parser("start", help="start brokers detached and wait until each accepts connections")
    start_parser.add_argument("brokers", nargs="+", type=_spec, metavar="NAME=CONFIG")
    start_parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                              help="override a property of every broker's config (repeatable)")
    start_parser.add_argument("--log-level", action="append", default=[], metavar="[COMPONENT=]LEVEL",
                              help="passed to every broker (repeatable; see kafkalite-server --help)")
    start_parser.add_argument("--timeout", type=float, default=START_TIMEOUT_S,
                              help="seconds to wait for each broker (default %(default)s)")
    start_parser.add_argument("--stop-timeout", type=float, default=STOP_TIMEOUT_S,
                              help="seconds a broker has to exit after SIGTERM when a start is abandoned")
    stop_parser = sub.add_parser("stop", help="stop brokers by pid, one at a time")
    stop_parser.add_argument("names", nargs="+", metavar="NAME")
    stop_parser.add_argument("--timeout", type=float, default=STOP_TIMEOUT_S,
                             help="seconds to wait after SIGTERM before SIGKILL (default %(default)s)")
    for command, text in (("status", "show which brokers run"), ("running", "print the running brokers")):
        sub.add_parser(command, help=text).add_argument("names", nargs="+", metavar="NAME")
    args = parser.parse_args(argv)
    if args.command == "start":
        return start(args.run_dir, args.brokers, _overrides(args.override), args.timeout, args.stop_timeout,
                     log_levels=args.log_level)
    if args.command == "stop":
        return stop(args.run_dir, args.names, args.timeout)
    return {"status": status, "running": running}[args.command](args.run_dir, args.names)
