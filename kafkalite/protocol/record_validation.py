"""Kafka's checks of the records inside a v2 batch: the reference walk, in pure Python.

A batch's CRC covers transport damage, not a producer's bugs: a batch whose header says
3 records while it carries 1, whose records' lengths overrun one another, or whose offset
deltas skip, passes the CRC. Kafka 2.8 refuses such a batch with ``INVALID_RECORD``
(``DefaultRecordBatch``'s iterator, ``DefaultRecord.readFrom`` and ``LogValidator``); so
does :func:`check_records`, before anything is appended:

- ``records_count`` equals ``last_offset_delta + 1``;
- exactly ``records_count`` records, each one's length varint ending exactly at its end and
  within the section, which the last record ends exactly;
- each record's fields well formed: varints of at most 5 bytes (10 for the timestamp
  delta, a varlong), key and value lengths of -1 (null) or a size that fits, a header
  count ≥ 0, header keys not null;
- offset deltas 0, 1, 2, … in order (Kafka's "inner offsets" of a batch are dense);
- on a compacted topic, every record has a key;
- with CreateTime, every record's timestamp within ``message.timestamp.difference.max.ms``
  of the broker's clock (Kafka's ``validateTimestamp``).

A fault of the batch's shape stops the walk at once (the batch cannot be read further);
faults of records that are well formed (no key, timestamp out of range) are collected for
every record, as Kafka's ``processRecordErrors`` reports them all in ``record_errors``.

A record's timestamp (the batch's base timestamp plus the record's delta) must fit 64 bits, as
Kafka's longs do; one that does not is refused with ``INVALID_RECORD`` (no Java producer can
write one, and the batch's ``max_timestamp`` could not hold it).

:func:`check_records` walks the records in C (``_recordwalk.c``) when that extension was built
(``NATIVE`` is then True): the C walk answers only "valid, with this largest timestamp"; on any
fault it hands the batch to :func:`check_records_reference`, the pure-Python walk here, which
raises the exception with its message and ``record_errors``. Both are tested equal by hypothesis
(``tests/unit/test_record_walk_native.py``). The caller decompresses a compressed batch's section first.
"""

from kafkalite.protocol.errors import CorruptMessageError, InvalidRecordError, InvalidTimestampError
from kafkalite.protocol.recordcodec import decode_varint

try:
    from kafkalite.protocol._recordwalk import check as _native_check
except ImportError:  # not built (no C compiler where it was installed): the pure-Python walk serves
    _native_check = None

__all__ = ["NATIVE", "RecordError", "RecordTimestampError", "check_records", "check_records_reference"]

#: True when :func:`check_records` walks the records in C, False when in pure Python.
NATIVE = _native_check is not None

_MAX_VARINT_BYTES = 5
_MAX_VARLONG_BYTES = 10
# attributes (1) + the smallest timestamp delta, offset delta, key length, value length and header count (1 each)
_MIN_RECORD_BODY = 6
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


class _RecordsNamed:
    """An error carrying ``record_errors``: ``[(batch_index, message)]`` for the records at fault
    when the fault is records' own (Produce v8's ``record_errors``); empty when it is the batch's."""

    def __init__(self, message, record_errors=()):
        super().__init__(message)
        self.record_errors = list(record_errors)


class RecordError(_RecordsNamed, InvalidRecordError):
    """A batch's records fail Kafka's checks (``INVALID_RECORD``)."""


class RecordTimestampError(_RecordsNamed, InvalidTimestampError):
    """Records' CreateTime timestamps out of range (``INVALID_TIMESTAMP``, with ``record_errors``
    naming every record at fault, and the compacted topic's keyless ones too, as Kafka lists them)."""


def _varint(buf, position, end, limit, index, what):
    """A zigzag varint of at most ``limit`` bytes at ``position`` ending by ``end``: ``(value, next)``."""
    try:
        return decode_varint(buf, position, end, limit)
    except CorruptMessageError as error:
        raise RecordError(f"record {index}: {what}: {error}") from None


def _skip_bytes(buf, position, end, index, what, nullable=True):
    """Skip a length-prefixed field; returns ``(length, next)`` (length -1 for null)."""
    length, position = _varint(buf, position, end, _MAX_VARINT_BYTES, index, what + " length")
    if length < 0:
        if length == -1 and nullable:
            return -1, position
        raise RecordError(f"record {index}: invalid {what} length {length}")
    if position + length > end:
        raise RecordError(f"record {index}: {what} of {length} bytes runs past the end of the record")
    return length, position + length


