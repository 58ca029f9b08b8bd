"""Fetch v0–v3 and ListOffsets v0 on the wire, against a real broker: exact limits and errors.

What real clients cannot be made to send precisely: tiny ``partition_max_bytes`` and
``max_bytes`` (only whole messages come back, at least one, never more than the limit
otherwise), zstd data (UNSUPPORTED_COMPRESSION_TYPE), ListOffsets v0's array of segment
offsets, and proof that Fetch v4+ still sends the log's own bytes (sendfile, unconverted).
"""


import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.message_set import decode_message_set, message_set_records
from tests.support.clients import create_topic
from tests.support.old_clients import message_sizes, produce_compressed
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster(size=1, overrides={"zookeeper.session.timeout.ms": "6000"})


def fetch(client, version, partitions, max_bytes=0x7FFFFFFF):
    """Fetch ``partitions`` (``[(topic, partition, offset, partition_max_bytes)]``); ``{(t, p): (error, records)}``."""
    topics = {}
    for topic, partition, offset, limit in partitions:
        topics.setdefault(topic, []).append({"partition": partition, "fetch_offset": offset,
                                             "partition_max_bytes": limit})
    response = client.request(ApiKey.FETCH, version, {
        "replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": max_bytes,
        "topics": [{"topic": t, "partitions": p} for t, p in topics.items()]})
    return {(t["topic"], p["partition_index"]): (p["error_code"], bytes(p["records"] or b""))
            for t in response["responses"] for p in t["partitions"]}


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_old_fetch_returns_whole_converted_messages_within_the_partition_limit(broker, version):
    topic = "limits-v%d" % version
    create_topic(broker.bootstrap, topic)
    produce_compressed(broker, topic, 40, "none")
    with WireClient(broker.bootstrap) as client:
        everything = fetch(client, version, [(topic, 0, 0, 1 << 20)])[(topic, 0)][1]
        whole = message_sizes(everything)
        assert [r.offset for r in message_set_records(decode_message_set(everything))] == list(range(40))
        magic = everything[16]
        assert magic == (0 if version <= 1 else 1)
        for limit in (1, 50, 200, 777):
            code, records = fetch(client, version, [(topic, 0, 0, limit)])[(topic, 0)]
            sizes = message_sizes(records)
            assert code == 0 and len(sizes) >= 1
            assert len(sizes) == 1 or sum(sizes) <= limit
            assert sizes == whole[:len(sizes)]
        # from the middle of a stored batch: the next record first
        records = fetch(client, version, [(topic, 0, 17, 100)])[(topic, 0)][1]
        assert message_set_records(decode_message_set(records))[0].offset == 17


def test_fetch_v3_max_bytes_counts_converted_bytes_across_partitions(broker):
    topic = "limits-total"
    create_topic(broker.bootstrap, topic, 2)
    for partition in (0, 1):
        produce_compressed(broker, topic, 20, "none", partition=partition, size=100)
    with WireClient(broker.bootstrap) as client:
        answer = fetch(client, 3, [(topic, 0, 0, 1 << 20), (topic, 1, 0, 1 << 20)], max_bytes=10)
        assert len(message_sizes(answer[(topic, 0)][1])) == 1  # the first message, though over max_bytes
        assert answer[(topic, 1)][1] == b""
        answer = fetch(client, 3, [(topic, 0, 0, 1 << 20), (topic, 1, 0, 1 << 20)], max_bytes=1500)
        first, second = (message_sizes(answer[(topic, p)][1]) for p in (0, 1))
        assert sum(first) + sum(second) <= 1500 and first and len(first) < 20


def test_zstd_is_refused_to_old_fetchers(broker):
    """Stored zstd batches, and a topic whose compression.type is zstd, answer UNSUPPORTED_COMPRESSION_TYPE."""
    create_topic(broker.bootstrap, "zstd-data")
    produce_compressed(broker, "zstd-data", 5, "gzip")
    produce_compressed(broker, "zstd-data", 5, "zstd", start=5)
    create_topic(broker.bootstrap, "zstd-topic", configs={"compression.type": "zstd"})
    produce_compressed(broker, "zstd-topic", 5, "zstd")
    unsupported = errors.UnsupportedCompressionTypeError.code
    with WireClient(broker.bootstrap) as client:
        for version in (0, 2, 3):
            # the gzip wrapper first; the answer stops before the zstd batch
            code, records = fetch(client, version, [("zstd-data", 0, 0, 1 << 20)])[("zstd-data", 0)]
            assert code == 0 and [r.offset for r in message_set_records(decode_message_set(records))] == list(range(5))
            assert fetch(client, version, [("zstd-data", 0, 5, 1 << 20)])[("zstd-data", 0)] == (unsupported, b"")
            assert fetch(client, version, [("zstd-topic", 0, 0, 1 << 20)])[("zstd-topic", 0)] == (unsupported, b"")
        # v4+ fetchers are not converted: they get the zstd batches as stored
        code, records = fetch_v4(client, "zstd-data", 5)
        assert code == 0 and records


def fetch_v4(client, topic, offset):
    response = client.request(ApiKey.FETCH, 4, {
        "replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 0,
        "topics": [{"topic": topic, "partitions": [{"partition": 0, "fetch_offset": offset,
                                                    "partition_max_bytes": 1 << 20}]}]})
    partition = response["responses"][0]["partitions"][0]
    return partition["error_code"], bytes(partition["records"] or b"")


def test_fetch_v4_still_sends_the_stored_bytes(broker):
    """Down-conversion is for old fetchers only: Fetch v4 gets the segment file's bytes as they are."""
    topic = "unconverted"
    create_topic(broker.bootstrap, topic)
    produce_compressed(broker, topic, 25, "lz4")
    produce_compressed(broker, topic, 25, "none", start=25)
    stored = (broker.log_dir / ("%s-0" % topic) / ("%020d.log" % 0)).read_bytes()
    with WireClient(broker.bootstrap) as client:
        assert fetch_v4(client, topic, 0) == (0, stored)


def test_list_offsets_v0_answers_segment_offsets(broker):
    """ListOffsets v0: latest is the high watermark, earliest the log start; ``max_num_offsets``
    adds segment base offsets, highest first (Kafka's legacyFetchOffsetsBefore)."""
    topic = "legacy-offsets"
    create_topic(broker.bootstrap, topic, configs={"segment.bytes": "1500"})
    for round_ in range(3):
        produce_compressed(broker, topic, 10, "none", size=60, start=10 * round_)
    with WireClient(broker.bootstrap) as client:
        def offsets(timestamp, max_num):
            response = client.request(ApiKey.LIST_OFFSETS, 0, {"replica_id": -1, "topics": [
                {"name": topic, "partitions": [{"partition_index": 0, "timestamp": timestamp,
                                                "max_num_offsets": max_num}]}]})
            partition = response["topics"][0]["partitions"][0]
            assert partition["error_code"] == 0
            return partition["old_style_offsets"]

        assert offsets(-1, 1) == [30]
        assert offsets(-2, 1) == [0]
        segments = sorted(int(p.stem) for p in (broker.log_dir / ("%s-0" % topic)).glob("*.log"))
        assert len(segments) > 1
        assert offsets(-1, 100) == [30] + sorted(segments, reverse=True)
        assert offsets(-1, 2) == [30, segments[-1]]
        assert offsets(0, 10) == []  # every segment was written after 1970
