"""Retention of a log's old segments (Kafka 2.8's ``Log.deleteOldSegments``): a mixin of ``Log``.

Segments wholly below the high watermark go when older than ``retention.ms`` (by their
largest timestamp, or the file's mtime without one), while the log exceeds
``retention.bytes``, or when wholly below the log start offset. A deleted segment is
renamed ``.deleted`` at once, still open for the file regions fetches already hold, and
closed and unlinked after ``file.delete.delay.ms``.

The methods run under the log's ``lock`` and use its segment list, offsets, config and
clock, and its ``roll`` and ``maybe_increment_log_start_offset``.
"""

__all__ = ["LogRetention"]


class LogRetention:
    """Retention for :class:`~kafkalite.log.log.Log` (which provides the state used here)."""

    def delete_retention_segments(self):
        """Delete old segments by ``retention.ms``, ``retention.bytes`` and the log start offset.

        Time and size retention apply only when ``delete`` is in ``cleanup.policy``; segments
        wholly below the log start offset always go (as in Kafka 2.8). Only segments wholly
        below the high watermark are considered, and the log always keeps an active segment.

        :returns: the number of segments deleted.
        :raises KafkaStorageError: deleting every segment needed a roll that failed (e.g. EMFILE).
        """
        with self.lock:
            return self._delete_old_segments()

    def _delete_old_segments(self):
        deleted = 0
        config = self.config
        if config.delete_enabled:
            if config.retention_ms >= 0:
                now = self.time_ms()
                deleted += self._delete_segments(
                    lambda segment, _next: now - segment.largest_timestamp_or_mtime > config.retention_ms)
            if config.retention_bytes >= 0:
                excess = [self.size_in_bytes - config.retention_bytes]

                def over_size(segment, _next):
                    if excess[0] - segment.size >= 0:
                        excess[0] -= segment.size
                        return True
                    return False
                deleted += self._delete_segments(over_size)
        deleted += self._delete_segments(
            lambda segment, next_segment: next_segment is not None and
            next_segment.base_offset <= self.log_start_offset)
        return deleted

    def _delete_segments(self, predicate):
        segments = self.segments
        doomed = []
        for i, segment in enumerate(segments):
            next_segment = segments[i + 1] if i + 1 < len(segments) else None
            upper = next_segment.base_offset if next_segment is not None else self.log_end_offset
            if next_segment is None and segment.size == 0:
                break
            if self.high_watermark >= upper and predicate(segment, next_segment):
                doomed.append(segment)
            else:
                break
        if not doomed:
            return 0
        if len(doomed) == len(segments):
            self.roll()
        del self.segments[:len(doomed)]
        del self._bases[:len(doomed)]
        for segment in doomed:
            self.schedule_delete(segment)
        self.maybe_increment_log_start_offset(self.segments[0].base_offset)
        return len(doomed)

    def schedule_delete(self, segment):
        """Rename ``segment`` to ``.deleted`` now and remove it after ``file.delete.delay.ms``."""
        segment.mark_deleted()
        self._pending_deletes.append((self.time_ms() + self.config.file_delete_delay_ms, segment))

    def delete_expired_files(self, force=False):
        """Close and unlink ``.deleted`` segments whose ``file.delete.delay.ms`` has passed.

        :returns: the number of segments removed.
        """
        with self.lock:
            now = self.time_ms()
            due = [entry for entry in self._pending_deletes if force or entry[0] <= now]
            if not due:
                return 0
            self._pending_deletes = [entry for entry in self._pending_deletes if not (force or entry[0] <= now)]
            for _due, segment in due:
                segment.delete_files()
            return len(due)