def check_records(header, section, compacted=False, timestamp_window=None):
    """Check the (decompressed) record section of the batch ``header`` as Kafka does.

    :param header: the batch's :class:`~kafkalite.protocol.records.BatchHeader`.
    :param section: the records' bytes after the 61-byte header (bytes-like).
    :param compacted: the topic's ``cleanup.policy`` includes ``compact`` (keys required).
    :param timestamp_window: ``(now_ms, max_difference_ms)``: each record's timestamp other
        than -1 (none) must be within ``max_difference_ms`` of ``now_ms``; None: not checked
        (LogAppendTime topics, or no limit).
    :returns: the largest record timestamp (-1 when no record has one), which Kafka writes
        into the batch's ``max_timestamp`` when it differs.
    :raises RecordError: the first fault of the batch's shape, or the keyless records of a
        compacted topic.
    :raises RecordTimestampError: records' timestamps out of the window (with any keyless ones).
    """
    if _native_check is not None:
        largest = _native_check(section, header.records_count, header.last_offset_delta, header.base_timestamp,
                                compacted, timestamp_window)
        if largest is not None:
            return largest
    return check_records_reference(header, section, compacted, timestamp_window)


def check_records_reference(header, section, compacted=False, timestamp_window=None):
    """:func:`check_records` in pure Python: the reference the C walk is tested against, and what
    explains (raises) every fault the C walk finds."""
    count = header.records_count
    if count != header.last_offset_delta + 1:
        raise RecordError(f"record count {count} does not match last offset delta {header.last_offset_delta}")
    end = len(section)
    position = 0
    base_timestamp = header.base_timestamp
    max_timestamp = -1
    keyless = []
    out_of_range = []
    for index in range(count):
        if position >= end:
            raise RecordError(f"batch declares {count} records but holds {index}")
        length, position = _varint(section, position, end, _MAX_VARINT_BYTES, index, "length")
        record_end = position + length
        if length < _MIN_RECORD_BODY or record_end > end:
            raise RecordError(f"record {index}: length {length} does not fit the batch's remaining "
                              f"{end - position} bytes")
        position += 1  # attributes: unused by v2 records
        timestamp_delta, position = _varint(section, position, record_end, _MAX_VARLONG_BYTES, index,
                                            "timestamp delta")
        offset_delta, position = _varint(section, position, record_end, _MAX_VARINT_BYTES, index, "offset delta")
        if offset_delta != index:
            raise RecordError(f"record {index}: offset delta {offset_delta}, expected {index} (offsets must be dense)")
        key_length, position = _skip_bytes(section, position, record_end, index, "key")
        if key_length < 0 and compacted:
            keyless.append(index)
        _, position = _skip_bytes(section, position, record_end, index, "value")
        headers, position = _varint(section, position, record_end, _MAX_VARINT_BYTES, index, "header count")
        if headers < 0:
            raise RecordError(f"record {index}: invalid header count {headers}")
        for _ in range(headers):
            _, position = _skip_bytes(section, position, record_end, index, "header key", nullable=False)
            _, position = _skip_bytes(section, position, record_end, index, "header value")
        if position != record_end:
            raise RecordError(f"record {index}: length {length} but its fields take "
                              f"{position - (record_end - length)} bytes")
        timestamp = base_timestamp + timestamp_delta
        if not _INT64_MIN <= timestamp_delta <= _INT64_MAX or not _INT64_MIN <= timestamp <= _INT64_MAX:
            raise RecordError(f"record {index}: timestamp {base_timestamp} + {timestamp_delta} does not fit 64 bits")
        if timestamp > max_timestamp:
            max_timestamp = timestamp
        # One error a record, the key's first (Kafka's validateKey(...).orElse(validateTimestamp(...))).
        if timestamp_window is not None and timestamp != -1 and (not keyless or keyless[-1] != index) and \
                abs(timestamp - timestamp_window[0]) > timestamp_window[1]:
            out_of_range.append((index, timestamp))
    if position != end:
        raise RecordError(f"batch declares {count} records but {end - position} bytes follow the last of them")
    if keyless or out_of_range:
        _raise_record_errors(keyless, out_of_range, timestamp_window)
    return max_timestamp


_KEYLESS = "compacted topic cannot accept a record without a key"


def _raise_record_errors(keyless, out_of_range, timestamp_window):
    """Raise the error for records that are well formed but refused, each named in ``record_errors``."""
    errors = [(index, _KEYLESS) for index in keyless]
    if not out_of_range:
        raise RecordError(f"{_KEYLESS} (records {keyless[:10]})", errors)
    now, difference = timestamp_window
    errors.extend((index, f"timestamp {timestamp} is out of range: it should be within "
                          f"[{now - difference}, {now + difference}]") for index, timestamp in out_of_range)
    errors.sort()
    indexes = [index for index, _ in out_of_range]
    raise RecordTimestampError(f"timestamps of records {indexes[:10]} are more than {difference} ms from the "
                               f"broker's time {now}", errors)
