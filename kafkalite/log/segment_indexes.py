"""SegmentIndexes: where one segment's two indexes live, and when their files are written.

Kafka 2.8 keeps one descriptor per segment (the ``.log``) and maps the indexes lazily
(``LazyIndex``), closing their files after mapping. Here the indexes are buffers
(:mod:`kafkalite.log.index`), so a segment's index state is one of:

- **pinned**: held by the segment. The active segment's indexes always are (read from disk
  on first use, or empty for an empty log; kept, never re-read per append); an inactive
  segment's only until a write-out succeeds (after a rebuild, or a roll during EMFILE);
- **cached**: an inactive segment's indexes, written out (they never change again while
  inactive), held by the broker's bounded :class:`~kafkalite.log.index_cache.IndexCache`;
- **on disk only**: evicted or never loaded; the next use loads them through a short-lived
  descriptor and the segment's sanity check, rebuilding them from the log when a file is
  missing or inconsistent.

Files are written at roll (trimmed, no fsync), flush (fsync'd), close and after a rebuild,
except the empty indexes of a segment created in this run, which have no file to keep in
step (a missing index of a small segment is rebuilt from it when needed). After a crash
the active segment's files may lag or lead its log: recovery rebuilds the active segment,
and every segment after the recovery point, from the log anyway.

Threads: the reactor thread appends to pinned indexes without a lock; the flush pool
(:meth:`SegmentIndexes.sync`) and the cleaner threads (loads) run concurrently, so
``_lock`` guards the state changes (pin, unpin, renames); each index serialises its own
file writes.
"""

import os
import threading

from kafkalite.log.index import CorruptIndexError, OffsetIndex, TimeIndex

__all__ = ["SegmentIndexes"]


