"""Unit tests for descriptors and indexes: one descriptor per segment, the bounded index cache, stale
index files, kill -9 of a process mid-append, and running out of descriptors (EMFILE, for real)."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from kafkalite.log.config import LogConfig
from kafkalite.log.index import OffsetIndex, TimeIndex
from kafkalite.log.index_cache import IndexCache
from kafkalite.log.log import Log
from kafkalite.log.manager import LogManager
from kafkalite.protocol.errors import KafkaStorageError
from tests.support.log import (
    FakeClock,
    append_numbered,
    batch,
    descriptors_exhausted,
    open_descriptors,
    open_log,
    read_all,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = {"segment_bytes": 400, "index_interval_bytes": 1}


def batch_starts(segment):
    """``{position: last offset}`` of every batch of ``segment``, read from its headers."""
    starts = {}
    position = 0
    while position < segment.size:
        header = segment.read_header(position)
        starts[position] = header.last_offset
        position += header.size
    return starts


def test_a_log_holds_one_descriptor_per_segment(tmp_path):
    """N segments hold N descriptors in the log's directory: after appends, after a reopen, after reading all."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock, **SMALL)
    append_numbered(log, 40)
    segments = log.num_segments
    assert segments >= 5
    assert open_descriptors(tmp_path) == segments
    expected = read_all(log)
    log.close()
    assert open_descriptors(tmp_path) == 0
    for name in os.listdir(tmp_path / "t-0"):
        if name.endswith(".index"):  # written out and trimmed to their entries
            assert os.path.getsize(tmp_path / "t-0" / name) % 8 == 0

    for clean in (True, False):
        reopened = Log(str(tmp_path / "t-0"), LogConfig(**SMALL), clock, had_clean_shutdown=clean)
        assert open_descriptors(tmp_path) == segments
        assert read_all(reopened) == expected  # every segment's indexes loaded
        assert open_descriptors(tmp_path) == segments
        reopened.flush()
        assert open_descriptors(tmp_path) == segments
        reopened.close()
    assert open_descriptors(tmp_path) == 0


def test_a_log_manager_of_many_logs_holds_one_descriptor_per_segment(tmp_path):
    """100 logs of 3 segments each, loaded by a LogManager: 300 descriptors, whatever was read."""
    clock = FakeClock()
    config = LogConfig(**SMALL)
    manager = LogManager([str(tmp_path)], config, clock)
    manager.load()
    for partition in range(100):
        log = manager.get_or_create_log("t", partition)
        append_numbered(log, 3)
        log.roll()
        append_numbered(log, 3, start=3)
        log.roll()
    manager.shutdown()
    again = LogManager([str(tmp_path)], config, clock, index_cache=IndexCache(max_segments=50))
    again.load()
    assert sum(log.num_segments for log in again.all_logs()) == 300
    assert open_descriptors(tmp_path) == 300
    for log in again.all_logs():
        assert [value for _, value in read_all(log)] == [b"v%d" % i for i in range(6)]
    assert open_descriptors(tmp_path) == 300
    assert len(again.index_cache) <= 50 and again.index_cache.evictions > 0
    again.shutdown()
    assert open_descriptors(tmp_path) == 0


def test_evicted_indexes_load_again_and_answer_the_same(tmp_path):
    """With room for two segments' indexes, lookups over ten segments evict and reload, and stay right."""
    clock = FakeClock()
    cache = IndexCache(max_segments=2)
    log = Log(str(tmp_path / "t-0"), LogConfig(**SMALL), clock, index_cache=cache)
    append_numbered(log, 60)
    inactive = log.segments[:-1]
    assert len(inactive) >= 8
    truth = {segment.base_offset: batch_starts(segment) for segment in log.segments}
    for _round in range(3):
        for segment in inactive:
            for position, last_offset in truth[segment.base_offset].items():
                header = segment.translate_offset(last_offset)
                assert (header.position, header.last_offset) == (position, last_offset)
            found_offset, found_position = segment.offset_index.lookup(segment.read_next_offset())
            assert truth[segment.base_offset][found_position] == found_offset
            assert len(cache) <= 2
    assert cache.evictions > 0 and cache.misses > len(inactive)
    assert [value for _, value in read_all(log)] == [b"v%d" % i for i in range(60)]
    log.close()


