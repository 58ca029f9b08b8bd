"""A real broker's answers to the APIs of issue 2, checked at the wire level.

The idempotent producer's duplicate and gap handling (also after a restart),
LogAppendTime topics, ListOffsets by timestamp, acks=0, long-poll fetches woken
by appends, NOT_CONTROLLER from a broker that is not the controller, and the
Prometheus endpoint.
"""

import threading
import time
import urllib.request

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches
from tests.support.cluster import Cluster, wait_until
from tests.support.wire import WireClient, create_topic, is_led_by, latest_offset, produce

pytestmark = pytest.mark.cluster(size=1, overrides={"zookeeper.session.timeout.ms": "6000"}, metrics=True)


def fetch(address, topic, offset, max_wait_ms=0, min_bytes=0, timeout=20.0):
    with WireClient(address, timeout=timeout) as client:
        response = client.request(ApiKey.FETCH, 11, {
            "replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": min_bytes, "max_bytes": 1 << 20,
            "isolation_level": 1, "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": topic, "partitions": [{"partition": 0, "current_leader_epoch": -1,
                                                        "fetch_offset": offset, "log_start_offset": -1,
                                                        "partition_max_bytes": 1 << 20}]}],
            "forgotten_topics_data": [], "rack_id": ""})
    partition = response["responses"][0]["partitions"][0]
    assert partition["error_code"] == 0, partition
    return partition, decode_batches(bytes(partition["records"] or b""))


def init_producer_id(address):
    with WireClient(address) as client:
        response = client.request(ApiKey.INIT_PRODUCER_ID, 2, {"transactional_id": None,
                                                              "transaction_timeout_ms": 60000})
    assert response["error_code"] == 0
    return response["producer_id"], response["producer_epoch"]


def idempotent_batch(producer_id, epoch, sequence, count=3):
    return build_batch([Record(b"k", b"v%d" % (sequence + i)) for i in range(count)],
                       producer_id=producer_id, producer_epoch=epoch, base_sequence=sequence)


def test_idempotent_producer_duplicates_and_gaps(broker):
    """A retried batch gets its first offset back and is not appended twice; a gap is refused."""
    address = broker.bootstrap
    assert create_topic(address, "idem")["error_code"] == 0
    producer_id, epoch = init_producer_id(address)
    assert producer_id >= 0 and epoch == 0
    assert init_producer_id(address)[0] != producer_id
    first = idempotent_batch(producer_id, epoch, 0)
    assert produce(address, "idem", 0, bytearray(first))["base_offset"] == 0
    assert produce(address, "idem", 0, idempotent_batch(producer_id, epoch, 3))["base_offset"] == 3
    retried = produce(address, "idem", 0, bytearray(first))
    assert (retried["error_code"], retried["base_offset"]) == (0, 0)
    assert latest_offset(address, "idem") == 6
    gap = produce(address, "idem", 0, idempotent_batch(producer_id, epoch, 10))
    assert gap["error_code"] == errors.OutOfOrderSequenceNumberError.code
    assert latest_offset(address, "idem") == 6

    broker.kill()
    broker.restart()
    # Producer state is rebuilt from the log: the same retry is still recognised.
    wait_until(lambda: produce(address, "idem", 0, bytearray(first))["error_code"] == 0, 30,
               message="the partition to be led again")
    assert produce(address, "idem", 0, bytearray(first))["base_offset"] == 0
    assert latest_offset(address, "idem") == 6
    assert produce(address, "idem", 0, idempotent_batch(producer_id, epoch, 6))["base_offset"] == 6


def test_log_append_time_topic(broker):
    """A topic with message.timestamp.type=LogAppendTime stamps batches with the broker's time."""
    address = broker.bootstrap
    assert create_topic(address, "stamped", configs={"message.timestamp.type": "LogAppendTime"})["error_code"] == 0
    before = int(time.time() * 1000)
    result = produce(address, "stamped", 0, build_batch([Record(b"k", b"v", timestamp=1000)]))
    after = int(time.time() * 1000)
    assert before <= result["log_append_time_ms"] <= after
    _, batches = fetch(address, "stamped", 0)
    header, records = batches[0]
    assert header.is_log_append_time
    assert records[0].timestamp == result["log_append_time_ms"]


