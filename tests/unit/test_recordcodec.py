"""Unit tests for kafkalite.protocol.recordcodec: building and decoding v2 record batches.

Wire compatibility is checked against kafka-python's own batch builder and reader
(``kafka.record.default_records``) and aiokafka's C-extension ones, in both
directions, for every codec (test-only use of the installed libraries).
"""

import struct

import pytest
from aiokafka.record.default_records import DefaultRecordBatch as AioRecordBatch
from aiokafka.record.default_records import DefaultRecordBatchBuilder as AioRecordBatchBuilder
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from kafkalite.protocol.errors import CorruptMessageError, UnsupportedCompressionTypeError
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches, decode_varint, encode_varint
from kafkalite.protocol.records import read_batch_header, set_base_offset_and_epoch, set_log_append_time, validate_batch

CODECS = [0, 1, 2, 3, 4]
SAMPLE = [
    Record(b"key-0", b"value-0", (), 1_600_000_000_000),
    Record(None, b"value-1" * 300, (("trace", b"abc"), ("empty", None)), 1_600_000_000_007),
    Record(b"key-2", None, (), 1_599_999_999_990),  # earlier than the base: negative delta
]


def test_golden_single_record_batch():
    """One record, no compression: every header field and record byte is where §3.1 says."""
    batch = build_batch([Record(b"k", b"v", (("h", b"x"),), 1000)])
    expected_records = bytes([
        0x0C,        # record length 6 (zigzag)
        0x00,        # attributes
        0x00,        # timestamp delta 0
        0x00,        # offset delta 0
        0x02, 0x6B,  # key length 1, "k"
        0x02, 0x76,  # value length 1, "v"
        0x02,        # one header
        0x02, 0x68,  # header key length 1, "h"
        0x02, 0x78,  # header value length 1, "x"
    ])
    # The record length counts everything after itself: 12 bytes.
    expected_records = b"\x18" + expected_records[1:]
    header = struct.unpack_from(">qiibIhiqqqhii", batch)
    assert header == (
        0,                              # base_offset
        61 - 12 + len(expected_records),  # batch_length
        -1,                             # partition_leader_epoch
        2,                              # magic
        header[4],                      # crc, checked below
        0,                              # attributes
        0,                              # last_offset_delta
        1000, 1000,                     # base/max timestamp
        -1, -1, -1,                     # producer id, epoch, base sequence
        1,                              # records_count
    )
    assert bytes(batch[61:]) == expected_records
    validate_batch(batch)  # CRC-32C and counts are right


def test_matches_kafka_python_bytes_exactly():
    """An uncompressed batch is byte-identical to kafka-python's builder for the same input."""
    theirs = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1 << 20)
    theirs.append(0, 1000, b"k", b"v", [("h", b"x")])
    theirs.append(1, 1005, None, b"value", [])
    # kafka-python leaves the partition leader epoch at 0 where Java's client writes -1.
    ours = build_batch([Record(b"k", b"v", (("h", b"x"),), 1000), Record(None, b"value", (), 1005)],
                       partition_leader_epoch=0)
    assert bytes(ours) == bytes(theirs.build())


@pytest.mark.parametrize("codec", CODECS)
def test_build_and_decode_every_codec(codec):
    """A batch built with each codec validates and decodes back to its records with absolute offsets."""
    batch = build_batch(SAMPLE, base_offset=0, compression=codec)
    header = validate_batch(batch)
    assert header.compression == codec
    assert header.records_count == 3 and header.last_offset_delta == 2
    assert header.base_timestamp == 1_600_000_000_000
    assert header.max_timestamp == 1_600_000_000_007
    set_base_offset_and_epoch(batch, 0, 500, 7)  # what the broker does: outside the CRC
    [(decoded_header, records)] = decode_batches(batch)
    assert decoded_header.base_offset == 500 and decoded_header.partition_leader_epoch == 7
    assert records == [r.__class__(r.key, r.value, r.headers, r.timestamp, 500 + i) for i, r in enumerate(SAMPLE)]


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_compression_shrinks_record_section(codec):
    """Compressed batches are smaller than uncompressed ones for repetitive records."""
    records = [Record(b"k", b"x" * 1000, (), 1) for _ in range(50)]
    assert len(build_batch(records, compression=codec)) < len(build_batch(records)) // 5


