"""LogSegment: one ``<base>.log`` file with its ``.index`` and ``.timeindex`` (Kafka's LogSegment).

A segment appends whole batches, translates an offset to the byte position of the batch
holding it (sparse offset index, then a scan of batch headers), cuts reads at whole-batch
boundaries, and recovers itself after a crash by CRC-checking every batch and rebuilding
both indexes. It never decodes records: everything here works on the 61-byte headers.

The only descriptor a segment keeps is its ``.log`` file's: the indexes are buffers whose
files are written through short-lived descriptors, pinned while the segment is active and
cached (bounded, shared) while it is not; see :mod:`kafkalite.log.segment_indexes`.

Not thread-safe: the owning :class:`~kafkalite.log.log.Log` serialises changes, except
:meth:`LogSegment.flush` (the flush pool) and reads of inactive segments (cleaner threads).
"""

import os

from kafkalite.log.index import CorruptIndexError
from kafkalite.log.segment_indexes import SegmentIndexes
from kafkalite.protocol.errors import CorruptMessageError, UnsupportedCompressionTypeError
from kafkalite.protocol.recordcodec import decode_batches
from kafkalite.protocol.records import BATCH_HEADER_SIZE, LOG_OVERHEAD, check_crc, read_batch_header

__all__ = ["INDEX_SUFFIX", "LOG_SUFFIX", "TIME_INDEX_SUFFIX", "LogSegment", "segment_file_name"]

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
_INT32_MAX = 2**31 - 1


_SCAN_CHUNK_BYTES = 256 * 1024


def segment_file_name(base_offset, suffix):
    """``00000000000000000042.log``: the base offset zero-padded to 20 digits."""
    return f"{base_offset:020d}{suffix}"


class _ChunkReader:
    """Reads a file forward in chunks, so a scan of small batches costs a ``pread`` per chunk, not per batch.

    :param fd: the file.
    :param end: where reading stops (the file size or a bound below it).
    """

    def __init__(self, fd, end):
        self._fd = fd
        self._end = end
        self._start = 0
        self._view = memoryview(b"")

    def view(self, position, length):
        """``length`` bytes at ``position`` (fewer only at the end of the file)."""
        offset = position - self._start
        if offset < 0 or offset + length > len(self._view):
            self._view = memoryview(os.pread(self._fd, max(length, min(_SCAN_CHUNK_BYTES, self._end - position)),
                                             position))
            self._start, offset = position, 0
        return self._view[offset:offset + length]

    def header(self, position):
        """The :class:`BatchHeader` of the batch at ``position``, its ``position`` field left 0.

        Scans track positions themselves: filling the field costs a tuple copy per batch.

        :raises CorruptMessageError: a truncated header or a wrong magic.
        """
        return read_batch_header(self.view(position, BATCH_HEADER_SIZE))


