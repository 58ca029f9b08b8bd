"""zkctl: start, stop and check a local ZooKeeper (standalone or 3-node ensemble).

The command line over :mod:`kafkalite.local.zookeeper` (which the test fixtures and
``kafkalite-perf`` use too), run as ``zk/zkctl`` or ``python -m kafkalite.local.zkctl``.

    zk/zkctl start [--ensemble] [--announce] --dir DIR [--port PORT] [--quorum-port Q] [--election-port E]
    zk/zkctl stop --dir DIR
    zk/zkctl status --dir DIR

``start`` waits until every node answers ``srvr`` (and an ensemble has a leader),
then prints the connect string, or with ``--announce`` (``make run``) one line per node
instead: ``zookeeper 127.0.0.1:2181 up (pid 4242)`` (an ensemble's nodes add their mode).
Exit status: 0 on success, 1 on failure; ``status`` exits 0 only when every node is serving.
"""

import argparse
import sys

from kafkalite.local import zookeeper

__all__ = ["announce_lines", "main"]


def _start(args):
    if args.ensemble:
        spec = zookeeper.ensemble_spec(
            args.dir, port=args.port, size=args.size, quorum_port=args.quorum_port,
            election_port=args.election_port, tick_time_ms=args.tick_time, heap=args.heap,
        )
    else:
        spec = zookeeper.standalone_spec(args.dir, port=args.port, tick_time_ms=args.tick_time, heap=args.heap)
    try:
        previous = zookeeper.ClusterSpec.load(args.dir)
    except zookeeper.ZkCtlError:
        previous = None
    running = previous is not None and any(zookeeper.node_pid(previous, n.node_id) for n in previous.nodes)
    if running and previous != spec:
        print(f"zkctl: a different ZooKeeper is already running in {args.dir} "
              f"({previous.connect_string}); stop it first", file=sys.stderr)
        return 1
    already = zookeeper.start_cluster(spec, timeout=args.timeout, detach=True)
    if len(already) == len(spec.nodes):
        print(f"zkctl: already running in {args.dir}", file=sys.stderr)
    elif already:
        print(f"zkctl: node(s) {already} were already running; started the others", file=sys.stderr)
    if args.announce:
        for line in announce_lines(spec):
            print(line)
    else:
        print(spec.connect_string)
    return 0


def announce_lines(spec):
    """One ``zookeeper HOST:PORT up (pid N)`` line per node of a started ``spec`` (ensemble: ``, leader``...)."""
    lines = []
    for _node_id, connect, pid, mode in zookeeper.cluster_status(spec):
        role = f", {mode}" if spec.ensemble and mode else ""
        lines.append(f"zookeeper {connect} up (pid {pid}{role})")
    return lines


def _stop(args):
    spec = zookeeper.ClusterSpec.load(args.dir)
    for node_id, pid in zookeeper.stop_cluster(spec, timeout=args.timeout).items():
        state = f"stopped (pid {pid})" if pid else "not running"
        print(f"node{node_id} {spec.node_connect_string(node_id)} {state}")
    return 0


def _status(args):
    spec = zookeeper.ClusterSpec.load(args.dir)
    all_serving = True
    for node_id, connect, pid, mode in zookeeper.cluster_status(spec):
        all_serving = all_serving and bool(mode)
        print(f"node{node_id} {connect} pid={pid or '-'} mode={mode or ('not serving' if pid else 'stopped')}")
    print(spec.connect_string)
    return 0 if all_serving else 1


def main(argv=None):
    parser = argparse.ArgumentParser(prog="zkctl", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a standalone server or an ensemble and wait until it serves")
    start.add_argument("--dir", required=True, help="directory for configs, data, logs and pid files")
    start.add_argument("--ensemble", action="store_true", help="start a 3-node ensemble instead of one server")
    start.add_argument("--announce", action="store_true",
                       help="print 'zookeeper HOST:PORT up (pid N)' per node instead of the connect string")
    start.add_argument("--size", type=int, default=3, help="ensemble size (default 3)")
    start.add_argument("--port", type=int, default=zookeeper.DEFAULT_PORT, help="(first) client port, default 2181")
    start.add_argument("--quorum-port", type=int, help="first quorum port (default PORT+707, i.e. 2888)")
    start.add_argument("--election-port", type=int, help="first election port (default PORT+1707, i.e. 3888)")
    start.add_argument("--tick-time", type=int, default=zookeeper.DEFAULT_TICK_TIME_MS, help="tickTime in ms")
    start.add_argument("--heap", default=zookeeper.DEFAULT_HEAP, help="JVM -Xmx (default 256m)")
    start.add_argument("--timeout", type=float, default=60.0, help="seconds to wait until serving")
    for name in ("stop", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dir", required=True)
        p.add_argument("--timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        return {"start": _start, "stop": _stop, "status": _status}[args.command](args)
    except zookeeper.ZkCtlError as e:
        print(f"zkctl: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
