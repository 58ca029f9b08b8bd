"""Old producers (message formats v0 and v1, Produce v0–v2) against a real broker, read back by a new consumer.

- kcat (Debian's, librdkafka 2.0.2) with ``api.version.request=false`` and
  ``broker.version.fallback`` 0.9.0.1 (Produce v1, magic 0) or 0.8.2.2 (Produce v0,
  magic 0), with every codec those formats carry;
- kafka-python with ``api_version=(0, 10)`` (Produce v2, magic 1, timestamps) and
  ``(0, 9)`` (Produce v1, magic 0; its lz4 carries the broken header checksum of
  KAFKA-3160), with every codec it supports.

confluent-kafka (Fetch v11, magic 2) reads everything back: keys, values, dense offsets,
and timestamps as Kafka 2.8 gives them (none for magic 0, the producer's for magic 1,
the broker's on a LogAppendTime topic).
"""

import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafkalite.protocol.compression import codec_for_name
from tests.support.clients import consume_confluent, create_topic
from tests.support.old_clients import stored_codecs

COUNT = 30
LEGACY_CODECS = ["none", "gzip", "snappy", "lz4"]
#: librdkafka's CreateTime value for "no timestamp" as the consumer reports it.
NO_TIMESTAMP = -1

pytestmark = pytest.mark.cluster(size=1, overrides={"zookeeper.session.timeout.ms": "6000"}, metrics=True)


def produce_versions(broker):
    """The Produce versions the broker has answered (its per-version request counter)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=10).read().decode()
    return {int(sample.labels["version"]) for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "kafka_network_requestmetrics_requests_total"
            and sample.labels.get("request") == "Produce" and sample.value > 0}


def kcat_produce(bootstrap, topic, codec, fallback, lines):
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", "0", "-K:", "-z", codec,
                    "-X", "api.version.request=false", "-X", f"broker.version.fallback={fallback}",
                    "-X", "linger.ms=5"],
                   input=lines.encode(), check=True, timeout=60, capture_output=True)


@pytest.mark.parametrize("fallback", ["0.9.0.1", "0.8.2.2"])
@pytest.mark.parametrize("codec", LEGACY_CODECS)
def test_kcat_old_broker_fallback(broker, fallback, codec):
    """kcat speaking to a "0.9"/"0.8" broker writes magic 0; a new consumer reads every key and value back
    at dense offsets with no timestamp; a second run appends after the first."""
    topic = f"kcat-{fallback.replace('.', '')}-{codec}"
    create_topic(broker.bootstrap, topic)
    first = "".join(f"key-{i}:value-{i}-{codec}\n" for i in range(COUNT))
    second = "".join(f"key-{i}:value-{i}-{codec}\n" for i in range(COUNT, 2 * COUNT))
    kcat_produce(broker.bootstrap, topic, codec, fallback, first)
    kcat_produce(broker.bootstrap, topic, codec, fallback, second)
    messages = consume_confluent(broker.bootstrap, topic, 2 * COUNT, expect_no_more=True)
    for i, message in enumerate(messages):
        assert (message.key(), message.value()) == (b"key-%d" % i, b"value-%d-%s" % (i, codec.encode()))
        assert message.offset() == i
        assert message.timestamp()[1] == NO_TIMESTAMP  # magic 0 carries none
    assert stored_codecs(broker, topic) == {codec_for_name(codec)}  # the client compressed; the batch kept it
    assert produce_versions(broker) == {1 if fallback.startswith("0.9") else 0}


def test_kcat_magic_0_on_a_log_append_time_topic(broker):
    """On a LogAppendTime topic the broker stamps magic-0 records with its own clock on append."""
    topic = "kcat-log-append-time"
    create_topic(broker.bootstrap, topic, configs={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    kcat_produce(broker.bootstrap, topic, "gzip", "0.9.0.1", "".join(f"k{i}:v{i}\n" for i in range(COUNT)))
    after = int(time.time() * 1000)
    from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME

    for message in consume_confluent(broker.bootstrap, topic, COUNT, expect_no_more=True):
        kind, timestamp = message.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME
        assert before - 1000 <= timestamp <= after + 1000


@pytest.mark.parametrize("api_version", [(0, 10), (0, 9)])
@pytest.mark.parametrize("codec", LEGACY_CODECS)
def test_kafka_python_old_api_version(broker, api_version, codec):
    """kafka-python pinned to 0.10 (magic 1) or 0.9 (magic 0) produces; a new consumer reads keys, values,
    dense offsets, and the producer's timestamps for magic 1 (none for magic 0)."""
    from kafka import KafkaProducer

    topic = "kafka-python-%d%d-%s" % (api_version + (codec,))
    create_topic(broker.bootstrap, topic)
    # Its defaults otherwise (acks=all; idempotence, which needs 0.11, switched off by the client itself).
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, api_version=api_version, linger_ms=5,
                             compression_type=None if codec == "none" else codec)
    assert not producer.config["enable_idempotence"]
    base_ts = 1_700_000_200_000
    futures = [producer.send(topic, partition=0, key=b"key-%d" % i, value=b"value-%d" % i * (i + 1),
                             timestamp_ms=base_ts + i)
               for i in range(COUNT)]
    offsets = [future.get(timeout=60).offset for future in futures]
    producer.close()
    assert sorted(offsets) == list(range(COUNT))
    magic_1 = api_version >= (0, 10)
    for i, message in enumerate(consume_confluent(broker.bootstrap, topic, COUNT, expect_no_more=True)):
        assert (message.key(), message.value(), message.offset()) == (b"key-%d" % i, b"value-%d" % i * (i + 1), i)
        assert message.timestamp()[1] == (base_ts + i if magic_1 else NO_TIMESTAMP)
    assert stored_codecs(broker, topic) == {codec_for_name(codec)}
    assert produce_versions(broker) == {2 if magic_1 else 1}
