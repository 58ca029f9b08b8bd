"""Legacy message sets (message formats v0 and v1, "magic 0/1"): decode and encode.

Kafka before 0.11 wrote, and Produce v0–v2 / Fetch v0–v3 still carry, message sets
(reference §3.2) instead of v2 record batches. Each entry of a set is::

    offset int64, message_size int32, then the message:
    crc uint32        CRC-32 (IEEE, zlib's) of everything after it
    magic int8        0 or 1
    attributes int8   bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4; zstd never),
                      bit 3 timestamp type (magic 1 only: 0 CreateTime, 1 LogAppendTime)
    timestamp int64   magic 1 only
    key               int32 length (-1: null) + bytes
    value             int32 length (-1: null) + bytes

A compressed message (a "wrapper") holds a whole inner message set, compressed, as its
value. Its inner messages carry absolute offsets in magic 0; in magic 1 they carry
relative offsets 0..n-1 and the wrapper carries the absolute offset of the last one
(Kafka's ``AbstractLegacyRecordBatch``: a wrapper offset of 0, which some librdkafka
versions send, means the inner offsets are absolute already). A magic-1 wrapper with
LogAppendTime gives every inner message its own timestamp.

Codecs are ``compression``'s, with one quirk: magic-0 lz4 frames carry the header
checksum Kafka's ``KafkaLZ4BlockOutputStream`` computed wrongly before KIP-57
(KAFKA-3160: over the frame magic too), which Kafka's reader ignores for magic 0 and
python-lz4 would refuse; it is repaired before decoding, and written that way on
encoding magic 0, so 0.8/0.9 clients can read it. A wrapper's inner set may decompress
to at most :data:`MAX_INNER_SET_BYTES` (a zip-bomb guard, ``bounded_decompression``'s).

This module owns the codec only: :func:`decode_message_set` reads a set into
:class:`LegacyEntry` objects (CRC-32 checked, wrappers expanded) and
:func:`encode_message_set` writes :class:`~kafkalite.protocol.recordcodec.Record`\\ s
as a set the way Kafka's ``MemoryRecordsBuilder`` writes magic 0/1. Turning a produced
set into a v2 batch is ``message_set_conversion``'s.
"""

import struct
import zlib
from dataclasses import dataclass

from kafkalite.protocol.bounded_decompression import decompress_bounded
from kafkalite.protocol.compression import CODEC_NAMES, compress
from kafkalite.protocol.errors import CorruptMessageError, InvalidRecordError, UnsupportedCompressionTypeError
from kafkalite.protocol.recordcodec import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Record

__all__ = [
    "LOG_OVERHEAD",
    "MAGIC_V0",
    "MAX_INNER_SET_BYTES",
    "MAGIC_V1",
    "NO_TIMESTAMP",
    "RECORD_OVERHEAD_V0",
    "RECORD_OVERHEAD_V1",
    "LegacyEntry",
    "decode_message_set",
    "encode_message_set",
    "iter_entries",
    "message_set_records",
    "xxh32",
]

MAGIC_V0 = 0
MAGIC_V1 = 1
NO_TIMESTAMP = -1
#: offset int64 + message_size int32 before each message.
LOG_OVERHEAD = 12
#: The smallest message of each magic: crc, magic, attributes, (timestamp,) key and value lengths.
RECORD_OVERHEAD_V0 = 14
RECORD_OVERHEAD_V1 = 22

