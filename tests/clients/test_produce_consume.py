"""End to end: real clients produce keyed records with headers under every codec and read them back.

kcat (librdkafka 2.0.2 from Debian), confluent-kafka (librdkafka 2.16), kafka-python
(its default, idempotent producer) and aiokafka each talk to a real broker on a real
ZooKeeper. Every key, value, header, offset and timestamp is checked.
"""

import asyncio
import subprocess
import time

import pytest

from kafkalite.protocol.compression import codec_for_name
from tests.support.clients import consume_confluent, create_topic
from tests.support.cluster import wait_until
from tests.support.old_clients import stored_codecs
from tests.support.zookeeper import kazoo_client

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
COUNT = 50


def expected_records(codec):
    return [(b"key-%d" % i, b"value-%d-%s-" % (i, codec.encode()) + b"x" * (i * 7),
             [("trace", b"t-%d" % i), ("codec", codec.encode())]) for i in range(COUNT)]


def check_consumed(messages, expected, offsets=None, timestamps=None):
    for position, (message, (key, value, headers)) in enumerate(zip(messages, expected)):
        assert message.key() == key
        assert message.value() == value
        assert [(k, v) for k, v in (message.headers() or [])] == headers
        assert message.offset() == (offsets[position] if offsets else position)
        if timestamps is not None:
            assert message.timestamp()[1] == timestamps[position]


pytestmark = pytest.mark.cluster(size=1, overrides={"zookeeper.session.timeout.ms": "6000"})


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_kafka_round_trip(broker, codec):
    """confluent-kafka produces with ``codec`` and explicit timestamps; every field comes back."""
    from confluent_kafka import Producer

    topic = "confluent-%s" % codec
    create_topic(broker.bootstrap, topic)
    expected = expected_records(codec)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "compression.type": codec, "linger.ms": 5})
    delivered = []
    base_ts = 1_700_000_000_000
    for i, (key, value, headers) in enumerate(expected):
        producer.produce(topic, value=value, key=key, headers=headers, timestamp=base_ts + i,
                         on_delivery=lambda err, msg: delivered.append((err, msg.offset())))
    assert producer.flush(60) == 0
    assert [err for err, _ in delivered] == [None] * COUNT
    offsets = [offset for _, offset in delivered]
    assert offsets == list(range(COUNT))
    messages = consume_confluent(broker.bootstrap, topic, COUNT)
    check_consumed(messages, expected, offsets, [base_ts + i for i in range(COUNT)])


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_round_trip(broker, codec):
    """kcat produces keyed records with headers under ``codec`` and reads them back with kcat."""
    topic = "kcat-%s" % codec
    create_topic(broker.bootstrap, topic)
    lines = "".join("key-%d:value-%d-%s\n" % (i, i, codec) for i in range(COUNT))
    before = int(time.time() * 1000)
    subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-K:", "-z", codec,
                    "-H", "origin=kcat", "-H", "codec=%s" % codec, "-X", "linger.ms=5"],
                   input=lines.encode(), check=True, timeout=60)
    after = int(time.time() * 1000)
    result = subprocess.run(
        ["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning", "-c", str(COUNT), "-e", "-q",
         "-f", "%k|%s|%h|%o|%T\\n"], capture_output=True, check=True, timeout=60)
    rows = result.stdout.decode().splitlines()
    assert len(rows) == COUNT
    # librdkafka compresses only for a broker advertising the old Produce versions too (its compr_req table)
    assert stored_codecs(broker, topic) == {codec_for_name(codec)}
    for i, row in enumerate(rows):
        key, value, headers, offset, timestamp = row.split("|")
        assert (key, value) == ("key-%d" % i, "value-%d-%s" % (i, codec))
        assert headers == "origin=kcat,codec=%s" % codec
        assert int(offset) == i
        assert before - 1000 <= int(timestamp) <= after + 1000


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_idempotent_round_trip(broker, codec):
    """kafka-python's default producer (idempotent, acks=all) and its consumer agree on every field."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = "kafka-python-%s" % codec
    create_topic(broker.bootstrap, topic)
    expected = expected_records(codec)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap,
                             compression_type=None if codec == "none" else codec)
    assert producer.config["enable_idempotence"], "kafka-python's default producer should be idempotent"
    base_ts = 1_700_000_100_000
    futures = [producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=base_ts + i)
               for i, (key, value, headers) in enumerate(expected)]
    offsets = [future.get(timeout=60).offset for future in futures]
    producer.close()
    assert offsets == list(range(COUNT))
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=30000)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek(partition, 0)
    got = []
    for message in consumer:
        got.append(message)
        if len(got) == COUNT:
            break
    consumer.close()
    assert len(got) == COUNT
    for i, (message, (key, value, headers)) in enumerate(zip(got, expected)):
        assert (message.key, message.value, message.offset, message.timestamp) == (key, value, i, base_ts + i)
        assert list(message.headers) == headers


@pytest.mark.parametrize("codec", CODECS)
def test_aiokafka_round_trip(broker, codec):
    """aiokafka produces with ``codec`` and consumes every record back, fields intact."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    topic = "aiokafka-%s" % codec
    create_topic(broker.bootstrap, topic)
    expected = expected_records(codec)
    base_ts = 1_700_000_200_000

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap,
                                    compression_type=None if codec == "none" else codec)
        await producer.start()
        try:
            offsets = []
            for i, (key, value, headers) in enumerate(expected):
                metadata = await producer.send_and_wait(topic, value=value, key=key, headers=headers,
                                                        timestamp_ms=base_ts + i)
                offsets.append(metadata.offset)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            consumer.seek(partition, 0)
            got = []
            while len(got) < COUNT:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 60)
                for messages in batch.values():
                    got.extend(messages)
        finally:
            await consumer.stop()
        return offsets, got

    offsets, got = asyncio.run(run())
    assert offsets == list(range(COUNT))
    assert len(got) == COUNT
    for i, (message, (key, value, headers)) in enumerate(zip(got, expected)):
        assert (message.key, message.value, message.offset, message.timestamp) == (key, value, i, base_ts + i)
        assert list(message.headers) == headers


