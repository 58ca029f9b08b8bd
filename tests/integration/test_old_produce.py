"""Produce v0–v2 (message formats v0 and v1) on a real broker, with exact bytes on the wire.

Good sets are appended as one v2 batch each at the next dense offsets, with the codec of
the wrapper and the timestamps Kafka gives; bad ones get Kafka's error code, append
nothing for their partition while the request's other partitions are appended, and the
partition's next valid produce gets the next dense offset. A new consumer reads exactly
the acknowledged records at the end.
"""

import struct
import zlib

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.compression import compress
from kafkalite.protocol.message_set import encode_message_set
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches
from tests.support.wire import WireClient, create_topic, latest_offset, produce

pytestmark = pytest.mark.cluster(size=1, overrides={"message.max.bytes": "20000"})

TOPIC = "old"


def message_set(magic, count, codec=0, first=0, timestamp=1_700_000_000_000, size=10):
    records = [Record(b"k%d" % i, b"v%d-" % i + b"x" * size, (), timestamp + i if magic else -1, i)
               for i in range(first, first + count)]
    return encode_message_set(records, magic, codec)


def raw_message(magic, attributes, key, value, timestamp=0):
    body = bytes([magic, attributes]) + (struct.pack(">q", timestamp) if magic else b"")
    for field in (key, value):
        body += struct.pack(">i", -1) if field is None else struct.pack(">i", len(field)) + field
    return struct.pack(">I", zlib.crc32(body)) + body


def raw_entry(offset, message):
    return struct.pack(">qi", offset, len(message)) + message


def stored(broker, topic=TOPIC):
    """``[(batch header, records)]`` of the partition's segment files."""
    batches = []
    for segment in sorted((broker.log_dir / f"{topic}-0").glob("*.log")):
        batches += decode_batches(segment.read_bytes())
    return batches


@pytest.fixture
def topic(broker):
    assert create_topic(broker.bootstrap, TOPIC)["error_code"] == 0
    return TOPIC


@pytest.mark.parametrize("version", [0, 1, 2])
def test_each_version_and_codec_appends_one_dense_batch(broker, topic, version):
    """Magic 0 and 1, every legacy codec, through Produce v0/v1/v2: one v2 batch per set, offsets dense."""
    expected_offset = 0
    for magic in (0, 1):
        for codec in (0, 1, 2, 3):
            result = produce(broker.bootstrap, topic, 0, message_set(magic, 3, codec, first=500), version=version)
            assert (result["error_code"], result["base_offset"]) == (0, expected_offset)
            if version >= 2:
                assert result["log_append_time_ms"] == -1
            expected_offset += 3
    batches = stored(broker)
    assert [(h.base_offset, h.records_count, h.compression) for h, _ in batches] == [
        (3 * i, 3, codec) for i, codec in enumerate([0, 1, 2, 3] * 2)]
    timestamps = [[r.timestamp for r in records] for _, records in batches]
    assert timestamps[:4] == [[-1, -1, -1]] * 4  # magic 0: none
    assert timestamps[4:] == [[1_700_000_000_500, 1_700_000_000_501, 1_700_000_000_502]] * 4


def test_log_append_time_topic_stamps_converted_batches(broker):
    """A LogAppendTime topic stamps magic-0 and magic-1 batches on append; Produce v2 answers the time."""
    assert create_topic(broker.bootstrap, "lat", configs={"message.timestamp.type": "LogAppendTime"})["error_code"] == 0
    for magic in (0, 1):
        result = produce(broker.bootstrap, "lat", 0, message_set(magic, 2, codec=1), version=2)
        assert result["error_code"] == 0 and result["log_append_time_ms"] > 1_700_000_000_000
    for header, records in stored(broker, "lat"):
        assert header.is_log_append_time
        assert {r.timestamp for r in records} == {header.max_timestamp}


def test_a_v2_batch_in_produce_v2_is_accepted_as_kafka_does(broker, topic):
    """Kafka 2.8 checks magic only for Produce v3+: a v2 batch through Produce v0–v2 is appended."""
    batch = build_batch([Record(b"k", b"v", (), 1_700_000_000_000), Record(b"k2", b"v2", (), 1_700_000_000_001)])
    assert produce(broker.bootstrap, topic, 0, batch, version=2)["error_code"] == 0
    assert latest_offset(broker.bootstrap, topic) == 2


def test_wrong_inner_offsets_are_rewritten(broker, topic):
    """A magic-1 wrapper whose inner offsets are not 0..n-1 is appended with dense offsets, as Kafka 2.8 does."""
    inner = b"".join(raw_entry(offset, raw_message(1, 0, b"k", b"v%d" % i, 1_700_000_000_000))
                     for i, offset in enumerate((5, 5, 9)))
    wrapper = raw_entry(0, raw_message(1, 1, None, compress(1, inner)))
    assert produce(broker.bootstrap, topic, 0, wrapper, version=2)["error_code"] == 0
    [(header, records)] = stored(broker)
    assert [(r.offset, r.value) for r in records] == [(0, b"v0"), (1, b"v1"), (2, b"v2")]


def _corrupt_crc():
    records = bytearray(message_set(1, 2))
    records[-1] ^= 0xFF
    return bytes(records)