_ENTRY_HEADER = struct.Struct(">qi")
_MESSAGE_HEAD = struct.Struct(">IbB")  # crc, magic, attributes
_CRC = struct.Struct(">I")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")
_CODEC_MASK = 0x07
_TIMESTAMP_TYPE_BIT = 0x08
_CODEC_LZ4 = 3
_CODEC_ZSTD = 4
_LZ4_FRAME_MAGIC = b"\x04\x22\x4d\x18"
_LZ4_FLG_CONTENT_SIZE = 0x08
_LZ4_FLG_DICT_ID = 0x01
#: The most bytes a wrapper's inner message set may decompress to. Kafka streams inner messages
#: and sets no such ceiling; we hold the set in memory, so a few kilobytes of gzip expanding to
#: gigabytes would take the broker down. Old clients batch far less (kafka-python 16 KiB,
#: librdkafka 1 MB): 64 MiB is the ceiling the v2 path's validation uses too.
MAX_INNER_SET_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LegacyEntry:
    """One shallow entry of a message set: a plain message, or a compressed wrapper expanded.

    :ivar offset: the entry's offset field (a wrapper's: its last inner message's absolute
        offset, or what the producer put there).
    :ivar magic: 0 or 1.
    :ivar codec: the entry's codec (0 for a plain message).
    :ivar timestamp_type: 0 CreateTime or 1 LogAppendTime (always 0 for magic 0).
    :ivar timestamp: the entry's timestamp, -1 for magic 0.
    :ivar records: the messages as :class:`Record`\\ s with absolute offsets and the
        timestamps Kafka reads for them (-1 in magic 0; the wrapper's under LogAppendTime):
        one for a plain message, the inner messages of a wrapper.
    :ivar size: the entry's bytes, offset and size fields included.
    """

    offset: int
    magic: int
    codec: int
    timestamp_type: int
    timestamp: int
    records: tuple
    size: int

    @property
    def is_compressed(self):
        return self.codec != 0


class _Message:
    """One message's fields, read and CRC-checked (internal)."""

    __slots__ = ("magic", "attributes", "timestamp", "key", "value")

    def __init__(self, magic, attributes, timestamp, key, value):
        self.magic = magic
        self.attributes = attributes
        self.timestamp = timestamp
        self.key = key
        self.value = value

    @property
    def codec(self):
        return self.attributes & _CODEC_MASK

    @property
    def timestamp_type(self):
        if self.magic == MAGIC_V0:
            return TIMESTAMP_CREATE_TIME
        return TIMESTAMP_LOG_APPEND_TIME if self.attributes & _TIMESTAMP_TYPE_BIT else TIMESTAMP_CREATE_TIME


def _read_sized(view, position, end, what):
    if end - position < 4:
        raise CorruptMessageError(f"message {what} length truncated")
    (length,) = _INT32.unpack_from(view, position)
    position += 4
    if length < 0:
        return None, position
    if length > end - position:
        raise CorruptMessageError(f"message {what} of {length} bytes overruns its message")
    return bytes(view[position:position + length]), position + length


def _read_message(view, start, size):
    """Read the message of ``size`` bytes at ``start`` (just after its offset and size fields)."""
    end = start + size
    if size < RECORD_OVERHEAD_V0:
        raise CorruptMessageError(f"message of {size} bytes is smaller than the minimum of {RECORD_OVERHEAD_V0}")
    crc, magic, attributes = _MESSAGE_HEAD.unpack_from(view, start)
    if magic not in (MAGIC_V0, MAGIC_V1):
        raise CorruptMessageError(f"invalid message magic {magic}")
    if magic == MAGIC_V1 and size < RECORD_OVERHEAD_V1:
        raise CorruptMessageError(
            f"magic 1 message of {size} bytes is smaller than the minimum of {RECORD_OVERHEAD_V1}")
    computed = zlib.crc32(view[start + 4:end])
    if computed != crc:
        raise CorruptMessageError(f"message is corrupt (stored crc = {crc}, computed crc = {computed})")
    position = start + 6
    timestamp = NO_TIMESTAMP
    if magic == MAGIC_V1:
        (timestamp,) = _INT64.unpack_from(view, position)
        position += 8
    key, position = _read_sized(view, position, end, "key")
    value, position = _read_sized(view, position, end, "value")
    if position != end:
        raise CorruptMessageError(f"message size {size} does not match its fields ({position - start} bytes)")
    return _Message(magic, attributes, timestamp, key, value)


