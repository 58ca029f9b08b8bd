"""Record batch v2 (magic 2) headers: parse, validate and rewrite in place.

The broker's hot paths work on whole batches and never look inside them: this
module reads the fixed 61-byte header, checks the CRC-32C, and rewrites the
fields outside the CRC (base offset, partition leader epoch). Decoding the
records themselves (for tests and tools) lives in ``recordcodec``.

Layout (reference §3.1)::

    0  base_offset int64          27 base_timestamp int64
    8  batch_length int32         35 max_timestamp int64
    12 partition_leader_epoch     43 producer_id int64
    16 magic int8                 51 producer_epoch int16
    17 crc uint32                 53 base_sequence int32
    21 attributes int16           57 records_count int32
    23 last_offset_delta int32    61 records...
"""

import struct
from typing import NamedTuple

from crc32c import crc32c

from kafkalite.protocol.errors import CorruptMessageError, InvalidRecordError

__all__ = [
    "BATCH_HEADER_SIZE", "LOG_OVERHEAD", "BatchHeader", "read_batch_header",
    "iter_batch_headers", "validate_batch", "check_crc", "set_base_offset_and_epoch",
    "set_log_append_time", "set_max_timestamp", "compute_crc", "NO_PRODUCER_ID", "NO_SEQUENCE",
    "COMPRESSION_NONE", "COMPRESSION_GZIP", "COMPRESSION_SNAPPY", "COMPRESSION_LZ4",
    "COMPRESSION_ZSTD",
]

_HEADER = struct.Struct(">qiibIhiqqqhii")
BATCH_HEADER_SIZE = _HEADER.size  # 61
#: bytes before ``batch_length`` counts: base_offset + batch_length.
LOG_OVERHEAD = 12
_CRC_START = 21
_MAGIC_OFFSET = 16
_BASE_OFFSET = struct.Struct(">q")
_LEADER_EPOCH = struct.Struct(">i")
_CRC = struct.Struct(">I")
_ATTRIBUTES = struct.Struct(">h")
_MAX_TIMESTAMP = struct.Struct(">q")

NO_PRODUCER_ID = -1
NO_SEQUENCE = -1

COMPRESSION_NONE = 0
COMPRESSION_GZIP = 1
COMPRESSION_SNAPPY = 2
COMPRESSION_LZ4 = 3
COMPRESSION_ZSTD = 4

_COMPRESSION_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
_TRANSACTIONAL_BIT = 0x10
_CONTROL_BIT = 0x20


class BatchHeader(NamedTuple):
    """The decoded 61-byte header of one batch found at ``position``."""

    position: int
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self):
        """Total bytes of the batch on disk and on the wire."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self):
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self):
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self):
        return self.attributes & _COMPRESSION_MASK

    @property
    def is_log_append_time(self):
        return bool(self.attributes & _TIMESTAMP_TYPE_BIT)

    @property
    def is_transactional(self):
        return bool(self.attributes & _TRANSACTIONAL_BIT)

    @property
    def is_control(self):
        return bool(self.attributes & _CONTROL_BIT)

    @property
    def has_producer_id(self):
        return self.producer_id >= 0

    @property
    def last_sequence(self):
        """Sequence of the last record, wrapping at int32 like Kafka."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % 0x80000000


def read_batch_header(buf, position=0):
    """Decode the header of the batch starting at ``position`` of ``buf``.

    :raises CorruptMessageError: fewer than 61 bytes remain, or the magic is not 2.
    """
    if len(buf) - position < BATCH_HEADER_SIZE:
        raise CorruptMessageError("record batch header truncated")
    fields = _HEADER.unpack_from(buf, position)
    if fields[3] != 2:
        raise CorruptMessageError("unsupported record batch magic %d" % fields[3])
    return BatchHeader(position, *fields)


