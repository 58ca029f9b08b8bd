"""Bad input gets the error Kafka gives (or a closed connection), loses nothing, and harms no one else.

Each test sends something real clients never would, with a raw socket and our
own codec, to a real broker; then checks that nothing was appended and that
another connection is still served.
"""

import struct

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.recordcodec import Record, build_batch
from tests.support.cluster import wait_until
from tests.support.wire import WireClient, create_topic, latest_offset, produce

MAX_REQUEST = 1024 * 1024


pytestmark = pytest.mark.cluster(size=1, overrides={
    "socket.request.max.bytes": str(MAX_REQUEST), "message.max.bytes": "20000",
    "log.retention.check.interval.ms": "300"})


def still_serving(address):
    """Another connection gets a correct ApiVersions answer."""
    with WireClient(address) as client:
        return client.request(ApiKey.API_VERSIONS, 3, {"client_software_name": "t",
                                                      "client_software_version": "1"})["error_code"] == 0


def batch(count=3, size=10):
    return build_batch([Record(b"k%d" % i, b"v" * size) for i in range(count)])


@pytest.fixture
def topic(broker):
    assert create_topic(broker.bootstrap, "victim")["error_code"] == 0
    assert produce(broker.bootstrap, "victim", 0, batch())["error_code"] == 0
    return "victim"


def test_garbage_bytes_close_the_connection(broker, topic):
    """A frame of random bytes closes that connection; others are served and nothing is appended."""
    with WireClient(broker.bootstrap) as client:
        client.send_raw(struct.pack(">i", 12) + b"\xde\xad\xbe\xef" * 3)
        assert client.is_closed_by_peer()
    assert still_serving(broker.bootstrap)
    assert latest_offset(broker.bootstrap, topic) == 3


def test_truncated_frame_then_disconnect(broker, topic):
    """A client that sends half a produce request and disconnects appends nothing."""
    records = batch()
    with WireClient(broker.bootstrap) as client:
        message = bytearray(200)
        client.send_raw(struct.pack(">i", 5000) + bytes(message))
    assert still_serving(broker.bootstrap)
    assert produce(broker.bootstrap, topic, 0, records)["base_offset"] == 3


def test_frame_over_socket_request_max_bytes_closes(broker, topic):
    """A size prefix above socket.request.max.bytes closes the connection before the body arrives."""
    with WireClient(broker.bootstrap) as client:
        client.send_raw(struct.pack(">i", MAX_REQUEST + 1) + b"\x00" * 64)
        assert client.is_closed_by_peer()
    assert still_serving(broker.bootstrap)


def test_unknown_api_key_closes(broker):
    """An API key the broker does not know closes the connection, as Kafka does."""
    with WireClient(broker.bootstrap) as client:
        client.send_raw(struct.pack(">ihhih", 10, 999, 0, 7, -1))
        assert client.is_closed_by_peer()
    assert still_serving(broker.bootstrap)


def test_unknown_api_versions_version_gets_v0_error_body(broker):
    """ApiVersions v99 gets UNSUPPORTED_VERSION in a v0 body listing our ApiVersions range (KIP-511)."""
    with WireClient(broker.bootstrap) as client:
        client.send_raw(struct.pack(">ihhih", 10, 18, 99, 42, -1))
        frame = client.read_frame()
    correlation_id, error_code, count, key, low, high = struct.unpack(">ihihhh", frame[:16])
    assert (correlation_id, error_code, count, key, low, high) == (42, 35, 1, 18, 0, 3)


def test_unsupported_produce_version_closes(broker):
    """Produce v10 (beyond Kafka 2.8's v0–v9) is not served: the connection is closed."""
    with WireClient(broker.bootstrap) as client:
        client.send_raw(struct.pack(">ihhih", 10, ApiKey.PRODUCE, 10, 7, -1))
        assert client.is_closed_by_peer()


def test_bad_crc_is_corrupt_message(broker, topic):
    """A batch whose CRC does not match gets CORRUPT_MESSAGE and is not appended."""
    records = batch()
    records[-1] ^= 0xFF
    result = produce(broker.bootstrap, topic, 0, records)
    assert result["error_code"] == errors.CorruptMessageError.code
    assert latest_offset(broker.bootstrap, topic) == 3


def test_batch_over_max_message_bytes(broker, topic):
    """A batch larger than max.message.bytes gets MESSAGE_TOO_LARGE and is not appended."""
    result = produce(broker.bootstrap, topic, 0, batch(count=30, size=1000))
    assert result["error_code"] == errors.MessageTooLargeError.code
    assert latest_offset(broker.bootstrap, topic) == 3


def test_invalid_topic_name(broker):
    """CreateTopics and Metadata answer INVALID_TOPIC_EXCEPTION for an illegal name."""
    assert create_topic(broker.bootstrap, "bad/name")["error_code"] == errors.InvalidTopicError.code
    with WireClient(broker.bootstrap) as client:
        response = client.request(ApiKey.METADATA, 8, {"topics": [{"name": "no good"}],
                                                      "allow_auto_topic_creation": True})
    assert response["topics"][0]["error_code"] == errors.InvalidTopicError.code


def test_produce_to_missing_partition(broker, topic):
    """Produce to a partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION."""
    assert produce(broker.bootstrap, topic, 7, batch())["error_code"] == errors.UnknownTopicOrPartitionError.code
    assert produce(broker.bootstrap, "never-created", 0, batch())["error_code"] == \
        errors.UnknownTopicOrPartitionError.code


def test_responses_keep_request_order_when_pipelined(broker, topic):
    """Pipelined requests on one connection are answered in the order they were sent."""
    with WireClient(broker.bootstrap) as client:
        fetch = client.send(ApiKey.FETCH, 11, {
            "replica_id": -1, "max_wait_ms": 500, "min_bytes": 10_000_000, "max_bytes": 1 << 20,
            "isolation_level": 0, "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": topic, "partitions": [{"partition": 0, "current_leader_epoch": -1,
                                                        "fetch_offset": 0, "log_start_offset": -1,
                                                        "partition_max_bytes": 1 << 20}]}],
            "forgotten_topics_data": [], "rack_id": ""})
        versions = client.send(ApiKey.API_VERSIONS, 0, {})
        first = client.receive(ApiKey.FETCH, 11, fetch)
        second = client.receive(ApiKey.API_VERSIONS, 0, versions)
    assert first["responses"][0]["partitions"][0]["high_watermark"] == 3
    assert second["error_code"] == 0


def test_retention_deletes_old_segments_of_a_live_topic(broker):
    """Segments past retention.ms are deleted and the log start offset moves, while the topic stays usable."""
    assert create_topic(broker.bootstrap, "short-lived", configs={
        "segment.bytes": "1024", "retention.ms": "1000"})["error_code"] == 0
    for _ in range(10):
        assert produce(broker.bootstrap, "short-lived", 0, batch(count=5, size=100))["error_code"] == 0
    log_dir = broker.log_dir / "short-lived-0"
    assert len(list(log_dir.glob("*.log"))) >= 5
    wait_until(lambda: latest_offset(broker.bootstrap, "short-lived", timestamp=-2) == 50, 30,
               message="retention to move the log start offset")
    wait_until(lambda: len(list(log_dir.glob("*.log"))) == 1, 30, message="old segments to be removed")
    assert produce(broker.bootstrap, "short-lived", 0, batch())["base_offset"] == 50
