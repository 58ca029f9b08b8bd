"""``kafkalite-perf --scale``: 10,000 partitions on three brokers, and how the cluster copes (issue 7, item 1).

On a cluster of its own (ZooKeeper and three brokers with ``config/cluster``'s settings,
free ports, a scratch directory, everything stopped by pid at the end) it creates the
partitions through CreateTopics (confluent-kafka's AdminClient) and measures, each
phase within a deadline:

- **create**: from the first CreateTopics to every partition created and led in every
  broker's Metadata;
- **controller failover**: SIGKILL of the controller (``/controller`` in ZooKeeper); once
  its session expired and a new controller was elected, from that election (the ctime of
  the new ``/controller`` znode) to every partition led by a live broker: the moment the
  new controller logs that every broker answered its new leaders' LeaderAndIsr
  (millisecond time stamps); then the UpdateMetadata after it, and, for the clients' view,
  when every live broker's Metadata showed it; also the time from the kill;
- **rejoin after kill -9**: the killed broker restarted, from its process start to
  listening and to every ISR full again in every broker's Metadata;
- **clean restart**: another broker SIGTERMed (how long its controlled shutdown took) and
  started again, from process start to listening and to every ISR full;
- the resident memory and open descriptors of every broker after creation and at the end.

Every broker's Metadata is polled at ``--scale-poll-interval`` (our own protocol client,
one broker at a time), so the report states the figures' resolution. A phase that does
not complete by its deadline is reported "not reached" with each broker's progress and
log tail; the later phases are skipped.
"""

import datetime
import logging
import os
import re
import signal
import time
from pathlib import Path

from kafkalite.cli.perf.metadata import (
    condition_all_isr_full,
    condition_all_led,
    condition_brokers_known,
    poll_brokers,
)
from kafkalite.cli.perf.scale_report import Figure, ResourceSample, ScaleRun, topics_for
from kafkalite.cli.perf.zkview import ZooKeeperView
from kafkalite.local.cluster import scratch_cluster
from kafkalite.local.zookeeper import ZkCtlError
from kafkalite.zkclient import ZkError

__all__ = [
    "CLEAN_RESTART_TARGET_S",
    "CREATE_TARGET_S",
    "FAILOVER_TARGET_S",
    "REJOIN_TARGET_S",
    "count_fds",
    "count_log_fds",
    "count_segments",
    "read_rss_bytes",
    "run_scale",
]

# Issue 7's targets (DESIGN.md section 11), in seconds.
CREATE_TARGET_S = 30.0
FAILOVER_TARGET_S = 2.0
REJOIN_TARGET_S = 15.0
CLEAN_RESTART_TARGET_S = 10.0
REPLICATION_FACTOR = 3

CREATE_LABEL = "create: first CreateTopics -> every partition led"
FAILOVER_LABEL = "controller failover: new controller elected -> all led"
FAILOVER_METADATA_LABEL = "controller failover: elected -> every broker's metadata updated"
FAILOVER_SEEN_LABEL = "controller failover: elected -> all led seen in Metadata polls"
REJOIN = "rejoin after kill -9:"
CLEAN_RESTART = "clean restart:"
ISR_FULL = "start -> every ISR full"
BROKERS = 3
KAFKA_SESSION_TIMEOUT_MS = 18000
STOP_GRACE_S = 15.0


class PhaseFailed(Exception):
    """A phase did not complete; the message says how far each broker got."""


def read_rss_bytes(pid):
    """``VmRSS`` of ``pid`` from /proc/<pid>/status, in bytes (``None`` if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def count_fds(pid):
    """Open file descriptors of ``pid`` (entries of /proc/<pid>/fd), or ``None`` if it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None


def count_log_fds(pid, log_dirs):
    """Descriptors of ``pid`` open on files inside ``log_dirs`` (comma-separated), or ``None`` if it is gone."""
    roots = [os.path.realpath(d) + os.sep for d in filter(None, log_dirs.split(","))]
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError):
        return None
    count = 0
    for entry in entries:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue
        if any(target.startswith(root) for root in roots):
            count += 1
    return count


def count_segments(log_dirs):
    """Segment files (``*.log``) in the partition directories of ``log_dirs`` (comma-separated)."""
    segments = 0
    for log_dir in filter(None, log_dirs.split(",")):
        for partition_dir in Path(log_dir).glob("*"):
            if partition_dir.is_dir():
                segments += sum(1 for entry in partition_dir.glob("*.log") if entry.is_file())
    return segments


