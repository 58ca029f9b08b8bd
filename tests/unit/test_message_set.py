"""Unit tests for kafkalite.protocol.message_set: the magic 0/1 message set codec.

Round trips are property tests for both magics and every codec old formats can carry;
golden bytes pin one v0 and one v1 message (CRC included); kafka-python's own legacy
builder and reader (``kafka.record.legacy_records``, test-only) check wire compatibility
in both directions, lz4 with magic 0's broken header checksum included.
"""

import os
import struct
import zlib

import lz4.frame
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.legacy_records import LegacyRecordBatch, LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from kafkalite.protocol import message_set
from kafkalite.protocol.compression import compress
from kafkalite.protocol.errors import CorruptMessageError, InvalidRecordError, UnsupportedCompressionTypeError
from kafkalite.protocol.message_set import (
    LegacyEntry,
    decode_message_set,
    encode_message_set,
    message_set_records,
    xxh32,
)
from kafkalite.protocol.recordcodec import Record, build_batch

LEGACY_CODECS = [0, 1, 2, 3]


def _records(magic, pairs, first_offset=0, timestamp=1_600_000_000_000):
    return [Record(key, value, (), timestamp + i if magic == 1 else -1, first_offset + i)
            for i, (key, value) in enumerate(pairs)]


# -- golden bytes --------------------------------------------------------------------------------


def test_golden_v0_message():
    """One magic-0 message, key "k", value "v", at offset 7: every byte where §3.2 puts it."""
    expected = bytes.fromhex(
        "0000000000000007"  # offset 7
        "00000010"          # message size 16
        "1fecd70a"          # crc: CRC-32 (IEEE) of the 12 bytes below
        "00"                # magic 0
        "00"                # attributes: no codec
        "00000001" "6b"     # key length 1, "k"
        "00000001" "76"     # value length 1, "v"
    )
    assert zlib.crc32(expected[16:]) == 0x1FECD70A
    assert encode_message_set([Record(b"k", b"v", (), None, 7)], magic=0) == expected
    [entry] = decode_message_set(expected)
    assert entry == LegacyEntry(7, 0, 0, 0, -1, (Record(b"k", b"v", (), -1, 7),), 28)


def test_golden_v1_message():
    """One magic-1 message with a timestamp and a null key: the timestamp sits after the attributes."""
    expected = bytes.fromhex(
        "0000000000000000"  # offset 0
        "00000019"          # message size 25
        "612526e0"          # crc of the 21 bytes below
        "01"                # magic 1
        "00"                # attributes: no codec, CreateTime
        "00000000000003e8"  # timestamp 1000
        "ffffffff"          # null key
        "00000003" "616263"  # value length 3, "abc"
    )
    assert zlib.crc32(expected[16:]) == 0x612526E0
    assert encode_message_set([Record(None, b"abc", (), 1000, 0)], magic=1) == expected
    [entry] = decode_message_set(expected)
    assert entry.magic == 1 and entry.timestamp == 1000 and entry.timestamp_type == 0
    assert entry.records == (Record(None, b"abc", (), 1000, 0),)


def test_golden_messages_match_kafka_python():
    """kafka-python's legacy builder writes the golden messages byte for byte."""
    builder = LegacyRecordBatchBuilder(0, 0, 1 << 20)
    builder.append(7, None, b"k", b"v")
    assert bytes(builder.build()) == encode_message_set([Record(b"k", b"v", (), None, 7)], magic=0)
    builder = LegacyRecordBatchBuilder(1, 0, 1 << 20)
    builder.append(0, 1000, None, b"abc")
    assert bytes(builder.build()) == encode_message_set([Record(None, b"abc", (), 1000, 0)], magic=1)


# -- round trips ---------------------------------------------------------------------------------

_bytes_or_none = st.one_of(st.none(), st.binary(max_size=200))


@st.composite
def _record_lists(draw, magic):
    count = draw(st.integers(min_value=1, max_value=12))
    offset = draw(st.integers(min_value=0, max_value=1 << 40))
    records = []
    for _ in range(count):
        timestamp = draw(st.integers(min_value=-1, max_value=1 << 45)) if magic == 1 else -1
        records.append(Record(draw(_bytes_or_none), draw(_bytes_or_none), (), timestamp, offset))
        offset += draw(st.integers(min_value=1, max_value=3))  # compacted logs leave gaps
    return records


_CASES = st.sampled_from([(magic, codec) for magic in (0, 1) for codec in LEGACY_CODECS]).flatmap(
    lambda case: st.tuples(st.just(case[0]), st.just(case[1]), _record_lists(case[0])))


