"""Test doubles and builders for the storage engine (``kafkalite.log``), shared by the log tests.

Stand-ins:

- :class:`FakeClock`: the ``time_ms`` callable a :class:`Log`/:class:`LogManager` takes —
  a settable millisecond clock (``clock.now += 1000`` moves time).
- :class:`SimulatedCrash`: raised by a cleaner step hook to stop a swap where a crash would.

Builders and readers of plain logs:

- :func:`batch`: a v2 batch of records with key ``b"k"`` and the given values;
- :func:`append_numbered`: one-record batches ``v<i>`` with growing timestamps, appended as leader;
- :func:`open_log`: a :class:`Log` in a directory with :class:`LogConfig` keyword overrides;
- :func:`values_read`: ``(offset, value)`` pairs of one :meth:`Log.read`;
- :func:`read_all`: every ``(offset, value)`` from a start, following reads across segments;
- :func:`open_descriptors`: how many of this process's descriptors point under a path;
- :func:`descriptors_exhausted`: a block in which every ``open`` fails with EMFILE, for real
  (the soft ``RLIMIT_NOFILE`` lowered to what is in use, the rest taken), with ``spare``
  descriptors left free on request.

Builders and readers of compacted logs (the cleaner tests):

- :data:`TS` (their record timestamp), :data:`KEY` (their ``(topic, partition)``) and
  :data:`SWAP_STEPS` (the names the cleaner's step hook sees, in order);
- :func:`compacted_config`: a small ``cleanup.policy=compact`` config that cleans at once;
- :func:`new_manager`: a loaded :class:`LogManager` under ``tmp_path`` holding the log :data:`KEY`;
- :func:`append_keyed`: one batch of ``(key, value)`` string pairs, high watermark moved to the end;
- :func:`contents`: every ``(offset, key, value)`` of a log, decoded;
- :func:`write_rounds`: rounds of the same keys with rolls in between (dirty segments to clean).
"""

import contextlib
import errno
import gc
import os
import resource

from kafkalite.log.config import LogConfig
from kafkalite.log.log import Log
from kafkalite.log.manager import LogManager
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches

__all__ = [
    "KEY", "SWAP_STEPS", "TS", "FakeClock", "SimulatedCrash", "append_keyed", "append_numbered", "batch",
    "compacted_config", "contents", "descriptors_exhausted", "new_manager", "open_descriptors", "open_log",
    "read_all", "values_read", "write_rounds",
]

TS = 1_000_000
KEY = ("c", 0)
SWAP_STEPS = ["cleaned", "swapend", "commit", "delete_old", "rename_log", "rename_indexes", "remove_swapend"]


class FakeClock:
    """A settable millisecond clock for injecting into Log/LogManager."""

    def __init__(self, now=1_000_000):
        self.now = now

    def __call__(self):
        return self.now


class SimulatedCrash(Exception):
    """Raised by a step hook to stop the cleaner mid-swap, as a crash would."""


# -- plain logs -----------------------------------------------------------------------------


def batch(values, timestamp=1_000_000, **kwargs):
    """A v2 batch (bytearray) of records with the given byte values."""
    return build_batch([Record(b"k", value, timestamp=timestamp) for value in values],
                       base_timestamp=timestamp, **kwargs)


def append_numbered(log, count, start=0, prefix=b"v"):
    """Append ``count`` one-record batches ``<prefix><i>`` for i from ``start``, timestamps growing with i."""
    for i in range(start, start + count):
        log.append_as_leader(memoryview(batch([prefix + b"%d" % i], timestamp=1_000_000 + i)), 0)


def open_log(path, clock, **config):
    """A :class:`Log` in ``path`` with ``LogConfig(**config)``."""
    return Log(str(path), LogConfig(**config), clock)


def values_read(log, start, max_bytes=10**9, max_offset=None):
    """(offset, value) pairs decoded from one read."""
    info = log.read(start, max_bytes, max_offset=max_offset)
    if info.records is None:
        return []
    out = []
    for header, records in decode_batches(info.records.read()):
        out.extend((header.base_offset + i, record.value) for i, record in enumerate(records))
    return out


def read_all(log, start=None, max_offset=None):
    """Every (offset, value) from ``start`` to the end, following reads across segments."""
    offset = log.log_start_offset if start is None else start
    out = []
    while True:
        chunk = values_read(log, offset, 10**9, max_offset)
        if not chunk:
            return out
        out.extend(chunk)
        offset = chunk[-1][0] + 1


def open_descriptors(path):
    """How many of this process's open descriptors point at ``path`` or below it."""
    prefix = os.path.realpath(path)
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
        if target == prefix or target.startswith(prefix + os.sep):
            count += 1
    return count


@contextlib.contextmanager
def descriptors_exhausted(spare=0):
    """Within the block only ``spare`` more descriptors can be opened; then EMFILE.

    The soft limit is lowered to just above the highest descriptor in use and the free
    numbers below it are taken; both are undone on exit.
    """
    gc.collect()  # a log some earlier test dropped unclosed must not free its descriptor inside the block
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    held = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1 + spare, hard))
    try:
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as error:
                if error.errno != errno.EMFILE:
                    raise
                break
        for _ in range(spare):
            os.close(held.pop())
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- compacted logs -------------------------------------------------------------------------


def compacted_config(**overrides):
    """A compacted topic's config: small segments and index interval, cleaned whatever its dirty ratio."""
    settings = {"cleanup_policy": ("compact",), "segment_bytes": 100_000, "index_interval_bytes": 64,
                "min_cleanable_dirty_ratio": 0.0, "file_delete_delay_ms": 1000}
    settings.update(overrides)
    return LogConfig(**settings)


def new_manager(tmp_path, clock, **overrides):
    """A loaded :class:`LogManager` in ``tmp_path/logs`` holding the compacted log :data:`KEY`."""
    manager = LogManager([str(tmp_path / "logs")], compacted_config(**overrides), clock)
    manager.load()
    manager.get_or_create_log(*KEY)
    return manager


def append_keyed(log, pairs, timestamp=TS, compression=0, producer_id=-1, base_sequence=-1):
    """Append one batch holding ``pairs`` of (key, value) strings (None allowed) and return its first offset."""
    records = [Record(key if key is None else key.encode(), value if value is None else value.encode(),
                      timestamp=timestamp) for key, value in pairs]
    data = build_batch(records, compression=compression, producer_id=producer_id,
                       producer_epoch=0 if producer_id >= 0 else -1, base_sequence=base_sequence)
    info = log.append_as_leader(memoryview(data), 0)
    log.update_high_watermark(log.log_end_offset)
    return info.first_offset


def contents(log):
    """Every (offset, key, value) readable from the log, following reads across segments."""
    out = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        info = log.read(offset, 10**9)
        if info.records is None:
            break
        data = info.records.read()
        last = offset
        for header, records in decode_batches(data):
            last = header.last_offset
            out.extend((r.offset, r.key and r.key.decode(), r.value and r.value.decode()) for r in records)
        offset = last + 1
    return out


def write_rounds(log, rounds=4, keys=5, per_segment=2):
    """``rounds`` batches over ``keys`` keys each, rolling every ``per_segment`` batches."""
    for round_number in range(rounds):
        append_keyed(log, [(f"k{k}", f"v{round_number}-{k}") for k in range(keys)])
        if (round_number + 1) % per_segment == 0:
            log.roll()
