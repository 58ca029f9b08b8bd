"""Log: one partition replica's directory of segments (Kafka 2.8's ``kafka.log.Log``).

Owns offset assignment, rolling, reads as zero-copy file regions, the leader-epoch cache
and idempotent-producer state. Loading and crash recovery live in
:mod:`kafkalite.log.loader`, retention in :mod:`kafkalite.log.retention`, truncation and
the log start offset in :mod:`kafkalite.log.truncation`, the cleaner's segment swap in
:mod:`kafkalite.log.swap`.
Plain synchronous code. Nothing on the append path fsyncs.

Threads: the broker calls appends, reads, retention and truncation on its reactor thread,
``flush`` and construction (recovery) from its I/O pool, and the log cleaner
(:mod:`kafkalite.log.cleaner`) reads inactive segments and calls :meth:`Log.replace_segments`
from its own threads. ``Log.lock`` (re-entrant) serialises every change to the segment list
and the offsets; it is held only for in-memory work and renames, never for an fsync or
for the cleaner's rewriting, so the reactor thread never waits long on it.
"""

import bisect
import functools
import os
import shutil
import threading
from dataclasses import dataclass
from typing import NamedTuple

from kafkalite.log import swap
from kafkalite.log.epoch_cache import LeaderEpochCache
from kafkalite.log.index_cache import IndexCache
from kafkalite.log.loader import load_log
from kafkalite.log.producer_state import ProducerStateManager
from kafkalite.log.retention import LogRetention
from kafkalite.log.segment import LogSegment
from kafkalite.log.swap import SWAP_END_SUFFIX
from kafkalite.log.truncation import LogTruncation
from kafkalite.log.validator import validate_client_batch
from kafkalite.protocol.errors import (
    KafkaStorageError,
    OffsetOutOfRangeError,
    RecordListTooLargeError,
)
from kafkalite.protocol.records import (
    check_crc,
    iter_batch_headers,
    set_base_offset_and_epoch,
    set_log_append_time,
)
from kafkalite.protocol.regions import FileRegion

__all__ = ["SWAP_END_SUFFIX", "FetchDataInfo", "Log", "LogAppendInfo", "parse_topic_partition"]

EARLIEST_TIMESTAMP = -2
LATEST_TIMESTAMP = -1


def _locked(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)
    return wrapper


def parse_topic_partition(name):
    """``("my-topic.x", 3)`` from a directory name ``my-topic.x-3`` (the partition follows the last '-').

    :raises ValueError: not a ``<topic>-<partition>`` name.
    """
    topic, sep, partition = name.rpartition("-")
    if not sep or not topic or not partition.isdigit():
        raise ValueError(f"not a <topic>-<partition> directory name: {name!r}")
    return topic, int(partition)


@dataclass(frozen=True)
class LogAppendInfo:
    """The outcome of one append.

    ``duplicate`` is True when an idempotent producer's retry was recognised: nothing was
    written and the offsets are those of the original append. ``log_append_time_ms`` is -1
    unless the topic uses LogAppendTime.
    """

    first_offset: int
    last_offset: int
    log_append_time_ms: int
    log_start_offset: int
    duplicate: bool
    records_count: int
    size: int


class FetchDataInfo(NamedTuple):
    """The result of :meth:`Log.read`.

    :ivar fetch_offset: the offset asked for.
    :ivar records: whole batches as a :class:`FileRegion`, or None when there is nothing to return.
    :ivar segment_base_offset: base offset of the segment read (-1 when empty).
    :ivar position: byte position of the region in that segment (-1 when empty).
    """

    fetch_offset: int
    records: object = None
    segment_base_offset: int = -1
    position: int = -1