def iter_entries(view, whole=False):
    """Yield ``(offset, message start, message size)`` of each entry of a message set, without
    reading the messages; ``whole``: no partial tail allowed (by default it is ignored)."""
    position = 0
    end = len(view)
    while position < end:
        remaining = end - position
        if remaining < LOG_OVERHEAD:
            if whole:
                raise CorruptMessageError(f"message set ends with {remaining} bytes of a partial entry")
            return
        offset, size = _ENTRY_HEADER.unpack_from(view, position)
        if size < RECORD_OVERHEAD_V0:
            raise CorruptMessageError(f"message size {size} is less than the minimum of {RECORD_OVERHEAD_V0}")
        if size > remaining - LOG_OVERHEAD:
            if whole:
                raise CorruptMessageError(
                    f"message of {size} bytes at position {position} overruns the "
                    f"{remaining - LOG_OVERHEAD} bytes left")
            return
        yield offset, position + LOG_OVERHEAD, size
        position += LOG_OVERHEAD + size


def _check_entry_magic(view, start, position):
    magic = view[start + 4] if view[start + 4] < 128 else view[start + 4] - 256
    if magic == 2:
        raise InvalidRecordError(f"a magic 2 batch at position {position} of a magic 0/1 message set")
    if magic not in (MAGIC_V0, MAGIC_V1):
        raise CorruptMessageError(f"invalid magic {magic} found in message at position {position}")


def decode_message_set(buf, whole=False):
    """Decode every entry of a magic 0/1 message set.

    :param buf: bytes-like holding consecutive entries (a Produce v0–v2 partition's
        ``records``, a Fetch v0–v3 response's).
    :param whole: refuse a trailing partial entry (a produced set must be whole); by
        default it is ignored, as a fetcher ignores a partial last message.
    :returns: a list of :class:`LegacyEntry`, wrappers expanded.
    :raises CorruptMessageError: a CRC mismatch (an entry's or an inner message's), a
        message smaller than its magic allows or whose fields do not fill it, an invalid
        magic, a partial tail when ``whole``, or data its codec cannot decompress.
    :raises InvalidRecordError: a magic-2 batch among the entries, a wrapper with a null
        value, no inner messages, a compressed or other-magic inner message, a zstd
        wrapper, or a magic-1 wrapper offset below its last inner offset (Kafka's
        ``InvalidRecordException`` cases); an inner set over :data:`MAX_INNER_SET_BYTES`.
    :raises UnsupportedCompressionTypeError: a codec id above 4.
    """
    view = buf if isinstance(buf, (bytes, bytearray)) else memoryview(buf).cast("B")
    entries = []
    for offset, start, size in iter_entries(view, whole):
        _check_entry_magic(view, start, start - LOG_OVERHEAD)
        message = _read_message(view, start, size)
        if message.codec == 0:
            records = (Record(message.key, message.value, (), message.timestamp, offset),)
        else:
            records = _expand_wrapper(offset, message)
        entries.append(LegacyEntry(offset, message.magic, message.codec, message.timestamp_type, message.timestamp,
                                   records, size + LOG_OVERHEAD))
    return entries


def message_set_records(entries):
    """All records of decoded ``entries``, in order (wrappers' inner records in their place)."""
    return [record for entry in entries for record in entry.records]


