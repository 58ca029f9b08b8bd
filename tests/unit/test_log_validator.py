"""Each rule of the log-layer validator (Kafka 2.8's LogValidator for a client's v2 batch), through a
real :class:`Log`: a refused batch leaves the log as it was; an accepted one is stored as Kafka stores it."""

import os
import struct
import subprocess
import sys

import cramjam
import pytest
from crc32c import crc32c

from kafkalite.log.config import LogConfig
from kafkalite.log.validator import decompressed_limit, target_codec
from kafkalite.protocol import errors
from kafkalite.protocol.bounded_decompression import DecompressedTooLargeError, decompress_bounded
from kafkalite.protocol.compression import compress
from kafkalite.protocol.record_validation import RecordError, RecordTimestampError
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches, encode_varint
from kafkalite.protocol.records import BATCH_HEADER_SIZE, read_batch_header
from tests.support.log import FakeClock, open_log

NOW = 1_000_000_000
CODECS = [0, 1, 2, 3, 4]


@pytest.fixture
def clock():
    return FakeClock(NOW)


def records(count=3, timestamp=NOW, key=b"k"):
    return [Record(key, b"value-%d" % i, (("h", b"x"),), timestamp + i) for i in range(count)]


def recrc(batch):
    struct.pack_into(">I", batch, 17, crc32c(memoryview(batch)[21:]))
    return batch


def set_field(batch, fmt, position, value):
    struct.pack_into(fmt, batch, position, value)
    return recrc(batch)


def stored(log):
    """Every ``(header, [Record])`` of the log, decoded."""
    info = log.read(log.log_start_offset, 10**9)
    return [] if info.records is None else decode_batches(info.records.read())


def assert_refused(log, batch, error):
    """Appending ``batch`` raises ``error`` and changes nothing: offsets, stored batches, producers."""
    end, before = log.log_end_offset, stored(log)
    producer = log.producer_state.last_entry(7)
    with pytest.raises(error) as raised:
        log.append_as_leader(memoryview(batch), 0)
    assert log.log_end_offset == end
    assert stored(log) == before
    assert log.producer_state.last_entry(7) == producer
    return raised.value


# -- header rules ----------------------------------------------------------------------------------


def test_a_valid_batch_is_appended_at_dense_offsets(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock)
    info = log.append_as_leader(memoryview(build_batch(records(3))), 0)
    assert (info.first_offset, info.last_offset, log.log_end_offset) == (0, 2, 3)
    [(header, got)] = stored(log)
    assert [r.offset for r in got] == [0, 1, 2] and [r.value for r in got] == [b"value-0", b"value-1", b"value-2"]


def test_base_offset_must_be_zero(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock)
    error = assert_refused(log, build_batch(records(2), base_offset=5), errors.InvalidRecordError)
    assert "base offset" in error.message


@pytest.mark.parametrize("count, last_delta, words", [
    (3, 1, "does not match"), (0, -1, "offset range"), (-1, 0, "record count"), (2, 2, "does not match")])
def test_count_and_offset_range_must_agree(tmp_path, clock, count, last_delta, words):
    log = open_log(tmp_path / "t-0", clock)
    batch = build_batch(records(3))
    struct.pack_into(">i", batch, 23, last_delta)
    struct.pack_into(">i", batch, 57, count)
    error = assert_refused(log, recrc(batch), errors.InvalidRecordError)
    assert words in error.message


def test_control_batches_are_refused_from_clients(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock)
    batch = build_batch(records(1), is_control=True, producer_id=7, producer_epoch=0, base_sequence=0)
    assert "control" in assert_refused(log, batch, errors.InvalidRecordError).message


def test_a_producer_id_needs_a_base_sequence(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock)
    batch = build_batch(records(1), producer_id=7, producer_epoch=0, base_sequence=-1)
    assert "sequence" in assert_refused(log, batch, errors.InvalidRecordError).message
    log.append_as_leader(memoryview(build_batch(records(1), producer_id=7, producer_epoch=0, base_sequence=0)), 0)
    assert log.log_end_offset == 1


