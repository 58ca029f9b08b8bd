"""Property: a valid batch, mutated in its count, last offset delta, record lengths, offset deltas or
compressed payload (CRC recomputed so the mutation reaches the validator), is either refused, leaving
a real :class:`Log` exactly as it was, or appended faithfully: it decodes to exactly the records
it declares, at dense offsets after what was there. Never appended wrong."""

import struct

from crc32c import crc32c
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kafkalite.protocol.compression import compress, decompress
from kafkalite.protocol.errors import CorruptMessageError, KafkaError
from kafkalite.protocol.record_validation import check_records
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches, decode_varint
from kafkalite.protocol.records import BATCH_HEADER_SIZE, LOG_OVERHEAD, read_batch_header
from tests.support.log import FakeClock, open_log

NOW = 1_000_000_000

record_strategy = st.builds(
    Record,
    key=st.one_of(st.none(), st.binary(max_size=12)),
    value=st.one_of(st.none(), st.binary(max_size=40)),
    headers=st.lists(st.tuples(st.text(max_size=4), st.one_of(st.none(), st.binary(max_size=6))),
                     max_size=2).map(tuple),
    timestamp=st.integers(NOW - 10_000, NOW + 10_000),
)


def record_starts(section, count):
    """Byte position of each record's length varint in an uncompressed section."""
    starts, position = [], 0
    for _ in range(count):
        starts.append(position)
        length, position = decode_varint(section, position)
        position += length
    return starts


def mutate(data, batch, codec, records):
    """One mutation of ``batch`` (a bytearray, changed and returned with its CRC redone)."""
    kind = data.draw(st.sampled_from(["count", "last_delta", "length", "offset_delta", "payload", "section"]))
    section = bytearray(decompress(codec, batch[BATCH_HEADER_SIZE:]) if codec else batch[BATCH_HEADER_SIZE:])
    if kind == "count":
        struct.pack_into(">i", batch, 57, data.draw(st.integers(-2, len(records) + 3)))
    elif kind == "last_delta":
        struct.pack_into(">i", batch, 23, data.draw(st.integers(-2, len(records) + 3)))
    elif kind == "payload" and codec:
        body = batch[BATCH_HEADER_SIZE:]
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] ^= data.draw(st.integers(1, 255))
        batch[BATCH_HEADER_SIZE:] = body
    else:
        starts = record_starts(section, len(records))
        index = data.draw(st.integers(0, len(records) - 1))
        if kind == "length":  # the length varint's first byte
            section[starts[index]] = data.draw(st.integers(0, 255))
        elif kind == "offset_delta":  # length varint, attributes, timestamp delta, then the offset delta
            _, position = decode_varint(section, starts[index])
            _, position = decode_varint(section, position + 1)
            section[position] = data.draw(st.integers(0, 255))
        else:  # a byte anywhere in the records, or bytes added or removed at the end
            choice = data.draw(st.integers(0, 2))
            if choice == 0 and section:
                position = data.draw(st.integers(0, len(section) - 1))
                section[position] ^= data.draw(st.integers(1, 255))
            elif choice == 1:
                section += data.draw(st.binary(min_size=1, max_size=8))
            else:
                del section[-data.draw(st.integers(1, min(8, len(section)))):]
        body = compress(codec, bytes(section)) if codec else bytes(section)
        batch[BATCH_HEADER_SIZE:] = body
        del batch[BATCH_HEADER_SIZE + len(body):]
    struct.pack_into(">i", batch, 8, len(batch) - LOG_OVERHEAD)
    struct.pack_into(">I", batch, 17, crc32c(memoryview(batch)[21:]))
    return batch


def stored(log, end=None):
    info = log.read(log.log_start_offset, 10**9, max_offset=end)
    return [] if info.records is None else decode_batches(info.records.read())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), codec=st.sampled_from([0, 1, 2, 3, 4]),
       records=st.lists(record_strategy, min_size=1, max_size=6), compacted=st.booleans(),
       topic_codec=st.sampled_from(["producer", "producer", "uncompressed", "lz4", "zstd"]))
def test_a_mutated_batch_is_refused_or_appended_faithfully(tmp_path_factory, data, codec, records, compacted,
                                                           topic_codec):
    clock = FakeClock(NOW)
    log = open_log(tmp_path_factory.mktemp("log") / "t-0", clock, compression_type=topic_codec,
                   cleanup_policy=("compact",) if compacted else ("delete",),
                   message_timestamp_difference_max_ms=60_000)
    log.append_as_leader(memoryview(build_batch([Record(b"k", b"first", (), NOW)])), 0)
    before = stored(log)
    batch = mutate(data, build_batch(records, compression=codec), codec, records)
    header_count = struct.unpack_from(">i", batch, 57)[0]
    try:
        info = log.append_as_leader(memoryview(batch), 0)
    except KafkaError as error:
        event(f"refused: {type(error).__name__}")
        assert log.log_end_offset == 1
        assert stored(log) == before
        return
    event("appended")
    assert header_count >= 1
    # Faithful: the stored batch holds the records' bytes as sent (decompressed), which walk as exactly
    # the declared count at dense offsets after the first batch. (Compared as bytes: a mutated header
    # key may not be UTF-8, which Kafka stores as it is and our test decoder refuses.)
    raw = log.read(1, 10**9).records.read()
    header = read_batch_header(raw)
    assert header.size == len(raw)
    sent_section = batch[BATCH_HEADER_SIZE:]
    if codec:
        sent_section = decompress(codec, sent_section)
    stored_section = raw[BATCH_HEADER_SIZE:]
    if header.compression:
        stored_section = decompress(header.compression, stored_section)
    assert bytes(stored_section) == bytes(sent_section)
    assert (header.base_offset, header.records_count) == (1, header_count)
    assert (info.first_offset, info.last_offset) == (1, header_count)
    assert log.log_end_offset == 1 + header_count
    assert check_records(header, stored_section, compacted) == header.max_timestamp
    assert stored(log, end=1) == before
    try:
        [(_, decoded)] = decode_batches(raw)
    except CorruptMessageError as error:  # only a header key that is not UTF-8 stops our decoder
        assert "UTF-8" in str(error)
    else:
        assert [r.offset for r in decoded] == list(range(1, 1 + header_count))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(codec=st.sampled_from([0, 1, 2, 3, 4]), records=st.lists(record_strategy, min_size=1, max_size=6),
       topic_codec=st.sampled_from(["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]))
def test_a_valid_batch_is_appended_as_sent(tmp_path_factory, codec, records, topic_codec):
    """Every valid batch, whatever its codec and the topic's, reads back as exactly its records."""
    log = open_log(tmp_path_factory.mktemp("log") / "t-0", FakeClock(NOW), compression_type=topic_codec)
    log.append_as_leader(memoryview(build_batch([Record(b"k", b"first", (), NOW)])), 0)
    info = log.append_as_leader(memoryview(build_batch(records, compression=codec)), 0)
    assert (info.first_offset, info.last_offset) == (1, len(records))
    [(header, got)] = decode_batches(log.read(1, 10**9).records.read())
    assert header.max_timestamp == max(r.timestamp for r in records)
    assert [(r.key, r.value, r.headers, r.timestamp, r.offset) for r in got] == [
        (r.key, r.value, r.headers, r.timestamp, 1 + i) for i, r in enumerate(records)]
