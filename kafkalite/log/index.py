"""Sparse segment indexes: ``<base>.index`` (offset → position) and ``<base>.timeindex``.

Both are arrays of fixed-size big-endian entries (reference §5.2), strictly increasing in
both columns, which is what makes the binary searches below possible.

In memory an index is a ``bytearray`` holding exactly its entries, in the file's own
format, and **no file descriptor is kept**: :meth:`load` reads the file once through a
short-lived descriptor, and :meth:`write_out` brings the file up to date through another
(appending only what is new, cutting what was truncated), optionally with an fsync. The
segment decides when (roll, flush, close; see :mod:`kafkalite.log.segment`). Kafka maps
its index files and closes them after mapping; CPython's ``mmap`` keeps a ``dup()`` of the
descriptor (``trackfd`` only exists from 3.13), and a mapping without one (ctypes) turns a
use after ``munmap`` by the cleaner or flush threads into a segfault, whereas a buffer an
evicted index leaves behind stays valid for whoever still holds it.

Files written here are trimmed to their entries. A longer file (pre-allocated by Kafka or
an older kafkalite, left by a crash) is read up to its first all-zero entry after slot 0:
with strictly increasing entries, that can only be pre-allocated space.
"""

import os
import struct
import threading

__all__ = ["CorruptIndexError", "OffsetIndex", "TimeIndex"]


class CorruptIndexError(Exception):
    """An index file fails its sanity check; the caller rebuilds it from the log."""


