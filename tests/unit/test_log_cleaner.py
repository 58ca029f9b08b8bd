"""Unit tests for kafkalite.log.cleaner: compaction, tombstones, dirty ratio, lag, checkpoints, crash-safe swaps."""

import os

import pytest

from kafkalite.log.checkpoint import read_offset_checkpoint
from kafkalite.log.cleaner import CLEANER_CHECKPOINT, CleanerConfig, LogCleaner
from kafkalite.log.log import Log
from kafkalite.protocol.recordcodec import decode_batches
from tests.support.log import (
    KEY,
    SWAP_STEPS,
    TS,
    FakeClock,
    SimulatedCrash,
    append_keyed,
    contents,
    new_manager,
    write_rounds,
)


def batch_headers(log):
    headers = []
    for segment in log.segments:
        data = os.pread(segment.file.fileno(), segment.size, 0)
        headers.extend(header for header, _ in decode_batches(data))
    return headers


def latest_per_key(rows):
    latest = {}
    for offset, key, value in rows:
        latest[key] = (offset, value)
    return latest


def test_cleaning_keeps_the_latest_record_per_key_at_its_offset(tmp_path):
    """After a pass every key has exactly its latest value, at the offset it was written; batches keep their ends."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=4)
    append_keyed(log, [("k0", "active")])  # in the active segment: never cleaned
    before = contents(log)
    last_offsets = [header.last_offset for header in batch_headers(log)]
    result = LogCleaner(manager, CleanerConfig(), clock).clean_once()
    assert result is not None and result.end_offset == log.segments[-1].base_offset
    after = contents(log)
    assert [row for row in after if row[0] < result.end_offset] == \
        [(15 + k, f"k{k}", f"v3-{k}") for k in range(5)]
    assert after[-1] == (20, "k0", "active")
    assert latest_per_key(after) == latest_per_key(before)
    assert set(after) <= set(before)
    surviving = [header.last_offset for header in batch_headers(log)]
    assert surviving == [last for last in last_offsets if last >= 15]
    manager.shutdown()


@pytest.mark.parametrize("codec", [0, 1, 2, 3, 4])
def test_rewritten_batches_keep_their_codec_and_last_offset_delta(tmp_path, codec):
    """A partly kept batch is re-encoded with its codec, its base offset and its last offset delta."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    append_keyed(log, [("a", "1"), ("b", "1"), ("c", "1")], compression=codec)
    append_keyed(log, [("c", "2")], compression=codec)
    log.roll()
    append_keyed(log, [("x", "0")])
    LogCleaner(manager, CleanerConfig(), clock).clean_once()
    first = batch_headers(log)[0]
    assert (first.base_offset, first.last_offset_delta, first.records_count) == (0, 2, 2)
    assert first.compression == codec
    assert contents(log) == [(0, "a", "1"), (1, "b", "1"), (3, "c", "2"), (4, "x", "0")]
    manager.shutdown()


def test_tombstones_are_dropped_only_after_delete_retention(tmp_path):
    """A tombstone survives cleaning while younger than delete.retention.ms, then goes with its key."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock, delete_retention_ms=10_000)
    log = manager.get_log(*KEY)
    append_keyed(log, [("gone", "v"), ("kept", "v")])
    append_keyed(log, [("gone", None)])
    log.roll()
    append_keyed(log, [("other", "v")])
    cleaner = LogCleaner(manager, CleanerConfig(), clock)
    clock.now = TS + 5_000
    cleaner.clean_once()
    assert contents(log) == [(1, "kept", "v"), (2, "gone", None), (3, "other", "v")]
    clock.now = TS + 20_000
    assert cleaner.clean_once() is None  # nothing new is dirty
    log.roll()
    append_keyed(log, [("later", "v")], timestamp=TS + 20_000)
    cleaner.clean_once()
    assert contents(log) == [(1, "kept", "v"), (3, "other", "v"), (4, "later", "v")]
    manager.shutdown()


def test_dirty_ratio_decides_whether_a_log_is_cleaned(tmp_path):
    """A log is cleaned only once dirty bytes / total bytes reaches min.cleanable.dirty.ratio."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock, min_cleanable_dirty_ratio=0.5)
    log = manager.get_log(*KEY)
    for i in range(6):
        append_keyed(log, [(f"k{i}", "x" * 50)])
    log.roll()
    cleaner = LogCleaner(manager, CleanerConfig(), clock)
    assert cleaner.clean_once() is not None  # all dirty: ratio 1.0
    append_keyed(log, [("k0", "y" * 50)])
    log.roll()
    found = cleaner.cleanable(KEY, log)
    assert 0 < found.dirty_ratio < 0.5
    assert cleaner.clean_once() is None
    for i in range(1, 6):
        append_keyed(log, [(f"k{i}", "y" * 50)])
    log.roll()
    assert cleaner.cleanable(KEY, log).dirty_ratio >= 0.5
    assert cleaner.clean_once() is not None
    assert {value for _, _, value in contents(log)} == {"y" * 50}
    manager.shutdown()


