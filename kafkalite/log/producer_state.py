"""Idempotent-producer state of one partition (Kafka 2.8's ProducerStateManager, without transactions).

Per producer id: the current producer epoch and the metadata of its last five batches
(first/last sequence, first/last offset). The leader uses it to drop retried duplicates and
to reject sequence gaps and fenced epochs; followers and recovery only record. It is built
from batch headers alone, never from record contents.

Rules on a leader append (2.8, ``ProducerAppendInfo.checkSequence``):

- same epoch, same (first_seq, last_seq) as one of the last five batches: a duplicate;
- an epoch below the current one: ``InvalidProducerEpochError``;
- a new epoch for a known producer must start at sequence 0, else ``OutOfOrderSequenceNumberError``;
- the same epoch must continue at last_seq + 1 (wrapping at int32), else ``OutOfOrderSequenceNumberError``;
- an unknown producer id (never seen, or all its batches removed by retention) is accepted at
  any sequence, as 2.8 does since KIP-360.
"""

from collections import deque
from typing import NamedTuple

from kafkalite.protocol.errors import InvalidProducerEpochError, OutOfOrderSequenceNumberError
from kafkalite.protocol.records import NO_SEQUENCE

__all__ = ["NUM_BATCHES_TO_RETAIN", "BatchMetadata", "ProducerStateEntry", "ProducerStateManager"]

NUM_BATCHES_TO_RETAIN = 5
_INT32_MAX = 2**31 - 1


class BatchMetadata(NamedTuple):
    """What is kept of one appended batch."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    max_timestamp: int


class ProducerStateEntry:
    """One producer's epoch and its last five batches."""

    __slots__ = ("batches", "producer_epoch", "producer_id")

    def __init__(self, producer_id, producer_epoch=-1):
        self.producer_id = producer_id
        self.producer_epoch = producer_epoch
        self.batches = deque(maxlen=NUM_BATCHES_TO_RETAIN)

    @property
    def last_seq(self):
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    @property
    def last_offset(self):
        return self.batches[-1].last_offset if self.batches else -1

    def find_duplicate(self, header):
        """The retained batch with ``header``'s epoch and sequence range, or None."""
        if header.producer_epoch != self.producer_epoch:
            return None
        first_seq, last_seq = header.base_sequence, header.last_sequence
        for batch in self.batches:
            if batch.first_seq == first_seq and batch.last_seq == last_seq:
                return batch
        return None

    def add(self, header):
        if header.producer_epoch != self.producer_epoch:
            self.producer_epoch = header.producer_epoch
            self.batches.clear()
        self.batches.append(BatchMetadata(header.base_sequence, header.last_sequence, header.base_offset,
                                          header.base_offset + header.last_offset_delta, header.max_timestamp))


def _in_sequence(last_seq, next_seq):
    return next_seq == last_seq + 1 or (next_seq == 0 and last_seq == _INT32_MAX)


class ProducerStateManager:
    """``producer_id → ProducerStateEntry`` for one partition."""

    def __init__(self):
        self.producers = {}

    def check_leader_append(self, header):
        """Validate a client batch before it is appended.

        :returns: the original :class:`BatchMetadata` when the batch is a retried duplicate, else None.
        :raises InvalidProducerEpochError: the batch's epoch is older than the producer's.
        :raises OutOfOrderSequenceNumberError: a sequence gap, or a new epoch not starting at 0.
        """
        if header.producer_id < 0 or header.is_control:
            return None
        entry = self.producers.get(header.producer_id)
        if entry is None:
            return None
        duplicate = entry.find_duplicate(header)
        if duplicate is not None:
            return duplicate
        if header.producer_epoch < entry.producer_epoch:
            raise InvalidProducerEpochError(
                f"Epoch of producer {header.producer_id} is {header.producer_epoch}, which is smaller than the last "
                f"seen epoch {entry.producer_epoch}")
        if header.base_sequence == NO_SEQUENCE:
            return None
        if header.producer_epoch != entry.producer_epoch:
            if header.base_sequence != 0 and entry.producer_epoch >= 0:
                raise OutOfOrderSequenceNumberError(
                    f"Invalid sequence number for new epoch of producer {header.producer_id}: {header.producer_epoch} "
                    f"(request epoch), {header.base_sequence} (seq. number), {entry.producer_epoch} "
                    "(current producer epoch)")
        elif entry.producer_epoch >= 0 and not _in_sequence(entry.last_seq, header.base_sequence):
            raise OutOfOrderSequenceNumberError(
                f"Out of order sequence number for producer {header.producer_id}: {header.base_sequence} (incoming "
                f"seq. number), {entry.last_seq} (current end sequence number)")
        return None

    def update(self, header):
        """Record an appended batch (leader, follower or recovery); ``header`` carries its offsets."""
        if header.producer_id < 0:
            return
        entry = self.producers.get(header.producer_id)
        if entry is None:
            entry = self.producers[header.producer_id] = ProducerStateEntry(header.producer_id)
        if header.is_control:
            if header.producer_epoch > entry.producer_epoch:
                entry.producer_epoch = header.producer_epoch
                entry.batches.clear()
            return
        entry.add(header)

    def truncate_head(self, log_start_offset):
        """Forget producers whose last batch lies wholly below ``log_start_offset`` (retention)."""
        gone = [pid for pid, entry in self.producers.items() if entry.last_offset < log_start_offset]
        for pid in gone:
            del self.producers[pid]

    def clear(self):
        self.producers.clear()

    def last_entry(self, producer_id):
        """The :class:`ProducerStateEntry` of ``producer_id``, or None."""
        return self.producers.get(producer_id)