class _Scale:
    """One scale run: the cluster, the ZooKeeper view and the figures so far."""

    def __init__(self, args, workdir, log):
        self.args = args
        self.log = log
        self.session_timeout_ms = args.session_timeout_ms or KAFKA_SESSION_TIMEOUT_MS
        overrides = {}
        if args.session_timeout_ms is not None:
            overrides["zookeeper.session.timeout.ms"] = str(args.session_timeout_ms)
        self.cluster = scratch_cluster(workdir, size=BROKERS, overrides=overrides)
        self.expected = topics_for(args.scale_partitions, args.scale_topic_partitions, f"{args.topic_prefix}-scale")
        self.run = ScaleRun(topics=len(self.expected), partitions=args.scale_partitions,
                            replication_factor=REPLICATION_FACTOR, brokers=BROKERS,
                            poll_interval_s=args.scale_poll_interval, session_timeout_ms=self.session_timeout_ms)
        self.baseline_fds = {}
        self.view = None
        self.down = set()  # brokers stopped on purpose (not a reason to give up polling)
        self.victim = None  # the controller killed by the failover phase

    # --- helpers ---------------------------------------------------------------------------------------------

    def addresses(self, broker_ids):
        return {broker_id: self.cluster.broker(broker_id).bootstrap for broker_id in sorted(broker_ids)}

    def broker_died(self):
        """Why polling is pointless: a broker that should run has exited (or ``None``)."""
        for broker in self.cluster.brokers:
            if broker.process is not None and not broker.is_running() and broker.broker_id not in self.down:
                return f"{broker.name} exited with status {broker.returncode}"
        return None

    def poll(self, broker_ids, condition, what, deadline_s=None):
        """Poll until every listed broker's Metadata meets ``condition``; the moment the last one did,
        as ``(at the latest, after)`` (``after`` is ``None`` when every broker met it at its first poll).

        :raises PhaseFailed: with each broker's progress when the deadline passes first.
        """
        outcome = poll_brokers(self.addresses(broker_ids), condition, deadline_s or self.args.scale_deadline,
                               self.args.scale_poll_interval, abort=self.broker_died)
        self.run.slowest_poll_s = max(self.run.slowest_poll_s, outcome.slowest_poll_s)
        if not outcome.reached:
            progress = "; ".join(f"broker {b}: {text}" for b, text in sorted(outcome.progress.items()))
            reason = outcome.aborted or f"not within {deadline_s or self.args.scale_deadline:g} s"
            raise PhaseFailed(f"{what}: {reason} ({progress})")
        return outcome.met_at, outcome.met_after

    def sample_resources(self, when):
        for broker in self.cluster.brokers:
            pid = broker.pid
            log_dirs = broker.properties()["log.dirs"]
            self.run.resources.append(ResourceSample(
                broker.broker_id, when, read_rss_bytes(pid) if pid else None, count_fds(pid) if pid else None,
                count_segments(log_dirs), self.baseline_fds.get(broker.broker_id),
                count_log_fds(pid, log_dirs) if pid else None))

    def figure(self, label, seconds=None, target_s=None, note="", at_least_s=None, error=None):
        figure = Figure(label, None if seconds is None else max(0.0, seconds), target_s, note, error,
                        at_least_s=None if at_least_s is None else max(0.0, at_least_s))
        self.run.figures.append(figure)
        if figure.seconds is not None:
            bracket = "" if figure.at_least_s is None else f" (more than {figure.at_least_s:.2f} s)"
            self.log(f"# {label}: {figure.seconds:.2f} s{bracket}")
        return figure

    def polled_figure(self, label, polled, since, target_s=None, note=""):
        """A figure from :meth:`poll`'s ``(at the latest, after)`` pair, both measured from ``since``."""
        latest, after = polled
        return self.figure(label, latest - since, target_s, note, None if after is None else after - since)

    # --- phases ----------------------------------------------------------------------------------------------

    def start(self):
        self.log(f"# starting ZooKeeper and {BROKERS} brokers in {self.cluster.brokers[0].cwd}")
        self.cluster.start(timeout=self.args.scale_deadline)
        self.view = ZooKeeperView(self.cluster.zookeeper.connect_string).start()
        self.poll(range(1, BROKERS + 1), condition_brokers_known(range(1, BROKERS + 1)), "brokers known")
        for broker in self.cluster.brokers:
            self.baseline_fds[broker.broker_id] = count_fds(broker.pid)

    def create(self):
        from confluent_kafka.admin import AdminClient, NewTopic

        deadline = self.args.scale_deadline
        # librdkafka's own log lines (brokers going away later on purpose) would only be noise here;
        # the outcome of CreateTopics is reported from its futures.
        quiet = logging.getLogger("kafkalite-perf.librdkafka")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        admin = AdminClient({"bootstrap.servers": self.cluster.bootstrap, "logger": quiet})
        new_topics = [NewTopic(topic, num_partitions=count, replication_factor=REPLICATION_FACTOR)
                      for topic, count in self.expected.items()]
        self.log(f"# CreateTopics: {len(new_topics):,} topics, {self.run.partitions:,} partitions, RF 3")
        started = time.time()
        futures = admin.create_topics(new_topics, operation_timeout=60, request_timeout=deadline)
        try:
            led = self.poll(range(1, BROKERS + 1), condition_all_led(self.expected, {1, 2, 3}, REPLICATION_FACTOR),
                            "every partition led", deadline)
        except PhaseFailed as exc:
            raise PhaseFailed(f"{exc}; CreateTopics: {_create_errors(futures, 1.0) or 'no error'}") from None
        errors = _create_errors(futures, timeout=max(1.0, started + deadline - time.time()))
        note = f"CreateTopics answered {errors}" if errors else ""
        self.polled_figure(CREATE_LABEL, led, started, CREATE_TARGET_S, note)

    def controller_failover(self):
        before = self._wait_controller(lambda election: True, self.args.scale_deadline)
        victim = self.cluster.broker(before.broker_id)
        live = {1, 2, 3} - {victim.broker_id}
        self.log(f"# SIGKILL of the controller, broker {victim.broker_id} (pid {victim.pid})")
        killed = time.time()
        self.down.add(victim.broker_id)
        victim.kill(signal.SIGKILL)
        session_s = self.session_timeout_ms / 1000.0
        after = self._wait_controller(lambda election: election.broker_id != victim.broker_id,
                                      session_s + self.args.scale_deadline)
        self.log(f"# broker {after.broker_id} elected controller {after.elected_at - killed:.2f} s after the kill")
        led = self.poll(live, condition_all_led(self.expected, live, REPLICATION_FACTOR),
                        "every partition led by a live broker")
        log_path = self.cluster.broker(after.broker_id).log_path
        for label, kind, target_s in ((FAILOVER_LABEL, "LeaderAndIsr", FAILOVER_TARGET_S),
                                      (FAILOVER_METADATA_LABEL, "UpdateMetadata", None)):
            answered_at = failover_answered_at(log_path, after.elected_at, kind)
            self.figure(label, None if answered_at is None else answered_at - after.elected_at, target_s,
                        f"broker {victim.broker_id} -> {after.broker_id}; the new controller's log",
                        error=None if answered_at is not None else f"the new controller logged no {kind} answers")
        self.polled_figure(FAILOVER_SEEN_LABEL, led, after.elected_at)
        self.figure("controller failover: SIGKILL -> new controller elected", after.elected_at - killed,
                    note=f"session timeout {session_s:g} s")
        self.polled_figure("controller failover: SIGKILL -> all led", led, killed)
        self.victim = victim

    def restart(self, broker, label, target_s):
        """Start ``broker`` again; figures from its process start to listening and to every ISR full."""
        broker.start()
        broker.wait_ready(self.args.scale_deadline)
        listening = time.time()
        self.down.discard(broker.broker_id)
        self.figure(f"{label} start -> listening", listening - broker.started_at)
        full = self.poll(range(1, BROKERS + 1), condition_all_isr_full(self.expected, {1, 2, 3}, REPLICATION_FACTOR),
                         "every ISR full")
        self.polled_figure(f"{label} {ISR_FULL}", full, broker.started_at, target_s)

    def clean_shutdown(self):
        controller = self._wait_controller(lambda election: True, self.args.scale_deadline)
        broker = next(b for b in self.cluster.brokers if b.broker_id != controller.broker_id)
        self.log(f"# SIGTERM of broker {broker.broker_id} (pid {broker.pid}), not the controller")
        signalled = time.time()
        self.down.add(broker.broker_id)
        broker.kill(signal.SIGTERM)
        status = broker.wait_exit(self.args.scale_deadline)
        if status is None:
            broker.kill(signal.SIGKILL)
            raise PhaseFailed(f"broker {broker.broker_id} did not exit within {self.args.scale_deadline:g} s "
                              "of SIGTERM (killed)")
        note = f"broker {broker.broker_id}" + (f", exit status {status}" if status else "")
        self.figure("clean restart: SIGTERM -> exit (controlled shutdown)", time.time() - signalled, note=note)
        return broker

    def _wait_controller(self, accept, deadline_s):
        deadline = time.monotonic() + deadline_s
        while True:
            election = self.view.controller()
            if election is not None and accept(election):
                return election
            if time.monotonic() >= deadline:
                raise PhaseFailed(f"no new controller in /controller within {deadline_s:g} s (holder: {election})")
            time.sleep(0.1)

    # --- the run ---------------------------------------------------------------------------------------------

    def measure(self):
        """Run the phases in order; the first that fails ends the run (its figure records why)."""
        from confluent_kafka import KafkaException

        phases = [
            ("start", None, None, self.start),
            ("create", CREATE_LABEL, CREATE_TARGET_S, self.create),
            ("controller failover", FAILOVER_LABEL, FAILOVER_TARGET_S, self.controller_failover),
            ("rejoin after kill -9", f"{REJOIN} {ISR_FULL}", REJOIN_TARGET_S,
             lambda: self.restart(self.victim, REJOIN, REJOIN_TARGET_S)),
            ("clean restart", f"{CLEAN_RESTART} {ISR_FULL}", CLEAN_RESTART_TARGET_S,
             lambda: self.restart(self.clean_shutdown(), CLEAN_RESTART, CLEAN_RESTART_TARGET_S)),
        ]
        for index, (name, _, _, phase) in enumerate(phases):
            try:
                phase()
            except (PhaseFailed, RuntimeError, ZkCtlError, ZkError, KafkaException) as exc:
                self.log(f"# {name}: not reached: {exc}")
                self.run.failed = True
                self.run.log_tails = self.cluster.log_tails(40)
                error = str(exc) if index else f"start: {exc}"
                for _, label, target_s, _ in phases[index + 1 if index == 0 else index:]:
                    self.run.figures.append(Figure(label, target_s=target_s, error=error))
                    error = f"skipped: {name} did not complete"
                if index > 0:
                    self.sample_resources("at the failure")
                return self.run
            if name == "create":
                self.sample_resources("after create")
        self.sample_resources("at the end")
        return self.run

    def close(self):
        if self.view is not None:
            self.view.close()
        self.log("# stopping the brokers and ZooKeeper")
        # A scratch cluster: a broker still busy after this grace period may be SIGKILLed.
        self.cluster.stop(timeout=STOP_GRACE_S)


