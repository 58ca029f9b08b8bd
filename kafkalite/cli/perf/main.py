"""``kafkalite-perf``'s command line: which measurements run, on which cluster, and the report.

Throughput mode (``make bench``): the raw limits, the kcat workloads and optionally the
replicated ones, against a running cluster (``--bootstrap``) or one of its own
(``--start-cluster``). Scale mode (``--scale``, ``make bench-scale``): 10,000 partitions
on a 3-broker cluster of its own. A cluster it starts lives in a scratch directory and is
stopped by pid at the end, also on Ctrl-C and SIGTERM.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading

from kafkalite.cli.perf.metadata import condition_brokers_known, poll_brokers
from kafkalite.cli.perf.raw import MB, measure_raw_limits
from kafkalite.cli.perf.replicated import run_replicated
from kafkalite.cli.perf.report import format_replicated_report, format_report, results_json
from kafkalite.cli.perf.workloads import CODECS, kcat_version, run_workloads
from kafkalite.local.cluster import scratch_cluster

__all__ = ["main", "parse_args", "start_cluster"]


def parse_args(argv=None):
    """Parse the command line (see ``kafkalite-perf --help``)."""
    parser = argparse.ArgumentParser(
        prog="kafkalite-perf",
        description="Produce/consume throughput of a local kafkalite cluster, next to the machine's raw "
                    "loopback-socket->file and file->socket (sendfile) limits (DESIGN.md section 11); with "
                    "--scale, how a 3-broker cluster of its own copes with 10,000 partitions (issue 7).")
    parser.add_argument("--bootstrap", default=None,
                        help="bootstrap servers of a running cluster (default 127.0.0.1:9092)")
    parser.add_argument("--start-cluster", action="store_true",
                        help="start ZooKeeper and --brokers brokers in a temporary directory, stop them at the end")
    parser.add_argument("--brokers", type=int, choices=(1, 3), default=1,
                        help="brokers --start-cluster starts: 1 (config/server.properties) or 3 "
                             "(config/cluster/server-{1,2,3}.properties) (default %(default)s)")
    parser.add_argument("--replicated", action="store_true",
                        help="also run the RF=3 acks=all workload (throughput, p50/p99 latency) and, with "
                             "--start-cluster --brokers 3, the leader kill -9 / clean shutdown unavailability")
    parser.add_argument("--replicated-only", action="store_true",
                        help="run only the --replicated measurements (no raw limits, no kcat workloads)")
    parser.add_argument("--latency-rate", type=float, default=1000.0,
                        help="records/s of the paced acks=all latency run (default %(default)s)")
    parser.add_argument("--latency-seconds", type=float, default=None,
                        help="length of the paced latency run (default 5; 2 with --quick)")
    parser.add_argument("--session-timeout-ms", type=int, default=None,
                        help="zookeeper.session.timeout.ms of the brokers --start-cluster starts "
                             "(default: the config file's, i.e. Kafka's 18000)")
    parser.add_argument("--records", type=int, default=None,
                        help="records of 100 B (default 1,000,000; 20,000 with --quick); 1 KiB runs use a fifth")
    parser.add_argument("--record-sizes", default="100,1024",
                        help="comma-separated record sizes in bytes, newline included (default %(default)s)")
    parser.add_argument("--compression", default="none",
                        help="comma-separated producer codecs, one kcat workload (produce, consume) each: "
                             f"{', '.join(CODECS)} (default %(default)s), e.g. none,lz4,zstd")
    parser.add_argument("--topic-prefix", default="kafkalite-perf",
                        help="prefix of the fresh topic made for each workload (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="few records and a small raw transfer: a smoke run, not a measurement")
    parser.add_argument("--raw-mb", type=int, default=None,
                        help="MB moved per raw-limit measurement (default 1024; 64 with --quick)")
    parser.add_argument("--raw-repeats", type=int, default=None,
                        help="raw-limit repeats, best kept (default 3; 1 with --quick)")
    parser.add_argument("--raw-only", action="store_true", help="measure the raw limits only (no cluster needed)")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw limits (no ratios printed)")
    parser.add_argument("--confluent", action="store_true",
                        help="also run confluent-kafka Python producer/consumer workloads")
    parser.add_argument("--kcat", default="kcat", help="kcat executable (default %(default)s)")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one, removed)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results as JSON here")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds allowed for each client process (default %(default)s)")
    scale = parser.add_argument_group(
        "scale benchmark", "--scale starts ZooKeeper and 3 brokers (config/cluster settings) of its own, creates "
        "the partitions with RF 3 and measures creation, controller failover, rejoin after kill -9, a clean "
        "restart, memory and descriptors, each against its target")
    scale.add_argument("--scale", action="store_true", help="run the scale benchmark instead of the throughput one")
    scale.add_argument("--scale-partitions", type=int, default=10_000,
                       help="partitions to create (default %(default)s; a few hundred for development runs)")
    scale.add_argument("--scale-topic-partitions", type=int, default=100,
                       help="partitions per topic (default %(default)s)")
    scale.add_argument("--scale-poll-interval", type=float, default=0.5,
                       help="seconds between Metadata polls of each broker (default %(default)s)")
    scale.add_argument("--scale-deadline", type=float, default=300.0,
                       help="seconds each phase may take before it is reported not reached (default %(default)s)")
    scale.add_argument("--strict", action="store_true", help="with --scale: a missed target fails the run too")
    args = parser.parse_args(argv)
    args.bootstrap_given = args.bootstrap is not None
    if args.bootstrap is None:
        args.bootstrap = "127.0.0.1:9092"
    if args.records is None:
        args.records = 20_000 if args.quick else 1_000_000
    if args.raw_mb is None:
        args.raw_mb = 64 if args.quick else 1024
    if args.raw_repeats is None:
        args.raw_repeats = 1 if args.quick else 3
    if args.latency_seconds is None:
        args.latency_seconds = 2.0 if args.quick else 5.0
    if args.replicated_only:
        args.replicated = True
        args.no_raw = True
    try:
        args.record_sizes = [int(size) for size in args.record_sizes.split(",") if size.strip()]
    except ValueError:
        parser.error("--record-sizes takes comma-separated integers")
    args.compression = list(dict.fromkeys(codec.strip() for codec in args.compression.split(",") if codec.strip()))
    if not args.compression or not set(args.compression) <= set(CODECS):
        parser.error(f"--compression takes comma-separated codecs among {', '.join(CODECS)}")
    if args.records < 1 or args.raw_mb < 1 or args.raw_repeats < 1:
        parser.error("--records, --raw-mb and --raw-repeats must be positive")
    if not args.record_sizes or min(args.record_sizes) < 2:
        parser.error("record sizes must be at least 2 bytes (one character and the newline)")
    if args.raw_only and args.no_raw:
        parser.error("--raw-only and --no-raw exclude each other")
    if args.latency_rate <= 0 or args.latency_seconds <= 0:
        parser.error("--latency-rate and --latency-seconds must be positive")
    if args.scale_partitions < 1 or args.scale_topic_partitions < 1:
        parser.error("--scale-partitions and --scale-topic-partitions must be positive")
    if args.scale_poll_interval <= 0 or args.scale_deadline <= 0:
        parser.error("--scale-poll-interval and --scale-deadline must be positive")
    if args.scale and (args.raw_only or args.replicated or args.bootstrap_given):
        parser.error("--scale runs on a cluster of its own: no --bootstrap, --raw-only or --replicated")
    if args.strict and not args.scale:
        parser.error("--strict applies to --scale")
    return args


def start_cluster(workdir, brokers, session_timeout_ms=None, timeout=60.0, log=print):
    """Start ZooKeeper and ``brokers`` brokers of our own (:func:`kafkalite.local.cluster.scratch_cluster`).

    Waits until every broker's Metadata lists all of them (the controller has sent UpdateMetadata).

    :returns: the started :class:`~kafkalite.local.cluster.LocalCluster`.
    :raises RuntimeError: with the log tail of what did not come up in ``timeout`` s (nothing is left running).
    """
    overrides = {} if session_timeout_ms is None else {"zookeeper.session.timeout.ms": str(session_timeout_ms)}
    cluster = scratch_cluster(workdir, size=brokers, overrides=overrides)
    cluster.start(timeout)
    try:
        ids = [broker.broker_id for broker in cluster.brokers]
        known = poll_brokers({broker.broker_id: broker.bootstrap for broker in cluster.brokers},
                             condition_brokers_known(ids), timeout, 0.2)
        if not known.reached:
            raise RuntimeError(f"Metadata does not list {len(ids)} brokers after {timeout} s: {known.progress}\n"
                               f"{cluster.log_tails()}")
    except BaseException:
        cluster.stop()
        raise
    log(f"# started ZooKeeper at {cluster.zookeeper.connect_string} and {brokers} broker(s) at {cluster.bootstrap}")
    return cluster


def _missing_client():
    """A message when confluent-kafka (the ``perf`` extra) is not installed, else ``None``."""
    try:
        import confluent_kafka  # noqa: F401 -- only checking that it is there
    except ImportError:
        return "kafkalite-perf needs confluent-kafka: pip install 'kafkalite[perf]'"
    return None


def _scale(args, workdir):
    from kafkalite.cli.perf.scale import run_scale
    from kafkalite.cli.perf.scale_report import format_scale_report, scale_exit_status, scale_json

    run = run_scale(args, workdir, log=lambda line: print(line, flush=True))
    print()
    for line in format_scale_report(run):
        print(line)
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(scale_json(run), out, indent=2)
    return scale_exit_status(run, args.strict)


def main(argv=None):
    """Entry point of ``kafkalite-perf``; returns the exit status (1 when a workload or a scale phase failed)."""
    try:
        return _run(parse_args(argv))
    except KeyboardInterrupt:
        # The finally clauses below have already stopped whatever this run started.
        print("kafkalite-perf: interrupted; the processes it started are stopped", file=sys.stderr)
        return 130


def _run(args):
    if threading.current_thread() is threading.main_thread():
        import signal

        # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the finally clauses stop the cluster we started.
        signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    if not args.raw_only and (problem := _missing_client()):
        print(problem, file=sys.stderr)
        return 2
    workdir = args.workdir or tempfile.mkdtemp(prefix="kafkalite-perf-")
    os.makedirs(workdir, exist_ok=True)
    cluster = None
    limits = {}
    results = []
    latency_results = []
    unavailability_results = []
    status = 0
    try:
        if args.scale:
            return _scale(args, workdir)
        if not args.no_raw:
            print(f"# raw limits: {args.raw_mb} MB, best of {args.raw_repeats}", flush=True)
            limits = measure_raw_limits(args.raw_mb * MB, args.raw_repeats, workdir)
        if not args.raw_only:
            if shutil.which(args.kcat) is None:
                print(f"kafkalite-perf: kcat not found ({args.kcat})", file=sys.stderr)
                return 2
            bootstrap = args.bootstrap
            if args.start_cluster:
                try:
                    cluster = start_cluster(workdir, args.brokers, args.session_timeout_ms)
                except (RuntimeError, OSError) as exc:
                    print(f"kafkalite-perf: {exc}", file=sys.stderr)
                    return 2
                bootstrap = cluster.bootstrap
            print(f"# {kcat_version(args.kcat)}; bootstrap {bootstrap}", flush=True)
            log = lambda line: print(line, flush=True)  # noqa: E731
            if not args.replicated_only:
                results = run_workloads(args, workdir, bootstrap, log=log)
            if args.replicated:
                latency_results, unavailability_results = run_replicated(args, bootstrap, cluster, log=log)
            if any(result.error for result in [*results, *latency_results, *unavailability_results]):
                status = 1
        print()
        for line in format_report(limits, results) + format_replicated_report(latency_results,
                                                                               unavailability_results):
            print(line)
        if args.json_path:
            with open(args.json_path, "w") as out:
                json.dump(results_json(limits, results, latency_results, unavailability_results), out, indent=2)
        return status
    finally:
        if cluster is not None:
            cluster.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
