"""Unit tests for the scale benchmark's pure parts: options, topics, the led/ISR-full counts, polling, the report.

No brokers: Metadata responses are dicts shaped as the codec decodes them, and
:func:`~kafkalite.cli.perf.metadata.poll_brokers` runs on a fake clock and fetch.
"""

import pytest

from kafkalite.cli.perf.main import parse_args
from kafkalite.cli.perf.metadata import (
    condition_all_isr_full,
    condition_all_led,
    condition_brokers_known,
    count_partitions,
    poll_brokers,
)
from kafkalite.cli.perf.scale import count_segments
from kafkalite.cli.perf.scale_report import (
    Figure,
    ResourceSample,
    ScaleRun,
    format_scale_report,
    scale_exit_status,
    scale_json,
    topics_for,
)


def metadata(topics, brokers=(1, 2, 3)):
    """A decoded Metadata v1 response: ``topics`` is ``{name: [(leader, replicas, isr), ...]}``."""
    return {
        "brokers": [{"node_id": b, "host": "127.0.0.1", "port": 9091 + b, "rack": None} for b in brokers],
        "controller_id": 1,
        "topics": [
            {"error_code": 0, "name": name, "is_internal": False, "partitions": [
                {"error_code": 0, "partition_index": index, "leader_id": leader, "replica_nodes": list(replicas),
                 "isr_nodes": list(isr)}
                for index, (leader, replicas, isr) in enumerate(partitions)]}
            for name, partitions in topics.items()],
    }


FULL = (1, (1, 2, 3), (1, 2, 3))


# --- options ---------------------------------------------------------------------------------------------------


def test_scale_defaults_are_the_issue_targets_workload():
    """--scale alone: 10,000 partitions in topics of 100, Metadata every 0.5 s, 300 s per phase, not strict."""
    args = parse_args(["--scale"])
    assert args.scale and not args.strict
    assert (args.scale_partitions, args.scale_topic_partitions) == (10_000, 100)
    assert (args.scale_poll_interval, args.scale_deadline) == (0.5, 300.0)
    args = parse_args(["--scale", "--scale-partitions", "300", "--strict", "--session-timeout-ms", "6000"])
    assert (args.scale_partitions, args.strict, args.session_timeout_ms) == (300, True, 6000)


@pytest.mark.parametrize("argv", [
    ["--scale", "--scale-partitions", "0"], ["--scale", "--scale-topic-partitions", "0"],
    ["--scale", "--scale-poll-interval", "0"], ["--scale", "--scale-deadline", "-1"],
    ["--scale", "--raw-only"], ["--scale", "--replicated"], ["--scale", "--bootstrap", "h:1"], ["--strict"],
])
def test_rejects_bad_scale_arguments(argv, capsys):
    """Nonsense scale options, or scale mixed with another mode or someone else's cluster, are usage errors."""
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: kafkalite-perf" in capsys.readouterr().err


def test_topics_spread_partitions_in_topics_of_the_given_size():
    """10,000 partitions are 100 topics of 100; a remainder goes into a last, smaller topic; names sort in order."""
    topics = topics_for(10_000, 100, "kafkalite-perf-scale")
    assert len(topics) == 100 and set(topics.values()) == {100}
    assert list(topics)[:2] == ["kafkalite-perf-scale-000", "kafkalite-perf-scale-001"]
    assert topics_for(250, 100, "t") == {"t-000": 100, "t-001": 100, "t-002": 50}
    assert topics_for(7, 100, "t") == {"t-000": 7}
    assert sum(topics_for(123_457, 100, "t").values()) == 123_457
    with pytest.raises(ValueError):
        topics_for(0, 100, "t")


# --- the conditions --------------------------------------------------------------------------------------------


def test_all_led_needs_every_expected_partition_with_a_live_leader():
    """Missing topics or partitions, no leader (-1) and a leader that is not live all count as not led."""
    expected = {"a": 2, "b": 1}
    live = {1, 2, 3}
    assert count_partitions(metadata({"a": [FULL, FULL], "b": [FULL]}), expected, live, 3).all_led
    missing_topic = count_partitions(metadata({"a": [FULL, FULL]}), expected, live, 3)
    assert (missing_topic.present, missing_topic.led, missing_topic.all_led) == (2, 2, False)
    missing_partition = count_partitions(metadata({"a": [FULL], "b": [FULL]}), expected, live, 3)
    assert missing_partition.led == 2 and not missing_partition.all_led
    leaderless = count_partitions(metadata({"a": [FULL, (-1, (1, 2, 3), (2, 3))], "b": [FULL]}), expected, live, 3)
    assert (leaderless.present, leaderless.led) == (3, 2)
    dead_leader = count_partitions(metadata({"a": [FULL, FULL], "b": [(2, (2, 3, 1), (2, 3, 1))]}),
                                   expected, {1, 3}, 3)
    assert dead_leader.led == 2 and not dead_leader.all_led


