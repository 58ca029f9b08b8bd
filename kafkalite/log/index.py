"""Sparse segment indexes: ``<base>.index`` (offset → position) and ``<base>.timeindex``.

Both are arrays of fixed-size big-endian entries (reference §5.2), pre-allocated to
``segment.index.bytes`` and memory-mapped while their segment is active, trimmed to their
real length when it stops being active or the log closes. Entries are strictly increasing
in both columns, which is what makes the binary searches below and the recovery of the
entry count of an untrimmed (crashed) index possible: an all-zero entry after the first
one can only be pre-allocated space.
"""

import mmap
import os
import struct

__all__ = ["CorruptIndexError", "OffsetIndex", "TimeIndex"]


class CorruptIndexError(Exception):
    """An index file fails its sanity check; the caller rebuilds it from the log."""


class _Index:
    """Common machinery: an mmap of ``max_index_size`` bytes with ``entries`` valid entries."""

    entry = None  # struct.Struct of one entry

    def __init__(self, path, base_offset, max_index_size, writable=True):
        self.path = path
        self.base_offset = base_offset
        self.entry_size = self.entry.size
        self._max_entries = max(0, max_index_size // self.entry_size)
        self._mmap = None
        self._file = None
        self.entries = 0
        self._open(writable)

    # -- lifecycle -----------------------------------------------------------------

    def _open(self, writable):
        exists = os.path.exists(self.path)
        self._file = open(self.path, "r+b" if exists else "w+b")  # noqa: SIM115 (lives as long as the index)
        length = os.fstat(self._file.fileno()).st_size
        usable = length - length % self.entry_size
        if usable:
            with mmap.mmap(self._file.fileno(), usable, access=mmap.ACCESS_READ) as view:
                self.entries = self._count_entries(view, usable // self.entry_size)
        self._writable = False
        if writable:
            self.make_writable()
        else:
            self.trim()

    def _map(self, length):
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None
        if length > 0:
            self._mmap = mmap.mmap(self._file.fileno(), length)

    def _count_entries(self, view, slots):
        """Entries in use: slots up to the first all-zero one after slot 0 (pre-allocated tail)."""
        zero = bytes(self.entry_size)
        low, high = 1, slots  # invariant: slots < low are used; slot high is zero or past the end
        if slots == 0:
            return 0
        size = self.entry_size
        while low < high:
            middle = (low + high) // 2
            if view[middle * size:(middle + 1) * size] == zero:
                high = middle
            else:
                low = middle + 1
        if low == 1 and view[0:size] == zero and self._zero_entry_is_empty():
            return 0
        return low

    def _zero_entry_is_empty(self):
        return True

    def make_writable(self):
        """Extend the file to its pre-allocated size and map it for appends (active segment)."""
        if self._writable:
            return
        length = self._max_entries * self.entry_size
        length = max(length, self.entries * self.entry_size)
        os.ftruncate(self._file.fileno(), length)
        self._map(length)
        self._writable = True

    def trim(self):
        """Cut the file back to its entries (the segment stopped being active)."""
        length = self.entries * self.entry_size
        self._map(0)
        os.ftruncate(self._file.fileno(), length)
        self._map(length)
        self._writable = False

    def flush(self):
        """Write dirty pages to disk (fsync); for the flush thread."""
        if self._mmap is not None:
            self._mmap.flush()

    def close(self):
        """Trim and release the file."""
        if self._file is None:
            return
        self.trim()
        self._map(0)
        self._file.close()
        self._file = None

    def delete(self):
        """Close and unlink (or just close when already unlinked)."""
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def rename(self, path):
        os.rename(self.path, path)
        self.path = path

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
        return self.entry.unpack_from(self._mmap, slot * self.entry_size)

    def _write(self, values):
        if not self._writable:
            self.make_writable()
        if self.entries >= self._max_entries:
            return  # sparse: a missing entry only lengthens a scan; the segment rolls when full
        self.entry.pack_into(self._mmap, self.entries * self.entry_size, *values)
        self.entries += 1

    def truncate_entries(self, count):
        """Keep only the first ``count`` entries, zeroing the rest of the mapped area."""
        if count >= self.entries:
            return
        if self._mmap is not None:
            start = count * self.entry_size
            end = self.entries * self.entry_size
            self._mmap[start:end] = bytes(end - start)
        self.entries = count
        if not self._writable:
            self.trim()

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


class OffsetIndex(_Index):
    """``<base>.index``: 8-byte entries (relative_offset int32, position int32)."""

    entry = struct.Struct(">ii")

    def _zero_entry_is_empty(self):
        # Slot 0 may legitimately be (0, 0) only if followed by more entries: never alone,
        # because the first index entry is written after >index_interval bytes, at position > 0.
        return True

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
        """Add (timestamp, offset) when ``timestamp`` is above the last entry's."""
        if self.entries:
            last_timestamp, last_relative = self._entry_at(self.entries - 1)
            if timestamp <= last_timestamp or offset - self.base_offset < last_relative:
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
