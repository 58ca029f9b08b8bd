"""Unit tests for kafkalite.protocol.message_set_conversion: Produce v0–v2 message sets as one v2 batch.

What the broker appends for an old client's set is checked against Kafka 2.8's
``LogValidator``: offsets 0..n-1, timestamps (none for magic 0, the client's for magic 1),
the wrapper's codec; and what it refuses, with Kafka's error for each fault. A fuzz test
mutates valid sets: each mutation is refused with a protocol error or converted faithfully.
"""

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.legacy_records import LegacyRecordBatchBuilder

from kafkalite.protocol.compression import compress
from kafkalite.protocol.errors import (
    CorruptMessageError,
    InvalidRecordError,
    InvalidTimestampError,
    KafkaError,
)
from kafkalite.protocol.message_set import decode_message_set, encode_message_set, message_set_records
from kafkalite.protocol.message_set_conversion import legacy_records_to_batch, upconvert_produce_entries
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches
from kafkalite.protocol.records import validate_batch


def _converted(records):
    batch = legacy_records_to_batch(records)
    header = validate_batch(batch)
    [(decoded_header, decoded)] = decode_batches(batch)
    return header, decoded


def _timed(magic, count, first_offset=0, codec=0):
    records = [Record(b"k%d" % i, b"v%d" % i, (), 1_700_000_000_000 + i if magic else -1, first_offset + i)
               for i in range(count)]
    return encode_message_set(records, magic, codec)


@pytest.mark.parametrize("codec", [0, 1, 2, 3])
def test_magic_0_records_get_dense_offsets_and_no_timestamp(codec):
    """Magic 0: offsets 0..n-1 whatever the client wrote, timestamps -1, the wrapper's codec kept."""
    header, records = _converted(_timed(0, 4, first_offset=1000, codec=codec))
    assert header.compression == codec
    assert (header.records_count, header.last_offset_delta) == (4, 3)
    assert (header.base_timestamp, header.max_timestamp, header.is_log_append_time) == (-1, -1, False)
    assert [(r.offset, r.key, r.value, r.timestamp) for r in records] == [
        (i, b"k%d" % i, b"v%d" % i, -1) for i in range(4)]
    assert header.producer_id == -1 and header.base_sequence == -1


@pytest.mark.parametrize("codec", [0, 1, 2, 3])
def test_magic_1_records_keep_their_timestamps(codec):
    """Magic 1: each record's CreateTime timestamp kept; the batch's max timestamp is the highest."""
    header, records = _converted(_timed(1, 3, codec=codec))
    assert header.compression == codec
    assert [r.timestamp for r in records] == [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002]
    assert header.max_timestamp == 1_700_000_000_002
    assert [r.offset for r in records] == [0, 1, 2]


def test_kafka_python_sets_convert():
    """kafka-python's producer sets (wrapper offset 0 and timestamp 0) convert with every inner timestamp."""
    for magic in (0, 1):
        builder = LegacyRecordBatchBuilder(magic, 1, 1 << 20)
        for i in range(3):
            builder.append(i, 5000 + i, b"k", b"v%d" % i)
        _, records = _converted(bytes(builder.build()))
        assert [r.timestamp for r in records] == ([5000, 5001, 5002] if magic else [-1, -1, -1])


def test_wrong_inner_offsets_are_rewritten_not_refused():
    """Magic-1 inner offsets that are not 0..n-1 (older clients) are reassigned, as Kafka 2.8 does."""
    inner = b"".join(struct.pack(">qi", offset, len(m)) + m for offset, m in (
        (3, _message(1, 0, b"a", 10)), (3, _message(1, 0, b"b", 11)), (9, _message(1, 0, b"c", 12))))
    wrapper = struct.pack(">q", 9) + _sized(_message(1, 1, compress(1, inner), 12, key=None))
    _, records = _converted(wrapper)
    assert [(r.offset, r.value) for r in records] == [(0, b"a"), (1, b"b"), (2, b"c")]


def test_a_v2_batch_is_passed_on_untouched():
    """Kafka 2.8 does not hold Produce v0–v2 to magic < 2: a v2 batch goes to the v2 path as it is."""
    batch = build_batch([Record(b"k", b"v", (), 1000)])
    assert legacy_records_to_batch(batch) is batch


def test_mixed_magics_are_invalid():
    """Messages of different magics in one set: INVALID_RECORD, as Kafka's validateBatch."""
    with pytest.raises(InvalidRecordError, match="magic"):
        legacy_records_to_batch(_timed(0, 1) + _timed(1, 1, first_offset=1))
    with pytest.raises(InvalidRecordError, match="magic 2"):
        legacy_records_to_batch(_timed(1, 1) + bytes(build_batch([Record(b"k", b"v", (), 1000)])))