def test_min_compaction_lag_holds_back_young_segments(tmp_path):
    """Segments whose newest record is younger than min.compaction.lag.ms are not cleaned."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock, min_compaction_lag_ms=60_000)
    log = manager.get_log(*KEY)
    append_keyed(log, [("k", "1")])
    append_keyed(log, [("k", "2")])
    log.roll()
    append_keyed(log, [("z", "1")])
    cleaner = LogCleaner(manager, CleanerConfig(), clock)
    assert cleaner.clean_once() is None
    clock.now = TS + 60_001
    assert cleaner.clean_once() is not None
    assert contents(log) == [(1, "k", "2"), (2, "z", "1")]
    manager.shutdown()


def test_nothing_above_the_high_watermark_is_cleaned(tmp_path):
    """Only segments wholly below the high watermark are cleanable."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=4)
    log.update_high_watermark(5)  # inside the first segment, [0, 10)
    cleaner = LogCleaner(manager, CleanerConfig(), clock)
    assert cleaner.clean_once() is None  # the first segment ends at 10 > HW
    log.update_high_watermark(12)
    result = cleaner.clean_once()
    assert result.end_offset == 10
    assert [row[0] for row in contents(log)] == list(range(5, 20))  # only [0, 10) was compacted
    manager.shutdown()


def test_checkpoint_records_progress_and_a_new_cleaner_resumes_from_it(tmp_path):
    """cleaner-offset-checkpoint holds the first dirty offset in Kafka's format; a new cleaner reads it."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=4)
    append_keyed(log, [("k0", "tail")])
    LogCleaner(manager, CleanerConfig(), clock).clean_once()
    path = os.path.join(manager.log_dirs[0], CLEANER_CHECKPOINT)
    assert read_offset_checkpoint(path) == {KEY: 20}
    with open(path) as handle:
        assert handle.read() == "0\n1\nc 0 20\n"
    resumed = LogCleaner(manager, CleanerConfig(), clock)
    assert resumed.checkpoint_of(KEY) == 20
    assert resumed.clean_once() is None
    log.truncate_to(18)  # below the checkpoint: the cleaner must not trust it any more
    assert resumed.cleanable(KEY, log) is None
    assert resumed.checkpoint_of(KEY) == 18
    manager.shutdown()


def test_compact_and_delete_both_apply(tmp_path):
    """With cleanup.policy=compact,delete retention deletes old segments and the cleaner compacts the rest."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock, cleanup_policy=("compact", "delete"), retention_ms=100_000)
    log = manager.get_log(*KEY)
    append_keyed(log, [("old", "1")], timestamp=TS)
    log.roll()
    clock.now = TS + 200_000
    for value in ("a", "b", "c"):
        append_keyed(log, [("k", value)], timestamp=clock.now)
    log.roll()
    append_keyed(log, [("tail", "x")], timestamp=clock.now)
    assert manager.cleanup_logs() == 1
    LogCleaner(manager, CleanerConfig(), clock).clean_once()
    assert contents(log) == [(3, "k", "c"), (4, "tail", "x")]
    manager.shutdown()


