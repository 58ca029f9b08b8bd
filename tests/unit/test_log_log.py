"""Unit tests for kafkalite.log: segments, indexes, Log appends/reads/rolls/retention/truncation."""

import os

import pytest

from kafkalite.log.config import LogConfig
from kafkalite.log.index import OffsetIndex, TimeIndex
from kafkalite.log.log import Log
from kafkalite.protocol.errors import (
    InvalidProducerEpochError,
    InvalidTimestampError,
    MessageTooLargeError,
    OffsetOutOfRangeError,
    OutOfOrderSequenceNumberError,
)
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches
from kafkalite.protocol.records import read_batch_header
from tests.support.log import FakeClock, batch, open_log, read_all, values_read


def fill(log, count, size=1, epoch=0, timestamp=1_000_000):
    for i in range(count):
        log.append_as_leader(memoryview(batch([b"v%d" % i] * size, timestamp=timestamp)), epoch)


def test_offset_index_lookup_and_recount_after_crash(tmp_path):
    """Lookups return the floor entry; a pre-allocated (untrimmed) file loads with the right count."""
    path = str(tmp_path / "0.index")
    index = OffsetIndex(path, 100, 4096)
    for i in range(1, 6):
        index.append(100 + i * 10, i * 1000)
    assert index.lookup(99) == (100, 0)
    assert index.lookup(125) == (120, 2000)
    assert index.lookup_by_position(3500) == (130, 3000)
    assert not os.path.exists(path)  # nothing written until asked
    assert index.write_out() and os.path.getsize(path) == 40
    os.truncate(path, 4096)  # pre-allocated, as Kafka or a crash of an mmap-based broker leaves it
    reopened = OffsetIndex.load(path, 100, 4096)
    assert reopened.entries == 5 and reopened.dirty
    reopened.truncate_to(130)
    assert reopened.last_entry == (120, 2000)
    reopened.write_out()
    assert os.path.getsize(path) == 16
    assert OffsetIndex.load(path, 100, 4096).last_entry == (120, 2000)


def test_time_index_appends_only_growing_timestamps(tmp_path):
    """The time index ignores non-increasing timestamps and looks up the floor entry."""
    index = TimeIndex(str(tmp_path / "0.timeindex"), 0, 1200)
    index.maybe_append(10, 1)
    index.maybe_append(5, 2)
    index.maybe_append(20, 3)
    assert index.entries == 2
    assert index.lookup(15) == (10, 1)
    assert index.lookup(1) == (-1, 0)
    index.close()


def test_append_assigns_offsets_and_read_returns_whole_batches(tmp_path):
    """Offsets are assigned per batch; reads start at the batch holding the offset and respect max_bytes."""
    log = open_log(tmp_path / "t-0", FakeClock(), index_interval_bytes=100)
    for i in range(10):
        info = log.append_as_leader(memoryview(batch([b"a%d" % i, b"b%d" % i])), 2)
        assert (info.first_offset, info.last_offset, info.duplicate) == (2 * i, 2 * i + 1, False)
    assert log.log_end_offset == 20
    assert values_read(log, 7, max_bytes=1)[:2] == [(6, b"a3"), (7, b"b3")]
    first = log.read(7, 1)
    assert len(decode_batches(first.records.read())) == 1  # min_one_message: one whole batch
    some = log.read(0, first.records.length * 3 + 5)
    assert len(decode_batches(some.records.read())) == 3
    assert read_all(log)[-1] == (19, b"b9")
    assert log.read(20, 100).records is None
    assert log.read(4, 1, min_one_message=False).records is None
    with pytest.raises(OffsetOutOfRangeError):
        log.read(21, 100)
    log.close()


def test_read_stops_before_batch_reaching_max_offset(tmp_path):
    """max_offset (the HW) excludes every batch whose last offset is at or beyond it."""
    log = open_log(tmp_path / "t-0", FakeClock())
    for _ in range(5):
        log.append_as_leader(memoryview(batch([b"x", b"y"])), 0)
    assert [offset for offset, _ in read_all(log, max_offset=5)] == [0, 1, 2, 3]
    assert log.read(4, 1000, max_offset=4).records is None
    assert log.read(2, 1000, max_offset=3).records is None
    log.close()


