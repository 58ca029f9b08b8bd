"""The throughput report: raw limits, workloads with their ratios, RF=3 latencies and failover, and its JSON.

Speed is reported, never asserted: the tables print records/s, MB/s (1 MB = 10^6 bytes of
record payload), the ratio to the matching raw limit and, for 100 B records, the ratio to
the JVM broker's rates of DESIGN.md section 11.
"""

from dataclasses import asdict

from kafkalite.cli.perf.raw import MB
from kafkalite.cli.perf.workloads import JVM_CONSUME_RECORDS_S, PRODUCE_TARGET_RECORDS_S

__all__ = ["format_replicated_report", "format_report", "results_json"]


def _ratio(value, limit):
    return f"{100.0 * value / limit:6.1f}%" if limit else "     -"


def format_report(limits, results):
    """The table: raw limits, then one line per workload with its ratios (a list of lines)."""
    lines = []
    if limits:
        lines.append("raw limits (this machine, loopback, page cache):")
        for key, label in (("socket_to_file", "loopback socket -> page-cache file"),
                           ("file_to_socket", "page-cache file -> socket (sendfile)")):
            if key in limits:
                limit = limits[key]
                lines.append(f"  {label:<40} {limit.mb_per_s:10.1f} MB/s  "
                             f"({limit.bytes // MB} MB in {limit.seconds:.3f} s)")
    if results:
        lines.append("")
        lines.append(f"{'workload':<40} {'records':>11} {'records/s':>12} {'MB/s':>9} {'vs raw':>8}  notes")
        for result in results:
            limit = limits.get(result.limit) if limits else None
            versus = _ratio(result.mb_per_s, limit.mb_per_s) if limit else "     -"
            notes = []
            if result.kind == "produce" and result.record_size == 100:
                notes.append(f"{_ratio(result.records_per_s, PRODUCE_TARGET_RECORDS_S).strip()} of the 1.3 M/s target")
            if result.kind == "consume" and result.record_size == 100 and "/dev/null" not in result.name:
                notes.append(f"{_ratio(result.records_per_s, JVM_CONSUME_RECORDS_S).strip()} of the JVM's 0.7 M/s")
            if result.error:
                notes.append(f"ERROR: {result.error}")
            lines.append(f"{result.name:<40} {result.records:>11,} {result.records_per_s:>12,.0f} "
                         f"{result.mb_per_s:>9.1f} {versus:>8}  {'; '.join(notes)}")
    return lines


def _ms(value):
    return "-" if value is None else f"{value:.1f}"


def format_replicated_report(latency_results, unavailability_results):
    """The RF=3 lines: acks=all throughput and latency percentiles, then unavailability after faults."""
    lines = []
    if latency_results:
        lines.append("")
        lines.append(f"{'replicated workload':<40} {'records':>11} {'records/s':>12} {'MB/s':>9} "
                     f"{'p50 ms':>8} {'p99 ms':>8}  notes")
        for result in latency_results:
            notes = f"ERROR: {result.error}" if result.error else ""
            lines.append(f"{result.name:<40} {result.records:>11,} {result.records_per_s:>12,.0f} "
                         f"{result.mb_per_s:>9.1f} {_ms(result.p50_ms):>8} {_ms(result.p99_ms):>8}  {notes}".rstrip())
    if unavailability_results:
        lines.append("")
        lines.append(f"{'failover (RF=3, acks=all)':<40} {'unavailable':>12}  leader")
        for result in unavailability_results:
            moved = f"{result.old_leader} -> {result.new_leader if result.new_leader is not None else '?'}"
            notes = f"  ERROR: {result.error}" if result.error else ""
            lines.append(f"{result.name:<40} {result.seconds:>10.2f} s  {moved}{notes}")
    return lines


def results_json(limits, results, latency_results=(), unavailability_results=()):
    """The run's results as a JSON-serialisable dict."""
    return {
        "replicated": [
            {"name": r.name, "record_size": r.record_size, "records": r.records, "seconds": r.seconds,
             "records_per_s": r.records_per_s, "mb_per_s": r.mb_per_s, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
             "target_rate": r.target_rate, "error": r.error}
            for r in latency_results
        ],
        "failover": [asdict(r) for r in unavailability_results],
        "raw_limits": {key: {**asdict(limit), "mb_per_s": limit.mb_per_s} for key, limit in limits.items()},
        "workloads": [
            {**asdict(result), "records_per_s": result.records_per_s, "mb_per_s": result.mb_per_s,
             "ratio_to_raw": (result.mb_per_s / limits[result.limit].mb_per_s) if result.limit in limits else None,
             "ratio_to_target": (result.records_per_s / PRODUCE_TARGET_RECORDS_S
                                 if result.kind == "produce" and result.record_size == 100 else None)}
            for result in results
        ],
    }
