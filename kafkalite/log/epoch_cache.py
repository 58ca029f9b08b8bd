"""LeaderEpochCache: the (leader_epoch, start_offset) history of one partition (KIP-101/279).

Backed by ``leader-epoch-checkpoint`` (reference §5.3). Answers OffsetForLeaderEpoch with
Kafka 2.8's ``endOffsetFor`` semantics and is trimmed when the log is truncated at either end.
"""

import bisect
import os

from kafkalite.log.checkpoint import CorruptCheckpointError, read_checkpoint, write_checkpoint

__all__ = ["LEADER_EPOCH_CHECKPOINT", "UNDEFINED_EPOCH", "UNDEFINED_EPOCH_OFFSET", "LeaderEpochCache"]

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1
LEADER_EPOCH_CHECKPOINT = "leader-epoch-checkpoint"


class LeaderEpochCache:
    """Ordered epoch entries, strictly increasing in both epoch and start offset.

    :param directory: the partition directory holding the checkpoint file.
    :param read: read the checkpoint (False: the directory was just created, there is none).
    """

    def __init__(self, directory, read=True):
        self.path = os.path.join(directory, LEADER_EPOCH_CHECKPOINT)
        self.entries = []
        self.dirty = False
        self.load_failed = False
        if not read:
            return
        try:
            for epoch, start_offset in read_checkpoint(self.path, 2):
                self.entries.append((int(epoch), int(start_offset)))
        except (CorruptCheckpointError, ValueError):
            self.entries = []
            self.load_failed = True

    @property
    def latest_epoch(self):
        """The newest epoch, or -1 when empty."""
        return self.entries[-1][0] if self.entries else UNDEFINED_EPOCH

    @property
    def earliest_entry(self):
        return self.entries[0] if self.entries else None

    def assign(self, epoch, start_offset):
        """Record that ``epoch`` starts at ``start_offset``; returns True when the cache changed.

        Entries that would break monotonicity (epoch ≥ or start offset ≥ the new one) are removed.
        """
        if epoch < 0 or start_offset < 0:
            return False
        if self.entries:
            last_epoch, last_start = self.entries[-1]
            if epoch == last_epoch and start_offset >= last_start:
                return False
        while self.entries and (self.entries[-1][0] >= epoch or self.entries[-1][1] >= start_offset):
            self.entries.pop()
        self.entries.append((epoch, start_offset))
        self.dirty = True
        return True

    def end_offset_for(self, requested_epoch, log_end_offset):
        """(epoch, end_offset) as Kafka's OffsetForLeaderEpoch answers for ``requested_epoch``.

        - the latest epoch: (epoch, log_end_offset);
        - an epoch below every known one: (requested, start offset of the first entry);
        - otherwise: (largest known epoch ≤ requested, start offset of the next higher epoch);
        - undefined or above every known epoch: (-1, -1).
        """
        if requested_epoch == UNDEFINED_EPOCH or not self.entries:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self.entries[-1][0]:
            return requested_epoch, log_end_offset
        epochs = [entry[0] for entry in self.entries]
        higher = bisect.bisect_right(epochs, requested_epoch)
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return requested_epoch, self.entries[0][1]
        return self.entries[higher - 1][0], self.entries[higher][1]

    def epoch_for_offset(self, offset):
        """The epoch whose range holds ``offset``, or -1."""
        starts = [entry[1] for entry in self.entries]
        slot = bisect.bisect_right(starts, offset) - 1
        return self.entries[slot][0] if slot >= 0 else UNDEFINED_EPOCH

    def truncate_from_end(self, end_offset):
        """Remove entries starting at or after ``end_offset`` (the log was truncated there)."""
        before = len(self.entries)
        while self.entries and self.entries[-1][1] >= end_offset:
            self.entries.pop()
        if len(self.entries) != before:
            self.dirty = True

    def truncate_from_start(self, start_offset):
        """Drop entries wholly below ``start_offset``; the one spanning it now starts there."""
        removed = 0
        keep = None
        while self.entries and self.entries[0][1] <= start_offset:
            keep = self.entries.pop(0)
            removed += 1
        if keep is not None:
            self.entries.insert(0, (keep[0], start_offset))
            if removed > 1 or keep[1] != start_offset:
                self.dirty = True

    def clear(self):
        """Forget every entry (the log was truncated fully)."""
        if self.entries:
            self.entries = []
            self.dirty = True

    def write(self, fsync=False):
        """Write the checkpoint (tmp + rename) if the cache changed since the last write."""
        if not self.dirty:
            return
        lines = ["{} {}".format(*entry) for entry in self.entries]
        write_checkpoint(self.path, lines, fsync=fsync)
        self.dirty = False  # only now: a failed write is retried by the next one