def test_roll_by_size_and_time(tmp_path):
    """A segment rolls when the next batch would overflow segment.bytes or segment.ms has passed."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock, segment_bytes=300, segment_ms=1000)
    fill(log, 6)
    assert log.num_segments > 1
    assert all(segment.size <= 300 for segment in log.segments)
    before = log.num_segments
    log.append_as_leader(memoryview(batch([b"late"], timestamp=1_000_000 + 5000)), 0)
    assert log.num_segments == before + 1
    assert [value for _, value in read_all(log)][-1] == b"late"
    names = sorted(os.listdir(tmp_path / "t-0"))
    assert f"{log.segments[-1].base_offset:020d}.log" in names
    log.close()


def test_log_append_time_stamps_the_batch(tmp_path):
    """With LogAppendTime the broker's clock becomes the batch max timestamp and the type bit is set."""
    clock = FakeClock(5_000_000)
    log = open_log(tmp_path / "t-0", clock, message_timestamp_type="LogAppendTime")
    info = log.append_as_leader(memoryview(batch([b"a"], timestamp=1)), 0)
    assert info.log_append_time_ms == 5_000_000
    header = read_batch_header(log.read(0, 1000).records.read())
    assert header.is_log_append_time and header.max_timestamp == 5_000_000
    log.close()


def test_size_and_timestamp_checks(tmp_path):
    """Oversized batches and CreateTime timestamps too far from now are rejected untouched."""
    clock = FakeClock(1_000_000)
    log = open_log(tmp_path / "t-0", clock, max_message_bytes=100, message_timestamp_difference_max_ms=1000)
    with pytest.raises(MessageTooLargeError):
        log.append_as_leader(memoryview(batch([b"x" * 200])), 0)
    with pytest.raises(InvalidTimestampError):
        log.append_as_leader(memoryview(batch([b"x"], timestamp=1_000_000 + 5000)), 0)
    assert log.log_end_offset == 0
    log.close()


def test_idempotent_producer_duplicate_gap_and_epoch(tmp_path):
    """Retries return the original offsets; gaps, bad new epochs and old epochs are refused."""
    log = open_log(tmp_path / "t-0", FakeClock())

    def produce(seq, epoch=0, count=2):
        return log.append_as_leader(memoryview(batch([b"r"] * count, producer_id=7, producer_epoch=epoch,
                                                     base_sequence=seq)), 0)
    first = produce(0)
    produce(2)
    again = produce(0)
    assert again.duplicate and (again.first_offset, again.last_offset) == (first.first_offset, first.last_offset)
    assert log.log_end_offset == 4
    with pytest.raises(OutOfOrderSequenceNumberError):
        produce(9)
    with pytest.raises(OutOfOrderSequenceNumberError):
        produce(5, epoch=1)
    produce(0, epoch=1)
    with pytest.raises(InvalidProducerEpochError):
        produce(4, epoch=0)
    # an unknown producer id is accepted at any sequence (Kafka 2.8, KIP-360)
    log.append_as_leader(memoryview(batch([b"z"], producer_id=8, producer_epoch=0, base_sequence=42)), 0)
    log.close()
    reopened = open_log(tmp_path / "t-0", FakeClock())
    assert reopened.append_as_leader(memoryview(batch([b"r"] * 2, producer_id=7, producer_epoch=1,
                                                      base_sequence=0)), 0).duplicate
    reopened.close()