def test_the_cache_is_bounded_by_bytes_and_is_least_recently_used():
    """Entries beyond the byte bound evict the least recently used; a hit refreshes an entry."""

    def pair(entries):
        offset_index, time_index = OffsetIndex("unused", 0, 1 << 20), TimeIndex("unused", 0, 1 << 20)
        for i in range(1, entries + 1):
            offset_index.append(i, i * 100)
            time_index.maybe_append(i, i)
        return offset_index, time_index

    cache = IndexCache(max_segments=10, max_bytes=3 * (20 * 20 + 512))
    for name in "abc":
        cache.put(name, pair(20))
    assert len(cache) == 3 and cache.bytes <= cache.max_bytes
    assert cache.get("a") is not None  # now the most recently used
    cache.put("d", pair(20))
    assert "b" not in cache and "a" in cache and cache.bytes <= cache.max_bytes
    cache.put("huge", pair(1000))  # alone over the bound: kept, everything else goes
    assert len(cache) == 1 and "huge" in cache


def test_a_stale_index_file_of_an_inactive_segment_is_rebuilt(tmp_path):
    """Index files that point past their segment or mid-batch are caught when loaded and rebuilt right."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock, **SMALL)
    append_numbered(log, 30)
    expected = read_all(log)
    first, second = log.segments[0], log.segments[1]
    truth = batch_starts(first)
    log.close()
    with open(second.offset_index_path, "rb") as handle:
        foreign = handle.read()  # another segment's entries: relative offsets beyond this one's range
    with open(first.offset_index_path, "wb") as handle:
        handle.write(foreign)
    good_entries = OffsetIndex.load(second.offset_index_path, second.base_offset, 1 << 20).entries
    with open(second.offset_index_path, "r+b") as handle:  # last entry one byte past its batch
        handle.seek(good_entries * 8 - 4)
        position = int.from_bytes(handle.read(4), "big")
        handle.seek(good_entries * 8 - 4)
        handle.write((position + 1).to_bytes(4, "big"))

    reopened = Log(str(tmp_path / "t-0"), LogConfig(**SMALL), clock, had_clean_shutdown=True)
    rebuilt = reopened.segments[0].offset_index
    assert rebuilt.entries == len(truth) - 1  # one entry per batch after the first
    for slot in range(rebuilt.entries):
        offset, position = rebuilt.lookup_by_position(sorted(truth)[slot + 1])
        assert truth[position] == offset
    assert reopened.segments[1].offset_index.entries == good_entries
    assert read_all(reopened) == expected
    reopened.close()
    assert os.path.getsize(first.offset_index_path) == rebuilt.entries * 8  # rewritten, trimmed


def test_an_untrimmed_index_file_loads_its_entries(tmp_path):
    """A pre-allocated index (zero tail, as Kafka or an mmap-based broker leaves it) loads as is."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock, **SMALL)
    append_numbered(log, 30)
    first = log.segments[0]
    entries = first.offset_index.entries
    log.close()
    os.truncate(first.offset_index_path, 4096)
    os.truncate(first.time_index_path, 4096)
    reopened = Log(str(tmp_path / "t-0"), LogConfig(**SMALL), clock, had_clean_shutdown=True)
    assert reopened.segments[0].offset_index.entries == entries
    assert [value for _, value in read_all(reopened)] == [b"v%d" % i for i in range(30)]
    reopened.close()


CRASHING_CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from kafkalite.log.config import LogConfig
    from kafkalite.log.log import Log
    from tests.support.log import append_numbered, read_all
    log = Log({path!r}, LogConfig(segment_bytes=400, index_interval_bytes=1), lambda: 1_000_000)
    append_numbered(log, 34)
    log.flush()
    print(log.recovery_point)
    log.truncate_to(22)  # across segments: the one holding 22 becomes active again
    append_numbered(log, 12, start=22, prefix=b"w")
    log.flush()          # the active segment's index files now hold entries...
    log.truncate_to(log.log_end_offset - 3)
    append_numbered(log, 1, start=log.log_end_offset, prefix=b"wider")  # ...that point at other batches
    assert os.path.getsize(log.active_segment.offset_index_path) > log.active_segment.offset_index.entries * 8
    print(repr(read_all(log)), flush=True)
    {crash}