def test_unknown_codec_is_refused(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock)
    batch = build_batch(records(1))
    assert_refused(log, set_field(batch, ">h", 21, 5), errors.UnsupportedCompressionTypeError)


# -- the records ------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_records_fewer_than_declared_are_refused_with_every_codec(tmp_path, clock, codec):
    log = open_log(tmp_path / "t-0", clock)
    section = build_batch(records(1))[BATCH_HEADER_SIZE:]
    batch = build_batch(records(3), compression=codec)
    header = bytearray(batch[:BATCH_HEADER_SIZE])
    body = compress(codec, section) if codec else bytes(section)
    struct.pack_into(">i", header, 8, BATCH_HEADER_SIZE - 12 + len(body))
    lying = recrc(header + body)
    error = assert_refused(log, lying, RecordError)
    assert error.code == errors.InvalidRecordError.code and "holds 1" in error.message


def test_a_skipped_offset_delta_is_refused(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock)
    batch = build_batch([Record(b"k", b"a", (), NOW, 0), Record(b"k", b"b", (), NOW, 2)], keep_offsets=True)
    struct.pack_into(">i", batch, 57, 3)  # count matches the last delta: only the walk notices
    assert "dense" in assert_refused(log, recrc(batch), RecordError).message


def test_keys_are_required_on_compacted_topics(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock, cleanup_policy=("compact",))
    batch = build_batch([Record(b"k", b"a", (), NOW), Record(None, b"b", (), NOW)])
    error = assert_refused(log, batch, RecordError)
    assert error.record_errors == [(1, "compacted topic cannot accept a record without a key")]
    log.append_as_leader(memoryview(build_batch(records(2))), 0)
    assert log.log_end_offset == 2


def test_create_time_window_is_checked_on_every_record(tmp_path, clock):
    """The header's base and max timestamps may look fine while a record in between does not."""
    log = open_log(tmp_path / "t-0", clock, message_timestamp_difference_max_ms=1000)
    batch = build_batch([Record(b"k", b"a", (), NOW), Record(b"k", b"b", (), NOW - 5000),
                         Record(b"k", b"c", (), NOW + 10)])
    error = assert_refused(log, batch, RecordTimestampError)
    assert error.code == errors.InvalidTimestampError.code
    assert [index for index, _ in error.record_errors] == [1]


@pytest.mark.parametrize("topic_type", ["CreateTime", "LogAppendTime"])
def test_log_append_time_claimed_by_a_producer_is_refused(tmp_path, clock, topic_type):
    """Kafka's validateTimestamp refuses a client batch stamped LogAppendTime, every record named."""
    log = open_log(tmp_path / "t-0", clock, message_timestamp_type=topic_type)
    error = assert_refused(log, build_batch(records(2), timestamp_type=1), RecordTimestampError)
    assert [index for index, _ in error.record_errors] == [0, 1]
    assert all("LogAppendTime" in message for _, message in error.record_errors)


def test_log_append_time_claim_keeps_a_keyless_records_own_error(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock, cleanup_policy=("compact",))
    batch = build_batch([Record(None, b"a", (), NOW), Record(b"k", b"b", (), NOW)], timestamp_type=1)
    error = assert_refused(log, batch, RecordTimestampError)
    assert "key" in error.record_errors[0][1] and "LogAppendTime" in error.record_errors[1][1]


def test_log_append_time_topic_stamps_the_batch(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock, message_timestamp_type="LogAppendTime")
    info = log.append_as_leader(memoryview(build_batch(records(2, timestamp=5))), 0)
    assert info.log_append_time_ms == NOW
    [(header, got)] = stored(log)
    assert header.is_log_append_time and header.max_timestamp == NOW


