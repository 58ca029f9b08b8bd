"""The log cleaner: compaction of ``cleanup.policy=compact`` logs (Kafka 2.8's LogCleaner).

One pass over a log (:meth:`LogCleaner.clean`):

1. Pick the *dirtiest* compacted log: the dirty section runs from the checkpointed
   first dirty offset to the first uncleanable offset, which is the lowest of the active
   segment's base, the high watermark and the base of the first segment younger than
   ``min.compaction.lag.ms``, rounded down to a segment boundary (whole segments only). A log
   qualifies when dirty bytes / (clean + dirty bytes) ≥ ``min.cleanable.dirty.ratio``, or its
   oldest dirty segment is older than ``max.compaction.lag.ms``.
2. Build the offset map of the dirty section: key → latest offset (bounded by
   ``log.cleaner.dedupe.buffer.size``; a map that fills stops the dirty section at a segment
   boundary and the rest waits for the next pass).
3. Rewrite every segment below that end, in groups whose sum stays under ``segment.bytes``,
   the index size and the int32 relative-offset range, keeping a record when no later offset
   has its key. A tombstone (null value) that is the latest for its key is dropped once its
   segment's newest timestamp is older than ``delete.retention.ms`` (Kafka 2.8 compares file
   modification times; record timestamps work with an injected clock and match retention).
   Offsets never change: a rewritten batch keeps its base offset, last offset delta,
   producer fields, leader epoch and codec; a batch left empty is dropped unless it is its
   producer's last batch (kept as an empty batch so idempotence survives). Untouched batches
   are copied byte for byte. Records without a key are kept (Kafka drops them, but our
   produce path does not reject them, so dropping would lose data).
4. Swap each group's ``.cleaned`` segment in (:meth:`kafkalite.log.log.Log.replace_segments`)
   and write the new first dirty offset to ``cleaner-offset-checkpoint`` in the log's dir.

Threads: :meth:`LogCleaner.startup` starts ``log.cleaner.threads`` daemon threads that run
:meth:`LogCleaner.clean_once` and sleep ``log.cleaner.backoff.ms`` when nothing is dirty. A
cleaner thread only reads inactive segments (immutable except for deletion and truncation,
both detected through ``Log.cleaner_generation`` and the segment list), writes its own
``.cleaned`` files, and takes ``Log.lock`` for the swap only. Tests call ``clean_once``
directly, with no thread.
"""

import logging
import os
import threading
from dataclasses import dataclass

from kafkalite.log.checkpoint import CorruptCheckpointError, read_offset_checkpoint, write_offset_checkpoint
from kafkalite.log.log import SWAP_END_SUFFIX
from kafkalite.log.segment import LogSegment, segment_file_name
from kafkalite.protocol.errors import CorruptMessageError
from kafkalite.protocol.recordcodec import build_batch, decode_batches
from kafkalite.protocol.records import BATCH_HEADER_SIZE, compute_crc, read_batch_header

__all__ = ["CLEANER_CHECKPOINT", "CRASH_STEP_ENV", "CleanResult", "CleanerConfig", "LogCleaner", "LogToClean"]

CLEANER_CHECKPOINT = "cleaner-offset-checkpoint"
#: TEST-ONLY hook: when set to a swap step name (see ``Log.replace_segments``), a cleaner thread
#: SIGKILLs its own process just before that step, so integration tests can crash mid-swap.
CRASH_STEP_ENV = "KAFKALITE_TEST_CLEANER_CRASH_STEP"

_INT32_MAX = 2**31 - 1
# Kafka sizes its offset map at 24 bytes per entry (16-byte MD5 + 8-byte offset) at load 0.9.
_MAP_BYTES_PER_ENTRY = 24
_MAP_LOAD_FACTOR = 0.9

_log = logging.getLogger("kafkalite.log.cleaner")


@dataclass(frozen=True)
class CleanerConfig:
    """The broker's ``log.cleaner.*`` settings.

    :ivar num_threads: ``log.cleaner.threads``.
    :ivar dedupe_buffer_size: ``log.cleaner.dedupe.buffer.size``, shared by the threads.
    :ivar backoff_ms: ``log.cleaner.backoff.ms``: sleep when no log needs cleaning.
    """

    num_threads: int = 1
    dedupe_buffer_size: int = 128 * 1024 * 1024
    backoff_ms: int = 15000

    @property
    def max_map_entries(self):
        per_thread = self.dedupe_buffer_size // max(1, self.num_threads)
        return max(1, int(per_thread / _MAP_BYTES_PER_ENTRY * _MAP_LOAD_FACTOR))