@settings(max_examples=400, deadline=None)
@given(case=_CASES)
def test_round_trip(case):
    """decode(encode(records)) gives the records back, offsets and (magic 1) timestamps included,
    for both magics and every codec but zstd."""
    magic, codec, records = case
    entries = decode_message_set(encode_message_set(records, magic, codec))
    assert message_set_records(entries) == records
    assert all(entry.magic == magic and entry.codec == codec for entry in entries)
    assert len(entries) == (len(records) if codec == 0 else 1)


@pytest.mark.parametrize("codec", [1, 2, 3])
def test_compressed_wrapper_offsets_and_timestamp(codec):
    """A wrapper sits at the last record's offset; magic 1 inner offsets are relative, its timestamp the max."""
    records = [Record(b"a", b"1", (), 500, 40), Record(b"b", b"2", (), 900, 41), Record(b"c", b"3", (), 700, 43)]
    [entry] = decode_message_set(encode_message_set(records, 1, codec))
    assert (entry.offset, entry.timestamp, entry.timestamp_type) == (43, 900, 0)
    untimed = [Record(r.key, r.value, (), -1, r.offset) for r in records]
    [entry] = decode_message_set(encode_message_set(untimed, 0, codec))
    assert (entry.offset, entry.timestamp) == (43, -1)
    inner = LegacyRecordBatch(encode_message_set(records, 1, codec), 1)
    assert [r.offset for r in inner] == [40, 41, 43]  # kafka-python resolves the relative offsets too


def test_log_append_time_wrapper_gives_its_timestamp_to_inner_records():
    """Under LogAppendTime a magic-1 wrapper's timestamp is every inner record's, as Kafka reads it."""
    records = [Record(b"a", b"1", (), 5000, 0), Record(b"b", b"2", (), 5000, 1)]
    encoded = bytearray(encode_message_set(records, 1, codec=1, timestamp_type=1))
    [entry] = decode_message_set(encoded)
    assert entry.timestamp_type == 1 and entry.timestamp == 5000
    assert [r.timestamp for r in entry.records] == [5000, 5000]
    # Inner messages keep their own (older) timestamps on the wire; the wrapper's wins.
    inner = [Record(b"a", b"1", (), 10, 0), Record(b"b", b"2", (), 20, 1)]
    [entry] = decode_message_set(encode_message_set(inner, 1, codec=1, timestamp_type=1))
    assert [r.timestamp for r in entry.records] == [20, 20]


def test_zstd_cannot_be_encoded():
    """Old formats cannot carry zstd: encoding refuses it."""
    with pytest.raises(UnsupportedCompressionTypeError):
        encode_message_set(_records(1, [(b"k", b"v")]), 1, codec=4)
    with pytest.raises(ValueError):
        encode_message_set(_records(1, [(b"k", b"v")]), 2)
    assert encode_message_set([], 1, codec=1) == b""


# -- wire compatibility with kafka-python --------------------------------------------------------


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", LEGACY_CODECS)
def test_reads_kafka_python_sets(magic, codec):
    """kafka-python's producer-side builder (wrapper offset 0, relative inner offsets) decodes to 0..n-1."""
    builder = LegacyRecordBatchBuilder(magic, codec, 1 << 20)
    for i in range(5):
        builder.append(i, 1_600_000_000_000 + i, b"key-%d" % i, b"value-%d" % i * 20)
    records = message_set_records(decode_message_set(bytes(builder.build())))
    assert [r.offset for r in records] == [0, 1, 2, 3, 4]
    assert [r.value for r in records] == [b"value-%d" % i * 20 for i in range(5)]
    assert [r.timestamp for r in records] == ([1_600_000_000_000 + i for i in range(5)] if magic else [-1] * 5)


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", LEGACY_CODECS)
def test_kafka_python_reads_ours(magic, codec):
    """kafka-python's reader (which decodes magic-0 lz4 with the broken checksum) reads what we write."""
    records = _records(magic, [(b"k%d" % i, b"v%d" % i * 30) for i in range(4)], first_offset=100)
    theirs = MemoryRecords(encode_message_set(records, magic, codec))
    got = []
    while (batch := theirs.next_batch()) is not None:
        assert batch.magic == magic and batch.validate_crc()
        got += [(r.offset, r.key, r.value, r.timestamp if magic else -1) for r in batch]
    assert got == [(r.offset, r.key, r.value, r.timestamp) for r in records]


