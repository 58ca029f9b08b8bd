"""``kafkalite-server CONFIG [--override key=value ...] [--log-dir DIR] [--log-level [COMPONENT=]LEVEL ...]``.

One broker in the foreground. Logs to stderr, and its state-change log to
``DIR/state-change.log`` (:mod:`kafkalite.cli.log_setup`, which also owns the levels per
component); shuts down cleanly on SIGTERM or SIGINT and exits 0; a bad configuration or
log level exits 1 with one line naming the key and what it accepts. Before anything
else opens files, the soft ``RLIMIT_NOFILE`` is raised to the hard limit (each log
segment keeps one descriptor, as in Kafka, whose documentation tells operators the same).
"""

import argparse
import gc
import resource
import sys

from kafkalite.cli.log_setup import COMPONENTS, LogLevelError, log_time, parse_log_levels

__all__ = ["DEFAULT_LOG_DIR", "log_time", "main", "raise_open_files_limit"]

#: Where state-change.log goes without --log-dir: ``logs`` under the working directory, as
#: Kafka's scripts default ``kafka.logs.dir`` to ``$KAFKA_HOME/logs``.
DEFAULT_LOG_DIR = "logs"


def raise_open_files_limit():
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit.

    :returns: ``(soft before, soft now, hard)``; the soft limit stays as it was when the
        kernel refuses (an unlimited hard limit above ``fs.nr_open``).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return soft, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="kafkalite-server", description="Run one kafkalite broker.")
    parser.add_argument("config", help="path to server.properties")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="override a property of the config file (repeatable)")
    parser.add_argument("--log-dir", default=DEFAULT_LOG_DIR, metavar="DIR",
                        help="directory of the broker's state-change.log (default: %(default)s, created if missing)")
    parser.add_argument("--log-level", action="append", default=[], metavar="[COMPONENT=]LEVEL",
                        help="TRACE, DEBUG, INFO, WARN, ERROR or FATAL: alone, every component's level (default "
                             "INFO); COMPONENT=LEVEL for one component and those below it (repeatable). "
                             "Components: " + ", ".join(COMPONENTS))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from kafkalite.config import ConfigError, load_config

    try:
        levels = parse_log_levels(args.log_level)
    except LogLevelError as error:
        print("kafkalite-server: %s" % error, file=sys.stderr)
        return 1

    try:
        config = load_config(args.config, args.override)
    except ConfigError as error:
        print("kafkalite-server: %s" % error, file=sys.stderr)
        return 1
    except OSError as error:
        print("kafkalite-server: cannot read %s: %s" % (args.config, error.strerror), file=sys.stderr)
        return 1
    from kafkalite.cli.log_setup import install_logging

    try:
        state_change_log = install_logging(levels, args.log_dir, sys.stderr)
    except OSError as error:
        print("kafkalite-server: cannot write the state-change log in %s: %s" % (args.log_dir, error.strerror),
              file=sys.stderr)
        return 1
    return run(config, state_change_log.baseFilename)


#: Collect the youngest generation every 50,000 allocations, not CPython's 700. A broker with
#: 10,000 partitions holds a few hundred thousand long-lived objects, and one LeaderAndIsr or
#: controller failover allocates as many again: at the default, collections took half of a
#: failover's time (measured: first requests after 1.15 s with the default, 0.71 s with these).
GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collector():
    """Apply :data:`GC_THRESHOLDS`; returns CPython's thresholds before."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    return before


def log_record_walk(log):
    """Say which walk validates produced records: the C accelerator, or (WARN) the slower pure Python."""
    from kafkalite.protocol.record_validation import NATIVE

    if NATIVE:
        log.info("validating records with the C record walk")
    else:
        log.warn("the C record walk was not built; validating records in pure Python is slower")


def run(config, state_change_path=None):
    """Run a broker with ``config`` until SIGTERM/SIGINT (logging installed); returns the exit status."""
    from twisted.internet import defer, reactor
    from twisted.logger import Logger

    from kafkalite.broker import KafkaServer

    log = Logger(namespace="kafkalite.server")
    if state_change_path is not None:
        log.info("state-change log: {path}", path=state_change_path)
    default_thresholds = tune_garbage_collector()
    log.info("garbage collector thresholds {thresholds} (CPython's default {default})",
             thresholds=GC_THRESHOLDS, default=default_thresholds)
    before, soft, hard = raise_open_files_limit()
    log.info("open files limit (RLIMIT_NOFILE): soft {soft} (was {before}), hard {hard}",
             soft=_limit(soft), before=_limit(before), hard=_limit(hard))
    log_record_walk(log)
    for key in config.unknown_keys:
        log.warn("unknown configuration key {key} ignored", key=key)

    metrics = None
    if config.metrics_port:
        from prometheus_client import CollectorRegistry

        from kafkalite.metrics import BrokerMetrics, serve_metrics

        registry = CollectorRegistry()
        metrics = BrokerMetrics(registry)
    server = KafkaServer(config, reactor, metrics=metrics)
    status = {"code": 0}

    def started(_):
        if metrics is not None:
            serve_metrics(reactor, config.metrics_port, metrics.registry, "", status=server.status)
            log.info("metrics on http://0.0.0.0:{port}/metrics, status page on http://0.0.0.0:{port}/",
                     port=config.metrics_port)

    def failed(failure):
        from kafkalite.log.manager import InconsistentBrokerMetadataError

        if failure.check(InconsistentBrokerMetadataError, RuntimeError):
            # A refusal with its reason (another cluster's data, a duplicate broker.id), not a bug.
            log.error("broker failed to start: {reason}", reason=failure.getErrorMessage())
        else:
            log.failure("broker failed to start", failure)
        status["code"] = 1
        if reactor.running:
            reactor.stop()

    def begin():
        d = defer.Deferred.fromCoroutine(server.startup())
        d.addCallbacks(started, failed)

    reactor.callWhenRunning(begin)
    reactor.addSystemEventTrigger("before", "shutdown", lambda: defer.Deferred.fromCoroutine(server.shutdown()))
    reactor.run()
    return status["code"]


def _limit(value):
    return "unlimited" if value == resource.RLIM_INFINITY else value


if __name__ == "__main__":
    sys.exit(main())