@dataclass(frozen=True)
class LogToClean:
    """A compacted log's cleanable state, as measured when choosing what to clean.

    :ivar first_dirty_offset: where the dirty section starts (the checkpoint, clamped).
    :ivar end_offset: the first uncleanable offset (a segment base).
    :ivar clean_bytes: bytes of segments wholly below ``first_dirty_offset``.
    :ivar dirty_bytes: bytes of cleanable segments at or above it.
    :ivar forced: ``max.compaction.lag.ms`` makes it due regardless of the ratio.
    """

    key: tuple
    log: object
    first_dirty_offset: int
    end_offset: int
    clean_bytes: int
    dirty_bytes: int
    forced: bool = False

    @property
    def dirty_ratio(self):
        total = self.clean_bytes + self.dirty_bytes
        return self.dirty_bytes / total if total else 0.0


@dataclass(frozen=True)
class CleanResult:
    """What one pass did: the log, the dirty section cleaned, and byte/record counts."""

    key: tuple
    first_dirty_offset: int
    end_offset: int
    bytes_read: int
    bytes_written: int
    records_read: int
    records_retained: int
    swapped_groups: int
    aborted: bool = False


def _iter_batches(segment):
    """``(header, raw bytes)`` of every batch of an inactive segment, read with pread."""
    fd = segment.file.fileno()
    position = 0
    size = segment.size
    while position < size:
        head = os.pread(fd, BATCH_HEADER_SIZE, position)
        header = read_batch_header(head)
        data = os.pread(fd, header.size, position)
        if len(data) != header.size:
            raise OSError(f"short read of the batch at {position} in {segment.log_path}")
        yield header, data
        position += header.size


def _patch_header(batch, last_offset_delta, base_timestamp=None, max_timestamp=None):
    """Overwrite header fields of a freshly built batch and refresh its CRC."""
    view = memoryview(batch)
    view[23:27] = last_offset_delta.to_bytes(4, "big", signed=True)
    if base_timestamp is not None:
        view[27:35] = base_timestamp.to_bytes(8, "big", signed=True)
    if max_timestamp is not None:
        view[35:43] = max_timestamp.to_bytes(8, "big", signed=True)
    header = read_batch_header(batch)
    view[17:21] = compute_crc(batch, header).to_bytes(4, "big")
    return batch