def iter_batch_headers(buf, position=0, end=None):
    """Yield the header of each complete batch in ``buf[position:end]``.

    Stops quietly at a trailing partial batch (a fetch response may end with
    one, and a crashed log may end with one): the caller compares the last
    header's end with ``end`` to notice. Does not check CRCs.

    :raises CorruptMessageError: a header that cannot be a batch (bad magic,
        a length below the header size).
    """
    if end is None:
        end = len(buf)
    while end - position >= BATCH_HEADER_SIZE:
        fields = _HEADER.unpack_from(buf, position)
        batch_length = fields[1]
        if fields[3] != 2:
            raise CorruptMessageError("unsupported record batch magic %d at position %d" % (fields[3], position))
        if batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD:
            raise CorruptMessageError("record batch length %d too small at position %d" % (batch_length, position))
        if position + batch_length + LOG_OVERHEAD > end:
            return
        yield BatchHeader(position, *fields)
        position += batch_length + LOG_OVERHEAD


def compute_crc(buf, header):
    """CRC-32C over the batch's bytes from ``attributes`` to its end."""
    start = header.position + _CRC_START
    return crc32c(buf[start:header.position + header.size])


def check_crc(buf, header):
    """:raises CorruptMessageError: when the stored CRC does not match the bytes."""
    if compute_crc(buf, header) != header.crc:
        raise CorruptMessageError("record batch CRC mismatch at offset %d" % header.base_offset)


def validate_batch(buf):
    """Validate a produce request's record set: exactly one v2 batch, whole, CRC-correct.

    :returns: the batch's :class:`BatchHeader`.
    :raises CorruptMessageError: bad CRC or truncated batch.
    :raises InvalidRecordError: a magic other than 2, not exactly one batch, or an inconsistent record count.
    """
    size = len(buf)
    if size > _MAGIC_OFFSET and buf[_MAGIC_OFFSET] != 2:
        # Kafka's ProduceRequest.validateRecords: v3+ carries magic 2 only (v0-v2's sets were converted).
        raise InvalidRecordError("produce requests v3+ must carry a record batch of magic 2, not magic %d"
                                 % buf[_MAGIC_OFFSET])
    if size < BATCH_HEADER_SIZE:
        raise CorruptMessageError("record set of %d bytes is shorter than a batch header" % size)
    header = read_batch_header(buf, 0)
    if header.size > size or header.batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD:
        raise CorruptMessageError("record batch length %d does not fit the %d bytes sent" % (header.batch_length, size))
    if header.size != size:
        raise InvalidRecordError("produce requests v3+ must carry exactly one record batch")
    check_crc(buf, header)
    if header.records_count <= 0 or header.last_offset_delta != header.records_count - 1:
        raise InvalidRecordError(
            "record count %d does not match last offset delta %d" % (header.records_count, header.last_offset_delta))
    return header


def set_base_offset_and_epoch(buf, position, base_offset, leader_epoch):
    """Rewrite base offset and partition leader epoch in place; both lie outside the CRC."""
    _BASE_OFFSET.pack_into(buf, position, base_offset)
    _LEADER_EPOCH.pack_into(buf, position + 12, leader_epoch)


def set_log_append_time(buf, header, timestamp_ms):
    """Stamp a batch with LogAppendTime: set max_timestamp and the type bit, recompute the CRC."""
    return _rewrite_max_timestamp(buf, header, timestamp_ms, header.attributes | _TIMESTAMP_TYPE_BIT)


def set_max_timestamp(buf, header, timestamp_ms):
    """Write ``timestamp_ms`` as the batch's max_timestamp and recompute the CRC (Kafka's ``setMaxTimestamp``)."""
    return _rewrite_max_timestamp(buf, header, timestamp_ms, header.attributes)


def _rewrite_max_timestamp(buf, header, timestamp_ms, attributes):
    position = header.position
    _MAX_TIMESTAMP.pack_into(buf, position + 35, timestamp_ms)
    _ATTRIBUTES.pack_into(buf, position + 21, attributes)
    crc = crc32c(memoryview(buf)[position + _CRC_START:position + header.size])
    _CRC.pack_into(buf, position + 17, crc)
    return header._replace(max_timestamp=timestamp_ms, attributes=attributes, crc=crc)