def test_partitions_and_topics_not_expected_are_ignored():
    """Other topics (e.g. __consumer_offsets), extra partitions and topics in error do not count."""
    data = metadata({"a": [FULL, FULL, FULL], "__consumer_offsets": [(-1, (1,), ())]})
    counts = count_partitions(data, {"a": 2}, {1, 2, 3}, 3)
    assert (counts.total, counts.present, counts.led) == (2, 2, 2)
    data["topics"][0]["error_code"] = 3  # UNKNOWN_TOPIC_OR_PARTITION
    assert count_partitions(data, {"a": 2}, {1, 2, 3}, 3).present == 0


def test_isr_full_needs_every_replica_in_the_isr():
    """ISR full: as many replicas as the replication factor, and the ISR is all of them (in any order)."""
    expected = {"a": 3}
    shrunk = metadata({"a": [FULL, (2, (2, 3, 1), (3, 2)), (3, (3, 1, 2), (2, 1, 3))]})
    counts = count_partitions(shrunk, expected, {1, 2, 3}, 3)
    assert (counts.led, counts.isr_full, counts.all_led, counts.all_isr_full) == (3, 2, True, False)
    under_replicated = metadata({"a": [FULL, FULL, (1, (1, 2), (1, 2))]})
    assert count_partitions(under_replicated, expected, {1, 2, 3}, 3).isr_full == 2
    check = condition_all_isr_full(expected, {1, 2, 3}, 3)
    met, progress = check(shrunk)
    assert not met and progress == "3/3 present, 3 led, 2 with full ISR"
    assert check(metadata({"a": [FULL, FULL, FULL]}))[0]


def test_conditions_for_led_and_known_brokers():
    """condition_all_led and condition_brokers_known answer (met, progress text)."""
    assert condition_all_led({"a": 1}, {1}, 3)(metadata({"a": [FULL]})) == (True, "1/1 present, 1 led, 1 with full ISR")
    assert condition_brokers_known([1, 2, 3])(metadata({}, brokers=(1, 3))) == (False, "knows brokers [1, 3]")
    assert condition_brokers_known([1, 2, 3])(metadata({}))[0]


# --- polling ---------------------------------------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when slept on or when a fetch takes time."""

    def __init__(self):
        self.now = 1000.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_poll_records_when_each_broker_first_met_the_condition():
    """Each broker is polled until it meets the condition (then no more); met_at is the last broker's moment,
    met_after when the last poll that had not seen it yet was sent."""
    time = FakeTime()
    answers = {"b1": iter([False, True]), "b2": iter([False, False, False, True])}
    asked = []

    def fetch(address, timeout):
        asked.append(address)
        time.now += 0.1  # each Metadata round trip takes 0.1 s
        return {"met": next(answers[address])}

    outcome = poll_brokers({1: "b1", 2: "b2"}, lambda m: (m["met"], f"met={m['met']}"), 60, 0.5, fetch=fetch,
                           clock=time.clock, sleep=time.sleep, parallel=False)
    assert outcome.reached and not outcome.aborted
    assert asked == ["b1", "b2", "b1", "b2", "b2", "b2"]
    assert outcome.first_met == {1: pytest.approx(1000.8), 2: pytest.approx(1002.1)}
    assert outcome.met_at == pytest.approx(1002.1)
    assert outcome.last_unmet == {1: pytest.approx(1000.0), 2: pytest.approx(1001.4)}
    assert outcome.met_after == pytest.approx(1001.4)
    assert outcome.slowest_poll_s == pytest.approx(0.1) and outcome.polls == 6