class LogCleaner:
    """Compacts the compacted logs of a :class:`~kafkalite.log.manager.LogManager`.

    :param log_manager: the broker's :class:`LogManager` (its ``logs`` and ``log_dir_of``).
    :param config: a :class:`CleanerConfig`.
    :param time_ms: a callable returning the current time in milliseconds.
    :param step_hook: test-only: called with each swap step's name (see
        :meth:`kafkalite.log.log.Log.replace_segments`) and ``"cleaned"`` once a group's
        ``.cleaned`` files are complete.
    """

    def __init__(self, log_manager, config, time_ms, step_hook=None):
        self.log_manager = log_manager
        self.config = config
        self.time_ms = time_ms
        self.step_hook = step_hook
        crash_step = os.environ.get(CRASH_STEP_ENV)
        if crash_step and step_hook is None:
            self.step_hook = _crash_hook(crash_step)
        self._lock = threading.Lock()
        self._in_progress = set()
        self._uncleanable = set()
        self._checkpoints = {}  # (topic, partition) -> first dirty offset
        self._stop = threading.Event()
        self._threads = []
        self.results = []  # the last few CleanResults, newest last (for tests and metrics)
        self._load_checkpoints()

    # -- checkpoints -------------------------------------------------------------------------

    def _load_checkpoints(self):
        for log_dir in self.log_manager.log_dirs:
            try:
                found = read_offset_checkpoint(os.path.join(log_dir, CLEANER_CHECKPOINT))
            except CorruptCheckpointError:
                _log.warning("ignoring corrupt %s in %s", CLEANER_CHECKPOINT, log_dir)
                found = {}
            self._checkpoints.update(found)

    def checkpoint_of(self, key):
        """The checkpointed first dirty offset of ``key`` (None when never cleaned)."""
        with self._lock:
            return self._checkpoints.get(key)

    def _write_checkpoint(self, log_dir):
        with self._lock:
            offsets = {key: offset for key, offset in self._checkpoints.items()
                       if self.log_manager.log_dir_of(*key) == log_dir}
        write_offset_checkpoint(os.path.join(log_dir, CLEANER_CHECKPOINT), offsets)

    # -- choosing a log -------------------------------------------------------------------------

    def cleanable(self, key, log):
        """The :class:`LogToClean` of ``log``, or None when it has nothing cleanable.

        Also folds a truncation since the last look into the checkpoint (lowered to the
        truncation point) and clears ``log.truncated_to``.
        """
        config = log.config
        now = self.time_ms()
        with log.lock:
            if log.closed:
                return None
            segments = list(log.segments)
            high_watermark = log.high_watermark
            log_start_offset = log.log_start_offset
            log_end_offset = log.log_end_offset
            truncated_to = log.truncated_to
            log.truncated_to = None
        with self._lock:
            checkpoint = self._checkpoints.get(key)
            if checkpoint is not None and truncated_to is not None and truncated_to < checkpoint:
                checkpoint = self._checkpoints[key] = truncated_to
        first_dirty = log_start_offset
        if checkpoint is not None and log_start_offset <= checkpoint <= log_end_offset:
            first_dirty = checkpoint
        limit = min(high_watermark, segments[-1].base_offset)
        if config.min_compaction_lag_ms > 0:
            for segment in segments[:-1]:
                if segment.size and segment.largest_timestamp_or_mtime > now - config.min_compaction_lag_ms:
                    limit = min(limit, segment.base_offset)
                    break
        end = segments[0].base_offset
        clean_bytes = dirty_bytes = 0
        oldest_dirty = None
        for segment, following in zip(segments, segments[1:]):
            if following.base_offset > limit:
                break
            end = following.base_offset
            if following.base_offset <= first_dirty:
                clean_bytes += segment.size
            else:
                dirty_bytes += segment.size
                if oldest_dirty is None and segment.size:
                    oldest_dirty = segment.largest_timestamp_or_mtime
        if end <= first_dirty or dirty_bytes == 0:
            return None
        forced = oldest_dirty is not None and config.max_compaction_lag_ms < 2**63 - 1 and \
            now - oldest_dirty > config.max_compaction_lag_ms
        return LogToClean(key, log, first_dirty, end, clean_bytes, dirty_bytes, forced)

    def grab_filthiest_log(self):
        """Choose and mark in progress the dirtiest log that is due; None when none is."""
        candidates = []
        for key, log in list(self.log_manager.logs.items()):
            if "compact" not in log.config.cleanup_policy:
                continue
            with self._lock:
                if key in self._in_progress or key in self._uncleanable:
                    continue
            found = self.cleanable(key, log)
            if found is None:
                continue
            if found.forced or found.dirty_ratio >= log.config.min_cleanable_dirty_ratio:
                candidates.append(found)
        candidates.sort(key=lambda item: (item.forced, item.dirty_ratio), reverse=True)
        with self._lock:
            for candidate in candidates:
                if candidate.key not in self._in_progress:
                    self._in_progress.add(candidate.key)
                    return candidate
        return None

    # -- cleaning ------------------------------------------------------------------------------

    def clean_once(self):
        """Clean the dirtiest due log, if any.

        :returns: a :class:`CleanResult`, or None when nothing was due.
        """
        target = self.grab_filthiest_log()
        if target is None:
            return None
        try:
            result = self.clean(target)
        except Exception:
            if target.log.closed:
                return None
            with self._lock:
                self._uncleanable.add(target.key)
            _log.exception("cleaning %s-%s failed; it is marked uncleanable", *target.key)
            raise
        finally:
            with self._lock:
                self._in_progress.discard(target.key)
        self.results = (self.results + [result])[-16:]
        return result

    def clean(self, target):
        """Compact ``target`` (a :class:`LogToClean`) up to its end offset; see the module doc.

        A read or write error is an abandoned pass, not a failure, when the log changed under
        the cleaner (deleted, truncated, or a segment it still had to rewrite was removed).
        """
        log = target.log
        segments, generation = log.inactive_segments_snapshot()
        replaced = set()
        stats = {"read": 0, "written": 0, "records": 0, "retained": 0, "swapped": 0, "end": target.end_offset}
        try:
            return self._clean(target, segments, generation, replaced, stats)
        except (OSError, ValueError, CorruptMessageError):
            changed = log.closed or log.cleaner_generation != generation or \
                any(segment.deleted for segment in segments if id(segment) not in replaced)
            if not changed:
                raise
            return self._result(target, stats, aborted=True)

    @staticmethod
    def _result(target, stats, aborted=False):
        return CleanResult(target.key, target.first_dirty_offset, stats["end"], stats["read"], stats["written"],
                           stats["records"], stats["retained"], stats["swapped"], aborted)

    def _clean(self, target, segments, generation, replaced, stats):
        log = target.log
        config = log.config
        offset_map, end = self._build_offset_map(segments, target.first_dirty_offset, target.end_offset)
        stats["end"] = end
        horizon = self.time_ms() - config.delete_retention_ms
        to_clean = [(segment, following) for segment, following in zip(segments, segments[1:])
                    if following.base_offset <= end]
        groups = self._group_segments(to_clean, config.segment_bytes, config.segment_index_bytes)
        for group in groups:
            if self._stop.is_set():
                break
            old_segments = [segment for segment, _ in group]
            group_end = group[-1][1].base_offset
            cleaned = self._clean_group(log, old_segments, group_end, offset_map, horizon, stats)
            if not log.replace_segments(cleaned, old_segments, group_end, generation, self.step_hook):
                return self._result(target, stats, aborted=True)
            replaced.update(id(segment) for segment in old_segments)
            stats["swapped"] += 1
        if stats["swapped"] == len(groups):
            with self._lock:
                self._checkpoints[target.key] = end
            log_dir = self.log_manager.log_dir_of(*target.key)
            if log_dir is not None:
                self._write_checkpoint(log_dir)
        return self._result(target, stats)

    def _build_offset_map(self, segments, start, end):
        """``({key: latest offset}, end)`` over [start, end); ``end`` shrinks when the map fills."""
        offset_map = {}
        capacity = self.config.max_map_entries
        for segment, following in zip(segments, segments[1:]):
            if following.base_offset <= start:
                continue
            if segment.base_offset >= end:
                break
            if len(offset_map) >= capacity and segment.base_offset > start:
                end = segment.base_offset
                break
            for header, data in _iter_batches(segment):
                if header.last_offset < start or header.is_control:
                    continue
                for _header, records in decode_batches(data):
                    for record in records:
                        if record.key is not None and start <= record.offset < end:
                            offset_map[record.key] = record.offset
        return offset_map, end

    @staticmethod
    def _group_segments(to_clean, max_size, max_index_size):
        """Consecutive segments whose total log and index sizes and offset range fit one segment."""
        groups = []
        current = []
        size = index_size = time_index_size = 0
        for segment, following in to_clean:
            fits = current and size + segment.size <= max_size and \
                index_size + segment.offset_index.entries * 8 <= max_index_size and \
                time_index_size + segment.time_index.entries * 12 <= max_index_size and \
                following.base_offset - 1 - current[0][0].base_offset <= _INT32_MAX
            if current and not fits:
                groups.append(current)
                current = []
                size = index_size = time_index_size = 0
            current.append((segment, following))
            size += segment.size
            index_size += segment.offset_index.entries * 8
            time_index_size += segment.time_index.entries * 12
        if current:
            groups.append(current)
        return groups

    def _clean_group(self, log, group, group_end, offset_map, horizon, stats):
        """Write the retained batches of ``group`` into a fsync'd ``.cleaned`` segment."""
        config = log.config
        directory = log.directory
        base = group[0].base_offset
        for suffix in (".log", ".index", ".timeindex", SWAP_END_SUFFIX):
            stale = os.path.join(directory, segment_file_name(base, suffix) + ".cleaned")
            if os.path.exists(stale):
                os.unlink(stale)
        cleaned = LogSegment(directory, base, config.index_interval_bytes, config.segment_index_bytes,
                             created_ms=self.time_ms(), active=True, suffix=".cleaned", index_cache=log.index_cache,
                             new=True)
        try:
            for segment in group:
                retain_deletes = segment.largest_timestamp_or_mtime > horizon
                for header, data in _iter_batches(segment):
                    stats["read"] += len(data)
                    kept = self._filter_batch(log, header, data, offset_map, retain_deletes, stats)
                    if kept is None:
                        continue
                    kept_header = read_batch_header(kept)
                    cleaned.append(kept, header.last_offset, kept_header.max_timestamp, header.last_offset)
                    stats["written"] += len(kept)
            cleaned.on_become_inactive()
            cleaned.flush()
            swap_end = os.path.join(directory, segment_file_name(base, SWAP_END_SUFFIX) + ".cleaned")
            with open(swap_end, "w", encoding="ascii") as handle:
                handle.write(f"{group_end}\n")
                handle.flush()
                os.fsync(handle.fileno())
            if self.step_hook is not None:
                self.step_hook("cleaned")
        except BaseException:
            cleaned.delete_files()
            raise
        return cleaned

    @staticmethod
    def _filter_batch(log, header, data, offset_map, retain_deletes, stats):
        """The bytes to keep of one batch: itself, a rebuilt batch, an empty batch, or None."""
        if header.is_control:
            return data
        [(_, records)] = decode_batches(data)
        stats["records"] += len(records)
        kept = []
        for record in records:
            if record.key is None:
                kept.append(record)
                continue
            latest = offset_map.get(record.key)
            if latest is not None and record.offset < latest:
                continue
            if record.value is None and not retain_deletes:
                continue
            kept.append(record)
        stats["retained"] += len(kept)
        if len(kept) == len(records):
            return data
        if kept:
            batch = build_batch(kept, base_offset=header.base_offset, compression=header.compression,
                                producer_id=header.producer_id, producer_epoch=header.producer_epoch,
                                base_sequence=header.base_sequence,
                                partition_leader_epoch=header.partition_leader_epoch,
                                timestamp_type=1 if header.is_log_append_time else 0,
                                is_transactional=header.is_transactional, keep_offsets=True)
            if header.is_log_append_time:
                return _patch_header(batch, header.last_offset_delta, max_timestamp=header.max_timestamp)
            return _patch_header(batch, header.last_offset_delta)
        if header.producer_id >= 0:
            with log.lock:
                entry = log.producer_state.last_entry(header.producer_id)
                is_last = entry is not None and entry.last_offset == header.last_offset
            if is_last:
                # An empty batch keeps the producer's last sequence and epoch for idempotence.
                batch = build_batch([], base_offset=header.base_offset, producer_id=header.producer_id,
                                    producer_epoch=header.producer_epoch, base_sequence=header.base_sequence,
                                    partition_leader_epoch=header.partition_leader_epoch,
                                    timestamp_type=1 if header.is_log_append_time else 0,
                                    is_transactional=header.is_transactional)
                return _patch_header(batch, header.last_offset_delta, header.max_timestamp, header.max_timestamp)
        return None

    # -- threads ---------------------------------------------------------------------------------

    def startup(self):
        """Start ``num_threads`` cleaner threads."""
        self._stop.clear()
        for index in range(self.config.num_threads):
            thread = threading.Thread(target=self._run, name=f"kafka-log-cleaner-thread-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self):
        while not self._stop.is_set():
            try:
                result = self.clean_once()
            except Exception:  # noqa: BLE001 (logged and marked uncleanable by clean_once)
                result = None
            if result is None:
                self._stop.wait(self.config.backoff_ms / 1000.0)

    def shutdown(self, timeout=30.0):
        """Stop the threads (a pass in progress stops between groups) and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []


def _crash_hook(crash_step):
    """TEST-ONLY: a step hook that SIGKILLs this process just before ``crash_step``."""
    import signal

    def hook(step):
        if step == crash_step:
            _log.warning("test hook %s: killing the broker before cleaner step %s", CRASH_STEP_ENV, step)
            os.kill(os.getpid(), signal.SIGKILL)
    return hook
