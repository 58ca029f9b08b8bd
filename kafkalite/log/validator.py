"""Kafka 2.8's ``LogValidator`` for a client's v2 batch, run by :meth:`Log.append_as_leader`.

Owns everything decided about a produced batch before it gets offsets: the header rules of
Kafka's ``validateBatch`` (base offset 0, offset range vs count, a positive count, no control
batches from clients, a base sequence with a producer id), the walk over the records
(:func:`~kafkalite.protocol.record_validation.check_records`; a compressed batch's records are
decompressed first, within a ceiling), the topic's ``message.timestamp.*`` rules, the batch's
``max_timestamp`` corrected to its records' real maximum, the topic's ``compression.type``
(records rebuilt with another codec, as ``buildRecordsAndAssignOffsets`` does) and
``max.message.bytes`` measured on the batch as sent and on the rebuilt one.

Nothing here assigns offsets or touches the log: a refused batch leaves no trace.

The uncompressed batch of a ``producer``-codec topic, the common case, costs one header
decode, one ``check_records`` call over a memoryview of the records (no copy) and, only when
the producer's ``max_timestamp`` was wrong, an 8-byte rewrite and a CRC.
"""

import struct
from typing import NamedTuple

from crc32c import crc32c

from kafkalite.protocol.bounded_decompression import decompress_bounded
from kafkalite.protocol.compression import codec_for_name, compress
from kafkalite.protocol.errors import InvalidRecordError, MessageTooLargeError, UnsupportedCompressionTypeError
from kafkalite.protocol.record_validation import RecordError, RecordTimestampError, check_records
from kafkalite.protocol.records import BATCH_HEADER_SIZE, LOG_OVERHEAD, read_batch_header, set_max_timestamp

__all__ = ["ValidatedBatch", "decompressed_limit", "target_codec", "validate_client_batch"]

_LONG_MAX = 2**63 - 1
_CODEC_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
_CRC_START = 21
_CRC = struct.Struct(">I")

# The ceiling on a compressed batch's decompressed records. Kafka sets none (it streams the
# records); we hold them in memory while walking them, so a few kilobytes of zstd or gzip that
# expand to gigabytes would take the broker down. 64 MiB is far above what real producers
# batch (librdkafka's batch.size, 1 MB by default, bounds the *uncompressed* batch; the Java
# client's 16 KiB batch.size counts compressed bytes, which would need a ratio of 4000:1 to
# get there) and a cost the broker can afford, since the reactor thread validates one batch at
# a time. A topic whose max.message.bytes is raised past 16 MiB gets 4 times that instead: its
# uncompressed batches may legitimately be that large.
_MIN_DECOMPRESSED_LIMIT = 64 * 1024 * 1024
_DECOMPRESSED_PER_MESSAGE_BYTE = 4

_LOG_APPEND_TIME_CLAIMED = "the producer set the timestamp type to LogAppendTime, which only the broker may set"


class ValidatedBatch(NamedTuple):
    """A batch ready for offsets: ``records`` (the buffer to append, the one given or a rebuilt
    bytearray) and its ``header`` (``max_timestamp`` the records' real maximum)."""

    records: object
    header: object


def decompressed_limit(config):
    """The most bytes a compressed batch's records may decompress to on a topic with ``config``."""
    return max(_MIN_DECOMPRESSED_LIMIT, _DECOMPRESSED_PER_MESSAGE_BYTE * config.max_message_bytes)


def target_codec(config, source_codec):
    """The codec a batch is stored with: the topic's ``compression.type``, or the producer's."""
    name = config.compression_type
    if name == "producer":
        return source_codec
    return 0 if name == "uncompressed" else codec_for_name(name)