def test_poll_asks_the_brokers_of_a_round_at_once():
    """In parallel, one broker's slow answer does not hold back asking the other."""
    import threading

    both_asked = threading.Barrier(2, timeout=10)

    def fetch(address, timeout):
        both_asked.wait()  # breaks (and fails the poll) unless both brokers are asked together
        return {}

    outcome = poll_brokers({1: "b1", 2: "b2"}, lambda m: (True, "ok"), 60, 0.5, fetch=fetch)
    assert outcome.reached and outcome.polls == 2 and outcome.met_after is None


def test_poll_reports_progress_and_errors_at_the_deadline():
    """Past the deadline the outcome is not reached, with each broker's last progress or error."""
    time = FakeTime()

    def fetch(address, timeout):
        if address == "down":
            raise ConnectionRefusedError("refused")
        return {}

    outcome = poll_brokers({1: "up", 2: "down"}, lambda m: (False, "0/10 led"), 5, 0.5, fetch=fetch,
                           clock=time.clock, sleep=time.sleep, parallel=False)
    assert not outcome.reached and outcome.met_at is None
    assert outcome.progress == {1: "0/10 led", 2: "Metadata failed: refused"}
    assert time.now >= 1005.0


def test_poll_stops_early_when_told_to_abort():
    """An abort answer (a broker that exited) ends the polling at once, not at the deadline."""
    time = FakeTime()
    outcome = poll_brokers({1: "x"}, lambda m: (False, "no"), 300, 0.5, abort=lambda: "broker-2 exited with status 1",
                           fetch=lambda address, timeout: {}, clock=time.clock, sleep=time.sleep, parallel=False)
    assert not outcome.reached and outcome.aborted == "broker-2 exited with status 1"
    assert outcome.polls == 1 and time.now < 1001


# --- resources and the report ----------------------------------------------------------------------------------


def test_count_segments_counts_log_files_in_partition_dirs(tmp_path):
    """Segments are the .log files inside partition directories (not broker-level files), over every log dir."""
    one, two = tmp_path / "one", tmp_path / "two"
    for directory, names in ((one / "t-0", ["00000000000000000000.log", "00000000000000000000.index",
                                            "00000000000000000100.log"]),
                             (two / "t-1", ["00000000000000000000.log", "00000000000000000000.timeindex"])):
        directory.mkdir(parents=True)
        for name in names:
            (directory / name).write_bytes(b"")
    (one / "stray.log").write_bytes(b"")
    assert count_segments(f"{one},{two}") == 3
    assert count_segments(str(tmp_path / "missing")) == 0


def sample_run():
    run = ScaleRun(topics=3, partitions=300, poll_interval_s=0.5, slowest_poll_s=0.12)
    run.figures = [
        Figure("create: first CreateTopics -> every partition led", 4.25, 30.0),
        Figure("controller failover: new controller elected -> all led", 2.5, 2.0, "broker 1 -> 2", at_least_s=1.75),
        Figure("controller failover: SIGKILL -> new controller elected", 18.4, None, "session timeout 18 s"),
    ]
    run.resources = [ResourceSample(1, "after create", 150_000_000, 940, 300, 40),
                     ResourceSample(2, "after create", None, None, 300, 40)]
    return run


def test_report_shows_values_targets_and_verdicts():
    """Each figure shows its value, its target and met/MISSED; context figures have no verdict."""
    run = sample_run()
    lines = format_scale_report(run)
    text = "\n".join(lines)
    assert "3 topics, 300 partitions, replication factor 3" in text
    assert "every 0.5 s" in text and "round trip 0.12 s" in text
    create = next(line for line in lines if line.startswith("create:"))
    assert "4.25 s" in create and "<= 30 s" in create and create.rstrip().endswith("met")
    failover = next(line for line in lines if line.startswith("controller failover: new"))
    assert "2.50 s     1.75" in failover and "<= 2 s" in failover and "MISSED  (broker 1 -> 2)" in failover
    context = next(line for line in lines if "SIGKILL -> new controller" in line)
    assert "18.40 s" in context and "(session timeout 18 s)" in context
    fds = next(line for line in lines if line.startswith("1 ") and "after create" in line)
    assert "150.0" in fds and "940" in fds and "3.00" in fds and fds.rstrip().endswith("MISSED")
    gone = next(line for line in lines if line.startswith("2 "))
    assert " - " in gone