def test_a_producers_last_batch_stays_as_an_empty_batch(tmp_path):
    """A fully superseded batch that is its producer's last keeps its offsets (empty); others are dropped."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    append_keyed(log, [("k", "p1"), ("j", "p1")], producer_id=7, base_sequence=0)
    append_keyed(log, [("k", "p2")], producer_id=7, base_sequence=2)
    append_keyed(log, [("k", "plain"), ("j", "plain")])
    log.roll()
    append_keyed(log, [("z", "z")])
    LogCleaner(manager, CleanerConfig(), clock).clean_once()
    headers = batch_headers(log)
    assert [(h.base_offset, h.last_offset, h.records_count, h.producer_id) for h in headers] == \
        [(2, 2, 0, 7), (3, 4, 2, -1), (5, 5, 1, -1)]
    assert headers[0].base_sequence == 2
    manager.shutdown()
    reopened = Log(log.directory, log.config, clock)
    assert reopened.producer_state.last_entry(7).last_offset == 2
    reopened.close()


def test_file_regions_handed_out_before_a_swap_stay_readable(tmp_path):
    """A fetch's region of an old segment reads the old bytes until file.delete.delay.ms passes."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=2, per_segment=2)
    append_keyed(log, [("t", "t")])
    region = log.read(0, 10**9).records
    expected = region.read()
    LogCleaner(manager, CleanerConfig(), clock).clean_once()
    assert region.read() == expected
    assert any(name.endswith(".deleted") for name in os.listdir(log.directory))
    clock.now += 1001
    assert log.delete_expired_files() == 1
    assert not any(name.endswith(".deleted") for name in os.listdir(log.directory))
    manager.shutdown()


def test_truncation_during_cleaning_abandons_the_swap(tmp_path):
    """A truncation between rewriting and swapping makes the cleaner drop its work and leave the log alone."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=4)

    def truncate_then_continue(step):
        if step == "cleaned":
            log.truncate_to(12)

    cleaner = LogCleaner(manager, CleanerConfig(), clock, step_hook=truncate_then_continue)
    result = cleaner.clean_once()
    assert result.aborted
    assert [row[0] for row in contents(log)] == list(range(10))
    assert not [name for name in os.listdir(log.directory) if name.endswith((".cleaned", ".swap", ".swapend"))]
    manager.shutdown()


def _crash_fixture(tmp_path):
    """Segments of two batches; groups of two segments; the first group wholly superseded by the second."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock, segment_bytes=500)
    log = manager.get_log(*KEY)
    for round_number in range(6):
        append_keyed(log, [(f"k{k}", f"v{round_number}-{k}") for k in range(3)])
        if round_number % 2 == 1:
            log.roll()  # small segments: each group merges several
    append_keyed(log, [("k0", "tail")])
    return clock, manager, log


@pytest.mark.parametrize("step", SWAP_STEPS + ["delete_old#2"])
def test_a_crash_at_any_swap_step_recovers_to_a_readable_log(tmp_path, step):
    """Killing the cleaner before any swap step leaves a log that reopens readable, with the same latest values.

    Before the commit point the first group's swap is rolled back, after it it is finished: exactly as a
    cleaning without a crash left that group's offsets (even though the cleaned group ends up empty).
    """
    _, reference_manager, reference_log = _crash_fixture(tmp_path / "reference")
    reference_cleaner = LogCleaner(reference_manager, CleanerConfig(), reference_manager.time_ms)
    groups = reference_cleaner._group_segments(list(zip(reference_log.segments, reference_log.segments[1:])),
                                               500, reference_log.config.segment_index_bytes)
    first_group_end = groups[0][-1][1].base_offset
    reference_cleaner.clean_once()
    cleaned_reference = contents(reference_log)
    clock, manager, log = _crash_fixture(tmp_path / "crashed")
    before = contents(log)
    step_name, _, occurrence = step.partition("#")
    seen = []

    def crash(current):
        if current == step_name:
            seen.append(current)
            if len(seen) == int(occurrence or 1):
                raise SimulatedCrash(step)

    with pytest.raises(SimulatedCrash):
        LogCleaner(manager, CleanerConfig(), clock, step_hook=crash).clean_once()
    # no close(): the process "died"; reopen from the directory as after a crash
    reopened = Log(log.directory, log.config, clock, had_clean_shutdown=False)
    after = contents(reopened)
    offsets = [row[0] for row in after]
    assert offsets == sorted(set(offsets))
    assert set(after) <= set(before)
    assert latest_per_key(after) == latest_per_key(before)
    leftovers = [name for name in os.listdir(reopened.directory)
                 if name.endswith((".cleaned", ".swap", ".swapend", ".deleted"))]
    assert leftovers == []
    committed = SWAP_STEPS.index(step_name) > SWAP_STEPS.index("commit")
    expected_group = cleaned_reference if committed else before
    assert [row for row in after if row[0] < first_group_end] == \
        [row for row in expected_group if row[0] < first_group_end]
    assert [row for row in after if row[0] >= first_group_end] == [row for row in before if row[0] >= first_group_end]
    reopened.close()