class LogSegment:
    """The files of one segment.

    :param directory: the partition directory.
    :param base_offset: the first offset this segment may hold.
    :param index_interval_bytes: bytes appended between two index entries.
    :param max_index_size: ``segment.index.bytes``: the segment rolls when an index holds that much.
    :param rolling_jitter_ms: subtracted from ``segment.ms`` for this segment.
    :param created_ms: creation time (the fall-back for time-based rolling).
    :param active: the last segment of a log (appended to; its indexes are pinned).
    :param suffix: appended to all three file names (``.cleaned`` for a segment the log
        cleaner is writing).
    :param index_cache: the :class:`~kafkalite.log.index_cache.IndexCache` holding the
        indexes of inactive segments; None: load them again on every use.
    :param new: the segment is being created: none of its files exists yet.
    """

    def __init__(self, directory, base_offset, index_interval_bytes, max_index_size, rolling_jitter_ms=0,
                 created_ms=0, active=True, suffix="", index_cache=None, new=False):
        self.directory = directory
        self.base_offset = base_offset
        self.index_interval_bytes = index_interval_bytes
        self.rolling_jitter_ms = rolling_jitter_ms
        self.created_ms = created_ms
        stem = os.path.join(directory, f"{base_offset:020d}")
        self.log_path = stem + LOG_SUFFIX + suffix
        # unbuffered append mode: every write lands at the end, ftruncate keeps working.
        self.file = open(self.log_path, "a+b", buffering=0)  # noqa: SIM115 (lives as long as the segment)
        self._fd = self.file.fileno()
        try:
            self.size = os.fstat(self._fd).st_size
        except BaseException:
            self.file.close()
            raise
        self.indexes = SegmentIndexes(self, stem + INDEX_SUFFIX + suffix, stem + TIME_INDEX_SUFFIX + suffix,
                                      max_index_size, index_cache, active)
        self._max_timestamp_and_offset = None  # read from the time index on first use
        self.bytes_since_last_index_entry = 0
        self._rolling_based_timestamp = None
        self._next_offset = None if self.size else base_offset
        self.deleted = False
        if self.size == 0 and active:
            # An empty log has empty indexes, whatever files a crash left: nothing to read.
            self.indexes.pin_fresh(files_absent=new)
            self._max_timestamp_and_offset = (-1, base_offset)

    # -- indexes ---------------------------------------------------------------------------

    @property
    def offset_index(self):
        """The :class:`~kafkalite.log.index.OffsetIndex` (pinned, cached, or loaded now)."""
        return self.indexes.get()[0]

    @property
    def time_index(self):
        """The :class:`~kafkalite.log.index.TimeIndex` (pinned, cached, or loaded now)."""
        return self.indexes.get()[1]

    @property
    def offset_index_path(self):
        return self.indexes.offset_index_path

    @property
    def time_index_path(self):
        return self.indexes.time_index_path

    def check_indexes(self, offset_index, time_index):
        """Check indexes read from disk against the log (called when they are loaded).

        Kafka skips this (it recovers every segment after the recovery point); it is cheap
        here and catches files a crash, an older kafkalite or a hand left stale: the last
        offset entry must point at a batch start whose offsets do not pass the entry, the
        batches from there must end exactly at the end of the log, and both indexes' last
        offsets must lie below the log's next offset.

        :raises CorruptIndexError: they do not.
        """
        size = self.size
        offset_index.sanity_check(size)
        time_index.sanity_check(size)
        last_offset, position = offset_index.last_entry
        next_offset = self.base_offset
        reader = _ChunkReader(self._fd, size)
        try:
            if offset_index.entries:
                header = reader.header(position)
                if header.base_offset < self.base_offset or header.last_offset > last_offset:
                    raise CorruptIndexError(f"{offset_index.path}: last entry ({last_offset}, {position}) "
                                            "does not point at its batch")
            while position < size:
                header = reader.header(position)
                if header.size < BATCH_HEADER_SIZE:
                    raise CorruptIndexError(f"{self.log_path}: bad batch length at {position}")
                next_offset = header.next_offset
                position += header.size
        except CorruptMessageError as error:
            raise CorruptIndexError(f"{offset_index.path}: {error}") from None
        if position != size or (offset_index.entries and last_offset >= next_offset) or \
                (time_index.entries and time_index.last_entry[1] >= next_offset):
            raise CorruptIndexError(f"{offset_index.path} or {time_index.path} point past the log")
        if self._next_offset is None:
            self._next_offset = next_offset

    def rebuild_indexes(self, indexes):
        """Fill empty ``indexes`` from the batch headers, without CRC checks (missing or corrupt files)."""
        self._max_timestamp_and_offset = (-1, self.base_offset)
        last_index_entry = 0
        for position, header in self.headers():
            last_index_entry = self._index_batch(header, position, last_index_entry, indexes)
        self.bytes_since_last_index_entry = self.size - last_index_entry
        indexes[1].maybe_append(*self._max_timestamp(), skip_full_check=True)

    def make_active(self):
        """This segment is the last of its log again (truncation): pin its indexes."""
        self.indexes.make_active()

    # -- reading headers ---------------------------------------------------------------

    def read_header(self, position):
        """The :class:`BatchHeader` of the batch starting at byte ``position``."""
        return read_batch_header(os.pread(self._fd, BATCH_HEADER_SIZE, position))._replace(position=position)

    def headers(self, position=0):
        """``(position, header)`` of the batches from ``position`` (a batch start) to the end, read in chunks.

        The headers' own ``position`` field is 0: use the position paired with them.

        :raises CorruptMessageError: a header that cannot be a batch's.
        """
        size = self.size
        reader = _ChunkReader(self._fd, size)
        while position < size:
            header = reader.header(position)
            yield position, header
            position += max(header.size, BATCH_HEADER_SIZE)

    def translate_offset(self, offset, starting_position=0):
        """Header of the first batch whose last offset is ≥ ``offset``, or None past the end."""
        _, position = self.offset_index.lookup(offset)
        position = max(position, starting_position)
        size = self.size
        while position < size:
            header = self.read_header(position)
            if header.base_offset + header.last_offset_delta >= offset:
                return header
            position += header.batch_length + LOG_OVERHEAD
        return None

    def position_before(self, offset):
        """Byte position of the first batch whose last offset is ≥ ``offset`` (``size`` if none)."""
        header = self.translate_offset(offset)
        return self.size if header is None else header.position

    def read_next_offset(self):
        """The offset after the last batch of this segment (``base_offset`` when empty).

        A segment too small to have index entries is scanned from its start without loading
        its indexes: a restart of many small logs opens no index file.
        """
        if self._next_offset is None:
            if self.size <= self.index_interval_bytes and not self.indexes.loaded:
                next_offset, position = self.base_offset, 0
            else:
                last_offset, position = self.offset_index.last_entry
                if self._next_offset is not None:  # the indexes' sanity check found it while loading
                    return self._next_offset
                next_offset = max(self.base_offset, last_offset)
            for _position, header in self.headers(position):
                next_offset = header.next_offset
            self._next_offset = next_offset
        return self._next_offset

    def _max_timestamp(self):
        """``(timestamp, offset)``: the largest max-timestamp so far and the last offset of its batch.

        Read from the time index's last entry the first time (the final entry forced at roll
        and close holds it), then kept here: retention and the cleaner ask for it of every
        old segment, and the index may be evicted meanwhile.
        """
        found = self._max_timestamp_and_offset
        if found is None:
            found = self._max_timestamp_and_offset = self.time_index.last_entry
        return found

    @property
    def max_timestamp_so_far(self):
        return self._max_timestamp()[0]

    @property
    def offset_of_max_timestamp(self):
        return self._max_timestamp()[1]

    @property
    def largest_timestamp(self):
        """The largest batch max-timestamp in the segment (-1 if none)."""
        return self._max_timestamp()[0]

    @property
    def largest_timestamp_or_mtime(self):
        """:attr:`largest_timestamp`, or the log file's mtime in ms when the segment has no timestamp.

        Time-based retention and the cleaner's compaction lag measure a segment's age from it
        (Kafka's ``LogSegment.largestTimestamp``).
        """
        timestamp = self.largest_timestamp
        if timestamp >= 0:
            return timestamp
        return int(os.stat(self.log_path).st_mtime * 1000)

    @property
    def rolling_based_timestamp(self):
        """Max timestamp of the first batch (time-based rolling measures from it), or None."""
        if self._rolling_based_timestamp is None and self.size > 0:
            self._rolling_based_timestamp = self.read_header(0).max_timestamp
        return self._rolling_based_timestamp

    # -- appending -------------------------------------------------------------------------

    def can_convert_to_relative_offset(self, offset):
        return 0 <= offset - self.base_offset <= _INT32_MAX

    def should_roll(self, segment_bytes, segment_ms, messages_size, max_timestamp, max_offset, now_ms):
        """Kafka's roll conditions for an append of ``messages_size`` bytes."""
        if self.size == 0:
            return False
        if self.size > segment_bytes - messages_size:
            return True
        first = self.rolling_based_timestamp
        waited = max_timestamp - first if first is not None and first >= 0 else now_ms - self.created_ms
        if waited > segment_ms - self.rolling_jitter_ms:
            return True
        return self.offset_index.is_full or self.time_index.is_full or \
            not self.can_convert_to_relative_offset(max_offset)

    def append(self, buf, largest_offset, max_timestamp, offset_of_max_timestamp):
        """Append the batches in ``buf`` (already offset-assigned) and maintain the indexes.

        :param largest_offset: the last offset in ``buf``.
        :param max_timestamp: the largest max-timestamp of the batches in ``buf``.
        :param offset_of_max_timestamp: the last offset of the batch holding it.
        """
        length = len(buf)
        if length == 0:
            return
        position = self.size
        if self.size == 0:
            self._rolling_based_timestamp = None
        view = memoryview(buf)
        written = 0
        while written < length:
            written += self.file.write(view[written:])
        self._note_timestamp(max_timestamp, offset_of_max_timestamp)
        if self.bytes_since_last_index_entry > self.index_interval_bytes:
            offset_index, time_index = self.indexes.get()
            offset_index.append(largest_offset, position)
            time_index.maybe_append(*self._max_timestamp())
            self.bytes_since_last_index_entry = 0
        self.bytes_since_last_index_entry += length
        self.size = position + length
        self._next_offset = largest_offset + 1

    def on_become_inactive(self):
        """The segment was rolled: force a final time index entry, write both indexes out, cache them."""
        time_index = self.time_index
        time_index.maybe_append(*self._max_timestamp(), skip_full_check=True)
        self.indexes.make_inactive()

    # -- recovery and truncation ---------------------------------------------------------

    def recover(self):
        """CRC-check every batch, rebuild both indexes, cut the file at the first bad batch.

        :returns: the number of bytes truncated off the end.
        """
        self._reset_indexes()
        self._rolling_based_timestamp = None
        file_size = os.fstat(self._fd).st_size
        reader = _ChunkReader(self._fd, file_size)
        valid_bytes = 0
        last_index_entry = 0
        next_offset = self.base_offset
        while valid_bytes < file_size:
            header = self._valid_batch_at(reader, valid_bytes, file_size, next_offset)
            if header is None:
                break
            last_index_entry = self._index_batch(header, valid_bytes, last_index_entry)
            valid_bytes += header.size
            next_offset = header.next_offset
        truncated = file_size - valid_bytes
        if truncated:
            os.ftruncate(self._fd, valid_bytes)
        self.size = valid_bytes
        self._finish_index_rebuild(valid_bytes, last_index_entry)
        self._next_offset = next_offset
        self.indexes.store()
        return truncated

    def _valid_batch_at(self, reader, position, file_size, min_offset):
        if file_size - position < BATCH_HEADER_SIZE:
            return None
        try:
            header = reader.header(position)
        except CorruptMessageError:
            return None
        if header.batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD or position + header.size > file_size:
            return None
        if header.base_offset < min_offset or header.last_offset_delta < 0 or \
                not self.can_convert_to_relative_offset(header.last_offset):
            return None
        try:
            check_crc(reader.view(position, header.size), header)  # the header's position is 0, as the view's
        except CorruptMessageError:
            return None
        return header

    def _reset_indexes(self):
        """Pin fresh, empty indexes (recovery rebuilds them); their files are overwritten later."""
        self.indexes.pin_fresh()
        self._max_timestamp_and_offset = (-1, self.base_offset)

    def _note_timestamp(self, max_timestamp, offset):
        """Keep the largest timestamp seen and the offset it belongs to."""
        if max_timestamp > self._max_timestamp()[0]:
            self._max_timestamp_and_offset = (max_timestamp, offset)

    def _index_batch(self, header, position, last_index_entry, indexes=None):
        """While rebuilding, account for the batch at ``position``; returns where the last index entry now points.

        An entry is added once more than ``index_interval_bytes`` lie between the last entry and this batch.
        """
        self._note_timestamp(header.max_timestamp, header.last_offset)
        if position - last_index_entry > self.index_interval_bytes:
            offset_index, time_index = indexes or self.indexes.get()
            offset_index.append(header.last_offset, position)
            time_index.maybe_append(*self._max_timestamp())
            return position
        return last_index_entry

    def _finish_index_rebuild(self, end, last_index_entry):
        self.bytes_since_last_index_entry = end - last_index_entry
        self.time_index.maybe_append(*self._max_timestamp(), skip_full_check=True)

    def truncate_to(self, offset):
        """Drop every batch whose last offset is ≥ ``offset``... rounded to batch starts.

        Cuts at the start of the batch holding ``offset`` (a batch is never split).

        :returns: the number of bytes removed.
        """
        header = self.translate_offset(offset)
        if header is None:
            return 0
        position = header.position
        removed = self.size - position
        offset_index, time_index = self.indexes.get()
        offset_index.truncate_to(offset)
        time_index.truncate_to(offset)
        os.ftruncate(self._fd, position)
        self.size = position
        self._next_offset = None
        self._rolling_based_timestamp = None
        # Recompute the max timestamp from what remains: the time index may have lost entries.
        self._max_timestamp_and_offset = time_index.last_entry
        _last_offset, last_position = offset_index.last_entry
        scan = last_position if offset_index.entries else 0
        while scan < self.size:
            batch = self.read_header(scan)
            self._note_timestamp(batch.max_timestamp, batch.last_offset)
            scan += batch.size
        self.bytes_since_last_index_entry = self.size - last_position if offset_index.entries else self.size
        return removed

    # -- reading ---------------------------------------------------------------------------

    def read(self, start_offset, max_size, max_position=None, min_one_message=True):
        """Byte range (position, length) of whole batches from the one holding ``start_offset``.

        :param max_position: exclusive byte bound (a batch boundary), e.g. where the HW's batch starts.
        :returns: ``(position, length)``, or None when nothing may be returned.
        """
        header = self.translate_offset(start_offset)
        if header is None:
            return None
        start = header.position
        end_limit = self.size if max_position is None else min(max_position, self.size)
        if start >= end_limit:
            return None
        first_end = start + header.size
        if max_size < header.size:
            return (start, header.size) if min_one_message else None
        want = start + max_size
        if want >= end_limit:
            return start, end_limit - start
        _, position = self.offset_index.lookup_by_position(want)
        position = max(position, first_end)
        while position < end_limit:
            batch = self.read_header(position)
            if position + batch.size > want:
                break
            position += batch.size
        return start, position - start

    def find_offset_by_timestamp(self, timestamp, starting_offset=0):
        """``(timestamp, offset, leader_epoch)`` of the first record at or after ``starting_offset``
        whose timestamp is ≥ ``timestamp``, or None.

        As Kafka's ``LogSegment.findOffsetByTimestamp``: the time index and then the offset index
        give where to start; each batch whose max timestamp reaches the target is read and its
        records (decompressed if need be) searched, in order. Records of a LogAppendTime batch all
        carry its max timestamp, so its first record is the answer. ``leader_epoch`` is the
        batch's partition leader epoch.
        """
        _, offset = self.time_index.lookup(timestamp)
        _, position = self.offset_index.lookup(max(offset, starting_offset))
        while position < self.size:
            header = self.read_header(position)
            if header.max_timestamp >= timestamp and header.last_offset >= starting_offset:
                found = self._first_record_at_or_after(header, position, timestamp, starting_offset)
                if found is not None:
                    return found
            position += header.size
        return None

    def _first_record_at_or_after(self, header, position, timestamp, starting_offset):
        epoch = header.partition_leader_epoch
        try:
            for _, records in decode_batches(os.pread(self._fd, header.size, position), verify_crc=False):
                for record in records:
                    if record.timestamp >= timestamp and record.offset >= starting_offset:
                        return record.timestamp, record.offset, epoch
        except (CorruptMessageError, UnsupportedCompressionTypeError):
            # A batch we cannot look into: its first offset is never too late.
            return header.max_timestamp, max(header.base_offset, starting_offset), epoch
        return None  # compaction removed the records that reached the target: the next batch

    # -- files ------------------------------------------------------------------------------

    def flush(self):
        """fsync the log and both indexes (for the flush pool; concurrent appends are fine)."""
        if self.deleted:
            return
        os.fsync(self._fd)
        self.indexes.sync()

    def close(self):
        """Force the final time index entry, write the indexes out and close the log file."""
        if self.file.closed:
            return
        try:
            self.indexes.close(self._max_timestamp_and_offset)
        finally:
            self.file.close()

    def _index_paths(self, directory, suffix):
        return (os.path.join(directory, segment_file_name(self.base_offset, INDEX_SUFFIX) + suffix),
                os.path.join(directory, segment_file_name(self.base_offset, TIME_INDEX_SUFFIX) + suffix))

    def change_suffix(self, suffix):
        """Rename the three files to ``<name><suffix>`` (``.deleted``), keeping the log open."""
        self.indexes.rename(self.offset_index_path + suffix, self.time_index_path + suffix)
        os.rename(self.log_path, self.log_path + suffix)
        self.log_path += suffix

    def rename_log_file(self, suffix):
        """Rename the ``.log`` file to its canonical name plus ``suffix`` (the cleaner's swap steps)."""
        target = os.path.join(self.directory, segment_file_name(self.base_offset, LOG_SUFFIX) + suffix)
        os.rename(self.log_path, target)
        self.log_path = target

    def rename_index_files(self, suffix):
        """Rename both indexes to their canonical names plus ``suffix``."""
        self.indexes.rename(*self._index_paths(self.directory, suffix))

    def move_to(self, directory):
        """Follow the partition directory, renamed to ``directory`` with everything in it."""
        self.directory = directory
        self.indexes.retarget(*(os.path.join(directory, os.path.basename(path))
                                for path in (self.offset_index_path, self.time_index_path)))
        self.log_path = os.path.join(directory, os.path.basename(self.log_path))

    def mark_deleted(self):
        """Rename to ``.deleted``; reads through already-issued FileRegions keep working."""
        # first: a flush racing with the renames then knows why its files vanished
        self.deleted = True
        self.indexes.forget()
        self.change_suffix(".deleted")

    def delete_files(self):
        """Close and unlink all files of this segment."""
        self.deleted = True
        self.indexes.forget()
        if not self.file.closed:
            self.file.close()
        self.indexes.unlink()
        try:
            os.unlink(self.log_path)
        except FileNotFoundError:
            pass

    def __repr__(self):
        return f"LogSegment(base_offset={self.base_offset}, size={self.size})"