def test_producer_fields_and_attributes():
    """Producer id/epoch/sequence, leader epoch, transactional and control bits land in the header."""
    batch = build_batch([Record(None, b"v", (), 5)], base_offset=42, producer_id=1234, producer_epoch=3,
                        base_sequence=77, partition_leader_epoch=9, is_transactional=True, is_control=True,
                        compression=4)
    header = read_batch_header(batch)
    assert (header.base_offset, header.producer_id, header.producer_epoch, header.base_sequence) == (42, 1234, 3, 77)
    assert header.partition_leader_epoch == 9
    assert header.is_transactional and header.is_control and header.compression == 4
    assert not header.is_log_append_time
    validate_batch(batch)


def test_log_append_time_sets_every_timestamp_to_max():
    """In a LogAppendTime batch every decoded record carries the batch's max_timestamp."""
    batch = build_batch(SAMPLE)
    header = set_log_append_time(batch, read_batch_header(batch), 1_700_000_000_000)
    assert header.is_log_append_time
    [(_, records)] = decode_batches(batch)
    assert [r.timestamp for r in records] == [1_700_000_000_000] * 3
    built = build_batch(SAMPLE, timestamp_type=1)
    assert read_batch_header(built).is_log_append_time
    assert {r.timestamp for r in decode_batches(built)[0][1]} == {1_600_000_000_007}


def test_missing_timestamps_default_to_now():
    """Records without a timestamp get one shared wall-clock value (ms), which becomes base and max."""
    batch = build_batch([Record(b"a", b"1"), Record(b"b", b"2")])
    header = read_batch_header(batch)
    assert header.base_timestamp == header.max_timestamp > 1_600_000_000_000
    assert [r.timestamp for r in decode_batches(batch)[0][1]] == [header.base_timestamp] * 2


def test_explicit_base_timestamp():
    """An explicit base_timestamp is stored and record timestamps stay absolute after decoding."""
    batch = build_batch(SAMPLE, base_timestamp=1_500_000_000_000)
    assert read_batch_header(batch).base_timestamp == 1_500_000_000_000
    assert [r.timestamp for r in decode_batches(batch)[0][1]] == [r.timestamp for r in SAMPLE]


def test_keep_offsets_leaves_gaps():
    """keep_offsets writes each record's own offset delta, as a compacted batch has gaps."""
    records = [Record(b"a", b"1", (), 10, offset=100), Record(b"b", b"2", (), 11, offset=103)]
    batch = build_batch(records, base_offset=100, keep_offsets=True, compression=2)
    header = read_batch_header(batch)
    assert header.records_count == 2 and header.last_offset_delta == 3
    assert [r.offset for r in decode_batches(batch)[0][1]] == [100, 103]


def test_several_batches_and_trailing_partial():
    """decode_batches reads consecutive batches and ignores a trailing partial one (as in a fetch response)."""
    first = build_batch(SAMPLE[:2], base_offset=0, compression=1)
    second = build_batch(SAMPLE[2:], base_offset=2, compression=3)
    third = build_batch(SAMPLE, base_offset=3)
    buf = bytes(first + second + third[:-5])
    decoded = decode_batches(buf)
    assert [h.base_offset for h, _ in decoded] == [0, 2]
    assert [r.offset for _, records in decoded for r in records] == [0, 1, 2]
    assert decode_batches(memoryview(buf)) == decoded


def test_corrupt_crc_detected():
    """A flipped byte inside the CRC-covered region raises CorruptMessageError unless verification is off."""
    batch = build_batch(SAMPLE)
    batch[batch.index(b"value-0")] ^= 0x01  # "value-0" -> "walue-0"
    with pytest.raises(CorruptMessageError):
        decode_batches(batch)
    assert decode_batches(batch, verify_crc=False)[0][1][0].value == b"walue-0"


def test_record_count_mismatch_is_corrupt():
    """A records_count that does not match the encoded records raises CorruptMessageError."""
    batch = build_batch(SAMPLE)
    struct.pack_into(">i", batch, 57, 2)  # claim 2 records; 1 record's bytes are left over
    with pytest.raises(CorruptMessageError):
        decode_batches(batch, verify_crc=False)
    struct.pack_into(">i", batch, 57, 4)  # claim 4: the section runs out
    with pytest.raises(CorruptMessageError):
        decode_batches(batch, verify_crc=False)


def test_unknown_codec():
    """Building with codec 5, or decoding a batch whose attributes say codec 5, raises UNSUPPORTED_COMPRESSION_TYPE."""
    with pytest.raises(UnsupportedCompressionTypeError):
        build_batch(SAMPLE, compression=5)
    batch = build_batch(SAMPLE)
    struct.pack_into(">h", batch, 21, 5)
    with pytest.raises(UnsupportedCompressionTypeError):
        decode_batches(batch, verify_crc=False)