def test_data_survives_kill_9_and_restart(broker):
    """Acknowledged records are all there, at the same offsets, after SIGKILL and a restart."""
    from confluent_kafka import Producer

    topic = "survivor"
    create_topic(broker.bootstrap, topic)
    expected = expected_records("survivor")
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for key, value, headers in expected:
        producer.produce(topic, value=value, key=key, headers=headers)
    assert producer.flush(60) == 0
    broker.kill()
    broker.restart()
    check_consumed(consume_confluent(broker.bootstrap, topic, COUNT), expected)
    # And the log keeps growing from where it was.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    offsets = []
    producer.produce(topic, value=b"after", on_delivery=lambda err, msg: offsets.append((err, msg.offset())))
    assert producer.flush(60) == 0
    assert offsets == [(None, COUNT)]


def test_topic_written_by_hand_in_zookeeper_becomes_usable(broker, zookeeper):
    """An operator writing ``/brokers/topics/<t>`` with Kafka's JSON gets a working topic."""
    from confluent_kafka import Producer

    with kazoo_client(zookeeper.connect_string, start_timeout=30) as client:
        client.create("/brokers/topics/by-hand", b'{"version":1,"partitions":{"0":[1],"1":[1]}}', makepath=True)
        wait_until(lambda: client.exists("/brokers/topics/by-hand/partitions/1/state"), 30,
                   message="the controller to write partition states")
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    errors = []
    for partition in (0, 1):
        producer.produce("by-hand", value=b"hello-%d" % partition, partition=partition,
                         on_delivery=lambda err, msg: errors.append(err))
    assert producer.flush(60) == 0
    assert errors == [None, None]
    for partition in (0, 1):
        messages = consume_confluent(broker.bootstrap, "by-hand", 1, partition=partition)
        assert messages[0].value() == b"hello-%d" % partition