def test_a_compressed_wrapper_must_be_alone():
    """A wrapper next to other entries: INVALID_RECORD ("Compressed outer record has more than one batch")."""
    with pytest.raises(InvalidRecordError, match="only message"):
        legacy_records_to_batch(_timed(1, 2, codec=1) + _timed(1, 1, first_offset=5))
    with pytest.raises(InvalidRecordError, match="only message"):
        legacy_records_to_batch(_timed(1, 1) + _timed(1, 2, first_offset=5, codec=2))


@pytest.mark.parametrize("codec", [0, 1])
def test_log_append_time_claimed_by_a_producer_is_invalid_timestamp(codec):
    """A magic-1 message (or wrapper) with the LogAppendTime bit: INVALID_TIMESTAMP, as Kafka's validateTimestamp."""
    records = [Record(b"k", b"v", (), 1000, 0)]
    with pytest.raises(InvalidTimestampError, match="LogAppendTime"):
        legacy_records_to_batch(encode_message_set(records, 1, codec, timestamp_type=1))


def test_empty_and_partial_sets():
    """An empty set is INVALID_RECORD; a partial trailing message CORRUPT_MESSAGE (a produced set must be whole)."""
    with pytest.raises(InvalidRecordError):
        legacy_records_to_batch(b"")
    with pytest.raises(CorruptMessageError):
        legacy_records_to_batch(_timed(0, 2)[:-1])
    with pytest.raises(CorruptMessageError):
        legacy_records_to_batch(b"\x00" * 5)


def test_crc_mismatch_is_corrupt_message():
    """A message whose bytes do not match its CRC-32: CORRUPT_MESSAGE."""
    records = bytearray(_timed(1, 2))
    records[30] ^= 0x01
    with pytest.raises(CorruptMessageError):
        legacy_records_to_batch(records)


def test_upconvert_produce_entries_replaces_refused_sets_by_their_error():
    """A request's partitions: good sets become v2 batches, a bad one its error, a missing one stays None."""
    good = _timed(1, 2)
    bad = bytearray(_timed(0, 1))
    bad[-1] ^= 1
    converted = upconvert_produce_entries([("t", 0, good), ("t", 1, bytes(bad)), ("t", 2, None)])
    assert [(topic, partition) for topic, partition, _ in converted] == [("t", 0), ("t", 1), ("t", 2)]
    assert validate_batch(converted[0][2]).records_count == 2
    assert isinstance(converted[1][2], CorruptMessageError)
    assert converted[2][2] is None


def _message(magic, attributes, value, timestamp=0, key=b"k"):
    body = bytes([magic, attributes]) + (struct.pack(">q", timestamp) if magic else b"")
    body += struct.pack(">i", -1) if key is None else struct.pack(">i", len(key)) + key
    body += struct.pack(">i", len(value)) + value
    return struct.pack(">I", zlib.crc32(body)) + body


def _sized(message):
    return struct.pack(">i", len(message)) + message


_VALID_SETS = st.sampled_from([(magic, codec) for magic in (0, 1) for codec in (0, 1, 2, 3)]).map(
    lambda case: _timed(case[0], 3, first_offset=7, codec=case[1]))


@settings(max_examples=300, deadline=None)
@given(valid=_VALID_SETS, position=st.integers(min_value=0, max_value=10_000), value=st.integers(0, 255),
       cut=st.integers(min_value=0, max_value=40))
def test_mutations_are_refused_or_converted_faithfully(valid, position, value, cut):
    """A byte changed or the tail cut: refused with a protocol error, or (an offset field changed,
    which no CRC covers) converted to exactly the original records, never a crash or wrong records."""
    kept = valid[:len(valid) - cut] if cut < len(valid) else valid
    mutated = bytearray(kept)
    mutated[position % len(mutated)] = value
    # A cut on a message boundary leaves a whole (shorter) set: its records are what may come out.
    expected = [(r.key, r.value, r.timestamp) for r in message_set_records(decode_message_set(kept))]
    try:
        batch = legacy_records_to_batch(bytes(mutated))
    except KafkaError:
        return
    validate_batch(batch)
    [(_, records)] = decode_batches(batch)
    assert [(r.key, r.value, r.timestamp) for r in records] == expected
    assert [r.offset for r in records] == list(range(len(expected)))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash(data):
    """Arbitrary bytes are converted or refused with a protocol error, never another exception."""
    try:
        validate_batch(legacy_records_to_batch(data))
    except KafkaError:
        pass