class _Index:
    """Common machinery: ``entries`` valid entries in a buffer, and what of them the file holds.

    :param path: the index file (not touched until :meth:`write_out`).
    :param base_offset: the segment's base offset (entries hold offsets relative to it).
    :param max_index_size: ``segment.index.bytes``: :attr:`is_full` beyond it.
    :param data: initial entries, in the file format (a whole number of entries).
    """

    entry = None  # struct.Struct of one entry

    def __init__(self, path, base_offset, max_index_size, data=b""):
        self.path = path
        self.base_offset = base_offset
        self.entry_size = self.entry.size
        self._max_entries = max(0, max_index_size // self.entry_size)
        self._buffer = bytearray(data)
        self.entries = len(self._buffer) // self.entry_size
        # Serialises write_out (flush thread) with truncation and renames (other threads).
        self._lock = threading.Lock()
        self._written = 0  # leading entries the file is known to hold
        self._file_length = None  # the file's length when known (None: absent or unknown)
        self._changes = 0  # bumped by every write to the file
        self._synced_changes = 0  # the value of _changes at the last fsync
        self._discarded = False

    @classmethod
    def load(cls, path, base_offset, max_index_size):
        """The index stored in ``path``.

        :raises FileNotFoundError: there is no such file.
        """
        with open(path, "rb", buffering=0) as handle:
            data = handle.readall()
        size = cls.entry.size
        count = _count_entries(data, len(data) // size, size)
        index = cls(path, base_offset, max_index_size, memoryview(data)[:count * size])
        index._written = count
        index._file_length = len(data)
        return index

    # -- files -------------------------------------------------------------------------

    @property
    def dirty(self):
        """True when the file does not hold exactly the entries (never written, appended to, cut)."""
        return self._written != self.entries or self._file_length != self.entries * self.entry_size

    @property
    def file_length(self):
        """The file's length when known, else None (absent, or not read yet)."""
        return self._file_length

    @property
    def needs_sync(self):
        """True when this object wrote the file since its last fsync."""
        return self._changes != self._synced_changes

    @property
    def size_in_bytes(self):
        """Memory held by the entries."""
        return len(self._buffer)

    def write_out(self, fsync=False):
        """Make the file hold exactly the entries (creating it), then fsync it when asked.

        Only entries not yet written are written; a longer file is cut. The descriptor is
        closed before returning; the fsync runs outside the lock, so appends and
        truncations never wait for the disk.

        :returns: True when the file was changed.
        :raises OSError: the file could not be opened, written or synced.
        """
        with self._lock:
            if self._discarded:
                return False
            count = self.entries
            length = count * self.entry_size
            changed = self._written != count or self._file_length != length
            fsync = fsync and (changed or self._changes != self._synced_changes)
            if not changed and not fsync:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                start = self._written * self.entry_size
                if start < length:
                    os.pwrite(fd, self._buffer[start:length], start)
                if self._file_length != length:
                    os.ftruncate(fd, length)
                self._written, self._file_length = count, length
                if changed:
                    self._changes += 1
                changes = self._changes
            except BaseException:
                os.close(fd)
                raise
        try:
            if fsync:
                os.fsync(fd)
                with self._lock:
                    self._synced_changes = max(self._synced_changes, changes)
        finally:
            os.close(fd)
        return changed

    def close(self):
        """Write the entries out (trimmed); the object stays usable."""
        self.write_out()

    def discard(self):
        """Never write this index again (its segment is being deleted)."""
        with self._lock:
            self._discarded = True

    def rename(self, path):
        """Rename the file (when it exists) to ``path`` and write there from now on."""
        with self._lock:
            try:
                os.rename(self.path, path)
            except FileNotFoundError:
                self._written, self._file_length = 0, None
            self.path = path

    def retarget(self, path):
        """Write to ``path`` from now on (the file was moved with its directory)."""
        with self._lock:
            self.path = path

    def mark_absent(self):
        """The file is known not to exist: with no entries there is nothing to write."""
        with self._lock:
            if self._written == 0 and self._file_length is None:
                self._file_length = 0

    def reset(self):
        """Drop every entry (before a rebuild)."""
        self.truncate_entries(0)

    # -- entries ---------------------------------------------------------------------

    @property
    def is_full(self):
        return self.entries >= self._max_entries

    @property
    def max_entries(self):
        return self._max_entries

    def _entry_at(self, slot):
        return self.entry.unpack_from(self._buffer, slot * self.entry_size)

    def _write(self, values):
        if self.entries >= self._max_entries:
            return  # sparse: a missing entry only lengthens a scan; the segment rolls when full
        # buffer first, count second: a concurrent write_out never reads past the buffer
        self._buffer += self.entry.pack(*values)
        self.entries += 1

    def truncate_entries(self, count):
        """Keep only the first ``count`` entries.

        The file is cut at the next :meth:`write_out`: until then only the active segment
        (always recovered after a crash) can have a file longer than its entries.
        """
        with self._lock:
            if count >= self.entries:
                return
            self.entries = count
            del self._buffer[count * self.entry_size:]
            self._written = min(self._written, count)

    def _search(self, key_of, target):
        """Index of the last entry whose key ≤ ``target``, or -1."""
        low, high = 0, self.entries - 1
        found = -1
        while low <= high:
            middle = (low + high) // 2
            if key_of(self._entry_at(middle)) <= target:
                found = middle
                low = middle + 1
            else:
                high = middle - 1
        return found


def _count_entries(data, slots, size):
    """Entries in use: slots up to the first all-zero one after slot 0 (pre-allocated tail).

    Slot 0 may only be all zero when the index is empty: the first entry is written after
    more than ``index.interval.bytes``, at a position > 0.
    """
    if slots == 0:
        return 0
    zero = bytes(size)
    view = memoryview(data)
    low, high = 1, slots  # invariant: slots < low are used; slot high is zero or past the end
    while low < high:
        middle = (low + high) // 2
        if view[middle * size:(middle + 1) * size] == zero:
            high = middle
        else:
            low = middle + 1
    if low == 1 and view[0:size] == zero:
        return 0
    return low


class OffsetIndex(_Index):
    """``<base>.index``: 8-byte entries (relative_offset int32, position int32)."""

    entry = struct.Struct(">ii")

    def append(self, offset, position):
        """Add an entry for ``offset`` (the largest offset of an append starting at ``position``)."""
        relative = offset - self.base_offset
        if self.entries and relative <= self._entry_at(self.entries - 1)[0]:
            return
        self._write((relative, position))

    def lookup(self, offset):
        """(offset, position) of the last entry with offset ≤ ``offset``, else (base_offset, 0)."""
        slot = self._search(lambda entry: entry[0], offset - self.base_offset)
        if slot < 0:
            return self.base_offset, 0
        relative, position = self._entry_at(slot)
        return self.base_offset + relative, position

    def lookup_by_position(self, position):
        """(offset, position) of the last entry starting at or before byte ``position``, else (base, 0)."""
        slot = self._search(lambda entry: entry[1], position)
        if slot < 0:
            return self.base_offset, 0
        relative, found = self._entry_at(slot)
        return self.base_offset + relative, found

    @property
    def last_entry(self):
        if not self.entries:
            return self.base_offset, 0
        relative, position = self._entry_at(self.entries - 1)
        return self.base_offset + relative, position

    def truncate_to(self, offset):
        """Remove entries for offsets ≥ ``offset``."""
        slot = self._search(lambda entry: entry[0], offset - self.base_offset - 1)
        self.truncate_entries(slot + 1)

    def sanity_check(self, log_size, next_base_offset=None):
        """Cheap check of the last entry (as Kafka does).

        :raises CorruptIndexError: it points outside the log or past the segment.
        """
        if not self.entries:
            return
        relative, position = self._entry_at(self.entries - 1)
        if relative < 0 or position < 0 or position >= log_size:
            raise CorruptIndexError(f"corrupt offset index {self.path}: last entry ({relative}, {position})")
        if next_base_offset is not None and self.base_offset + relative >= next_base_offset:
            raise CorruptIndexError(f"offset index {self.path} points past its segment")


class TimeIndex(_Index):
    """``<base>.timeindex``: 12-byte entries (timestamp int64, relative_offset int32)."""

    entry = struct.Struct(">qi")

    def maybe_append(self, timestamp, offset, skip_full_check=False):
        """Add (timestamp, offset) when ``timestamp`` is above the last entry's (-1 for an empty index)."""
        if self.entries:
            last_timestamp, last_relative = self._entry_at(self.entries - 1)
            if timestamp <= last_timestamp or offset - self.base_offset < last_relative:
                return
        elif timestamp < 0:
            return
        if skip_full_check and self.entries >= self._max_entries:
            return
        self._write((timestamp, offset - self.base_offset))

    @property
    def last_entry(self):
        """(timestamp, offset) of the last entry, or (-1, base_offset) when empty."""
        if not self.entries:
            return -1, self.base_offset
        timestamp, relative = self._entry_at(self.entries - 1)
        return timestamp, self.base_offset + relative

    def lookup(self, timestamp):
        """(timestamp, offset) of the last entry with timestamp ≤ ``timestamp``, else (-1, base)."""
        slot = self._search(lambda entry: entry[0], timestamp)
        if slot < 0:
            return -1, self.base_offset
        found, relative = self._entry_at(slot)
        return found, self.base_offset + relative

    def truncate_to(self, offset):
        """Remove entries for offsets ≥ ``offset``."""
        slot = self._search(lambda entry: entry[1], offset - self.base_offset - 1)
        self.truncate_entries(slot + 1)

    def sanity_check(self, log_size, next_base_offset=None):
        """Cheap check of the last entry.

        :raises CorruptIndexError: its offset lies outside the segment.
        """
        if not self.entries:
            return
        _timestamp, relative = self._entry_at(self.entries - 1)
        if relative < 0 or (next_base_offset is not None and self.base_offset + relative >= next_base_offset):
            raise CorruptIndexError(f"corrupt time index {self.path}: last relative offset {relative}")