def _expand_wrapper(wrapper_offset, wrapper):
    codec = wrapper.codec
    magic = wrapper.magic
    if codec == _CODEC_ZSTD:
        raise InvalidRecordError(f"zstd compression cannot be used with message format (magic) {magic}")
    if codec not in CODEC_NAMES:
        raise UnsupportedCompressionTypeError(f"unknown compression codec {codec} in a magic {magic} message")
    if wrapper.value is None:
        raise InvalidRecordError(f"compressed message set with a null value (magic {magic})")
    data = _decompress(codec, wrapper.value, magic)
    inner = []
    # A partial inner tail is dropped, as Kafka's DataLogInputStream stops at it.
    for inner_offset, start, size in iter_entries(data):
        message = _read_message(data, start, size)
        if message.magic != magic:
            raise InvalidRecordError(f"compressed message magic {message.magic} does not match wrapper magic {magic}")
        if message.codec != 0:
            raise InvalidRecordError("inner messages of a compressed message must not be compressed")
        inner.append((inner_offset, message))
    if not inner:
        raise InvalidRecordError("compressed message set with no inner messages")
    if magic == MAGIC_V0:
        base = 0
    elif wrapper_offset == 0:
        base = 0  # some librdkafka versions leave the wrapper offset at 0
    else:
        last_inner = inner[-1][0]
        if wrapper_offset < last_inner:
            raise InvalidRecordError(
                f"wrapper offset {wrapper_offset} is less than the last inner message offset {last_inner} "
                "of a compressed magic 1 message set")
        base = wrapper_offset - last_inner
    log_append_time = magic == MAGIC_V1 and wrapper.timestamp_type == TIMESTAMP_LOG_APPEND_TIME
    return tuple(
        Record(message.key, message.value, (), wrapper.timestamp if log_append_time else message.timestamp,
               base + inner_offset)
        for inner_offset, message in inner)


def _decompress(codec, data, magic):
    """The wrapper's inner message set, refusing to produce more than ``MAX_INNER_SET_BYTES``."""
    if codec == _CODEC_LZ4 and magic == MAGIC_V0:
        data = _lz4_with_header_checksum(data, broken=False)
    return bytes(decompress_bounded(codec, data, MAX_INNER_SET_BYTES))


# -- encoding --------------------------------------------------------------------------------------


def _message(magic, attributes, timestamp, key, value):
    """One message (crc to value) as bytes."""
    body = bytearray()
    body.append(magic)
    body.append(attributes)
    if magic == MAGIC_V1:
        body += _INT64.pack(NO_TIMESTAMP if timestamp is None else timestamp)
    for field in (key, value):
        if field is None:
            body += _INT32.pack(-1)
        else:
            body += _INT32.pack(len(field))
            body += field
    return _CRC.pack(zlib.crc32(body)) + body


def _entry(offset, message):
    return _ENTRY_HEADER.pack(offset, len(message)) + message


def encode_message_set(records, magic, codec=0, timestamp_type=TIMESTAMP_CREATE_TIME):
    """Write ``records`` as a magic 0 or 1 message set, as Kafka's ``MemoryRecordsBuilder`` does.

    Uncompressed: one message per record at the record's offset. Compressed: one wrapper
    at the last record's offset holding them all; inner offsets are absolute in magic 0
    and relative to the first record in magic 1; a magic-1 wrapper's timestamp is the
    highest record timestamp (the log append time, under LogAppendTime). lz4 in magic 0
    gets the pre-KIP-57 header checksum 0.8/0.9 readers expect. Headers are dropped (the
    formats have none); magic 0 drops timestamps too.

    :param records: :class:`Record`\\ s with ``offset`` set, in offset order; a timestamp
        of None is written as -1 (no timestamp).
    :param magic: 0 or 1.
    :param codec: 0 none, 1 gzip, 2 snappy, 3 lz4.
    :param timestamp_type: magic 1's timestamp type bit: 0 CreateTime, 1 LogAppendTime.
    :returns: the message set as bytes (empty for no records).
    :raises UnsupportedCompressionTypeError: zstd (no magic 0/1 reader knows it) or an
        unknown codec.
    :raises ValueError: a magic other than 0 or 1.
    """
    if magic not in (MAGIC_V0, MAGIC_V1):
        raise ValueError(f"message sets have magic 0 or 1, not {magic!r}")
    if codec == _CODEC_ZSTD:
        raise UnsupportedCompressionTypeError(f"zstd compression cannot be used with message format (magic) {magic}")
    if codec not in CODEC_NAMES:
        raise UnsupportedCompressionTypeError(f"unknown compression codec {codec!r}")
    records = list(records)
    if not records:
        return b""
    type_bit = _TIMESTAMP_TYPE_BIT if magic == MAGIC_V1 and timestamp_type == TIMESTAMP_LOG_APPEND_TIME else 0
    if codec == 0:
        return b"".join(_entry(r.offset, _message(magic, type_bit, r.timestamp, r.key, r.value)) for r in records)
    base_offset = records[0].offset if magic == MAGIC_V1 else 0
    inner = b"".join(_entry(r.offset - base_offset, _message(magic, type_bit, r.timestamp, r.key, r.value))
                     for r in records)
    compressed = compress(codec, inner)
    if codec == _CODEC_LZ4 and magic == MAGIC_V0:
        compressed = _lz4_with_header_checksum(compressed, broken=True)
    timestamps = [NO_TIMESTAMP if r.timestamp is None else r.timestamp for r in records]
    wrapper = _message(magic, codec | type_bit, max(timestamps), None, compressed)
    return _entry(records[-1].offset, wrapper)