@pytest.mark.parametrize("codec", CODECS)
def test_a_lying_max_timestamp_is_corrected(tmp_path, clock, codec):
    log = open_log(tmp_path / "t-0", clock)
    batch = set_field(build_batch(records(3), compression=codec), ">q", 35, NOW + 999_999)
    log.append_as_leader(memoryview(batch), 0)
    [(header, _)] = stored(log)
    assert header.max_timestamp == NOW + 2
    assert log.fetch_offset_by_timestamp(NOW + 3) is None


# -- compression --------------------------------------------------------------------------------------


@pytest.mark.parametrize("topic_codec", ["uncompressed", "gzip", "snappy", "lz4", "zstd"])
@pytest.mark.parametrize("codec", CODECS)
def test_topic_compression_type_rebuilds_the_batch(tmp_path, clock, codec, topic_codec):
    log = open_log(tmp_path / "t-0", clock, compression_type=topic_codec)
    sent = records(4)
    log.append_as_leader(memoryview(build_batch(records(2))), 0)
    batch = build_batch(sent, compression=codec, producer_id=7, producer_epoch=3, base_sequence=0)
    info = log.append_as_leader(memoryview(batch), 0)
    assert (info.first_offset, info.last_offset) == (2, 5)
    header, got = stored(log)[1]
    assert header.compression == target_codec(LogConfig(compression_type=topic_codec), codec)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 3, 0)
    assert header.max_timestamp == NOW + 3
    assert [(r.key, r.value, r.headers, r.timestamp, r.offset) for r in got] == [
        (r.key, r.value, r.headers, r.timestamp, 2 + i) for i, r in enumerate(sent)]


def test_producer_compression_type_keeps_the_bytes_as_sent(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock)
    batch = build_batch(records(3), compression=3)
    sent = bytes(batch[BATCH_HEADER_SIZE:])
    log.append_as_leader(memoryview(batch), 0)
    assert bytes(log.read(0, 10**6).records.read()[BATCH_HEADER_SIZE:]) == sent


def test_max_message_bytes_is_measured_as_sent_and_once_rebuilt(tmp_path, clock):
    values = [bytes(range(256)) * 4 for _ in range(8)]
    compressed = build_batch([Record(b"k", v, (), NOW) for v in values], compression=4)
    plain = build_batch([Record(b"k", v, (), NOW) for v in values])
    limit = len(compressed) + 100
    log = open_log(tmp_path / "t-0", clock, max_message_bytes=limit, compression_type="uncompressed")
    error = assert_refused(log, compressed, errors.MessageTooLargeError)
    assert "recompressed" in error.message
    assert_refused(log, plain, errors.MessageTooLargeError)
    # measured as sent first: an uncompressed batch over the limit is refused though zstd would make it fit
    log = open_log(tmp_path / "u-0", clock, max_message_bytes=limit, compression_type="zstd")
    assert "recompressed" not in assert_refused(log, plain, errors.MessageTooLargeError).message
    log.append_as_leader(memoryview(compressed), 0)
    assert log.log_end_offset == 8


def test_undecodable_compressed_records_are_corrupt(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock)
    batch = build_batch(records(3), compression=1)
    batch[BATCH_HEADER_SIZE + 12:BATCH_HEADER_SIZE + 20] = b"\xff" * 8
    assert_refused(log, recrc(batch), errors.CorruptMessageError)


@pytest.mark.parametrize("codec", CODECS[1:])
def test_a_zip_bomb_is_refused_past_the_ceiling(tmp_path, clock, codec):
    """One record whose value is mostly zeros, decompressing past the ceiling: INVALID_RECORD."""
    config = LogConfig(max_message_bytes=16 << 20)  # snappy compresses zeros only ~20:1
    limit = decompressed_limit(config)
    body = bytearray()
    record = bytearray(b"\x00")
    encode_varint(record, 0)
    encode_varint(record, 0)
    record += b"\x01"  # null key
    encode_varint(record, limit)
    value_start = len(record)
    encode_varint(body, value_start + limit + 1)
    bomb = compress(codec, bytes(body + record) + bytes(limit) + b"\x00")
    header = bytearray(build_batch(records(1), compression=codec)[:BATCH_HEADER_SIZE])
    struct.pack_into(">i", header, 8, BATCH_HEADER_SIZE - 12 + len(bomb))
    batch = recrc(header + bomb)
    assert len(batch) < config.max_message_bytes
    log = open_log(tmp_path / "t-0", clock, max_message_bytes=16 << 20)
    error = assert_refused(log, batch, DecompressedTooLargeError)
    assert error.code == errors.InvalidRecordError.code and str(limit) in error.message


