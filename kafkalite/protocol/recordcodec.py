"""Record batch v2 encoding and decoding, record by record, with every codec.

The broker's hot paths never come here: they treat batches as opaque bytes
(``records``). This module is for tests, tools and the few broker paths that
must look inside a batch (rebuilding for a topic codec, the log cleaner,
``__consumer_offsets``): ``build_batch`` writes a complete magic-2 batch
(reference §3.1) and ``decode_batches`` reads every complete batch of a buffer
back into :class:`Record` objects with absolute offsets and timestamps.

Record fields use zigzag varints (protobuf ``sint32``/``sint64``), which differ
from the unsigned varints of the flexible protocol encoding.
"""

import struct
import time
from dataclasses import dataclass

from crc32c import crc32c

from kafkalite.protocol.compression import compress, decompress
from kafkalite.protocol.errors import CorruptMessageError, UnsupportedCompressionTypeError
from kafkalite.protocol.records import (
    BATCH_HEADER_SIZE,
    LOG_OVERHEAD,
    check_crc,
    iter_batch_headers,
)

__all__ = [
    "TIMESTAMP_CREATE_TIME",
    "TIMESTAMP_LOG_APPEND_TIME",
    "Record",
    "build_batch",
    "decode_batches",
    "decode_records",
    "decode_varint",
    "encode_varint",
]

TIMESTAMP_CREATE_TIME = 0
TIMESTAMP_LOG_APPEND_TIME = 1

# The batch header without the leading base_offset/batch_length (written separately,
# since batch_length is only known once the records are encoded).
_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC_START = 21
_CRC = struct.Struct(">I")
_MAX_VARINT_BYTES = 10


@dataclass(frozen=True)
class Record:
    """One record of a batch.

    :ivar key: the key bytes, or None for a null key.
    :ivar value: the value bytes, or None for a null value (a tombstone).
    :ivar headers: ``(key, value)`` pairs; keys are str, values bytes or None.
    :ivar timestamp: milliseconds since the epoch; None on encode means "now".
    :ivar offset: the absolute offset, filled on decode; on encode only read
        when ``build_batch(..., keep_offsets=True)``.
    """

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp: int | None = None
    offset: int | None = None


def encode_varint(out, value):
    """Append ``value`` to bytearray ``out`` as a zigzag varint (varlong for 64-bit values)."""
    zigzag = (value << 1) ^ (value >> 63)
    while zigzag >= 0x80:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)