""")


def run_child(path, crash):
    """Run the steps above in a child process that ends with ``crash``; returns it, finished."""
    code = CRASHING_CHILD.format(root=REPO_ROOT, path=str(path), crash=crash)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


def test_empty_indexes_of_new_segments_get_no_files_but_stale_ones_are_cut(tmp_path):
    """A segment created here whose indexes stay empty writes no index file; one found on disk with an empty log
    (its index files of unknown content) gets them cut to its entries at close."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock, **SMALL)
    append_numbered(log, 1)
    log.roll()
    log.close()
    assert sorted(os.listdir(tmp_path / "t-0")) == [  # the rolled one's time index has its final entry
        "00000000000000000000.log", "00000000000000000000.timeindex", "00000000000000000001.log",
        "leader-epoch-checkpoint"]
    stale = tmp_path / "t-0" / "00000000000000000001.index"
    stale.write_bytes((5).to_bytes(4, "big") + (100).to_bytes(4, "big"))  # left by a crash, say
    reopened = open_log(tmp_path / "t-0", clock, **SMALL)
    assert read_all(reopened) == [(0, b"v0")]
    reopened.close()
    assert stale.stat().st_size == 0
    again = open_log(tmp_path / "t-0", clock, **SMALL)
    append_numbered(again, 20, start=1)  # now with entries: written at roll and close
    again.close()
    assert (tmp_path / "t-0" / "00000000000000000001.index").stat().st_size > 0


def test_kill_9_mid_append_leaves_correct_indexes_after_recovery(tmp_path):
    """After SIGKILL, with stale index files on disk, recovery rebuilds the active segment's indexes: every
    batch is found, and all files match a clean run's byte for byte once closed."""
    crashed = run_child(tmp_path / "crashed" / "t-0", "os.kill(os.getpid(), signal.SIGKILL)")
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    recovery_point, expected = crashed.stdout.splitlines()
    clean = run_child(tmp_path / "clean" / "t-0", "log.close()")
    assert clean.returncode == 0, clean.stderr

    clock = FakeClock()
    log = Log(str(tmp_path / "crashed" / "t-0"), LogConfig(**SMALL), clock, recovery_point=int(recovery_point))
    assert log.num_segments >= 3 and repr(read_all(log)) == expected
    active = log.active_segment
    assert active.offset_index.entries > 0
    for position, last_offset in batch_starts(active).items():
        assert active.translate_offset(last_offset).position == position
    log.close()
    names = sorted(name for name in os.listdir(tmp_path / "clean" / "t-0") if name.endswith(("index", ".log")))
    assert names == sorted(name for name in os.listdir(tmp_path / "crashed" / "t-0")
                           if name.endswith(("index", ".log")))
    for name in names:
        with open(tmp_path / "clean" / "t-0" / name, "rb") as a, open(tmp_path / "crashed" / "t-0" / name, "rb") as b:
            assert a.read() == b.read(), name


def test_running_out_of_descriptors_at_a_roll(tmp_path):
    """EMFILE: a roll that cannot open the new segment fails alone and changes nothing; one whose index
    write-out fails keeps the indexes in memory until a flush writes them; the log keeps working."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock, **SMALL)
    append_numbered(log, 5)
    segments, end = log.num_segments, log.log_end_offset
    with descriptors_exhausted():
        with pytest.raises(KafkaStorageError, match="Too many open files"):
            append_numbered(log, 1, start=end)  # a full segment: the append rolls, which needs a new .log
        assert (log.num_segments, log.log_end_offset) == (segments, end)
    rolled = log.active_segment
    with descriptors_exhausted(spare=1):
        append_numbered(log, 3, start=end)  # the roll opens the new .log, then cannot write the old indexes
        assert log.num_segments == segments + 1
        assert rolled.indexes.pinned is not None and rolled.offset_index.dirty
        with pytest.raises(KafkaStorageError):
            log.flush()
    assert [value for _, value in read_all(log)] == [b"v%d" % i for i in range(log.log_end_offset)]
    log.flush()
    assert rolled.indexes.pinned is None and not rolled.offset_index.dirty
    assert os.path.getsize(rolled.offset_index_path) == rolled.offset_index.entries * 8 > 0
    assert log.recovery_point == log.log_end_offset
    log.close()


def test_a_new_epoch_that_cannot_be_checkpointed_appends_nothing(tmp_path):
    """EMFILE writing leader-epoch-checkpoint for a new epoch: KafkaStorageError before anything is appended."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock, **SMALL)
    log.append_as_leader(memoryview(batch([b"a"])), 0)
    with descriptors_exhausted():
        log.append_as_leader(memoryview(batch([b"same epoch"])), 0)  # no new epoch: no file needed
        with pytest.raises(KafkaStorageError, match="leader-epoch-checkpoint"):
            log.append_as_leader(memoryview(batch([b"b"])), 1)
        with pytest.raises(KafkaStorageError, match="leader-epoch-checkpoint"):
            log.append_as_follower(memoryview(batch([b"c"], base_offset=2, partition_leader_epoch=1)))
    assert log.log_end_offset == 2 and log.epoch_cache.entries == [(0, 0)]
    assert log.append_as_leader(memoryview(batch([b"b"])), 1).first_offset == 2
    log.close()
    with open(tmp_path / "t-0" / "leader-epoch-checkpoint") as handle:
        assert handle.read().split("\n")[2:4] == ["0 0", "1 2"]
    reopened = open_log(tmp_path / "t-0", clock, **SMALL)
    assert [value for _, value in read_all(reopened)] == [b"a", b"same epoch", b"b"]
    reopened.close()