def test_max_compaction_lag_forces_a_cleaning_below_the_dirty_ratio(tmp_path):
    """A dirty segment older than max.compaction.lag.ms is cleaned even when the ratio is not reached."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock, min_cleanable_dirty_ratio=0.99, max_compaction_lag_ms=50_000)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=4)
    cleaner = LogCleaner(manager, CleanerConfig(), clock)
    cleaner.clean_once()
    append_keyed(log, [("k0", "late")])
    log.roll()
    append_keyed(log, [("z", "z")])
    assert cleaner.clean_once() is None
    clock.now = TS + 50_001
    assert cleaner.cleanable(KEY, log).forced
    assert cleaner.clean_once() is not None
    assert [row for row in contents(log) if row[1] == "k0"] == [(20, "k0", "late")]
    manager.shutdown()


def test_a_full_offset_map_cleans_in_several_passes(tmp_path):
    """With room for few keys, a pass stops at a segment boundary; later passes finish the job correctly."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=6, per_segment=1)
    append_keyed(log, [("tail", "x")])
    before = contents(log)
    cleaner = LogCleaner(manager, CleanerConfig(dedupe_buffer_size=5 * 24 * 10 // 9 + 1), clock)
    assert cleaner.config.max_map_entries == 5
    ends = []
    while (result := cleaner.clean_once()) is not None:
        ends.append(result.end_offset)
    assert ends == [5, 10, 15, 20, 25, 30]
    assert contents(log) == [(25 + k, f"k{k}", f"v5-{k}") for k in range(5)] + [(30, "tail", "x")]
    assert latest_per_key(contents(log)) == latest_per_key(before)
    manager.shutdown()


def test_deleting_or_retention_during_cleaning_abandons_the_swap(tmp_path):
    """A log deleted, or a segment removed by retention, while the cleaner rewrites is left alone by the swap."""
    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock, cleanup_policy=("compact", "delete"))
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=4)
    append_keyed(log, [("t", "t")])

    def retention(step):
        if step == "cleaned":
            log.maybe_increment_log_start_offset(10)
            assert log.delete_retention_segments() == 1

    result = LogCleaner(manager, CleanerConfig(), clock, step_hook=retention).clean_once()
    assert result.aborted
    assert [row[0] for row in contents(log)] == list(range(10, 21))

    def delete(step):
        if step == "cleaned":
            manager.delete_log(*KEY)

    assert LogCleaner(manager, CleanerConfig(), clock, step_hook=delete).clean_once().aborted
    assert not [name for name in os.listdir(log.directory) if name.endswith((".cleaned", ".swap", ".swapend"))]
    manager.shutdown()


def test_a_read_error_from_a_log_changing_underneath_is_an_abandoned_pass(tmp_path, monkeypatch):
    """An I/O error while the log was truncated meanwhile abandons the pass; the log stays cleanable."""
    import kafkalite.log.cleaner as cleaner_module

    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=4)
    append_keyed(log, [("t", "t")])
    real_iter = cleaner_module._iter_batches
    calls = []

    def failing_iter(segment):
        if not calls:
            calls.append(segment)
            log.truncate_to(20)  # bumps the cleaner generation, as a follower's truncation would
            raise OSError("file closed underneath")
        return real_iter(segment)

    monkeypatch.setattr(cleaner_module, "_iter_batches", failing_iter)
    cleaner = LogCleaner(manager, CleanerConfig(), clock)
    assert cleaner.clean_once().aborted
    result = cleaner.clean_once()
    assert result is not None and not result.aborted
    # the truncation made [10, 20) the active segment again: only [0, 10) was compacted
    assert [row[0] for row in contents(log)] == list(range(5, 20))
    manager.shutdown()


def test_an_unexplained_error_marks_the_log_uncleanable(tmp_path, monkeypatch):
    """A failure with the log unchanged is a bug or corruption: the log is skipped from then on."""
    import kafkalite.log.cleaner as cleaner_module

    clock = FakeClock(TS)
    manager = new_manager(tmp_path, clock)
    log = manager.get_log(*KEY)
    write_rounds(log, rounds=4)

    def broken(segment):
        raise OSError("disk error")
        yield

    monkeypatch.setattr(cleaner_module, "_iter_batches", broken)
    cleaner = LogCleaner(manager, CleanerConfig(), clock)
    with pytest.raises(OSError):
        cleaner.clean_once()
    assert cleaner.clean_once() is None
    manager.shutdown()