class Log(LogRetention, LogTruncation):
    """One partition replica stored in ``directory`` (named ``<topic>-<partition>``).

    Retention (:meth:`delete_retention_segments`, :meth:`delete_expired_files`) comes from
    :class:`~kafkalite.log.retention.LogRetention`.

    :param directory: the partition directory; created when missing.
    :param config: a :class:`~kafkalite.log.config.LogConfig`.
    :param time_ms: a callable returning the current time in milliseconds.
    :param recovery_point: offset up to which the log is known to be flushed.
    :param log_start_offset: the checkpointed log start offset, if any.
    :param had_clean_shutdown: skip recovery (the log dir had ``.kafka_cleanshutdown``).
    :param index_cache: the :class:`IndexCache` for inactive segments' indexes, shared by a
        broker's logs; a small one of this log's own when None.
    :param create: create ``directory`` when missing (False: it is known to exist).
    :param new: the caller just created ``directory``: it is empty, there is nothing to read.
    :raises OSError: the directory or a file cannot be opened; nothing stays open then.
    """

    def __init__(self, directory, config, time_ms, recovery_point=0, log_start_offset=None,
                 had_clean_shutdown=False, index_cache=None, create=True, new=False):
        self.directory = directory
        self.config = config
        self.time_ms = time_ms
        self.lock = threading.RLock()
        #: bumped by truncation and deletion; the cleaner abandons a swap when it changed.
        self.cleaner_generation = 0
        #: lowest offset truncated to since the cleaner last looked (it clamps its checkpoint).
        self.truncated_to = None
        self.closed = False
        name = os.path.basename(os.path.normpath(directory))
        try:
            self.topic, self.partition = parse_topic_partition(name)
        except ValueError:
            self.topic, self.partition = name, -1
        self.segments = []
        self._bases = []
        self._pending_deletes = []  # (due_ms, LogSegment) renamed to .deleted, still open
        self.unflushed_messages = 0
        self.last_flush_ms = time_ms()
        self.recovered_bytes_truncated = 0
        self.producer_state = ProducerStateManager()
        self.index_cache = index_cache if index_cache is not None else IndexCache(max_segments=16)
        if create:
            os.makedirs(directory, exist_ok=True)
        self.epoch_cache = LeaderEpochCache(directory, read=not new)
        self._epoch_needs_fsync = False
        try:
            load_log(self, recovery_point, log_start_offset, had_clean_shutdown, new)
        except BaseException:
            for segment in self.segments:
                segment.file.close()
            raise

    # -- segments (also used by the loader and the swap) ----------------------------------

    def new_segment(self, base_offset, active=True, new=True):
        """A :class:`LogSegment` of this log at ``base_offset`` (not added to it).

        :param new: it is being created (False: it exists on disk, the loader opens it).
        """
        jitter = 0
        if self.config.segment_jitter_ms > 0:
            # deterministic per segment, like Kafka's random jitter but reproducible in tests
            jitter = (base_offset * 2654435761) % self.config.segment_jitter_ms
        return LogSegment(self.directory, base_offset, self.config.index_interval_bytes,
                          self.config.segment_index_bytes, jitter, self.time_ms(), active,
                          index_cache=self.index_cache, new=new)

    def rebuild_producer_state(self, rebuild_epochs):
        """Scan every batch header (never records) to rebuild producers and, if needed, epochs."""
        self.producer_state.clear()
        if rebuild_epochs:
            self.epoch_cache.clear()
        for segment in self.segments:
            for _position, header in segment.headers():
                if header.producer_id >= 0:
                    self.producer_state.update(header)
                if rebuild_epochs and header.partition_leader_epoch > self.epoch_cache.latest_epoch:
                    self.epoch_cache.assign(header.partition_leader_epoch, header.base_offset)
        self.producer_state.truncate_head(self.log_start_offset)

    def drop_segments_after(self, slot):
        """Forget the segments after ``slot`` (recovery deleted their files)."""
        del self.segments[slot + 1:]
        del self._bases[slot + 1:]

    def splice_segments(self, old_segments, segment):
        """Put ``segment`` where the consecutive ``old_segments`` are (the cleaner's commit)."""
        first = self.segments.index(old_segments[0])
        self.segments[first:first + len(old_segments)] = [segment]
        self._bases[first:first + len(old_segments)] = [segment.base_offset]

    def add_segment(self, segment):
        self.segments.append(segment)
        self._bases.append(segment.base_offset)

    # -- properties ------------------------------------------------------------------------

    @property
    def active_segment(self):
        return self.segments[-1]

    @property
    def num_segments(self):
        return len(self.segments)

    @property
    def size_in_bytes(self):
        return sum(segment.size for segment in self.segments)

    @property
    def latest_epoch(self):
        """The newest leader epoch in the epoch cache (-1 when none)."""
        return self.epoch_cache.latest_epoch

    @property
    def last_stable_offset(self):
        """Equals the high watermark until transactions exist."""
        return self.high_watermark

    def update_high_watermark(self, offset):
        """Set the HW, clamped to [log_start_offset, log_end_offset]; returns the value set."""
        self.high_watermark = min(max(offset, self.log_start_offset), self.log_end_offset)
        return self.high_watermark

    @_locked
    def update_config(self, config):
        """Apply a new :class:`LogConfig` (affects subsequent appends, rolls and retention)."""
        self.config = config
        for segment in self.segments:
            segment.index_interval_bytes = config.index_interval_bytes

    # -- appends -----------------------------------------------------------------------------

    @_locked
    def append_as_leader(self, records, leader_epoch):
        """Validate one CRC-checked client batch as Kafka does, assign it offsets and append it.

        :func:`~kafkalite.log.validator.validate_client_batch` runs first: a refused batch
        appends nothing, moves no offset and touches no producer state.

        :param records: a writable memoryview (or bytearray) holding exactly one v2 batch.
        :param leader_epoch: the leader's current epoch, written into the batch.
        :returns: :class:`LogAppendInfo`.
        :raises MessageTooLargeError: the batch exceeds ``max.message.bytes`` (as sent or recompressed).
        :raises RecordListTooLargeError: the batch exceeds ``segment.bytes``.
        :raises InvalidTimestampError: a CreateTime timestamp too far from the broker's clock, or
            LogAppendTime claimed by the producer (``record_errors`` name the records).
        :raises InvalidRecordError: header or records refused by the validator (``record_errors``
            when the fault is records' own).
        :raises CorruptMessageError: compressed records the codec cannot read.
        :raises OutOfOrderSequenceNumberError, InvalidProducerEpochError: idempotence checks.
        :raises KafkaStorageError: a roll or a new epoch's checkpoint failed (e.g. EMFILE); nothing was appended.
        """
        config = self.config
        now = self.time_ms()
        records, header = validate_client_batch(records, config, now)
        size = header.size
        if size > config.segment_bytes:
            raise RecordListTooLargeError(f"batch of {size} bytes exceeds segment.bytes {config.segment_bytes}")
        log_append_time = config.is_log_append_time
        duplicate = self.producer_state.check_leader_append(header)
        if duplicate is not None:
            return LogAppendInfo(duplicate.first_offset, duplicate.last_offset, -1, self.log_start_offset, True,
                                 header.records_count, 0)
        base_offset = self.log_end_offset
        last_offset = base_offset + header.last_offset_delta
        set_base_offset_and_epoch(records, 0, base_offset, leader_epoch)
        header = header._replace(base_offset=base_offset, partition_leader_epoch=leader_epoch)
        append_time = -1
        if log_append_time:
            header = set_log_append_time(records, header, now)
            append_time = now
        segment = self._maybe_roll(size, header.max_timestamp, last_offset, now, base_offset)
        if leader_epoch >= 0 and leader_epoch != self.epoch_cache.latest_epoch:
            self._assign_epochs([(leader_epoch, base_offset)])
        segment.append(records[:size] if len(records) != size else records, last_offset, header.max_timestamp,
                       last_offset)
        self.log_end_offset = last_offset + 1
        self.producer_state.update(header)
        self.unflushed_messages += header.records_count
        return LogAppendInfo(base_offset, last_offset, append_time, self.log_start_offset, False,
                             header.records_count, size)

    @_locked
    def append_as_follower(self, records):
        """Append batches whose offsets and epochs the leader assigned.

        A trailing partial batch is ignored. Offsets may skip ahead (compacted leaders) but
        never go back.

        :returns: :class:`LogAppendInfo` (offsets -1 when ``records`` holds no whole batch).
        :raises OffsetOutOfRangeError: a batch starts below the log end offset or out of order.
        :raises CorruptMessageError: a batch fails its CRC.
        :raises KafkaStorageError: a roll or a new epoch's checkpoint failed (e.g. EMFILE); nothing was appended.
        """
        headers = list(iter_batch_headers(records))
        if not headers:
            return LogAppendInfo(-1, -1, -1, self.log_start_offset, False, 0, 0)
        expected = self.log_end_offset
        max_timestamp, offset_of_max = -1, -1
        count = 0
        for header in headers:
            if header.base_offset < expected:
                raise OffsetOutOfRangeError(
                    f"follower batch at offset {header.base_offset} is below the expected offset {expected}")
            check_crc(records, header)
            expected = header.next_offset
            if header.max_timestamp > max_timestamp:
                max_timestamp, offset_of_max = header.max_timestamp, header.last_offset
            count += header.records_count
        end = headers[-1].position + headers[-1].size
        first_offset, last_offset = headers[0].base_offset, headers[-1].last_offset
        now = self.time_ms()
        segment = self._maybe_roll(end, max_timestamp, last_offset, now, first_offset)
        if not segment.can_convert_to_relative_offset(first_offset):
            segment = self.roll(first_offset)
        epochs = []
        latest_epoch = self.epoch_cache.latest_epoch
        for header in headers:
            if header.partition_leader_epoch > latest_epoch:
                latest_epoch = header.partition_leader_epoch
                epochs.append((latest_epoch, header.base_offset))
        self._assign_epochs(epochs)
        segment.append(memoryview(records)[:end], last_offset, max_timestamp, offset_of_max)
        self.log_end_offset = last_offset + 1
        for header in headers:
            self.producer_state.update(header)
        self.unflushed_messages += count
        return LogAppendInfo(first_offset, last_offset, -1, self.log_start_offset, False, count, end)

    def _assign_epochs(self, epochs):
        """Record new ``(epoch, start_offset)`` entries and write the checkpoint, before the append.

        Recovery trusts the checkpoint for epochs, so an append whose epoch could not be
        written (EMFILE) must not happen: the cache is put back and the append refused.

        :raises KafkaStorageError: the checkpoint could not be written.
        """
        cache = self.epoch_cache
        before = list(cache.entries)
        changed = False
        for epoch, start_offset in epochs:
            changed = cache.assign(epoch, start_offset) or changed
        if not changed:
            return
        try:
            cache.write(fsync=False)  # tmp + rename now; the fsync happens in flush(), off the reactor thread
        except OSError as error:
            cache.entries = before
            cache.dirty = False
            raise KafkaStorageError(f"cannot write {cache.path}: {error}") from error
        self._epoch_needs_fsync = True

    def _maybe_roll(self, messages_size, max_timestamp, max_offset, now, first_offset):
        segment = self.segments[-1]
        if segment.should_roll(self.config.segment_bytes, self.config.segment_ms, messages_size, max_timestamp,
                               max_offset, now):
            segment = self.roll(first_offset)
        return segment

    @_locked
    def roll(self, new_base_offset=None):
        """Start a new active segment at ``new_base_offset`` (default: the log end offset).

        An empty active segment is reused (or replaced when the new base is higher).

        :raises KafkaStorageError: the new segment's file cannot be created (e.g. EMFILE); the
            log is unchanged.
        """
        base = self.log_end_offset if new_base_offset is None else max(new_base_offset, self.log_end_offset)
        active = self.segments[-1]
        if active.size == 0 and active.base_offset == base:
            return active
        try:
            segment = self.new_segment(base)  # first: when this fails, nothing has changed
        except OSError as error:
            raise KafkaStorageError(f"cannot roll {self.topic}-{self.partition} at {base}: {error}") from error
        if active.size == 0:
            self.segments.pop()
            self._bases.pop()
            active.delete_files()
        else:
            active.on_become_inactive()
        self.add_segment(segment)
        return segment

    # -- reads -----------------------------------------------------------------------------------

    @_locked
    def read(self, start_offset, max_bytes, max_offset=None, min_one_message=True):
        """Whole batches from the one holding ``start_offset``, as a region of one segment file.

        :param max_bytes: soft limit on the region's length (the first batch is returned whole
            anyway when ``min_one_message``).
        :param max_offset: exclusive bound (HW or LSO): stop before the first batch whose last
            offset is ≥ it.
        :returns: :class:`FetchDataInfo`; ``records`` is None when nothing can be returned.
        :raises OffsetOutOfRangeError: ``start_offset`` is below the log start or above the log end offset.
        :raises KafkaStorageError: a file could not be read.
        """
        log_end_offset = self.log_end_offset
        if start_offset < self.log_start_offset or start_offset > log_end_offset:
            raise OffsetOutOfRangeError(
                f"offset {start_offset} is out of range [{self.log_start_offset}, {log_end_offset}] "
                f"for {self.topic}-{self.partition}")
        if start_offset == log_end_offset or (max_offset is not None and start_offset >= max_offset):
            return FetchDataInfo(start_offset)
        segments = self.segments
        bases = self._bases
        slot = max(bisect.bisect_right(bases, start_offset) - 1, 0)
        while slot < len(segments):
            segment = segments[slot]
            upper = bases[slot + 1] if slot + 1 < len(bases) else log_end_offset
            max_position = None
            try:
                if max_offset is not None and max_offset < upper:
                    max_position = segment.position_before(max_offset)
                found = segment.read(start_offset, max_bytes, max_position, min_one_message)
            except OSError as error:  # e.g. EMFILE loading an evicted index
                raise KafkaStorageError(f"read of {self.topic}-{self.partition} failed: {error}") from error
            if found is not None:
                position, length = found
                return FetchDataInfo(start_offset, FileRegion(segment.file, position, length),
                                     segment.base_offset, position)
            if max_position is not None:
                break
            slot += 1
        return FetchDataInfo(start_offset)

    @_locked
    def fetch_offset_by_timestamp(self, timestamp_ms):
        """``(timestamp, offset, leader_epoch)`` for ListOffsets, or None when no record is that recent.

        -2 (earliest) gives ``(-1, log_start_offset, -1)``, -1 (latest) ``(-1, log_end_offset, -1)``.
        Otherwise, as Kafka: the first *record* at or after the log start offset whose timestamp
        is ≥ ``timestamp_ms`` (found through the time index, then inside its batch), with its
        timestamp and its batch's leader epoch.
        """
        if timestamp_ms == EARLIEST_TIMESTAMP:
            return -1, self.log_start_offset, -1
        if timestamp_ms == LATEST_TIMESTAMP:
            return -1, self.log_end_offset, -1
        start = self.log_start_offset
        for segment in list(self.segments):
            if segment.size and segment.largest_timestamp >= timestamp_ms:
                found = segment.find_offset_by_timestamp(timestamp_ms, start)
                if found is not None:
                    return found
        return None

    def end_offset_for_epoch(self, leader_epoch):
        """``(epoch, end_offset)`` with OffsetForLeaderEpoch semantics; (-1, -1) when unknown."""
        return self.epoch_cache.end_offset_for(leader_epoch, self.log_end_offset)

    # -- compaction ------------------------------------------------------------------------------

    def inactive_segments_snapshot(self):
        """``(segments, cleaner_generation)``: a copy of the segment list taken under the lock."""
        with self.lock:
            return list(self.segments), self.cleaner_generation

    def replace_segments(self, cleaned, old_segments, end_offset, generation, step_hook=None):
        """Swap the cleaner's ``cleaned`` segment in for ``old_segments`` (called on a cleaner thread).

        ``cleaned`` has ``.cleaned`` files, fsync'd, with ``<base>.swapend.cleaned`` holding
        ``end_offset`` (the base of the segment after ``old_segments``). The steps, and how
        recovery after a crash handles each, are :mod:`kafkalite.log.swap`'s. Readers switch
        to ``cleaned`` at the commit point, under ``lock``.

        :param generation: :attr:`cleaner_generation` when the cleaner took its snapshot; if a
            truncation or deletion happened since, or an old segment left the log (retention),
            nothing is swapped.
        :param step_hook: test-only: called with each step's name just before the step.
        :returns: True when swapped; False when abandoned (the cleaned files are removed).
        """
        return swap.replace_segments(self, cleaned, old_segments, end_offset, generation, step_hook)

    # -- flushing and closing ------------------------------------------------------------------------

    def flush(self, up_to_offset=None):
        """fsync segments holding offsets in [recovery_point, up_to_offset), then advance the recovery point.

        Safe to call from a thread pool while the reactor thread appends.

        :raises KafkaStorageError: a write or fsync failed; the recovery point stays.
        """
        up_to = self.log_end_offset if up_to_offset is None else min(up_to_offset, self.log_end_offset)
        if self._epoch_needs_fsync:
            self.epoch_cache.dirty = True
            try:
                self.epoch_cache.write(fsync=True)
            except OSError as error:
                raise KafkaStorageError(f"flush of {self.epoch_cache.path} failed: {error}") from error
            self._epoch_needs_fsync = False  # only now: a failed write is retried by the next flush
        if up_to <= self.recovery_point:
            return
        with self.lock:
            segments = list(self.segments)
        for i, segment in enumerate(segments):
            upper = segments[i + 1].base_offset if i + 1 < len(segments) else None
            if upper is not None and upper <= self.recovery_point:
                continue
            if segment.base_offset >= up_to and i > 0:
                break
            try:
                segment.flush()
            except (OSError, ValueError) as error:
                if not segment.deleted:
                    raise KafkaStorageError(f"flush of {segment.log_path} failed: {error}") from error
        self.recovery_point = max(self.recovery_point, up_to)
        self.last_flush_ms = self.time_ms()
        self.unflushed_messages = 0

    @_locked
    def close(self):
        """Close every file (writing the indexes out); pending deletions are finished.

        :raises OSError: the first failure; every segment is closed anyway.
        """
        self.closed = True
        self.cleaner_generation += 1
        if self._epoch_needs_fsync:
            self.epoch_cache.dirty = True
            self.epoch_cache.write(fsync=True)
            self._epoch_needs_fsync = False
        failures = []
        for segment in self.segments:
            try:
                segment.close()
            except OSError as error:
                failures.append(error)
        self.delete_expired_files(force=True)
        if failures:
            raise failures[0]

    @_locked
    def rename_dir(self, target):
        """Rename the partition directory to ``target`` (topic deletion); files stay open and usable."""
        os.rename(self.directory, target)
        self.directory = target
        self.epoch_cache.path = os.path.join(target, os.path.basename(self.epoch_cache.path))
        for segment in self.segments:
            segment.move_to(target)
        for _due, segment in self._pending_deletes:
            segment.move_to(target)

    @_locked
    def delete(self):
        """Close the log and remove its whole directory."""
        self.closed = True
        self.cleaner_generation += 1
        for segment in self.segments:
            segment.indexes.forget()  # about to be removed: not worth writing
            segment.close()
        self.delete_expired_files(force=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self):
        return (f"Log({self.topic}-{self.partition}, start={self.log_start_offset}, end={self.log_end_offset}, "
                f"segments={len(self.segments)})")