def validate_client_batch(records, config, now_ms):
    """Validate the single v2 batch a client produced (its CRC already checked) as Kafka does.

    :param records: a writable memoryview or bytearray holding exactly one batch.
    :param config: the topic's :class:`~kafkalite.log.config.LogConfig`.
    :param now_ms: the broker's clock, for ``message.timestamp.difference.max.ms``.
    :returns: :class:`ValidatedBatch`; ``records`` may have been changed in place
        (``max_timestamp`` and the CRC) or replaced by a rebuilt batch.
    :raises MessageTooLargeError: over ``max.message.bytes``, as sent or once rebuilt.
    :raises InvalidRecordError: a header rule broken, records that do not match the header
        (:class:`RecordError`, keyless records of a compacted topic with ``record_errors``), or
        records decompressing past :func:`decompressed_limit`.
    :raises InvalidTimestampError: records out of the CreateTime window, or a batch claiming
        LogAppendTime (:class:`RecordTimestampError`, with ``record_errors``).
    :raises CorruptMessageError: compressed data the codec cannot read.
    :raises UnsupportedCompressionTypeError: an unknown codec id in the attributes.
    """
    header = read_batch_header(records, 0)
    size = header.size
    if size > config.max_message_bytes:
        raise MessageTooLargeError(
            f"the record batch is {size} bytes, more than max.message.bytes {config.max_message_bytes}")
    _check_header(header)
    source = header.compression
    if source > 4:
        raise UnsupportedCompressionTypeError(f"unknown compression codec {source} in the batch's attributes")
    target = target_codec(config, source)
    section = memoryview(records)[BATCH_HEADER_SIZE:size]
    if source:
        section = decompress_bounded(source, section, decompressed_limit(config))
    log_append_time = config.is_log_append_time
    max_difference = config.message_timestamp_difference_max_ms
    window = None if log_append_time or max_difference >= _LONG_MAX else (now_ms, max_difference)
    compacted = "compact" in config.cleanup_policy
    if header.is_log_append_time:
        _refuse_log_append_time_claim(header, section, compacted, window)
    max_timestamp = check_records(header, section, compacted, window)
    if target != source:
        rebuilt = _rebuild(header, section, target, max_timestamp)
        header = read_batch_header(rebuilt, 0)
        if header.size > config.max_message_bytes:
            raise MessageTooLargeError(
                f"the record batch is {header.size} bytes once recompressed with the topic's compression.type "
                f"{config.compression_type}, more than max.message.bytes {config.max_message_bytes}")
        return ValidatedBatch(rebuilt, header)
    if header.max_timestamp != max_timestamp and not log_append_time:
        header = set_max_timestamp(records, header, max_timestamp)
    return ValidatedBatch(records, header)


def _check_header(header):
    """Kafka's ``validateBatch`` and ``analyzeAndValidateRecords`` rules for a client's v2 batch."""
    if header.base_offset != 0:
        raise InvalidRecordError(f"the base offset of a produced record batch must be 0, not {header.base_offset}")
    count_from_offsets = header.last_offset_delta + 1
    if count_from_offsets <= 0:
        raise InvalidRecordError(
            f"the record batch has an invalid offset range [0, {header.last_offset_delta}]")
    if header.records_count <= 0:
        raise InvalidRecordError(f"invalid record count {header.records_count} in the record batch")
    if header.records_count != count_from_offsets:
        raise InvalidRecordError(f"the record batch's offset range [0, {header.last_offset_delta}] does not "
                                 f"match its record count {header.records_count}")
    if header.is_control:
        raise InvalidRecordError("clients may not write control batches")
    if header.producer_id >= 0 and header.base_sequence < 0:
        raise InvalidRecordError(f"invalid base sequence {header.base_sequence} in a record batch with "
                                 f"producer id {header.producer_id}")


def _refuse_log_append_time_claim(header, section, compacted, window):
    """Refuse a client batch stamped LogAppendTime, naming every record as Kafka's ``validateTimestamp``
    does; a record that fails an earlier rule (its key, the CreateTime window) keeps that error."""
    try:
        check_records(header, section, compacted, window)
        earlier = {}
    except (RecordError, RecordTimestampError) as error:
        if not error.record_errors:  # a fault of the batch's shape comes first
            raise
        earlier = dict(error.record_errors)
    record_errors = [(index, earlier.get(index, _LOG_APPEND_TIME_CLAIMED)) for index in range(header.records_count)]
    claimed = [index for index, message in record_errors if message is _LOG_APPEND_TIME_CLAIMED]
    raise RecordTimestampError(f"records {claimed[:10]}: {_LOG_APPEND_TIME_CLAIMED}", record_errors)


def _rebuild(header, section, codec, max_timestamp):
    """The batch with its records stored with ``codec``: producer id, epoch, base sequence,
    timestamps, keys, values and headers kept byte for byte (the records' offset deltas are
    already 0, 1, 2, …, which is what Kafka's rebuilt batch holds)."""
    body = compress(codec, section) if codec else section
    batch = bytearray(BATCH_HEADER_SIZE + len(body))
    struct.pack_into(">qiib", batch, 0, 0, BATCH_HEADER_SIZE - LOG_OVERHEAD + len(body),
                     header.partition_leader_epoch, 2)
    attributes = (header.attributes & ~_CODEC_MASK & ~_TIMESTAMP_TYPE_BIT) | codec
    struct.pack_into(">hiqqqhii", batch, _CRC_START, attributes, header.last_offset_delta, header.base_timestamp,
                     max_timestamp, header.producer_id, header.producer_epoch, header.base_sequence,
                     header.records_count)
    batch[BATCH_HEADER_SIZE:] = body
    _CRC.pack_into(batch, 17, crc32c(memoryview(batch)[_CRC_START:]))
    return batch
