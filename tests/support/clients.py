"""Real-client helpers shared by the test suites: topic creation, group produce/consume, reading a partition.

Owns :func:`create_topic` (CreateTopics through confluent-kafka's AdminClient), :func:`partition_metadata`
(a partition's leader, replicas and ISR as a Metadata answer gives them),
:func:`produce_round_robin` / :func:`consume_in_group` / :func:`committed_offsets` (the consumer-group
round trip) and :func:`read_from_start` (a partition read from offset 0 by an assigned consumer).
Everything here talks to brokers as librdkafka does, so tests check what real clients see.
"""

import time

from tests.support.cluster import wait_until

#: Broker overrides of the consumer-group tests: quick session expiry and no initial rebalance delay.
GROUP_OVERRIDES = {
    "zookeeper.session.timeout.ms": "6000",
    "group.min.session.timeout.ms": "1000",
    "group.initial.rebalance.delay.ms": "0",
}


def create_topic(bootstrap, topic, partitions=1, replication_factor=1, configs=None, assignment=None,
                 operation_timeout=30, result_timeout=60, request_timeout=None):
    """Create ``topic`` through CreateTopics and wait for the broker's answer.

    With ``assignment`` (``assignment[p]`` = partition p's replicas, first preferred) it sets the
    replica assignment and the partition count instead of ``partitions``/``replication_factor``.

    :raises Exception: whatever CreateTopics answered if it failed.
    """
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {k: str(v) for k, v in (configs or {}).items()}
    if assignment is not None:
        new_topic = NewTopic(topic, num_partitions=len(assignment), replica_assignment=assignment, config=config)
    else:
        new_topic = NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor, config=config)
    options = {"operation_timeout": operation_timeout}
    if request_timeout is not None:
        options["request_timeout"] = request_timeout
    admin.create_topics([new_topic], **options)[topic].result(timeout=result_timeout)


def produce_acked(bootstrap, topic, count, partition=0):
    """``record-<i>`` for i < ``count`` to one partition in small batches (10 records: tests use
    tiny segments), every one acknowledged (``acks=all``)."""
    from confluent_kafka import Producer

    failed = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "batch.num.messages": 10})
    for i in range(count):
        producer.produce(topic, value=b"record-%d" % i, partition=partition,
                         on_delivery=lambda error, _message: error is not None and failed.append(error))
    assert producer.flush(30) == 0
    assert not failed


def partition_metadata(bootstrap, topic, partition=0, timeout=5, tolerate=Exception):
    """The librdkafka PartitionMetadata (``leader``, ``replicas``, ``isrs``) of a partition, or None.

    None also when the Metadata request fails with ``tolerate`` (no answer yet is "not yet").
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        metadata = admin.list_topics(topic, timeout=timeout)
    except tolerate:
        return None
    entry = metadata.topics.get(topic)
    if entry is None or entry.error is not None and not entry.partitions:
        return None
    return entry.partitions.get(partition)


def produce_round_robin(bootstrap, topic, count, partitions, start=0, keyed=True):
    """Produce values ``v<i>`` (keys ``k<i>`` when ``keyed``) for ``start`` <= i < ``start + count``, record i
    to partition ``i % partitions``; returns per-partition counts."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    per_partition = {}
    for i in range(start, start + count):
        partition = i % partitions
        producer.produce(topic, key=b"k%d" % i if keyed else None, value=b"v%d" % i, partition=partition)
        per_partition[partition] = per_partition.get(partition, 0) + 1
    assert producer.flush(30) == 0
    return per_partition


def committed_offsets(bootstrap, group, topic, partitions):
    """The group's committed offsets, read back through OffsetFetch."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def consume_confluent(bootstrap, topic, count, partition=0, expect_no_more=False):
    """Read ``count`` messages from offset 0 of one partition with confluent-kafka (no group, assigned).

    With ``expect_no_more``, also asserts nothing follows them (within half a second).
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "verify-%s" % topic,
                         "enable.auto.commit": False, "enable.partition.eof": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    messages = []
    try:
        deadline = time.monotonic() + 60
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            messages.append(message)
        if expect_no_more:
            extra = consumer.poll(0.5)
            assert extra is None or extra.error() is not None, (extra.offset(), extra.value())
    finally:
        consumer.close()
    assert len(messages) == count, "consumed %d of %d" % (len(messages), count)
    return messages


def consume_in_group(bootstrap, topic, group, count, extra=None):
    """Consume ``count`` records in ``group`` with confluent-kafka, committing synchronously at the end.

    Returns ``(partition, offset, value)`` of what it read (fewer than ``count`` if 60 s ran out).
    """
    from confluent_kafka import Consumer

    config = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    config.update(extra or {})
    consumer = Consumer(config)
    consumer.subscribe([topic])
    seen = []
    try:
        deadline = time.monotonic() + 60
        while len(seen) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            seen.append((message.partition(), message.offset(), message.value()))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return seen


def read_from_start(bootstrap, topic, count, partition=0, group=None, timeout=60, drain_s=0.0, batch=1000):
    """``(offset, value)`` of a partition read from offset 0 by an assigned consumer until ``count`` arrived.

    Messages carrying an error (e.g. a leader not known yet) are skipped. With ``drain_s``, reading goes
    on that long after ``count`` so that records beyond it (duplicates) show up too.

    :raises TimeoutError: fewer than ``count`` records within ``timeout`` (says how many and the last).
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group or "read-" + topic,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    records = []
    try:
        def more():
            records.extend((m.offset(), m.value()) for m in consumer.consume(batch, 0.5) if m.error() is None)
            return len(records) >= count

        try:
            wait_until(more, timeout, message=f"{count} records of {topic}")
        except TimeoutError as error:
            last = records[-1] if records else None
            raise TimeoutError(f"{error}: read {len(records)}, the last {last}") from None
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline:
            records.extend((m.offset(), m.value()) for m in consumer.consume(batch, 0.2) if m.error() is None)
    finally:
        consumer.close()
    return records


def commit_offset(bootstrap, group, topic, partition, offset):
    """Commit ``offset`` for ``group`` on one partition, as a consumer that never joined would (confluent-kafka)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
    finally:
        consumer.close()
