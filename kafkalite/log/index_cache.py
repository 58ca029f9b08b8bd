"""IndexCache: the loaded indexes of inactive segments, shared by a broker's logs, bounded, LRU.

Kafka maps an inactive segment's indexes on first use and keeps them mapped until the
segment goes. Here a segment that stops being active writes its indexes out and hands them
to this cache; a later lookup (a fetch from an old offset, the cleaner, retention by
time) takes them from the cache or loads them again from disk. The cache holds at most
``max_segments`` segments' indexes and ``max_bytes`` of entries, evicting the least
recently used first. Eviction only drops references: an inactive segment's indexes are
written out before they are cached and never change afterwards (a segment that becomes
active again takes its indexes out of the cache first), so nothing is lost, and a thread
still holding an evicted index keeps a valid object.

Thread-safe: the reactor thread, the flush pool and the cleaner threads all look up here.
"""

import threading
from collections import OrderedDict

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_SEGMENTS", "IndexCache"]

DEFAULT_MAX_SEGMENTS = 2048
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# what a cached pair costs beyond its entries (two index objects, their buffers, the slot)
_OVERHEAD_BYTES = 512


class IndexCache:
    """LRU of ``segment → (offset index, time index)``.

    :param max_segments: most segments whose indexes are held.
    :param max_bytes: most bytes of index entries held (plus a small overhead per segment).
    """

    def __init__(self, max_segments=DEFAULT_MAX_SEGMENTS, max_bytes=DEFAULT_MAX_BYTES):
        if max_segments < 1 or max_bytes < 0:
            raise ValueError("an index cache holds at least one segment and a non-negative number of bytes")
        self.max_segments = max_segments
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries = OrderedDict()  # segment -> (indexes, bytes)
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self):
        return len(self._entries)

    def get(self, segment):
        """The cached indexes of ``segment`` (now the most recently used), or None."""
        with self._lock:
            found = self._entries.get(segment)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(segment)
            self.hits += 1
            return found[0]

    def peek(self, segment):
        """The cached indexes of ``segment`` or None, leaving the order and the counters alone."""
        with self._lock:
            found = self._entries.get(segment)
            return None if found is None else found[0]

    def put(self, segment, indexes):
        """Hold ``indexes`` for ``segment``, evicting the least recently used beyond the bounds.

        The newest entry is kept even when it alone exceeds ``max_bytes``: its segment is in use.
        """
        size = sum(index.size_in_bytes for index in indexes) + _OVERHEAD_BYTES
        with self._lock:
            previous = self._entries.pop(segment, None)
            if previous is not None:
                self.bytes -= previous[1]
            self._entries[segment] = (indexes, size)
            self.bytes += size
            while len(self._entries) > 1 and (len(self._entries) > self.max_segments or self.bytes > self.max_bytes):
                _segment, (_indexes, evicted) = self._entries.popitem(last=False)
                self.bytes -= evicted
                self.evictions += 1

    def discard(self, segment):
        """Forget ``segment``'s indexes (it became active again, was renamed, closed or deleted)."""
        with self._lock:
            found = self._entries.pop(segment, None)
            if found is not None:
                self.bytes -= found[1]

    def __contains__(self, segment):
        with self._lock:
            return segment in self._entries

    def stats(self):
        """``{"segments", "bytes", "hits", "misses", "evictions"}`` for metrics and tests."""
        with self._lock:
            return {"segments": len(self._entries), "bytes": self.bytes, "hits": self.hits,
                    "misses": self.misses, "evictions": self.evictions}