def test_list_offsets_by_timestamp(broker):
    """ListOffsets finds the first offset whose timestamp is at or after the one asked for."""
    address = broker.bootstrap
    assert create_topic(address, "timeline", configs={"index.interval.bytes": "1"})["error_code"] == 0
    for i in range(5):
        produce(address, "timeline", 0, build_batch([Record(b"k", b"v", timestamp=10_000 + i * 1000)]))
    assert latest_offset(address, "timeline", timestamp=12_000) == 2
    assert latest_offset(address, "timeline", timestamp=12_500) == 3
    assert latest_offset(address, "timeline", timestamp=-2) == 0
    assert latest_offset(address, "timeline", timestamp=-1) == 5
    assert latest_offset(address, "timeline", timestamp=99_000) == -1


def test_acks_zero_gets_no_response(broker):
    """acks=0 produce is appended and answered with nothing; the next request's answer comes first."""
    address = broker.bootstrap
    assert create_topic(address, "fire-and-forget")["error_code"] == 0
    with WireClient(address) as client:
        client.send(ApiKey.PRODUCE, 8, {"transactional_id": None, "acks": 0, "timeout_ms": 1000, "topic_data": [
            {"name": "fire-and-forget",
             "partition_data": [{"index": 0, "records": build_batch([Record(b"k", b"v")])}]}]})
        correlation = client.send(ApiKey.API_VERSIONS, 0, {})
        assert client.receive(ApiKey.API_VERSIONS, 0, correlation)["error_code"] == 0
    assert latest_offset(address, "fire-and-forget") == 1


def test_long_poll_fetch_is_woken_by_an_append(broker):
    """A fetch waiting for data (max_wait 60 s) is answered as soon as a batch arrives."""
    address = broker.bootstrap
    assert create_topic(address, "long-poll")["error_code"] == 0
    wait_until(lambda: is_led_by(address, "long-poll"), 30, message="the broker to lead long-poll-0")
    result = {}

    def poll():
        result["fetched"] = fetch(address, "long-poll", 0, max_wait_ms=60_000, min_bytes=1, timeout=30.0)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)  # let the fetch park in the purgatory; the deadline below is what matters
    assert produce(address, "long-poll", 0, build_batch([Record(b"k", b"wake up")]))["error_code"] == 0
    poller.join(30)
    assert not poller.is_alive(), "the parked fetch was not woken by the append"
    partition, batches = result["fetched"]
    assert partition["high_watermark"] == 1
    assert batches[0][1][0].value == b"wake up"


def test_metrics_endpoint_counts_requests(broker):
    """/metrics on metrics.port exposes request counts per API and messages in per topic."""
    address = broker.bootstrap
    assert create_topic(address, "measured")["error_code"] == 0
    produce(address, "measured", 0, build_batch([Record(b"k", b"v")] * 3))
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % broker.metrics_port, timeout=10).read().decode()
    assert 'kafka_network_requestmetrics_requests_total{request="Produce",version=' in text
    assert 'kafka_server_brokertopicmetrics_messagesin_total{topic="measured"} 3.0' in text
    assert "\nkafka_server_replicamanager_partitioncount 1.0\n" in text


@pytest.mark.slow
def test_only_the_controller_creates_topics(zookeeper, tmp_path):
    """CreateTopics sent to a broker that is not the controller gets NOT_CONTROLLER."""
    cluster = Cluster(zookeeper, tmp_path, size=2, overrides={"zookeeper.session.timeout.ms": "6000"}).start()
    try:
        def controller_id():
            with WireClient(cluster.brokers[0].bootstrap) as client:
                metadata = client.request(ApiKey.METADATA, 8, {"topics": []})
            return metadata["controller_id"] if metadata["controller_id"] >= 0 and len(metadata["brokers"]) == 2 \
                else None

        controller = wait_until(controller_id, 30, message="both brokers in the controller's metadata")
        other = next(b for b in cluster.brokers if b.broker_id != controller)
        assert create_topic(other.bootstrap, "misdirected", retry_not_controller_s=0)["error_code"] == \
            errors.NotControllerError.code
        assert create_topic(cluster.broker(controller).bootstrap, "directed")["error_code"] == 0
    finally:
        cluster.stop()
