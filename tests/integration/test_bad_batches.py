"""Lying or refused record batches against a real broker: Kafka's error, nothing appended, nothing lost.

Each case sends, with a raw Produce request, a v2 batch whose CRC is right but whose header
disagrees with its records, or which a topic's rules refuse. The broker must answer with the
error code Kafka 2.8 gives (and, for Produce v8, the ``record_errors`` and ``error_message``),
keep serving, give the partition's next valid batch the next dense offset, and a real consumer
(librdkafka) must read exactly the acknowledged records.
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from crc32c import crc32c

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.compression import compress
from kafkalite.protocol.message_set import encode_message_set
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches, encode_varint
from kafkalite.protocol.records import BATCH_HEADER_SIZE, LOG_OVERHEAD
from tests.support.clients import read_from_start
from tests.support.wire import WireClient, create_topic, produce

pytestmark = pytest.mark.cluster(size=1, overrides={"socket.request.max.bytes": str(8 << 20)})

KEYED = [Record(b"k%d" % i, b"value-%d" % i) for i in range(3)]
LIMIT = 64 * 1024 * 1024  # kafkalite.log.validator's ceiling for the default max.message.bytes


def recrc(batch):
    struct.pack_into(">i", batch, 8, len(batch) - LOG_OVERHEAD)
    struct.pack_into(">I", batch, 17, crc32c(memoryview(batch)[21:]))
    return batch


def with_section(codec, section, count):
    """A batch whose header says ``count`` records of ``codec`` and whose records are ``section``."""
    header = bytearray(build_batch(KEYED[:1], compression=codec)[:BATCH_HEADER_SIZE])
    struct.pack_into(">i", header, 23, count - 1)
    struct.pack_into(">i", header, 57, count)
    return recrc(header + (compress(codec, section) if codec else section))


def section_of(records):
    return bytes(build_batch(records)[BATCH_HEADER_SIZE:])


def count_larger():
    return with_section(0, section_of(KEYED[:1]), 3)


def count_smaller():
    return with_section(0, section_of(KEYED), 2)


def skipped_delta():
    return recrc(build_batch([Record(b"a", b"1", (), None, 0), Record(b"b", b"2", (), None, 2),
                              Record(b"c", b"3", (), None, 2)], keep_offsets=True))


def overrunning_length():
    section = bytearray(section_of(KEYED))
    section[0] += 20  # the first record's length varint (small: one byte)
    return with_section(0, bytes(section), 3)


def bad_varint():
    section = bytearray(section_of(KEYED[:1]))
    section[3:9] = b"\xff" * 6  # the offset delta: a varint of more than 5 bytes
    return with_section(0, bytes(section), 1)


def trailing_bytes():
    return with_section(0, section_of(KEYED) + b"\x00\x00", 3)


def compressed_lie():
    return with_section(4, section_of(KEYED[:2]), 3)


def zip_bomb():
    record = bytearray(b"\x00\x00\x00\x01")  # attributes, timestamp delta, offset delta 0, null key
    encode_varint(record, LIMIT)
    body = bytearray()
    encode_varint(body, len(record) + LIMIT + 1)
    return with_section(1, bytes(body + record) + bytes(LIMIT) + b"\x00", 1)


def keyless():
    return build_batch([Record(b"k", b"a"), Record(None, b"b"), Record(None, b"c")])


def old_timestamps():
    return build_batch([Record(b"k", b"a"), Record(b"k", b"b", (), 1000)])


def log_append_time():
    return build_batch(KEYED[:2], timestamp_type=1)


def control_batch():
    return build_batch(KEYED[:1], is_control=True, producer_id=1, producer_epoch=0, base_sequence=0)


def old_magic():
    """A magic 1 message set, which only Produce v0-v2 may carry."""
    return encode_message_set([Record(b"k", b"v", (), 0, 0)], 1)


def too_large_rebuilt():
    return build_batch([Record(b"k", b"z" * 4000)], compression=4)


@dataclass
class Case:
    name: str
    topic_configs: dict
    batch: Callable
    error: type
    record_errors: list = None  # the batch indexes named in record_errors, when Kafka names them
    message: str = ""  # in the error_message: the record at fault and the reason


CASES = [
    Case("count-larger", {}, count_larger, errors.InvalidRecordError, message="declares 3 records but holds 1"),
    Case("count-smaller", {}, count_smaller, errors.InvalidRecordError),
    Case("skipped-delta", {}, skipped_delta, errors.InvalidRecordError, message="record 1: offset delta 2"),
    Case("overrunning-length", {}, overrunning_length, errors.InvalidRecordError),
    Case("bad-varint", {}, bad_varint, errors.InvalidRecordError, message="record 0: offset delta"),
    Case("trailing-bytes", {}, trailing_bytes, errors.InvalidRecordError),
    Case("compressed-lie", {}, compressed_lie, errors.InvalidRecordError),
    Case("zip-bomb", {}, zip_bomb, errors.InvalidRecordError, message="more than the 67108864 bytes"),
    Case("keyless", {"cleanup.policy": "compact"}, keyless, errors.InvalidRecordError, [1, 2]),
    Case("old-timestamps", {"message.timestamp.difference.max.ms": "60000"}, old_timestamps,
         errors.InvalidTimestampError, [1]),
    Case("log-append-time", {}, log_append_time, errors.InvalidTimestampError, [0, 1]),
    Case("control", {}, control_batch, errors.InvalidRecordError, message="control"),
    Case("old-magic", {}, old_magic, errors.InvalidRecordError, message="not magic 1"),
    Case("too-large-rebuilt", {"compression.type": "uncompressed", "max.message.bytes": "1000"},
         too_large_rebuilt, errors.MessageTooLargeError),
]


def still_serving(address):
    with WireClient(address) as client:
        return client.request(ApiKey.API_VERSIONS, 3, {"client_software_name": "t",
                                                      "client_software_version": "1"})["error_code"] == 0


def test_every_lying_or_refused_batch_is_contained(broker):
    """For each case: Kafka's error code, v8's record_errors and error_message; the broker serves on;
    the next valid batch gets the next dense offset; a consumer reads exactly what was acknowledged."""
    for case in CASES:
        topic = "bad-" + case.name
        assert create_topic(broker.bootstrap, topic, configs=case.topic_configs)["error_code"] == 0, case.name
        first = [Record(b"k", b"%s-first" % case.name.encode())]
        assert produce(broker.bootstrap, topic, 0, build_batch(first))["base_offset"] == 0, case.name

        result = produce(broker.bootstrap, topic, 0, case.batch())
        assert result["error_code"] == case.error.code, (case.name, result)
        assert result["error_message"] and case.message in result["error_message"], (case.name, result)
        named = [entry["batch_index"] for entry in result["record_errors"]]
        assert named == (case.record_errors or []), (case.name, result)
        assert all(entry["batch_index_error_message"] for entry in result["record_errors"]), case.name
        assert still_serving(broker.bootstrap), case.name

        after = [Record(b"k", b"%s-after-%d" % (case.name.encode(), i)) for i in range(2)]
        result = produce(broker.bootstrap, topic, 0, build_batch(after))
        assert (result["error_code"], result["base_offset"]) == (0, 1), (case.name, result)
        read = read_from_start(broker.bootstrap, topic, 3, drain_s=0.5)
        assert read == [(0, first[0].value), (1, after[0].value), (2, after[1].value)], case.name


def test_produce_before_v8_gets_the_error_code_only(broker):
    """Produce v7 has no record_errors or error_message on the wire (our decoder fills in their
    defaults): the code alone, and nothing appended."""
    assert create_topic(broker.bootstrap, "compacted", configs={"cleanup.policy": "compact"})["error_code"] == 0
    result = produce(broker.bootstrap, "compacted", 0, keyless(), version=7)
    assert result["error_code"] == errors.InvalidRecordError.code
    assert result["record_errors"] == [] and result["error_message"] is None
    assert produce(broker.bootstrap, "compacted", 0, build_batch(KEYED))["base_offset"] == 0


@pytest.mark.parametrize("producer_codec, topic_codec, stored_codec", [
    ("lz4", "zstd", 4), ("none", "gzip", 1), ("snappy", "uncompressed", 0), ("zstd", "producer", 4)])
def test_a_real_producer_to_a_topic_with_another_compression_type(broker, producer_codec, topic_codec, stored_codec):
    """confluent-kafka compresses with its codec; the broker stores the topic's, and the records read back."""
    from confluent_kafka import Producer

    topic = f"codec-{producer_codec}-{topic_codec}"
    assert create_topic(broker.bootstrap, topic, configs={"compression.type": topic_codec})["error_code"] == 0
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": producer_codec,
                         "linger.ms": 50, "acks": "all"})
    failed = []
    values = [b"record-%d-" % i + b"x" * 50 for i in range(200)]
    for i, value in enumerate(values):
        producer.produce(topic, value=value, key=b"%d" % i, partition=0, headers=[("h", b"%d" % i)],
                         on_delivery=lambda error, _message: error is not None and failed.append(error))
    assert producer.flush(30) == 0 and not failed
    read = read_from_start(broker.bootstrap, topic, len(values), drain_s=0.5)
    assert read == list(enumerate(values))
    segment = (broker.log_dir / f"{topic}-0" / ("0" * 20 + ".log")).read_bytes()
    batches = decode_batches(segment)
    assert {header.compression for header, _ in batches} == {stored_codec}
    assert [record.headers for _, records in batches for record in records] == [
        (("h", b"%d" % i),) for i in range(len(values))]
