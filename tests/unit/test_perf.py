"""Unit tests for kafkalite-perf's pure parts: argument parsing, kcat input files, the throughput report.

The raw-limit measurements use loopback sockets and live in
tests/integration/test_perf_raw.py; the scale benchmark's pure parts are in
tests/unit/test_perf_scale.py.
"""

import pytest

from kafkalite.cli.perf import replicated, report, workloads
from kafkalite.cli.perf.main import parse_args
from kafkalite.cli.perf.raw import MB, RawLimit
from kafkalite.cli.perf.report import format_report
from kafkalite.cli.perf.workloads import WorkloadResult, records_for_size, write_kcat_input


def test_defaults_are_the_reference_workload():
    """Without options: 1,000,000 records of 100 B and 1 KiB, 1 GB raw transfers, best of 3, local bootstrap."""
    args = parse_args([])
    assert args.records == 1_000_000
    assert args.record_sizes == [100, 1024]
    assert (args.raw_mb, args.raw_repeats) == (1024, 3)
    assert args.bootstrap == "127.0.0.1:9092"
    assert not args.start_cluster and not args.quick and not args.raw_only
    assert records_for_size(args, 100) == 1_000_000
    assert records_for_size(args, 1024) == 200_000


def test_quick_shrinks_everything_but_explicit_values_win():
    """--quick picks small defaults; explicitly given --records/--raw-mb still apply."""
    args = parse_args(["--quick"])
    assert (args.records, args.raw_mb, args.raw_repeats) == (20_000, 64, 1)
    args = parse_args(["--quick", "--records", "500", "--raw-mb", "8", "--bootstrap", "h:1", "--topic-prefix", "t"])
    assert (args.records, args.raw_mb, args.bootstrap, args.topic_prefix) == (500, 8, "h:1", "t")