#: The lines a new controller logs once every broker answered its new leaders' LeaderAndIsr (kind
#: "LeaderAndIsr") and the UpdateMetadata after it ("UpdateMetadata").
_FAILOVER_ANSWERED = re.compile(r"^(\S+) \[[^]]*KafkaController#info\] controller failover of epoch \d+: "
                                r"the brokers answered the new leaders' (\w+) ")


def failover_answered_at(log_path, elected_at, kind="LeaderAndIsr", wait_s=10.0):
    """When (wall clock) the new controller logged that every broker answered its failover's ``kind``.

    LeaderAndIsr answered: every partition is led by a live broker (the broker applied its
    leadership); UpdateMetadata answered: every live broker's metadata says so. Exact to the
    millisecond of the log's time stamps, where Metadata polls of 10,000 partitions from busy
    brokers are known only to within their round trips. Only lines stamped after
    ``elected_at`` count; the line may lag the polls by a moment, hence ``wait_s``.

    :returns: the time stamp, or ``None`` when no such line appeared within ``wait_s``.
    """
    deadline = time.monotonic() + wait_s
    while True:
        try:
            lines = Path(log_path).read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        for line in reversed(lines):
            match = _FAILOVER_ANSWERED.match(line)
            if match and match.group(2) == kind:
                try:
                    stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
                except ValueError:
                    continue
                if stamp >= elected_at - 1.0:  # ctime and the stamp are both in milliseconds: allow rounding
                    return stamp
                break
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def _create_errors(futures, timeout):
    """The CreateTopics errors, summarised (``""`` when every topic was created)."""
    from concurrent.futures import TimeoutError as FutureTimeoutError

    from confluent_kafka import KafkaException

    errors = {}
    deadline = time.monotonic() + timeout
    for future in futures.values():
        try:
            future.result(timeout=max(0.1, deadline - time.monotonic()))
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            text = error.str() if hasattr(error, "str") else str(error)
            errors[text] = errors.get(text, 0) + 1
        except FutureTimeoutError:
            errors["no answer"] = errors.get("no answer", 0) + 1
    return "; ".join(f"{count} x {text}" for text, count in errors.items())


def run_scale(args, workdir, log=print):
    """Run the scale benchmark in ``workdir``; every process is stopped by pid before it returns (or unwinds).

    :returns: a :class:`~kafkalite.cli.perf.scale_report.ScaleRun`.
    """
    scale = _Scale(args, workdir, log)
    try:
        return scale.measure()
    finally:
        scale.close()