def test_exit_status_fails_on_a_failed_phase_and_on_a_missed_target_only_when_strict():
    """A completed run exits 0 even with missed targets, unless --strict; a failed phase always exits 1."""
    run = sample_run()
    assert scale_exit_status(run) == 0
    assert scale_exit_status(run, strict=True) == 1
    run.figures[1] = Figure(run.figures[1].label, 1.0, 2.0)
    run.resources = [ResourceSample(1, "at the end", 1, 330, 300, 40)]
    assert scale_exit_status(run, strict=True) == 0
    run.figures.append(Figure("rejoin after kill -9: start -> every ISR full", None, 15.0,
                              error="rejoin after kill -9: every ISR full: not within 300 s"))
    run.failed = True
    assert scale_exit_status(run) == 1


def test_failed_and_skipped_phases_are_reported_with_the_reason_and_log_tails():
    """A phase not reached says so with its reason and the brokers' log tails; later ones say skipped."""
    run = ScaleRun(topics=100, partitions=10_000, failed=True, log_tails="--- broker-1:\nOSError: [Errno 24]")
    run.figures = [
        Figure("create: first CreateTopics -> every partition led", None, 30.0,
               error="create: every partition led: broker-1 exited with status 1 (broker 1: 4,000/10,000 led)"),
        Figure("controller failover: new controller elected -> all led", None, 2.0,
               error="skipped: create did not complete"),
    ]
    lines = format_scale_report(run)
    create = next(line for line in lines if line.startswith("create:"))
    assert "not reached" in create and create.rstrip().endswith("FAILED")
    assert "skipped" in next(line for line in lines if line.startswith("controller failover"))
    assert any("4,000/10,000 led" in line for line in lines)
    assert "OSError: [Errno 24]" in "\n".join(lines)
    data = scale_json(run)
    assert data["figures"][0]["met"] is False and data["figures"][0]["seconds"] is None
    assert data["failed"] is True


def test_json_carries_verdicts_and_descriptor_ratios():
    """The JSON output has every figure with met, and every sample with its descriptors per segment."""
    data = scale_json(sample_run())
    assert [figure["met"] for figure in data["figures"]] == [True, False, None]
    assert data["resources"][0]["fds_per_segment"] == pytest.approx(3.0)
    assert data["resources"][0]["fds_met"] is False and data["resources"][1]["fds_met"] is None


def test_descriptors_per_segment_count_only_files_in_the_log_dirs_when_known():
    """Sockets and other files do not count against the one-descriptor-per-segment target."""
    sample = ResourceSample(1, "after create", None, 10_019, 10_000, 15, log_fds=10_000)
    assert sample.fds_per_segment == 1.0 and sample.fds_met is True
    assert ResourceSample(1, "x", None, 10_019, 10_000, 15).fds_met is False
    assert ResourceSample(1, "x", None, None, 100, None, log_fds=150).fds_met is False


def test_failover_answered_at_reads_the_new_controllers_line_after_the_election(tmp_path):
    """The last matching line stamped after the election counts; an older failover's line does not."""
    from datetime import datetime

    from kafkalite.cli.perf.scale import failover_answered_at

    def stamp(text):
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()

    line = ("{} [kafkalite.controller.controller.KafkaController#info] controller failover of epoch {}: the brokers "
            "answered the new leaders' {} 1.234 s after the election (0 of 2 failed)")
    log = tmp_path / "broker-2.log"
    log.write_text("\n".join([line.format("2026-12-01T05:00:01.500+0000", 1, "LeaderAndIsr"),
                              "2026-12-01T05:10:00.000+0000 [kafkalite.controller.controller.KafkaController#info] "
                              "broker 2 is now controller with epoch 3",
                              line.format("2026-12-01T05:10:01.873+0000", 3, "LeaderAndIsr"),
                              line.format("2026-12-01T05:10:02.104+0000", 3, "UpdateMetadata")]) + "\n")
    elected = stamp("2026-12-01T05:10:00.000+0000")
    assert failover_answered_at(log, elected, wait_s=0) == pytest.approx(stamp("2026-12-01T05:10:01.873+0000"))
    assert failover_answered_at(log, elected, "UpdateMetadata", wait_s=0) == \
        pytest.approx(stamp("2026-12-01T05:10:02.104+0000"))
    assert failover_answered_at(log, stamp("2026-12-01T05:20:00.000+0000"), wait_s=0) is None
    assert failover_answered_at(tmp_path / "missing.log", 0.0, wait_s=0) is None