def decode_varint(buf, position, end=None, limit=_MAX_VARINT_BYTES):
    """Read a zigzag varint from ``buf`` at ``position``.

    :param limit: the most bytes it may take (10: a varlong; Kafka's 32-bit varints take 5).
    :returns: ``(value, next_position)``.
    :raises CorruptMessageError: the varint runs past ``end`` or over ``limit`` bytes.
    """
    if end is None:
        end = len(buf)
    result = 0
    shift = 0
    start = position
    while True:
        if position >= end:
            raise CorruptMessageError(f"varint truncated at position {start}")
        byte = buf[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if position - start >= limit:
            raise CorruptMessageError(f"varint longer than {limit} bytes at position {start}")
    return (result >> 1) ^ -(result & 1), position


def _encode_bytes(out, data):
    if data is None:
        out.append(1)  # zigzag(-1)
    else:
        encode_varint(out, len(data))
        out += data


def _encode_record(out, record, offset_delta, timestamp_delta):
    body = bytearray(b"\x00")  # attributes: unused in v2
    encode_varint(body, timestamp_delta)
    encode_varint(body, offset_delta)
    _encode_bytes(body, record.key)
    _encode_bytes(body, record.value)
    encode_varint(body, len(record.headers))
    for header_key, header_value in record.headers:
        if isinstance(header_key, str):
            header_key = header_key.encode("utf-8")
        _encode_bytes(body, header_key)
        _encode_bytes(body, header_value)
    encode_varint(out, len(body))
    out += body


def build_batch(records, base_offset=0, compression=0, producer_id=-1, producer_epoch=-1,
                base_sequence=-1, partition_leader_epoch=-1, timestamp_type=0, base_timestamp=None,
                is_transactional=False, is_control=False, keep_offsets=False):
    """Encode ``records`` as one complete magic-2 record batch.

    :param records: an iterable of :class:`Record`. A record whose timestamp is
        None gets the current time in milliseconds (the same value for all).
    :param base_offset: the batch's first offset (producers send 0).
    :param compression: codec id 0–4; the record section is compressed as one blob.
    :param timestamp_type: 0 CreateTime, 1 LogAppendTime (sets attribute bit 3).
    :param base_timestamp: defaults to the first record's timestamp; record
        timestamps are stored as deltas from it. ``max_timestamp`` is the
        highest record timestamp.
    :param is_control: set attribute bit 5 (transaction markers).
    :param keep_offsets: use each record's ``offset`` (minus ``base_offset``) as
        its offset delta, leaving gaps as a compacted batch has; otherwise the
        deltas run 0, 1, 2, ….
    :returns: the batch as a bytearray, CRC-32C filled in.
    :raises UnsupportedCompressionTypeError: an unknown codec.
    """
    if not 0 <= compression <= 4:
        raise UnsupportedCompressionTypeError(f"unknown compression codec {compression!r}")
    records = list(records)
    now_ms = None
    timestamps = []
    for record in records:
        timestamp = record.timestamp
        if timestamp is None:
            if now_ms is None:
                now_ms = int(time.time() * 1000)
            timestamp = now_ms
        timestamps.append(timestamp)
    if records:
        if base_timestamp is None:
            base_timestamp = timestamps[0]
        max_timestamp = max(timestamps)
    else:
        base_timestamp = -1 if base_timestamp is None else base_timestamp
        max_timestamp = -1

    body = bytearray()
    last_offset_delta = -1
    for index, (record, timestamp) in enumerate(zip(records, timestamps)):
        offset_delta = record.offset - base_offset if keep_offsets else index
        last_offset_delta = max(last_offset_delta, offset_delta)
        _encode_record(body, record, offset_delta, timestamp - base_timestamp)
    if compression:
        body = compress(compression, body)

    attributes = compression | (timestamp_type & 1) << 3
    if is_transactional:
        attributes |= 0x10
    if is_control:
        attributes |= 0x20
    batch = bytearray(BATCH_HEADER_SIZE + len(body))
    _HEADER.pack_into(
        batch, 0, base_offset, BATCH_HEADER_SIZE - LOG_OVERHEAD + len(body), partition_leader_epoch, 2, 0,
        attributes, last_offset_delta, base_timestamp, max_timestamp, producer_id, producer_epoch,
        base_sequence, len(records))
    batch[BATCH_HEADER_SIZE:] = body
    _CRC.pack_into(batch, 17, crc32c(memoryview(batch)[_CRC_START:]))
    return batch


def _decode_bytes(buf, position, end):
    length, position = decode_varint(buf, position, end)
    if length < 0:
        return None, position
    if position + length > end:
        raise CorruptMessageError(f"record field of {length} bytes overruns its record")
    return bytes(buf[position:position + length]), position + length


def decode_records(header, section):
    """Decode the (already decompressed) record section of the batch ``header``.

    :param header: the batch's :class:`BatchHeader`.
    :param section: the records' bytes, without the 61-byte header.
    :returns: a list of :class:`Record` with absolute offsets and timestamps
        (for LogAppendTime batches every timestamp is the batch's max_timestamp).
    :raises CorruptMessageError: the section does not hold exactly
        ``records_count`` well-formed records.
    """
    records = []
    position = 0
    end = len(section)
    log_append_time = header.is_log_append_time
    for _ in range(header.records_count):
        length, position = decode_varint(section, position, end)
        record_end = position + length
        if length < 1 or record_end > end:
            raise CorruptMessageError(f"record of {length} bytes overruns its batch")
        position += 1  # attributes
        timestamp_delta, position = decode_varint(section, position, record_end)
        offset_delta, position = decode_varint(section, position, record_end)
        key, position = _decode_bytes(section, position, record_end)
        value, position = _decode_bytes(section, position, record_end)
        header_count, position = decode_varint(section, position, record_end)
        if header_count < 0:
            raise CorruptMessageError(f"negative record header count {header_count}")
        headers = []
        for _ in range(header_count):
            header_key, position = _decode_bytes(section, position, record_end)
            if header_key is None:
                raise CorruptMessageError("record header with a null key")
            header_value, position = _decode_bytes(section, position, record_end)
            try:
                headers.append((header_key.decode("utf-8"), header_value))
            except UnicodeDecodeError as exc:
                raise CorruptMessageError("record header key is not UTF-8") from exc
        if position != record_end:
            raise CorruptMessageError(f"record length {length} does not match its fields")
        timestamp = header.max_timestamp if log_append_time else header.base_timestamp + timestamp_delta
        records.append(Record(key, value, tuple(headers), timestamp, header.base_offset + offset_delta))
    if position != end:
        raise CorruptMessageError(f"{end - position} bytes left after the batch's {header.records_count} records")
    return records


def decode_batches(buf, verify_crc=True):
    """Decode every complete batch in ``buf`` (a trailing partial batch is ignored).

    :param buf: bytes-like holding consecutive v2 batches (a log segment, a
        fetch response's records, a produce request's records).
    :param verify_crc: check each batch's CRC-32C first.
    :returns: a list of ``(BatchHeader, [Record, ...])``.
    :raises CorruptMessageError: bad CRC, bad magic, malformed records or data
        the batch's codec cannot decompress.
    :raises UnsupportedCompressionTypeError: a codec id above 4.
    """
    view = memoryview(buf).cast("B") if not isinstance(buf, (bytes, bytearray)) else buf
    result = []
    for header in iter_batch_headers(view):
        if verify_crc:
            check_crc(view, header)
        section = view[header.position + BATCH_HEADER_SIZE:header.position + header.size]
        if header.compression:
            section = decompress(header.compression, section)
        result.append((header, decode_records(header, section)))
    return result