# -- bounded decompression ----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_bounded_decompression_returns_the_data_within_the_limit(codec):
    data = b"abc" * 30_000 + bytes(range(256))
    assert bytes(decompress_bounded(codec, compress(codec, data), len(data))) == data
    if codec:
        with pytest.raises(DecompressedTooLargeError):
            decompress_bounded(codec, compress(codec, data), len(data) - 1)


def test_bounded_gzip_reads_concatenated_members():
    data = compress(1, b"one") + compress(1, b"two")
    assert decompress_bounded(1, data, 6) == b"onetwo"
    with pytest.raises(DecompressedTooLargeError):
        decompress_bounded(1, data, 5)


def test_bounded_zstd_without_a_declared_size_grows_to_the_limit():
    compressor = cramjam.zstd.Compressor()
    compressor.compress(b"z" * 300_000)
    framed = bytes(compressor.finish())
    assert bytes(decompress_bounded(4, framed, 300_000)) == b"z" * 300_000
    with pytest.raises(DecompressedTooLargeError):
        decompress_bounded(4, framed, 299_999)


@pytest.mark.parametrize("codec", CODECS[1:])
def test_bounded_decompression_of_garbage_is_corrupt(codec):
    with pytest.raises(errors.CorruptMessageError):
        decompress_bounded(codec, b"\x00\x01garbage that no codec writes" * 3, 1 << 20)


def test_truncated_gzip_is_corrupt():
    with pytest.raises(errors.CorruptMessageError):
        decompress_bounded(1, compress(1, bytes(range(256)) * 40)[:-12], 1 << 20)


def test_header_of_the_rebuilt_batch_reads_back(tmp_path, clock):
    log = open_log(tmp_path / "t-0", clock, compression_type="lz4")
    log.append_as_leader(memoryview(build_batch(records(2))), 0)
    header = read_batch_header(log.read(0, 10**6).records.read())
    assert header.compression == 3 and header.records_count == 2


def test_a_gigabyte_zstd_bomb_is_refused_without_the_memory(tmp_path):
    """32 KiB of zstd that expand to 1 GiB (no declared size) are refused while the process stays far
    below 1 GiB: decompression stops at the ceiling instead of finishing and measuring. Run in a
    child whose peak RSS (VmHWM) is reset once the bomb is built, so that the peak is the
    decompression's alone (a child's ru_maxrss would start at the pytest worker's, its parent's)."""
    script = tmp_path / "bomb.py"
    script.write_text(
        "import cramjam\n"
        "from kafkalite.protocol.bounded_decompression import DecompressedTooLargeError, decompress_bounded\n"
        "c = cramjam.zstd.Compressor()\n"
        "for _ in range(256): c.compress(bytes(4 << 20))\n"
        "bomb = bytes(c.finish())\n"
        "with open('/proc/self/clear_refs', 'w') as f: f.write('5')\n"
        "try:\n"
        "    decompress_bounded(4, bomb, 64 << 20)\n"
        "except DecompressedTooLargeError:\n"
        "    peak = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0]\n"
        "    print(len(bomb), int(peak.split()[1]) // 1024)\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                         cwd=os.getcwd()).stdout.split()
    compressed, peak_mib = int(out[0]), int(out[1])
    assert compressed < 64 * 1024
    assert peak_mib < 400