def test_lz4_magic_0_carries_the_broken_header_checksum():
    """Magic-0 lz4 frames hash the frame magic too (KAFKA-3160); magic 1 frames are standard."""
    records = _records(0, [(b"k", b"v" * 100)])
    wrapper = encode_message_set(records, 0, codec=3)
    frame = wrapper[12 + 14:]  # after offset and size, crc, magic, attributes, the null key and the value length
    assert frame[:4] == b"\x04\x22\x4d\x18"
    assert frame[6] == (xxhash.xxh32(frame[:6]).intdigest() >> 8) & 0xFF
    assert frame[6] != (xxhash.xxh32(frame[4:6]).intdigest() >> 8) & 0xFF
    with pytest.raises(RuntimeError):
        lz4.frame.decompress(frame)  # python-lz4 refuses it: the reason for the repair
    wrapper1 = encode_message_set(_records(1, [(b"k", b"v" * 100)]), 1, codec=3)
    assert lz4.frame.decompress(wrapper1[12 + 22:])  # a standard frame
    # Kafka's magic-0 reader ignores the checksum: a right one is read too.
    inner = encode_message_set(records, 0)
    right = compress(3, inner)
    message = _raw_message(0, 3, None, right)
    assert message_set_records(decode_message_set(_raw_entry(0, message))) == records


def test_xxh32_matches_the_reference():
    """Our xxHash32 (for frame header checksums) agrees with the xxhash library at every length up to 40."""
    for length in range(41):
        data = os.urandom(length)
        assert xxh32(data) == xxhash.xxh32(data).intdigest()
        assert xxh32(data, seed=7) == xxhash.xxh32(data, seed=7).intdigest()


# -- malformed sets ------------------------------------------------------------------------------


def _raw_message(magic, attributes, key, value, timestamp=0, crc=None):
    body = bytes([magic, attributes])
    if magic == 1:
        body += struct.pack(">q", timestamp)
    for field in (key, value):
        body += struct.pack(">i", -1) if field is None else struct.pack(">i", len(field)) + field
    return struct.pack(">I", zlib.crc32(body) if crc is None else crc) + body


def _raw_entry(offset, message):
    return struct.pack(">qi", offset, len(message)) + message


def test_crc_mismatch_is_corrupt():
    """A flipped byte in a message fails its CRC-32: CORRUPT_MESSAGE."""
    encoded = bytearray(encode_message_set(_records(1, [(b"k", b"value")]), 1))
    encoded[-1] ^= 0xFF
    with pytest.raises(CorruptMessageError, match="crc"):
        decode_message_set(encoded)


def test_inner_crc_mismatch_is_corrupt():
    """An inner message of a wrapper is CRC-checked too."""
    inner = bytearray(encode_message_set(_records(1, [(b"k", b"value")]), 1))
    inner[-1] ^= 0xFF
    wrapper = _raw_entry(0, _raw_message(1, 1, None, compress(1, inner)))
    with pytest.raises(CorruptMessageError, match="crc"):
        decode_message_set(wrapper)


def test_partial_tail_ignored_unless_whole():
    """A trailing partial message is dropped for a fetch and refused for a produce."""
    encoded = encode_message_set(_records(0, [(b"a", b"1"), (b"b", b"2")]), 0)
    for cut in (1, 5, 13, 20):
        truncated = encoded[:-cut]
        assert len(message_set_records(decode_message_set(truncated))) == 1
        with pytest.raises(CorruptMessageError):
            decode_message_set(truncated, whole=True)
    assert len(message_set_records(decode_message_set(encoded, whole=True))) == 2


@pytest.mark.parametrize("size", [0, 13, -1])
def test_message_size_below_the_minimum_is_corrupt(size):
    """A size field below 14 bytes cannot be a message (Kafka's ``nextBatchSize``)."""
    with pytest.raises(CorruptMessageError):
        decode_message_set(struct.pack(">qi", 0, size) + b"\x00" * 20)


def test_fields_overrunning_the_message_are_corrupt():
    """A key length past the message's end, or bytes left after the value, with a valid CRC."""
    body = bytes([0, 0]) + struct.pack(">i", 50) + b"k" + struct.pack(">i", 1) + b"v"
    with pytest.raises(CorruptMessageError):
        decode_message_set(_raw_entry(0, struct.pack(">I", zlib.crc32(body)) + body))
    body = bytes([0, 0]) + struct.pack(">i", 1) + b"k" + struct.pack(">i", 1) + b"v" + b"junk"
    with pytest.raises(CorruptMessageError):
        decode_message_set(_raw_entry(0, struct.pack(">I", zlib.crc32(body)) + body))


def test_invalid_magic():
    """Magic 3 is corrupt; a magic-2 batch among legacy entries is an invalid record."""
    message = bytearray(_raw_message(0, 0, b"k", b"v"))
    message[4] = 3
    with pytest.raises(CorruptMessageError, match="magic"):
        decode_message_set(_raw_entry(0, bytes(message)))
    v2 = bytes(build_batch([Record(b"k", b"v", (), 1000)]))
    with pytest.raises(InvalidRecordError, match="magic 2"):
        decode_message_set(encode_message_set(_records(0, [(b"a", b"1")]), 0) + v2)


