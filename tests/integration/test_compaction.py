"""A real broker compacts a ``cleanup.policy=compact`` topic: confluent-kafka reads exactly the latest value per key.

The broker's log cleaner runs in its own thread (``log.cleaner.backoff.ms`` shortened); progress
is observed through the ``cleaner-offset-checkpoint`` file. The crash tests set the test-only
``KAFKALITE_TEST_CLEANER_CRASH_STEP`` so the broker SIGKILLs itself in the middle of a segment
swap, then restart it without the hook.
"""

import os
import signal
import time

import pytest

from kafkalite.log.checkpoint import CorruptCheckpointError, read_offset_checkpoint
from kafkalite.log.cleaner import CLEANER_CHECKPOINT, CRASH_STEP_ENV
from tests.support.clients import create_topic
from tests.support.cluster import BrokerProcess, wait_until

TOPIC = "compacted"
KEYS = 20
ROUNDS = 6
FILLERS = 40
BROKER_OVERRIDES = {"log.cleaner.backoff.ms": "100", "zookeeper.session.timeout.ms": "6000"}
TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": "1500", "min.cleanable.dirty.ratio": "0.01",
                "delete.retention.ms": "3600000"}

pytestmark = pytest.mark.cluster(overrides=BROKER_OVERRIDES)


def produce_rounds(bootstrap):
    """ROUNDS values for each of KEYS keys, then unique filler keys so the last round leaves the active segment.

    :returns: ``{key: latest value}`` of the main keys and the offset just after the last round.
    """
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": "all",
                         "compression.type": "lz4"})
    delivered = []

    def on_delivery(error, message):
        assert error is None, error
        delivered.append(message.offset())

    latest = {}
    for round_number in range(ROUNDS):
        for key in range(KEYS):
            value = b"round-%d-key-%d-" % (round_number, key) + b"x" * 20
            producer.produce(TOPIC, key=b"key-%d" % key, value=value, on_delivery=on_delivery)
            latest[b"key-%d" % key] = value
        producer.flush(30)
    rounds_end = max(delivered) + 1
    for filler in range(FILLERS):
        producer.produce(TOPIC, key=b"filler-%d" % filler, value=os.urandom(100), on_delivery=on_delivery)
        assert producer.flush(30) == 0  # one small batch each: the fillers fill whole segments
    assert len(delivered) == ROUNDS * KEYS + FILLERS
    return latest, rounds_end


def consume_all(bootstrap):
    """Every (offset, key, value) of partition 0, read from the start until the end offset."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "compaction-check",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(TOPIC, 0, 0)])
        rows = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    return rows
                continue  # transient (leader not yet known after a restart)
            rows.append((message.offset(), message.key(), message.value()))
        raise AssertionError(f"no end of partition within 60 s ({len(rows)} records read)")
    finally:
        consumer.close()


def cleaned_up_to(broker, topic=TOPIC):
    """The first dirty offset the broker's cleaner checkpointed for partition 0 of ``topic`` (-1: none yet)."""
    try:
        return read_offset_checkpoint(str(broker.log_dir / CLEANER_CHECKPOINT)).get((topic, 0), -1)
    except (CorruptCheckpointError, OSError):
        return -1


def check_exactly_latest(rows, latest):
    main = [(key, value) for _offset, key, value in rows if key.startswith(b"key-")]
    assert sorted(main) == sorted(latest.items()), "each key must appear once, with its latest value"
    fillers = [key for _offset, key, _value in rows if key.startswith(b"filler-")]
    assert len(fillers) == FILLERS
    offsets = [offset for offset, _key, _value in rows]
    assert offsets == sorted(set(offsets))


def test_compacted_topic_keeps_the_latest_value_per_key_across_a_restart(single_broker):
    """After cleaning, a consumer reads each key once with its latest value, before and after a broker restart."""
    create_topic(single_broker.bootstrap, TOPIC, configs=TOPIC_CONFIG)
    latest, rounds_end = produce_rounds(single_broker.bootstrap)
    wait_until(lambda: cleaned_up_to(single_broker) >= rounds_end, 60, message="the cleaner to pass the last round")
    before = consume_all(single_broker.bootstrap)
    check_exactly_latest(before, latest)
    assert [name for name in os.listdir(single_broker.log_dir / f"{TOPIC}-0") if name.endswith(".swap")] == []
    single_broker.restart()
    after = consume_all(single_broker.bootstrap)
    assert after == before