class SegmentIndexes:
    """The offset and time index of one segment.

    :param segment: the owning :class:`~kafkalite.log.segment.LogSegment`; its
        ``check_indexes``, ``rebuild_indexes``, ``size``, ``deleted`` are used to load.
    :param offset_index_path, time_index_path: the files.
    :param max_index_size: ``segment.index.bytes``.
    :param cache: the shared :class:`IndexCache`, or None (load on every use).
    :param active: the segment is its log's last.
    """

    def __init__(self, segment, offset_index_path, time_index_path, max_index_size, cache, active):
        self.segment = segment
        self.offset_index_path = offset_index_path
        self.time_index_path = time_index_path
        self.base_offset = segment.base_offset
        self.max_index_size = max_index_size
        self.cache = cache
        self.active = active
        self._lock = threading.RLock()
        self._pinned = None  # (OffsetIndex, TimeIndex)
        self._unsynced = False  # files written since their last fsync while not pinned

    # -- lookups ----------------------------------------------------------------------

    def get(self):
        """``(offset_index, time_index)``: pinned, cached, or loaded now."""
        pinned = self._pinned
        if pinned is not None:
            return pinned
        cache = self.cache
        if cache is not None:
            found = cache.get(self)
            if found is not None:
                return found
        with self._lock:
            if self._pinned is not None:
                return self._pinned
            if cache is not None and self in cache:
                found = cache.get(self)  # loaded by another thread meanwhile
                if found is not None:
                    return found
            indexes = self._load()
            if self.active or any(index.dirty for index in indexes):
                self._pinned = indexes
            elif cache is not None:
                cache.put(self, indexes)
            return indexes

    @property
    def loaded(self):
        """True when the indexes are in memory (pinned or cached)."""
        return self._pinned is not None or (self.cache is not None and self in self.cache)

    @property
    def pinned(self):
        """The pinned indexes, or None."""
        return self._pinned

    def fresh(self):
        """A new, empty pair of indexes for these files."""
        return (OffsetIndex(self.offset_index_path, self.base_offset, self.max_index_size),
                TimeIndex(self.time_index_path, self.base_offset, self.max_index_size))

    def _load(self):
        """Read both files and check them against the log; rebuild them when missing or wrong."""
        segment = self.segment
        if segment.size == 0:
            return self.fresh()
        try:
            indexes = (OffsetIndex.load(self.offset_index_path, self.base_offset, self.max_index_size),
                       TimeIndex.load(self.time_index_path, self.base_offset, self.max_index_size))
            segment.check_indexes(*indexes)
            return indexes
        except (FileNotFoundError, CorruptIndexError):
            pass
        indexes = self.fresh()
        segment.rebuild_indexes(indexes)
        if not self.active and not segment.deleted:
            try:
                for index in indexes:
                    index.write_out()
                self._unsynced = True
            except OSError:
                pass  # still dirty, so pinned: the next sync writes them
        return indexes

    # -- state changes ------------------------------------------------------------------

    def pin_fresh(self, files_absent=False):
        """Pin new, empty indexes (an empty segment, or before a recovery rebuilds them).

        :param files_absent: the segment was just created, so no index file exists: an
            index that stays empty is never written (a missing file of a small segment is
            rebuilt from it when needed).
        """
        with self._lock:
            if self.cache is not None:
                self.cache.discard(self)
            self._pinned = self.fresh()
            if files_absent:
                for index in self._pinned:
                    index.mark_absent()
            return self._pinned

    def make_active(self):
        """The segment is the last of its log again (truncation): pin its indexes."""
        with self._lock:
            indexes = self.get()
            self.active = True
            self._pinned = indexes
            if self.cache is not None:
                self.cache.discard(self)

    def make_inactive(self):
        """The segment was rolled: write the indexes out and hand them to the cache."""
        with self._lock:
            self.active = False
        self.store()

    def store(self):
        """Write an inactive segment's pinned indexes out and hand them to the cache.

        On failure (e.g. EMFILE) they stay pinned; a later :meth:`sync` writes them.
        """
        pinned = self._pinned
        if pinned is None or self.active or self.segment.deleted:
            return
        try:
            for index in pinned:
                index.write_out()
        except OSError:
            return
        with self._lock:
            if self._pinned is not pinned or self.active:
                return
            if any(index.needs_sync for index in pinned):
                self._unsynced = True
            self._pinned = None
            if self.cache is not None:
                self.cache.put(self, pinned)

    def sync(self):
        """Make the files durable: write out and fsync pinned indexes, fsync files written since.

        :raises OSError: a write or fsync failed (it is retried at the next sync).
        """
        with self._lock:
            pinned = self._pinned
            unsynced, self._unsynced = self._unsynced, False
            fds = []
            if pinned is None and unsynced:
                try:
                    for path in (self.offset_index_path, self.time_index_path):
                        try:
                            fds.append(os.open(path, os.O_RDONLY))
                        except FileNotFoundError:
                            pass
                except BaseException:
                    for fd in fds:
                        os.close(fd)
                    self._unsynced = True
                    raise
        if pinned is not None:
            for index in pinned:
                if index.entries or index.file_length:  # an absent index loses nothing: it is rebuilt
                    index.write_out(fsync=True)
            self.store()
            return
        try:
            for fd in fds:
                os.fsync(fd)
        except BaseException:
            self._unsynced = True
            raise
        finally:
            for fd in fds:
                os.close(fd)

    def close(self, final_time_entry=None):
        """Write pinned indexes out (the active one's time index gets ``final_time_entry``); forget cached ones."""
        try:
            pinned = self._pinned
            if pinned is not None and not self.segment.deleted:
                if self.active and final_time_entry is not None:
                    pinned[1].maybe_append(*final_time_entry, skip_full_check=True)
                for index in pinned:
                    index.write_out()
        finally:
            if self.cache is not None:
                self.cache.discard(self)

    def forget(self):
        """Never write the indexes again (the segment is being deleted)."""
        with self._lock:
            if self._pinned is not None:
                for index in self._pinned:
                    index.discard()
            if self.cache is not None:
                self.cache.discard(self)

    # -- files ------------------------------------------------------------------------------

    def _in_memory(self):
        if self._pinned is not None:
            return self._pinned
        return self.cache.peek(self) if self.cache is not None else None

    def rename(self, offset_index_path, time_index_path):
        """Move both files (when they exist) and write to the new paths from now on."""
        with self._lock:
            indexes = self._in_memory()
            for slot, (old, new) in enumerate(((self.offset_index_path, offset_index_path),
                                                (self.time_index_path, time_index_path))):
                if indexes is not None:
                    indexes[slot].rename(new)
                else:
                    try:
                        os.rename(old, new)
                    except FileNotFoundError:
                        pass
            self.offset_index_path, self.time_index_path = offset_index_path, time_index_path

    def retarget(self, offset_index_path, time_index_path):
        """Follow files moved with their directory."""
        with self._lock:
            indexes = self._in_memory()
            if indexes is not None:
                indexes[0].retarget(offset_index_path)
                indexes[1].retarget(time_index_path)
            self.offset_index_path, self.time_index_path = offset_index_path, time_index_path

    def unlink(self):
        """Remove both files (missing ones are fine)."""
        for path in (self.offset_index_path, self.time_index_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
