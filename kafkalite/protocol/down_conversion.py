"""Down-conversion of stored v2 record batches to the message sets an old fetcher reads.

Fetch v0–v1 read message format v0, Fetch v2–v3 format v1 (Kafka 2.8's
``maybeConvertFetchedData``); the log stores only v2 batches, so a fetch of those
versions has its records rewritten here, as Kafka's ``RecordsUtil.downConvert`` does:

- control batches are skipped (an old client cannot read them);
- a zstd batch cannot be expressed in v0/v1: the partition answers
  UNSUPPORTED_COMPRESSION_TYPE when it is the first batch, otherwise the answer stops
  before it (the consumer comes back for that offset and gets the error then, as
  Kafka's overflow batch arranges);
- an uncompressed batch becomes one message per record, records before the fetch
  offset dropped; a compressed batch becomes one wrapper message of the same codec
  holding all its records (the consumer skips those before its position);
- offsets, timestamps and the timestamp type are kept (v0 has no timestamps); record
  headers are dropped.

Unlike Kafka, which truncates or pads the converted bytes to the size of the original
read, the answer holds whole messages only: at most ``max_bytes`` of them, measured on
the converted bytes, but always the first one when ``min_one_message`` (so a consumer
makes progress past a message larger than its limit).
"""

from typing import NamedTuple

from kafkalite.protocol.compression import decompress
from kafkalite.protocol.errors import UnsupportedCompressionTypeError
from kafkalite.protocol.message_set import encode_message_set, iter_entries
from kafkalite.protocol.recordcodec import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, decode_records
from kafkalite.protocol.records import BATCH_HEADER_SIZE, COMPRESSION_NONE, COMPRESSION_ZSTD, iter_batch_headers

__all__ = ["ConvertedRecords", "down_convert", "magic_for_fetch_version"]

class ConvertedRecords(NamedTuple):
    """One partition's down-converted records.

    :ivar records: the message set's bytes (possibly empty).
    :ivar error_code: 0, or UNSUPPORTED_COMPRESSION_TYPE when the first batch is zstd.
    :ivar messages: how many messages (wrappers count once) the set holds.
    :ivar next_offset: the offset after the last record delivered (None: nothing delivered).
    """

    records: bytes
    error_code: int = 0
    messages: int = 0
    next_offset: int | None = None


def magic_for_fetch_version(version):
    """The message format a Fetch request of ``version`` can read: 0, 1 or 2."""
    if version <= 1:
        return 0
    if version <= 3:
        return 1
    return 2


def down_convert(data, magic, fetch_offset, max_bytes, min_one_message=True):
    """Convert the v2 batches of ``data`` to a message set of ``magic`` (0 or 1).

    :param data: bytes-like holding whole v2 batches (a trailing partial batch is ignored).
    :param fetch_offset: the fetch's offset: records of uncompressed batches before it are dropped.
    :param max_bytes: the most converted bytes to return (whole messages only).
    :param min_one_message: return the first message even when it alone exceeds ``max_bytes``.
    :returns: :class:`ConvertedRecords`.
    :raises CorruptMessageError: a batch whose records cannot be decoded.
    """
    if magic not in (0, 1):
        raise ValueError(f"cannot down-convert to magic {magic}")
    view = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
    out = bytearray()
    messages = 0
    next_offset = None
    for header in iter_batch_headers(view):
        if header.is_control:
            continue
        codec = header.compression
        if codec == COMPRESSION_ZSTD:
            if messages:
                break
            return ConvertedRecords(b"", UnsupportedCompressionTypeError.code)
        section = view[header.position + BATCH_HEADER_SIZE:header.position + header.size]
        if codec != COMPRESSION_NONE:
            section = decompress(codec, section)
        records = decode_records(header, section)
        timestamp_type = TIMESTAMP_LOG_APPEND_TIME if header.is_log_append_time else TIMESTAMP_CREATE_TIME
        if codec == COMPRESSION_NONE:
            records = [r for r in records if r.offset >= fetch_offset]
            if not records:
                continue
            encoded = encode_message_set(records, magic, COMPRESSION_NONE, timestamp_type)
            ends = [start + size for _, start, size in iter_entries(encoded)]
            fitting = 0
            for stop in ends:
                if len(out) + stop > max_bytes and (messages + fitting or not min_one_message):
                    break
                fitting += 1
            if fitting:
                out += encoded[:ends[fitting - 1]]
                messages += fitting
                next_offset = records[fitting - 1].offset + 1
            if fitting < len(ends):
                break
        else:
            if not records:
                continue
            wrapper = encode_message_set(records, magic, codec, timestamp_type)
            if len(out) + len(wrapper) > max_bytes and (messages or not min_one_message):
                break
            out += wrapper
            messages += 1
            next_offset = header.next_offset
        if len(out) >= max_bytes:
            break
    return ConvertedRecords(bytes(out), 0, messages, next_offset)