@pytest.mark.parametrize("argv", [
    ["--records", "0"], ["--record-sizes", "abc"], ["--record-sizes", "1"], ["--raw-only", "--no-raw"],
    ["--raw-repeats", "0"],
])
def test_rejects_bad_arguments(argv, capsys):
    """Nonsense arguments stop with argparse's usage error (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert "usage: kafkalite-perf" in capsys.readouterr().err


@pytest.mark.parametrize("record_size", [100, 1024])
def test_kcat_input_has_one_fixed_size_record_per_line(tmp_path, record_size):
    """The kcat input holds exactly N lines of record_size bytes (size-1 characters + newline), all distinct."""
    path = write_kcat_input(tmp_path / "in.txt", 12_345, record_size)
    data = path.read_bytes()
    assert len(data) == 12_345 * record_size
    lines = data.split(b"\n")[:-1]
    assert len(lines) == 12_345
    assert {len(line) for line in lines} == {record_size - 1}
    assert len(set(lines)) == 12_345


def test_rates_and_report_ratios():
    """Rates come from records x size / seconds; the table shows ratios to the matching raw limit and target."""
    limits = {"socket_to_file": RawLimit("socket_to_file", 1000 * MB, 1.0),
              "file_to_socket": RawLimit("file_to_socket", 2000 * MB, 1.0)}
    produce = WorkloadResult("kcat produce 100 B acks=1", "produce", 100, 1_300_000, 2.0, "socket_to_file")
    consume = WorkloadResult("kcat consume 100 B", "consume", 100, 1_300_000, 1.0, "file_to_socket")
    failed = WorkloadResult("kcat produce 1 KiB acks=1", "produce", 1024, 10, 1.0, "socket_to_file", "boom")
    assert produce.records_per_s == 650_000
    assert produce.mb_per_s == pytest.approx(65.0)
    lines = format_report(limits, [produce, consume, failed])
    text = "\n".join(lines)
    assert "1000.0 MB/s" in text and "2000.0 MB/s" in text
    produce_line = next(line for line in lines if line.startswith("kcat produce 100 B"))
    assert "650,000" in produce_line and "6.5%" in produce_line and "50.0% of the 1.3 M/s target" in produce_line
    consume_line = next(line for line in lines if line.startswith("kcat consume 100 B"))
    assert "1,300,000" in consume_line and "6.5%" in consume_line
    assert "ERROR: boom" in next(line for line in lines if line.startswith("kcat produce 1 KiB"))


def test_results_json_carries_ratios():
    """The JSON output has the raw limits and per-workload ratios (None where no ratio applies)."""
    limits = {"socket_to_file": RawLimit("socket_to_file", 100 * MB, 1.0)}
    produce = WorkloadResult("p", "produce", 100, 130_000, 1.0, "socket_to_file")
    consume = WorkloadResult("c", "consume", 1024, 100, 1.0, "file_to_socket")
    data = report.results_json(limits, [produce, consume])
    assert data["raw_limits"]["socket_to_file"]["mb_per_s"] == 100.0
    assert data["workloads"][0]["ratio_to_raw"] == pytest.approx(0.13)
    assert data["workloads"][0]["ratio_to_target"] == pytest.approx(0.1)
    assert data["workloads"][1]["ratio_to_raw"] is None and data["workloads"][1]["ratio_to_target"] is None


def test_unique_topics_are_fresh_and_legal():
    """Every workload gets a new topic name made of Kafka's legal characters."""
    names = {workloads.unique_topic("kafkalite-perf", "kcat-100") for _ in range(100)}
    assert len(names) == 100
    assert all(set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-._") for name in names)


def test_replicated_options():
    """--replicated adds the RF=3 run; --replicated-only also drops raw limits; --brokers takes 1 or 3."""
    args = parse_args([])
    assert not args.replicated and args.brokers == 1 and args.latency_seconds == 5.0
    args = parse_args(["--replicated", "--start-cluster", "--brokers", "3", "--session-timeout-ms", "6000"])
    assert args.replicated and not args.no_raw and args.brokers == 3 and args.session_timeout_ms == 6000
    args = parse_args(["--replicated-only", "--quick"])
    assert args.replicated and args.no_raw and args.latency_seconds == 2.0
    assert replicated.replicated_records(args) == 4_000


@pytest.mark.parametrize("argv", [["--brokers", "2"], ["--latency-rate", "0"], ["--latency-seconds", "-1"]])
def test_rejects_bad_replicated_arguments(argv, capsys):
    """Unsupported broker counts and non-positive pacing stop with a usage error."""
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2


def test_percentile_is_nearest_rank():
    """p50/p99 are nearest-rank percentiles of the sorted latencies; None when there are none."""
    values = [float(v) for v in range(1, 101)]
    assert replicated.percentile(values, 50) == 50.0
    assert replicated.percentile(values, 99) == 99.0
    assert replicated.percentile(values, 100) == 100.0
    assert replicated.percentile([7.0], 99) == 7.0
    assert replicated.percentile([], 50) is None


def test_replicated_report_lines():
    """The RF=3 table shows rate, MB/s and p50/p99; the failover table the unavailability and leader move."""
    latency = replicated.LatencyResult("RF=3 acks=all 100 B full speed", 100, 200_000, 4.0,
                                 [float(v) for v in range(1, 101)])
    failed = replicated.LatencyResult("RF=3 acks=all 100 B at 1,000/s", 100, 0, 1.0, [], 1000.0, "2 undelivered")
    kill = replicated.UnavailabilityResult("leader kill -9", "kill -9", 19.25, 2, 3)
    term = replicated.UnavailabilityResult("leader clean shutdown", "clean shutdown", 0.4, 3, None, "no ISR")
    lines = report.format_replicated_report([latency, failed], [kill, term])
    full = next(line for line in lines if line.startswith("RF=3 acks=all 100 B full speed"))
    assert "50,000" in full and "5.0" in full and " 50.0 " in full and " 99.0" in full
    assert "ERROR: 2 undelivered" in next(line for line in lines if "1,000/s" in line)
    assert "19.25 s  2 -> 3" in next(line for line in lines if line.startswith("leader kill -9"))
    assert "3 -> ?  ERROR: no ISR" in next(line for line in lines if line.startswith("leader clean shutdown"))
    data = report.results_json({}, [], [latency], [kill])
    assert data["replicated"][0]["p99_ms"] == 99.0 and "latencies_ms" not in data["replicated"][0]
    assert data["failover"][0]["seconds"] == 19.25 and data["failover"][0]["new_leader"] == 3
    assert report.format_replicated_report([], []) == []


def test_compression_option():
    """--compression: comma-separated producer codecs, each once, in order; default none; unknown ones refused."""
    assert parse_args([]).compression == ["none"]
    assert parse_args(["--compression", "none, lz4,zstd,lz4"]).compression == ["none", "lz4", "zstd"]
    for bad in ("brotli", ",", "none,LZ4"):
        with pytest.raises(SystemExit) as exit_info:
            parse_args(["--compression", bad])
        assert exit_info.value.code == 2


@pytest.mark.parametrize("compression, name", [("none", "kcat produce 100 B acks=1"),
                                               ("zstd", "kcat produce 100 B acks=1 zstd")])
def test_kcat_produce_compresses_with_the_codec(tmp_path, compression, name):
    """kcat -P gets -X compression.codec=<codec> (none: no such option); the workload is named by its codec."""
    fake_kcat = tmp_path / "kcat"
    fake_kcat.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/argv\ncat > /dev/null\n")
    fake_kcat.chmod(0o755)
    input_path = write_kcat_input(tmp_path / "in.txt", 3, 100)
    result = workloads.kcat_produce(str(fake_kcat), "h:1", "t", input_path, 3, 100, 30.0, compression)
    argv = (tmp_path / "argv").read_text().split()
    assert result.error is None and (result.name, result.compression) == (name, compression)
    assert ("compression.codec=zstd" in argv) == (compression == "zstd")
    assert not any(arg.startswith("compression.codec=none") for arg in argv)


def test_one_kcat_workload_per_codec_labelled_in_the_report_and_json(tmp_path, monkeypatch):
    """Each codec of --compression gets its own topic, produce and consume workloads, named and tagged with it."""
    topics = []
    monkeypatch.setattr(workloads, "create_topic", lambda bootstrap, topic: topics.append(topic) or "CreateTopics")

    def produce(kcat, bootstrap, topic, input_path, count, record_size, timeout, compression):
        return WorkloadResult(f"kcat produce 100 B acks=1{workloads.codec_label(compression)}", "produce",
                              record_size, count, 1.0, "socket_to_file", None, compression)

    def consume(kcat, bootstrap, topic, expected, record_size, timeout, to_null, compression):
        return WorkloadResult(f"kcat consume{workloads.codec_label(compression)}{' null' if to_null else ''}",
                              "consume", record_size, expected, 1.0, "file_to_socket", None, compression)

    monkeypatch.setattr(workloads, "kcat_produce", produce)
    monkeypatch.setattr(workloads, "kcat_consume", consume)
    args = parse_args(["--quick", "--records", "10", "--record-sizes", "100", "--compression", "none,lz4"])
    results = workloads.run_workloads(args, str(tmp_path), "h:1", log=lambda line: None)
    assert [(result.name, result.compression) for result in results] == [
        ("kcat produce 100 B acks=1", "none"), ("kcat consume", "none"), ("kcat consume null", "none"),
        ("kcat produce 100 B acks=1 lz4", "lz4"), ("kcat consume lz4", "lz4"), ("kcat consume lz4 null", "lz4")]
    assert len(set(topics)) == 2 and "-lz4-" in topics[1]
    assert [workload["compression"] for workload in report.results_json({}, results)["workloads"]][::3] == \
        ["none", "lz4"]
    assert any(line.startswith("kcat produce 100 B acks=1 lz4") for line in format_report({}, results))