@pytest.mark.parametrize("magic", [0, 1])
def test_wrapper_faults_are_invalid_records(magic):
    """Kafka's InvalidRecordException cases: zstd, null value, empty, double compression, magic mismatch."""
    plain = encode_message_set(_records(magic, [(b"k", b"v")]), magic)
    other_magic = encode_message_set(_records(1 - magic, [(b"k", b"v")]), 1 - magic)
    nested = encode_message_set(_records(magic, [(b"k", b"v")]), magic, codec=1)
    cases = {
        "zstd": _raw_message(magic, 4, None, compress(4, plain)),
        "null value": _raw_message(magic, 1, None, None),
        "no inner messages": _raw_message(magic, 1, None, compress(1, b"")),
        "must not be compressed": _raw_message(magic, 1, None, compress(1, nested)),
        "does not match wrapper magic": _raw_message(magic, 1, None, compress(1, other_magic)),
    }
    for reason, message in cases.items():
        with pytest.raises(InvalidRecordError, match=reason):
            decode_message_set(_raw_entry(0, message))


def test_unknown_codec():
    """Codec ids 5–7 do not exist."""
    with pytest.raises(UnsupportedCompressionTypeError):
        decode_message_set(_raw_entry(0, _raw_message(1, 5, None, b"x")))


def test_undecompressable_wrapper_is_corrupt():
    """A wrapper whose value its codec cannot decode is corrupt."""
    for codec in (1, 2, 3):
        with pytest.raises(CorruptMessageError):
            decode_message_set(_raw_entry(0, _raw_message(1, codec, None, b"\x00garbage\x00" * 3)))


def test_v1_wrapper_offsets():
    """Magic-1 inner offsets: wrapper offset 0 means absolute; below the last inner offset is invalid."""
    inner = b"".join(_raw_entry(i, _raw_message(1, 0, None, b"v%d" % i, timestamp=i)) for i in range(3))
    compressed = compress(1, inner)
    for wrapper_offset, expected in ((0, [0, 1, 2]), (2, [0, 1, 2]), (12, [10, 11, 12])):
        entries = decode_message_set(_raw_entry(wrapper_offset, _raw_message(1, 1, None, compressed)))
        assert [r.offset for r in message_set_records(entries)] == expected
    with pytest.raises(InvalidRecordError, match="wrapper offset"):
        decode_message_set(_raw_entry(1, _raw_message(1, 1, None, compressed)))


def test_partial_inner_tail_is_dropped():
    """A partial message at the end of a wrapper's inner set is dropped, as Kafka's inner reader stops there."""
    inner = encode_message_set(_records(1, [(b"a", b"1"), (b"b", b"2")]), 1)
    compressed = compress(1, inner[:-3])
    records = message_set_records(decode_message_set(_raw_entry(0, _raw_message(1, 1, None, compressed))))
    assert [r.key for r in records] == [b"a"]


@pytest.mark.parametrize("codec", [1, 2, 3])
def test_decompression_bomb_is_refused_without_expanding_it(monkeypatch, codec):
    """An inner set that decompresses past the ceiling is INVALID_RECORD, whichever the codec; one
    just under it decodes."""
    monkeypatch.setattr(message_set, "MAX_INNER_SET_BYTES", 100_000)
    big = encode_message_set([Record(None, b"\x00" * 100_000, (), 0, 0)], 1)
    bomb = encode_message_set([Record(None, b"\x00" * 100_000, (), 0, 0)], 1, codec)
    with pytest.raises(InvalidRecordError, match="more than the 100000 bytes allowed"):
        decode_message_set(bomb)
    monkeypatch.setattr(message_set, "MAX_INNER_SET_BYTES", len(big))
    assert message_set_records(decode_message_set(bomb))[0].value == b"\x00" * 100_000


def test_truncated_compressed_data_is_corrupt():
    """gzip and lz4 data cut short is CORRUPT_MESSAGE, not a short inner set."""
    inner = encode_message_set(_records(1, [(b"k", b"v" * 5000)]), 1)
    for codec in (1, 3):
        compressed = compress(codec, inner)
        with pytest.raises(CorruptMessageError):
            decode_message_set(_raw_entry(0, _raw_message(1, codec, None, compressed[:len(compressed) // 2])))


def test_concatenated_gzip_members_and_lz4_frames_decode():
    """Several gzip members or lz4 frames in one wrapper are one inner set, as the codecs' streams read them."""
    first = encode_message_set(_records(1, [(b"a", b"1")]), 1)
    second = encode_message_set(_records(1, [(b"b", b"2")], first_offset=1), 1)
    for codec in (1, 3):
        value = compress(codec, first) + compress(codec, second)
        records = message_set_records(decode_message_set(_raw_entry(1, _raw_message(1, codec, None, value))))
        assert [r.key for r in records] == [b"a", b"b"]
