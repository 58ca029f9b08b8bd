"""Shared helpers for the log tests (not a test module of its own beyond a sanity check)."""

from kafkalite.log.config import LogConfig
from kafkalite.log.log import Log
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches


class FakeClock:
    """A settable millisecond clock for injecting into Log/LogManager."""

    def __init__(self, now=1_000_000):
        self.now = now

    def __call__(self):
        return self.now


def batch(values, timestamp=1_000_000, **kwargs):
    """A v2 batch (bytearray) of records with the given byte values."""
    return build_batch([Record(b"k", value, timestamp=timestamp) for value in values],
                       base_timestamp=timestamp, **kwargs)


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


def open_log(path, clock, **config):
    return Log(str(path), LogConfig(**config), clock)


def test_helpers_build_a_readable_batch(tmp_path):
    """The helpers round-trip one record through a log."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock)
    log.append_as_leader(memoryview(batch([b"a"])), 0)
    assert read_all(log) == [(0, b"a")]
    log.close()