def _corrupt_inner_crc():
    inner = bytearray(message_set(1, 2))
    inner[-1] ^= 0xFF
    return raw_entry(1, raw_message(1, 1, None, compress(1, bytes(inner))))


BAD_SETS = {
    "crc mismatch": (_corrupt_crc, errors.CorruptMessageError),
    "inner crc mismatch": (_corrupt_inner_crc, errors.CorruptMessageError),
    "partial last message": (lambda: message_set(0, 2)[:-3], errors.CorruptMessageError),
    "size below the minimum": (lambda: struct.pack(">qi", 0, 5) + b"\x00" * 20, errors.CorruptMessageError),
    "empty": (lambda: b"", errors.InvalidRecordError),
    "mixed magics": (lambda: message_set(0, 1) + message_set(1, 1, first=1), errors.InvalidRecordError),
    "two wrappers": (lambda: message_set(1, 2, codec=1) + message_set(1, 2, codec=1, first=2),
                     errors.InvalidRecordError),
    "zstd wrapper": (lambda: raw_entry(0, raw_message(1, 4, None, compress(4, message_set(1, 1)))),
                     errors.InvalidRecordError),
    "double compression": (lambda: raw_entry(0, raw_message(1, 1, None, compress(1, message_set(1, 2, codec=1)))),
                           errors.InvalidRecordError),
    "null wrapper value": (lambda: raw_entry(0, raw_message(0, 2, None, None)), errors.InvalidRecordError),
    "inner magic differs": (lambda: raw_entry(0, raw_message(1, 1, None, compress(1, message_set(0, 2)))),
                            errors.InvalidRecordError),
    "log append time claimed": (lambda: encode_message_set([Record(b"k", b"v", (), 5, 0)], 1, 1, timestamp_type=1),
                                errors.InvalidTimestampError),
    "larger than max.message.bytes once converted": (lambda: message_set(0, 30, size=1000),
                                                     errors.MessageTooLargeError),
}


@pytest.mark.parametrize("case", sorted(BAD_SETS))
def test_bad_sets_get_kafkas_error_and_append_nothing(broker, topic, case):
    """Each bad set gets Kafka's code for its partition only; the other partition of the same request
    is appended, and the next valid produce to the bad partition gets the next dense offset."""
    make, error = BAD_SETS[case]
    assert create_topic(broker.bootstrap, "other")["error_code"] == 0
    assert produce(broker.bootstrap, topic, 0, message_set(0, 2), version=1)["error_code"] == 0
    with WireClient(broker.bootstrap) as client:
        response = client.request(ApiKey.PRODUCE, 2, {"acks": -1, "timeout_ms": 10000, "topic_data": [
            {"name": topic, "partition_data": [{"index": 0, "records": make()}]},
            {"name": "other", "partition_data": [{"index": 0, "records": message_set(1, 2)}]}]})
    bad, good = (r["partition_responses"][0] for r in response["responses"])
    assert bad["error_code"] == error.code, bad
    assert bad["base_offset"] == -1
    assert good["error_code"] == 0 and good["base_offset"] == 0
    assert latest_offset(broker.bootstrap, topic) == 2
    assert produce(broker.bootstrap, topic, 0, message_set(1, 1), version=2)["base_offset"] == 2


def test_leadership_is_checked_before_the_set(broker, topic):
    """A bad set to a partition that is not here gets UNKNOWN_TOPIC_OR_PARTITION first, as Kafka answers."""
    for partition, name in ((5, topic), (0, "never-created")):
        result = produce(broker.bootstrap, name, partition, _corrupt_crc(), version=1)
        assert result["error_code"] == errors.UnknownTopicOrPartitionError.code


def test_acks_0_with_a_bad_set_closes_the_connection(broker, topic):
    """An acks=0 producer learns of a refused set by its connection being closed, as Kafka does."""
    with WireClient(broker.bootstrap) as client:
        client.send(ApiKey.PRODUCE, 1, {"acks": 0, "timeout_ms": 1000, "topic_data": [
            {"name": topic, "partition_data": [{"index": 0, "records": _corrupt_crc()}]}]})
        assert client.is_closed_by_peer()
    assert latest_offset(broker.bootstrap, topic) == 0


def test_a_new_consumer_reads_exactly_what_was_acknowledged(broker, topic):
    """Good and bad sets interleaved: confluent-kafka reads the acknowledged records, in order, densely."""
    from tests.support.clients import read_from_start

    acknowledged = []
    for i, (records, version) in enumerate([(message_set(0, 2, first=0), 0), (_corrupt_crc(), 1),
                                            (message_set(1, 3, codec=3, first=2), 2),
                                            (message_set(0, 1, codec=2, first=5), 1),
                                            (message_set(1, 2, first=6)[:-1], 2),
                                            (message_set(1, 2, codec=1, first=6), 2)]):
        result = produce(broker.bootstrap, topic, 0, records, version=version)
        if result["error_code"] == 0:
            acknowledged.append(i)
    assert acknowledged == [0, 2, 3, 5]
    values = [value for _, value in read_from_start(broker.bootstrap, topic, 8)]
    assert [offset for offset, _ in read_from_start(broker.bootstrap, topic, 8, group="again")] == list(range(8))
    assert values == [b"v%d-" % i + b"x" * 10 for i in range(8)]
