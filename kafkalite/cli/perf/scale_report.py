"""The scale benchmark's figures, their targets, the printed table, the JSON and the exit status.

Pure: :mod:`kafkalite.cli.perf.scale` measures, this module judges and prints. A figure
either has a value or says why it has none ("not reached" within its deadline, or
skipped after an earlier phase failed); a figure with a target is met or missed. The
run's exit status is 1 when a phase failed, and with ``--strict`` also when a target
was missed.
"""

from dataclasses import asdict, dataclass, field

__all__ = [
    "Figure",
    "ResourceSample",
    "ScaleRun",
    "format_scale_report",
    "scale_exit_status",
    "scale_json",
    "topics_for",
]


def topics_for(partitions, per_topic, prefix):
    """``{topic: partition count}``: ``partitions`` spread over topics of ``per_topic`` (the last may be smaller).

    >>> topics_for(250, 100, "t")
    {'t-000': 100, 't-001': 100, 't-002': 50}
    """
    if partitions < 1 or per_topic < 1:
        raise ValueError("partitions and partitions per topic must be positive")
    count = -(-partitions // per_topic)
    width = max(3, len(str(count - 1)))
    return {f"{prefix}-{index:0{width}d}": min(per_topic, partitions - index * per_topic) for index in range(count)}


@dataclass
class Figure:
    """One measured duration.

    :ivar label: what was measured, from what to what.
    :ivar seconds: the duration, or ``None`` when it was not measured.
    :ivar target_s: the issue's target (at most this), or ``None`` for a figure printed for context.
    :ivar note: context printed after the result (e.g. the session timeout).
    :ivar error: why there is no value: not reached (with each broker's progress), or skipped.
    :ivar at_least_s: for a figure seen by polling, the lower bound: a poll sent this long
        after the start had not yet seen it (``seconds`` is when a poll's answer did).
    """

    label: str
    seconds: float | None = None
    target_s: float | None = None
    note: str = ""
    error: str | None = None
    at_least_s: float | None = None

    @property
    def met(self):
        """True/False against the target; ``None`` when there is no target."""
        if self.target_s is None:
            return None
        return self.seconds is not None and self.seconds <= self.target_s


@dataclass
class ResourceSample:
    """One broker's resources at one moment.

    :ivar baseline_fds: descriptors it held once started, before any topic existed.
    :ivar segments: segment (``.log``) files in its log dir.
    :ivar log_fds: descriptors open on files inside its log dirs (None: unknown).
    """

    broker_id: int
    when: str
    rss_bytes: int | None
    fds: int | None
    segments: int
    baseline_fds: int | None = None
    log_fds: int | None = None

    @property
    def fds_per_segment(self):
        """Descriptors on log-dir files per segment; without that count, all descriptors held beyond
        the baseline (sockets included) per segment (``None`` when unknown)."""
        if not self.segments:
            return None
        if self.log_fds is not None:
            return self.log_fds / self.segments
        if self.fds is None or self.baseline_fds is None:
            return None
        return (self.fds - self.baseline_fds) / self.segments

    @property
    def fds_met(self):
        """At most one descriptor per segment beyond the baseline (the issue's target)."""
        ratio = self.fds_per_segment
        return None if ratio is None else ratio <= 1.0


@dataclass
class ScaleRun:
    """Everything a scale run measured.

    :ivar failed: a phase did not complete (its figure has the error; later ones are skipped).
    :ivar log_tails: the brokers' log tails taken when a phase failed, else ``None``.
    """

    topics: int
    partitions: int
    replication_factor: int = 3
    brokers: int = 3
    poll_interval_s: float = 0.5
    slowest_poll_s: float = 0.0
    session_timeout_ms: int = 18000
    figures: list = field(default_factory=list)
    resources: list = field(default_factory=list)
    failed: bool = False
    log_tails: str | None = None


def _seconds(value):
    return "-" if value is None else f"{value:.2f} s"


def _target(target_s):
    return "-" if target_s is None else f"<= {target_s:g} s"


def _verdict(met):
    return {True: "met", False: "MISSED", None: "-"}[met]


def format_scale_report(run):
    """The report as a list of lines: the figures with targets, then memory and descriptors per broker."""
    lines = [
        f"scale: {run.brokers} brokers (config/cluster settings), {run.topics:,} topic{'s' * (run.topics != 1)}, "
        f"{run.partitions:,} partitions, replication factor {run.replication_factor}",
        f"Metadata polled from every broker at once every {run.poll_interval_s:g} s (slowest Metadata round "
        f"trip {run.slowest_poll_s:.2f} s): figures ending in 'led' or 'ISR full' are when a poll's answer "
        f"showed it, 'after' when the last poll that did not was sent",
        "",
        f"{'figure':<58} {'value':>10} {'after':>8} {'target':>9}  result",
    ]
    for figure in run.figures:
        if figure.seconds is None:
            value, result = ("skipped", "-") if (figure.error or "").startswith("skipped") else ("not reached",
                                                                                                   "FAILED")
        else:
            value, result = _seconds(figure.seconds), _verdict(figure.met)
        note = f"  ({figure.note})" if figure.note else ""
        after = "-" if figure.at_least_s is None or figure.seconds is None else f"{figure.at_least_s:.2f}"
        lines.append(f"{figure.label:<58} {value:>10} {after:>8} {_target(figure.target_s):>9}  {result}{note}")
    errors = [figure for figure in run.figures if figure.error and not figure.error.startswith("skipped")]
    for figure in errors:
        lines.append(f"  {figure.label}: {figure.error}")
    if run.resources:
        lines += ["", f"{'broker':<7} {'when':<14} {'RSS MB':>8} {'open fds':>9} {'log fds':>8} {'segments':>9} "
                      f"{'fds/segment':>12} {'target':>7}  result"]
        for sample in run.resources:
            rss = "-" if sample.rss_bytes is None else f"{sample.rss_bytes / 1e6:.1f}"
            fds = "-" if sample.fds is None else f"{sample.fds:,}"
            log_fds = "-" if sample.log_fds is None else f"{sample.log_fds:,}"
            ratio = "-" if sample.fds_per_segment is None else f"{sample.fds_per_segment:.2f}"
            lines.append(f"{sample.broker_id:<7} {sample.when:<14} {rss:>8} {fds:>9} {log_fds:>8} "
                         f"{sample.segments:>9,} {ratio:>12} {'<= 1':>7}  {_verdict(sample.fds_met)}")
        lines.append("(log fds: descriptors open on files in the broker's log dirs; fds/segment is log fds per "
                     "segment file)")
    if run.log_tails:
        lines += ["", "brokers' log tails when the phase failed:", run.log_tails]
    return lines


def scale_exit_status(run, strict=False):
    """1 when a phase failed; with ``strict`` also when a target was missed; else 0."""
    if run.failed or any(figure.error for figure in run.figures):
        return 1
    if strict and (any(figure.met is False for figure in run.figures)
                   or any(sample.fds_met is False for sample in run.resources)):
        return 1
    return 0


def scale_json(run):
    """The run as a JSON-serialisable dict (met/missed included)."""
    data = asdict(run)
    for figure, out in zip(run.figures, data["figures"], strict=True):
        out["met"] = figure.met
    for sample, out in zip(run.resources, data["resources"], strict=True):
        out["fds_per_segment"] = sample.fds_per_segment
        out["fds_met"] = sample.fds_met
    return data
