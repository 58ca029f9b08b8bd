"""ListOffsets by timestamp from real clients: the first *record* whose timestamp reaches the target.

A producer sends records with timestamps out of order in one batch (linger, one flush),
plain and compressed; confluent-kafka's ``offsets_for_times`` (ListOffsets v1+) and
kafka-python's ``offsets_for_times`` must land on the record Kafka 2.8 would name —
not on the batch's first offset.
"""

import pytest

from tests.support.clients import create_topic

# offsets 0..5 of one batch, then a second batch at 6..7
TIMESTAMPS = [1_000, 5_000, 3_000, 7_000, 2_000, 9_000]
LATER = [11_000, 12_000]
# target -> (offset, timestamp) of the first record in offset order whose timestamp is >= target
EXPECTED = {500: (0, 1_000), 1_000: (0, 1_000), 1_001: (1, 5_000), 4_000: (1, 5_000), 6_000: (3, 7_000),
            8_000: (5, 9_000), 10_000: (6, 11_000), 11_500: (7, 12_000)}


def produce_batches(bootstrap, topic, codec):
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 1000,
                         "batch.num.messages": 1000})
    for stamps in (TIMESTAMPS, LATER):
        for i, stamp in enumerate(stamps):
            producer.produce(topic, value=b"v%d" % i, partition=0, timestamp=stamp)
        assert producer.flush(30) == 0


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
def test_confluent_offsets_for_times_finds_the_record_inside_the_batch(broker, codec):
    from confluent_kafka import Consumer, TopicPartition

    topic = "times-%s" % codec
    create_topic(broker.bootstrap, topic)
    produce_batches(broker.bootstrap, topic, codec)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "times", "enable.auto.commit": False})
    try:
        found = {}
        for target in EXPECTED:
            (answer,) = consumer.offsets_for_times([TopicPartition(topic, 0, target)], timeout=10)
            assert answer.error is None, answer.error
            found[target] = answer.offset
        assert found == {target: offset for target, (offset, _) in EXPECTED.items()}
        (beyond,) = consumer.offsets_for_times([TopicPartition(topic, 0, 13_000)], timeout=10)
        assert beyond.offset == -1  # no record that recent: the end (librdkafka reports -1)
    finally:
        consumer.close()


def test_kafka_python_offsets_for_times_returns_the_records_timestamp(broker):
    from kafka import KafkaConsumer, TopicPartition

    topic = "times-kafka-python"
    create_topic(broker.bootstrap, topic)
    produce_batches(broker.bootstrap, topic, "gzip")
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        partition = TopicPartition(topic, 0)
        for target, (offset, timestamp) in EXPECTED.items():
            answer = consumer.offsets_for_times({partition: target})[partition]
            assert (answer.offset, answer.timestamp) == (offset, timestamp), target
    finally:
        consumer.close()