def test_retention_by_time_bytes_and_log_start(tmp_path):
    """Retention deletes whole old segments below the HW, moves the log start and keeps an active segment."""
    clock = FakeClock(10_000_000)
    log = open_log(tmp_path / "t-0", clock, segment_bytes=200, retention_ms=1000, file_delete_delay_ms=500)
    for i in range(6):
        log.append_as_leader(memoryview(batch([b"old%d" % i], timestamp=10_000_000)), 0)
    assert log.delete_retention_segments() == 0  # HW still 0
    log.update_high_watermark(log.log_end_offset)
    clock.now += 2000
    deleted = log.delete_retention_segments()
    assert deleted >= 1 and log.num_segments >= 1
    assert log.log_start_offset == log.segments[0].base_offset
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100)
    assert any(name.endswith(".deleted") for name in os.listdir(tmp_path / "t-0"))
    clock.now += 1000
    assert log.delete_expired_files() == deleted
    assert not any(name.endswith(".deleted") for name in os.listdir(tmp_path / "t-0"))
    log.close()

    log = open_log(tmp_path / "b-0", clock, segment_bytes=200, retention_bytes=300, retention_ms=-1)
    for i in range(8):
        log.append_as_leader(memoryview(batch([b"b%d" % i], timestamp=clock.now)), 0)
    log.update_high_watermark(log.log_end_offset)
    log.delete_retention_segments()
    assert log.size_in_bytes <= 300 + 200
    log.maybe_increment_log_start_offset(log.log_end_offset - 1)
    log.delete_retention_segments()
    assert log.segments[0].base_offset <= log.log_start_offset
    assert read_all(log)[-1][1] == b"b7"
    log.close()


def test_truncate_to_drops_data_epochs_and_producers(tmp_path):
    """Truncation removes batches, later segments and epoch entries at or above the offset."""
    log = open_log(tmp_path / "t-0", FakeClock(), segment_bytes=200)
    fill(log, 3, epoch=1)
    fill(log, 3, epoch=2)
    assert log.epoch_cache.entries == [(1, 0), (2, 3)]
    log.truncate_to(2)
    assert log.log_end_offset == 2 and log.epoch_cache.entries == [(1, 0)]
    assert [offset for offset, _ in read_all(log)] == [0, 1]
    log.append_as_leader(memoryview(batch([b"new"])), 3)
    assert read_all(log)[-1] == (2, b"new")
    log.truncate_fully_and_start_at(50)
    assert (log.log_start_offset, log.log_end_offset, log.num_segments) == (50, 50, 1)
    assert log.append_as_leader(memoryview(batch([b"x"])), 4).first_offset == 50
    log.close()


def test_epoch_cache_end_offsets(tmp_path):
    """OffsetForLeaderEpoch answers follow Kafka's rules, and the checkpoint survives a reopen."""
    log = open_log(tmp_path / "t-0", FakeClock())
    fill(log, 2, epoch=1)
    fill(log, 3, epoch=3)
    assert log.end_offset_for_epoch(3) == (3, 5)
    assert log.end_offset_for_epoch(2) == (1, 2)
    assert log.end_offset_for_epoch(0) == (0, 0)
    assert log.end_offset_for_epoch(7) == (-1, -1)
    log.close()
    with open(tmp_path / "t-0" / "leader-epoch-checkpoint") as handle:
        assert handle.read() == "0\n2\n1 0\n3 2\n"
    assert Log(str(tmp_path / "t-0"), LogConfig(), FakeClock(), had_clean_shutdown=True).latest_epoch == 3


def test_follower_append_keeps_leader_offsets(tmp_path):
    """A follower appends batches as assigned, records their epochs and rejects offsets going back."""
    leader = open_log(tmp_path / "l-0", FakeClock())
    fill(leader, 2, epoch=4)
    fill(leader, 1, epoch=5)
    data = leader.read(0, 10**6).records.read()
    follower = open_log(tmp_path / "f-0", FakeClock())
    info = follower.append_as_follower(memoryview(bytearray(data + data[:30])))  # trailing partial batch
    assert (info.first_offset, info.last_offset) == (0, 2)
    assert follower.epoch_cache.entries == [(4, 0), (5, 2)]
    with pytest.raises(OffsetOutOfRangeError):
        follower.append_as_follower(memoryview(bytearray(data)))
    assert read_all(follower) == read_all(leader)
    leader.close()
    follower.close()