@pytest.mark.parametrize("crash_step", ["commit", "delete_old", "rename_indexes"])
def test_a_crash_during_cleaning_loses_nothing(zookeeper, tmp_path, monkeypatch, crash_step):
    """SIGKILL inside a segment swap (before or after its commit point): the restarted broker finishes the job."""
    broker = BrokerProcess(1, zookeeper.connect_string, tmp_path / "crash",
                           overrides={**BROKER_OVERRIDES, "log.cleaner.enable": "false"})
    try:
        broker.start().wait_ready()
        create_topic(broker.bootstrap, TOPIC, configs=TOPIC_CONFIG)
        latest, rounds_end = produce_rounds(broker.bootstrap)
        broker.stop()
        broker.overrides["log.cleaner.enable"] = "true"
        monkeypatch.setenv(CRASH_STEP_ENV, crash_step)
        broker.start()  # its cleaner kills it at crash_step of the first swap
        monkeypatch.delenv(CRASH_STEP_ENV)
        wait_until(lambda: not broker.is_running(), 60, message="the cleaner's test hook to kill the broker")
        assert broker.returncode == -signal.SIGKILL
        assert "test hook" in broker.log_text()
        broker.start().wait_ready()
        rows = consume_all(broker.bootstrap)
        assert {key: value for _offset, key, value in rows if key.startswith(b"key-")} == latest
        assert len([row for row in rows if row[1].startswith(b"filler-")]) == FILLERS
        wait_until(lambda: cleaned_up_to(broker) >= rounds_end, 60, message="the restarted cleaner to finish")
        check_exactly_latest(consume_all(broker.bootstrap), latest)
    finally:
        broker.stop()


def test_cleaner_threads_clean_in_the_background_and_stop(tmp_path):
    """LogManager.start_cleaner runs real threads that compact due logs; shutdown stops and joins them."""
    from tests.support.log import KEY, TS, FakeClock, new_manager, write_rounds

    manager = new_manager(tmp_path, FakeClock(TS))
    write_rounds(manager.get_log(*KEY), rounds=4)
    cleaner = manager.start_cleaner(num_threads=2, backoff_ms=10)
    wait_until(lambda: cleaner.checkpoint_of(KEY) is not None, 30, message="a background cleaning")
    assert cleaner.checkpoint_of(KEY) == 20
    manager.shutdown()
    assert cleaner._threads == []


def test_consumer_offsets_are_compacted_and_commits_survive_a_restart(zookeeper, tmp_path):
    """Many commits of one group shrink to the latest per key in __consumer_offsets; the group reads it back."""
    from confluent_kafka import Consumer, TopicPartition

    overrides = {**BROKER_OVERRIDES, "offsets.topic.num.partitions": "1", "offsets.topic.segment.bytes": "2000"}
    broker = BrokerProcess(1, zookeeper.connect_string, tmp_path / "offsets", overrides=overrides)
    try:
        broker.start().wait_ready()
        create_topic(broker.bootstrap, TOPIC, configs=TOPIC_CONFIG)
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "committer",
                             "enable.auto.commit": False})
        try:
            for offset in range(1, 151):
                consumer.commit(offsets=[TopicPartition(TOPIC, 0, offset)], asynchronous=False)
        finally:
            consumer.close()
        offsets_dir = broker.log_dir / "__consumer_offsets-0"
        wait_until(lambda: cleaned_up_to(broker, "__consumer_offsets") > 100, 60,
                   message="__consumer_offsets-0 to be cleaned")

        def log_size():
            return sum(path.stat().st_size for path in offsets_dir.glob("*.log"))

        # Cleaning goes on in passes while segments roll; wait for it to get the log small.
        wait_until(lambda: log_size() < 150 * 60 / 2, 60,
                   message="__consumer_offsets-0 to shrink below half of 150 commits' size")
        broker.restart()
        reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "committer"})
        try:
            committed = wait_until(lambda: [tp.offset for tp in reader.committed([TopicPartition(TOPIC, 0)],
                                                                                 timeout=10) if tp.offset >= 0],
                                   60, message="the committed offset after the restart")
        finally:
            reader.close()
        assert committed == [150]
    finally:
        broker.stop()