def test_a_log_that_cannot_be_created_leaves_nothing_behind(tmp_path):
    """get_or_create_log under EMFILE: KafkaStorageError naming the path; no log, no directory, no descriptor."""
    manager = LogManager([str(tmp_path)], LogConfig(), FakeClock())
    manager.load()
    manager.get_or_create_log("t", 0)
    with descriptors_exhausted():
        with pytest.raises(KafkaStorageError) as raised:
            manager.get_or_create_log("t", 1)
    assert str(tmp_path / "t-1") in str(raised.value) and "Too many open files" in str(raised.value)
    assert manager.get_log("t", 1) is None and not os.path.exists(tmp_path / "t-1")
    assert open_descriptors(tmp_path) == 1
    assert manager.get_or_create_log("t", 1) is not None
    manager.shutdown()


def test_flush_logs_flushes_the_others_when_one_fails(tmp_path):
    """One log whose directory vanished fails its flush; the others are flushed and checkpointed."""
    clock = FakeClock()
    manager = LogManager([str(tmp_path)], LogConfig(**SMALL), clock)
    manager.load()
    logs = [manager.get_or_create_log("t", partition) for partition in range(3)]
    for log in logs:
        append_numbered(log, 3)
    os.rename(logs[0].directory, str(tmp_path / "elsewhere"))
    with pytest.raises(KafkaStorageError, match="flush failed for 1 logs, first t-0"):
        manager.flush_logs(force=True)
    assert [log.recovery_point for log in logs] == [0, 3, 3]
    manager.checkpoint_recovery_points()
    os.rename(str(tmp_path / "elsewhere"), logs[0].directory)
    manager.shutdown()


def test_readers_flushes_and_rolls_share_a_tiny_cache(tmp_path):
    """Cleaner-like readers of inactive segments, a flusher and an appender rolling segments, one cache entry."""
    clock = FakeClock()
    cache = IndexCache(max_segments=1)
    log = Log(str(tmp_path / "t-0"), LogConfig(**SMALL), clock, index_cache=cache)
    append_numbered(log, 30)
    failures = []
    done = threading.Event()

    def read_inactive():
        try:
            while not done.is_set():
                segments, _generation = log.inactive_segments_snapshot()
                for segment in segments[:-1]:
                    truth = batch_starts(segment)
                    for position, last_offset in truth.items():
                        assert segment.translate_offset(last_offset).position == position
        except Exception as error:  # noqa: BLE001 (reported by the main thread)
            failures.append(error)

    def flush():
        try:
            while not done.wait(0.001):
                log.flush()
        except Exception as error:  # noqa: BLE001
            failures.append(error)

    threads = [threading.Thread(target=read_inactive) for _ in range(2)] + [threading.Thread(target=flush)]
    for thread in threads:
        thread.start()
    try:
        append_numbered(log, 120, start=30)
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures
    assert [value for _, value in read_all(log)] == [b"v%d" % i for i in range(150)]
    log.close()
