"""ListOffsets v0's segment offsets (``kafkalite.server.legacy_offsets``), as Kafka 2.8's
``legacyFetchOffsetsBefore`` and ``legacyFetchOffsetsForTimestamp`` give them."""

import os
from types import SimpleNamespace

from kafkalite.log.log import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP
from kafkalite.server.legacy_offsets import legacy_offsets_before

NOW = 1_700_000_100_000


def fake_log(tmp_path, segments, log_end_offset, high_watermark=None, log_start_offset=0):
    """``segments`` = ``[(base_offset, size, mtime_ms)]``; files are created with those mtimes."""
    built = []
    for base, size, mtime_ms in segments:
        path = tmp_path / ("%020d.log" % base)
        path.write_bytes(b"x" * size)
        os.utime(path, (mtime_ms / 1000, mtime_ms / 1000))
        built.append(SimpleNamespace(base_offset=base, size=size, log_path=str(path)))
    return SimpleNamespace(segments=built, log_start_offset=log_start_offset, log_end_offset=log_end_offset,
                           high_watermark=log_end_offset if high_watermark is None else high_watermark)


def test_latest_and_earliest(tmp_path):
    log = fake_log(tmp_path, [(0, 100, NOW - 3000), (10, 100, NOW - 2000), (20, 50, NOW - 1000)], 25)
    assert legacy_offsets_before(log, LATEST_TIMESTAMP, 1, NOW, True) == [25]
    assert legacy_offsets_before(log, LATEST_TIMESTAMP, 10, NOW, True) == [25, 20, 10, 0]
    assert legacy_offsets_before(log, EARLIEST_TIMESTAMP, 1, NOW, True) == [0]
    assert legacy_offsets_before(log, EARLIEST_TIMESTAMP, 5, NOW, True) == [0]


def test_times_pick_segments_by_last_modified(tmp_path):
    log = fake_log(tmp_path, [(0, 100, NOW - 3000), (10, 100, NOW - 2000), (20, 50, NOW - 1000)], 25)
    assert legacy_offsets_before(log, NOW - 1500, 10, NOW, True) == [10, 0]
    assert legacy_offsets_before(log, NOW - 5000, 10, NOW, True) == []


def test_an_empty_active_segment_adds_no_log_end_entry(tmp_path):
    log = fake_log(tmp_path, [(0, 100, NOW - 3000), (10, 0, NOW - 2000)], 10)
    assert legacy_offsets_before(log, LATEST_TIMESTAMP, 10, NOW, True) == [10, 0]
    (tmp_path / "empty").mkdir()
    empty = fake_log(tmp_path / "empty", [(0, 0, NOW)], 0)
    assert legacy_offsets_before(empty, LATEST_TIMESTAMP, 1, NOW, True) == [0]


def test_consumers_never_see_past_the_high_watermark(tmp_path):
    log = fake_log(tmp_path, [(0, 100, NOW - 3000), (10, 100, NOW - 2000)], 15, high_watermark=8)
    assert legacy_offsets_before(log, LATEST_TIMESTAMP, 1, NOW, True) == [8]
    assert legacy_offsets_before(log, LATEST_TIMESTAMP, 5, NOW, True) == [8, 0]
    assert legacy_offsets_before(log, LATEST_TIMESTAMP, 5, NOW, False) == [15, 10, 0]


def test_the_log_start_offset_caps_the_first_segment(tmp_path):
    log = fake_log(tmp_path, [(0, 100, NOW - 3000), (10, 100, NOW - 2000)], 15, log_start_offset=4)
    assert legacy_offsets_before(log, EARLIEST_TIMESTAMP, 1, NOW, True) == [4]