@pytest.mark.parametrize("value, encoded", [
    (0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (63, b"\x7e"), (-64, b"\x7f"), (64, b"\x80\x01"),
    (2**31 - 1, b"\xfe\xff\xff\xff\x0f"), (-2**31, b"\xff\xff\xff\xff\x0f"),
    (2**63 - 1, b"\xfe" + b"\xff" * 8 + b"\x01"), (-2**63, b"\xff" * 9 + b"\x01"),
])
def test_zigzag_varint_golden(value, encoded):
    """Zigzag varints match protobuf sint32/sint64 encoding at the boundaries."""
    out = bytearray()
    encode_varint(out, value)
    assert bytes(out) == encoded
    assert decode_varint(encoded, 0) == (value, len(encoded))


def test_varint_truncated_or_too_long():
    """A varint that runs off the end, or past 10 bytes, is corrupt."""
    with pytest.raises(CorruptMessageError):
        decode_varint(b"\x80\x80", 0)
    with pytest.raises(CorruptMessageError):
        decode_varint(b"\x80" * 11 + b"\x01", 0)


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_reads_our_batches(codec):
    """kafka-python's batch reader accepts our batches (CRC, codec, records) for every codec."""
    batch = build_batch(SAMPLE, base_offset=10, compression=codec)
    theirs = DefaultRecordBatch(bytes(batch))
    assert theirs.validate_crc()
    assert theirs.compression_type == codec
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in theirs]
    assert got == [(10 + i, r.timestamp, r.key, r.value, list(r.headers)) for i, r in enumerate(SAMPLE)]


@pytest.mark.parametrize("codec", CODECS)
def test_we_read_kafka_python_batches(codec):
    """We decode batches written by kafka-python's builder for every codec, fields and records intact."""
    builder = DefaultRecordBatchBuilder(2, codec, False, 4321, 2, 50, 1 << 20)
    for i, r in enumerate(SAMPLE):
        builder.append(i, r.timestamp, r.key, r.value, list(r.headers))
    batch = bytes(builder.build())
    header = validate_batch(batch)
    assert (header.compression, header.producer_id, header.producer_epoch, header.base_sequence) == (codec, 4321, 2, 50)
    [(_, records)] = decode_batches(batch)
    assert records == [Record(r.key, r.value, r.headers, r.timestamp, i) for i, r in enumerate(SAMPLE)]


@pytest.mark.parametrize("codec", CODECS)
def test_aiokafka_reads_our_batches(codec):
    """aiokafka's (C-extension) batch reader accepts our batches for every codec."""
    batch = build_batch(SAMPLE, base_offset=3, compression=codec, producer_id=9, producer_epoch=1, base_sequence=0)
    theirs = AioRecordBatch(bytes(batch))
    assert theirs.validate_crc()
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in theirs]
    assert got == [(3 + i, r.timestamp, r.key, r.value, list(r.headers)) for i, r in enumerate(SAMPLE)]


@pytest.mark.parametrize("codec", CODECS)
def test_we_read_aiokafka_batches(codec):
    """We decode batches written by aiokafka's (C-extension) builder for every codec."""
    builder = AioRecordBatchBuilder(2, codec, False, -1, -1, -1, 1 << 20)
    for i, r in enumerate(SAMPLE):
        builder.append(i, r.timestamp, r.key, r.value, list(r.headers))
    batch = bytes(builder.build())
    assert validate_batch(batch).compression == codec
    [(_, records)] = decode_batches(batch)
    assert records == [Record(r.key, r.value, r.headers, r.timestamp, i) for i, r in enumerate(SAMPLE)]


_records = st.lists(
    st.builds(
        Record,
        key=st.none() | st.binary(max_size=40),
        value=st.none() | st.binary(max_size=300),
        headers=st.lists(st.tuples(st.text(max_size=10), st.none() | st.binary(max_size=20)), max_size=3).map(tuple),
        timestamp=st.integers(min_value=0, max_value=2**50),
    ),
    min_size=1, max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(records=_records, codec=st.sampled_from(CODECS), base_offset=st.integers(min_value=0, max_value=2**62))
def test_round_trip_property(records, codec, base_offset):
    """Any records, any codec, any base offset: decode(build(records)) gives the records back."""
    batch = build_batch(records, base_offset=base_offset, compression=codec)
    validate_batch(batch)
    [(header, decoded)] = decode_batches(batch)
    assert header.base_offset == base_offset
    assert header.max_timestamp == max(r.timestamp for r in records)
    assert decoded == [Record(r.key, r.value, r.headers, r.timestamp, base_offset + i) for i, r in enumerate(records)]