def test_fetch_offset_by_timestamp(tmp_path):
    """The first record whose timestamp reaches the target, with its timestamp and its batch's leader epoch."""
    log = open_log(tmp_path / "t-0", FakeClock(), segment_bytes=200, index_interval_bytes=1)
    for i in range(6):
        log.append_as_leader(memoryview(batch([b"a", b"b"], timestamp=1000 * (i + 1))), 3)
    assert log.fetch_offset_by_timestamp(3500) == (4000, 6, 3)
    assert log.fetch_offset_by_timestamp(1) == (1000, 0, 3)
    assert log.fetch_offset_by_timestamp(99999) is None
    assert log.fetch_offset_by_timestamp(-2) == (-1, 0, -1)
    assert log.fetch_offset_by_timestamp(-1) == (-1, 12, -1)
    log.close()


def _timed_batch(timestamps, **kwargs):
    return memoryview(build_batch([Record(b"k", b"v%d" % i, timestamp=t) for i, t in enumerate(timestamps)],
                                  **kwargs))


@pytest.mark.parametrize("compression", [0, 1, 2, 3, 4])
def test_fetch_offset_by_timestamp_looks_inside_the_batch(tmp_path, compression):
    """Records of one batch with timestamps 10, 30, 20, 40 at offsets 0-3 (any codec): the first record ≥ the
    target, not the batch's first offset; a later batch when none in this one reaches it."""
    log = open_log(tmp_path / "t-0", FakeClock())
    log.append_as_leader(_timed_batch([10, 30, 20, 40], compression=compression), 0)
    log.append_as_leader(_timed_batch([50, 60], compression=compression), 1)
    assert log.fetch_offset_by_timestamp(10) == (10, 0, 0)
    assert log.fetch_offset_by_timestamp(11) == (30, 1, 0)
    assert log.fetch_offset_by_timestamp(20) == (30, 1, 0)  # the first record at or after 20 in offset order
    assert log.fetch_offset_by_timestamp(31) == (40, 3, 0)
    assert log.fetch_offset_by_timestamp(55) == (60, 5, 1)
    assert log.fetch_offset_by_timestamp(61) is None
    log.close()


def test_fetch_offset_by_timestamp_skips_records_below_the_log_start_offset(tmp_path):
    log = open_log(tmp_path / "t-0", FakeClock())
    log.append_as_leader(_timed_batch([10, 20, 30, 40]), 0)
    log.maybe_increment_log_start_offset(2)
    assert log.fetch_offset_by_timestamp(0) == (30, 2, 0)
    log.close()


def test_fetch_offset_by_timestamp_of_a_log_append_time_batch_is_its_first_record(tmp_path):
    log = open_log(tmp_path / "t-0", FakeClock(now=1_000_000), message_timestamp_type="LogAppendTime")
    log.append_as_leader(_timed_batch([10, 20, 30]), 0)
    # every record carries the append time (the clock's 1,000,000), so the first record answers
    assert log.fetch_offset_by_timestamp(15) == (1_000_000, 0, 0)
    assert log.fetch_offset_by_timestamp(1_000_000) == (1_000_000, 0, 0)
    log.close()


def test_flush_advances_recovery_point(tmp_path):
    """flush() fsyncs and moves the recovery point to the requested offset."""
    log = open_log(tmp_path / "t-0", FakeClock())
    fill(log, 4)
    log.flush(2)
    assert log.recovery_point == 2
    log.flush()
    assert log.recovery_point == 4 and log.unflushed_messages == 0
    log.close()


def test_helpers_build_a_readable_batch(tmp_path):
    """The shared helpers (tests/support/log.py) round-trip one record through a log."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock)
    log.append_as_leader(memoryview(batch([b"a"])), 0)
    assert read_all(log) == [(0, b"a")]
    log.close()
