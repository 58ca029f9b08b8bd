"""Truncation and the log start offset of a log (Kafka 2.8's ``Log.truncateTo``,
``truncateFullyAndStartAt`` and ``maybeIncrementLogStartOffset``): a mixin of ``Log``.

A follower truncates to where its leader's log agrees (by leader epoch), a replica too far
behind restarts empty at the leader's start, and DeleteRecords or a leader's fetch
response raise the log start offset. Each runs under the log's ``lock`` and afterwards
brings the leader-epoch cache, the producer state, the recovery point and the high
watermark back in line with the offsets.
"""

from kafkalite.protocol.errors import OffsetOutOfRangeError

__all__ = ["LogTruncation"]


class LogTruncation:
    """Truncation for :class:`~kafkalite.log.log.Log` (which provides the segments, offsets, caches and lock)."""

    def truncate_to(self, offset):
        """Remove every batch at or above ``offset`` (a batch holding ``offset`` goes whole).

        :returns: True when anything was removed.
        """
        with self.lock:
            if offset < 0:
                raise ValueError(f"cannot truncate to a negative offset {offset}")
            if offset >= self.log_end_offset:
                return False
            self.cleaner_generation += 1
            self.truncated_to = offset if self.truncated_to is None else min(self.truncated_to, offset)
            if offset < self.segments[0].base_offset:
                self.truncate_fully_and_start_at(offset)
                return True
            doomed = [segment for segment in self.segments[1:] if segment.base_offset >= offset]
            if doomed:
                keep = len(self.segments) - len(doomed)
                del self.segments[keep:]
                del self._bases[keep:]
                for segment in doomed:
                    self.schedule_delete(segment)
            active = self.segments[-1]
            active.make_active()
            active.truncate_to(offset)
            self.log_end_offset = active.read_next_offset()
            self.log_start_offset = min(self.log_start_offset, self.log_end_offset)
            self._after_truncation()
            return True

    def truncate_fully_and_start_at(self, offset):
        """Delete every segment and restart the log empty at ``offset``."""
        with self.lock:
            self.cleaner_generation += 1
            self.truncated_to = offset if self.truncated_to is None else min(self.truncated_to, offset)
            for segment in self.segments:
                self.schedule_delete(segment)
            self.segments = []
            self._bases = []
            self.add_segment(self.new_segment(offset))
            self.log_end_offset = offset
            self.log_start_offset = offset
            self.epoch_cache.clear()
            self._after_truncation()

    def _after_truncation(self):
        self.epoch_cache.truncate_from_end(self.log_end_offset)
        self.epoch_cache.write(fsync=False)
        self._epoch_needs_fsync = True
        self.rebuild_producer_state(False)
        self.recovery_point = min(getattr(self, "recovery_point", 0), self.log_end_offset)
        self.recovery_point = max(self.recovery_point, self.log_start_offset)
        self.high_watermark = min(max(getattr(self, "high_watermark", 0), self.log_start_offset),
                                  self.log_end_offset)

    def maybe_increment_log_start_offset(self, offset):
        """Raise the log start offset (DeleteRecords, follower catching up with the leader's).

        :returns: True when it moved.
        :raises OffsetOutOfRangeError: ``offset`` is above the high watermark... or log end offset.
        """
        with self.lock:
            if offset > self.log_end_offset:
                raise OffsetOutOfRangeError(
                    f"cannot move log start offset to {offset} beyond the log end offset {self.log_end_offset}")
            if offset <= self.log_start_offset:
                return False
            self.log_start_offset = offset
            self.high_watermark = max(self.high_watermark, offset)
            self.recovery_point = max(self.recovery_point, offset)
            if self.epoch_cache.entries:
                self.epoch_cache.truncate_from_start(offset)
                self.epoch_cache.write(fsync=False)
                self._epoch_needs_fsync = True
            self.producer_state.truncate_head(offset)
            return True
