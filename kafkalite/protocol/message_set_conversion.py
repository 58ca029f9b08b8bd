"""Produce v0–v2: a partition's magic 0/1 message set up-converted to the one v2 batch the log appends.

Kafka 2.8 stores message format v2 (``log.message.format.version`` = the IBP) and its
``LogValidator`` rebuilds any v0/v1 input as a v2 batch on append
(``convertAndAssignOffsetsNonCompressed``, ``validateMessagesAndAssignOffsetsCompressed``
→ ``buildRecordsAndAssignOffsets``). :func:`legacy_records_to_batch` does the same
before the partition's append, so every rule of the v2 path (``max.message.bytes``,
timestamps, keys on compacted topics, the topic's ``compression.type``, offsets
assigned by rewriting the base offset) applies to converted batches unchanged:

- offsets: the records get offset deltas 0..n-1, whatever offsets the client wrote
  (Kafka reassigns them too; a magic-1 wrapper's wrong inner offsets are rewritten,
  not refused: "some older clients do not implement the V1 internal offsets correctly");
- timestamps: magic-0 records have none (-1; a LogAppendTime topic stamps the batch on
  append), magic-1 records keep theirs; a message claiming LogAppendTime is refused
  with INVALID_TIMESTAMP ("Producer should not set timestamp type to LogAppendTime");
- codec: the wrapper's (zstd cannot occur: magic 0/1 cannot carry it), which the topic's
  ``compression.type`` may then override as for any batch;
- refused as Kafka refuses them: mixed magics, or a compressed wrapper that is not the
  set's only entry (INVALID_RECORD); an empty set (INVALID_RECORD); everything
  :func:`~kafkalite.protocol.message_set.decode_message_set` refuses (CRC mismatches and
  malformed messages CORRUPT_MESSAGE, Kafka's ``InvalidRecordException`` cases
  INVALID_RECORD), a partial trailing message included (a produced set must be whole).

A set whose first entry is already a v2 batch is passed on untouched: Kafka 2.8 does not
hold Produce v0–v2 to magic < 2 (``ProduceRequest.validateRecords`` checks only v3+), so
the v2 path judges it as it judges any batch.

:func:`upconvert_produce_entries` applies this to a request's partitions: a set that cannot
be converted is replaced by the error that refused it, which ``ReplicaManager.append_records``
answers for that partition alone after its leadership check (Kafka finds such faults in
``Log.append``, past ``NOT_LEADER_OR_FOLLOWER``, with the produce metrics counting them).
"""

from kafkalite.protocol.errors import InvalidRecordError, InvalidTimestampError, KafkaError
from kafkalite.protocol.message_set import decode_message_set
from kafkalite.protocol.recordcodec import TIMESTAMP_LOG_APPEND_TIME, Record, build_batch

__all__ = ["FIRST_BATCH_ONLY_PRODUCE_VERSION", "legacy_records_to_batch", "upconvert_produce_entries"]

#: Produce v3+ carry exactly one v2 batch; v0–v2 carry message sets (or, tolerated, a v2 batch).
FIRST_BATCH_ONLY_PRODUCE_VERSION = 3
_MAGIC_POSITION = 16  # the same in a message set entry and a v2 batch
_MAGIC_V2 = 2


def legacy_records_to_batch(records):
    """The v2 batch to append for a Produce v0–v2 partition's ``records``.

    :param records: the partition's bytes-like ``records``.
    :returns: a writable bytearray holding one v2 batch (offset deltas 0..n-1), or
        ``records`` itself when it starts with a v2 batch.
    :raises CorruptMessageError: a CRC mismatch, a malformed or partial message.
    :raises InvalidRecordError: an empty set, mixed magics, a compressed wrapper among
        other entries, and the wrapper faults :func:`decode_message_set` names.
    :raises InvalidTimestampError: a message claiming LogAppendTime.
    :raises UnsupportedCompressionTypeError: a codec id above 4.
    """
    if len(records) > _MAGIC_POSITION and records[_MAGIC_POSITION] == _MAGIC_V2:
        return records
    entries = decode_message_set(records, whole=True)
    if not entries:
        raise InvalidRecordError("the message set holds no messages")
    first = entries[0]
    for entry in entries:
        if entry.magic != first.magic:
            raise InvalidRecordError(
                f"message magic {entry.magic} is not the same as the first message's magic {first.magic}")
        if entry.is_compressed and len(entries) > 1:
            raise InvalidRecordError("a compressed message must be the only message of its message set")
        if entry.timestamp_type == TIMESTAMP_LOG_APPEND_TIME:
            raise InvalidTimestampError(
                f"invalid timestamp type in the message at offset {entry.offset}: "
                "a producer should not set the timestamp type to LogAppendTime")
    converted = [Record(record.key, record.value, (), record.timestamp)
                 for entry in entries for record in entry.records]
    return build_batch(converted, compression=first.codec)


def upconvert_produce_entries(entries):
    """Each Produce v0–v2 partition's message set as one v2 batch, or the error that refused it.

    :param entries: ``[(topic, partition, records)]`` of the request.
    :returns: the entries for ``append_records``, each ``records`` converted, or replaced by
        the :class:`~kafkalite.protocol.errors.KafkaError` that refused it (None stays None).
    """
    converted = []
    for topic, partition, records in entries:
        if records is not None:
            try:
                records = legacy_records_to_batch(records)
            except KafkaError as error:
                records = error
        converted.append((topic, partition, records))
    return converted