# -- lz4 frame header checksum (KAFKA-3160) -------------------------------------------------------


def _lz4_with_header_checksum(frame, broken):
    """``frame`` with its header checksum byte recomputed: right (for python-lz4) or Kafka's broken one.

    The right checksum is the second byte of xxHash32 over the frame descriptor (FLG, BD
    and the optional content size and dictionary id); Kafka's magic-0 writer hashed the
    4-byte frame magic too. Data that is not an lz4 frame is returned unchanged, for the
    decoder to refuse.
    """
    frame = bytes(frame)
    if len(frame) < 7 or frame[:4] != _LZ4_FRAME_MAGIC:
        return frame
    flags = frame[4]
    checksum_at = 6
    if flags & _LZ4_FLG_CONTENT_SIZE:
        checksum_at += 8
    if flags & _LZ4_FLG_DICT_ID:
        checksum_at += 4
    if len(frame) <= checksum_at:
        return frame
    hashed = frame[0 if broken else 4:checksum_at]
    checksum = (xxh32(hashed) >> 8) & 0xFF
    return frame[:checksum_at] + bytes([checksum]) + frame[checksum_at + 1:]


_P1 = 2654435761
_P2 = 2246822519
_P3 = 3266489917
_P4 = 668265263
_P5 = 374761393
_MASK32 = 0xFFFFFFFF


def _rotl(value, bits):
    return ((value << bits) | (value >> (32 - bits))) & _MASK32


def _xxh32_round(accumulator, lane):
    return (_rotl((accumulator + lane * _P2) & _MASK32, 13) * _P1) & _MASK32


def xxh32(data, seed=0):
    """xxHash32 of ``data`` (bytes): for lz4 frame header checksums, which are a few bytes long."""
    length = len(data)
    position = 0
    if length >= 16:
        v1 = (seed + _P1 + _P2) & _MASK32
        v2 = (seed + _P2) & _MASK32
        v3 = seed & _MASK32
        v4 = (seed - _P1) & _MASK32
        while position + 16 <= length:
            lanes = struct.unpack_from("<4I", data, position)
            v1 = _xxh32_round(v1, lanes[0])
            v2 = _xxh32_round(v2, lanes[1])
            v3 = _xxh32_round(v3, lanes[2])
            v4 = _xxh32_round(v4, lanes[3])
            position += 16
        result = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _MASK32
    else:
        result = (seed + _P5) & _MASK32
    result = (result + length) & _MASK32
    while position + 4 <= length:
        (lane,) = struct.unpack_from("<I", data, position)
        result = (_rotl((result + lane * _P3) & _MASK32, 17) * _P4) & _MASK32
        position += 4
    while position < length:
        result = (_rotl((result + data[position] * _P5) & _MASK32, 11) * _P1) & _MASK32
        position += 1
    result ^= result >> 15
    result = (result * _P2) & _MASK32
    result ^= result >> 13
    result = (result * _P3) & _MASK32
    result ^= result >> 16
    return result
