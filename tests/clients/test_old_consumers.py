"""Old consumers against a broker that stores only v2 batches: Fetch v0–v3 down-conversion,
ListOffsets v0, Metadata v0 and the group APIs' oldest versions, with real clients.

- kcat (librdkafka) with ``api.version.request=false`` and ``broker.version.fallback`` 0.8.2.2
  (Fetch v0) and 0.9.0.1 (Fetch v1, and the group APIs v0), both message format v0, reads what
  a modern producer (kafka-python, see ``tests/support/old_clients``) wrote with every codec but
  zstd (refused with UNSUPPORTED_COMPRESSION_TYPE): keys, values and offsets intact, headers
  and timestamps dropped (librdkafka asks for ApiVersions whatever ``api.version.request`` says
  once the fallback is 0.10.0 or later, so it cannot be made to send Fetch v2/v3: kafka-python
  does, below);
- kcat's ``-o end`` / ``-o -N`` go through ListOffsets v0;
- kcat ``-G`` with 0.9.0.1 joins a balanced group (FindCoordinator v0, JoinGroup/SyncGroup/
  Heartbeat/LeaveGroup v0, OffsetCommit v2, OffsetFetch v1) and resumes from its commit;
- kafka-python with ``api_version`` (0, 9) (Fetch v1), (0, 10) (Fetch v2, message format v1,
  ApiVersions v0) and (0, 10, 1) (Fetch v3) consumes in a group, commits, and a second member of
  the group resumes from the commit; (0, 8, 1) and (0, 8, 2) commit without a group
  (OffsetCommit/OffsetFetch v0 in ZooKeeper, v1 through the coordinator);
- monitoring reading ``__consumer_offsets`` through Fetch v2 sees the committed offsets.

Each test checks, through the broker's request counters, that the client really used the
old versions it is meant to prove.
"""

import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafkalite.coordinator.group_metadata_manager import OFFSETS_TOPIC
from kafkalite.protocol.offsets_topic import OFFSET_COMMIT_KEY, OFFSET_COMMIT_VALUE, decode_key
from tests.support.clients import GROUP_OVERRIDES, committed_offsets, create_topic, produce_round_robin
from tests.support.cluster import wait_until
from tests.support.old_clients import produce_compressed, value_of

pytestmark = pytest.mark.cluster(size=1, overrides=GROUP_OVERRIDES, metrics=True)

CODECS = ["none", "gzip", "snappy", "lz4"]
COUNT = 30


def versions_used(broker):
    """``{(api name, version)}`` of every request the broker has answered (its request counters)."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % broker.metrics_port, timeout=10).read().decode()
    return {(sample.labels["request"], int(sample.labels["version"]))
            for family in text_string_to_metric_families(text) for sample in family.samples
            if sample.name == "kafka_network_requestmetrics_requests_total" and sample.value > 0}


def assert_used(broker, *expected):
    missing = set(expected) - versions_used(broker)
    assert not missing, "the client did not use %s" % sorted(missing)


def old_kcat(bootstrap, fallback, *args, timeout=60):
    """kcat as a client of broker version ``fallback``, never asking for ApiVersions; its stdout lines."""
    command = ["kcat", "-b", bootstrap, "-X", "api.version.request=false",
               "-X", "broker.version.fallback=%s" % fallback, *args]
    result = subprocess.run(command, capture_output=True, timeout=timeout)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode().splitlines()


@pytest.mark.parametrize("fallback", ["0.8.2.2", "0.9.0.1"])
def test_old_kcat_reads_every_codec_down_converted(broker, fallback):
    """Keys, values and offsets survive down-conversion to format v0; headers and timestamps are dropped."""
    for codec in CODECS:
        topic = "old-%s" % codec
        create_topic(broker.bootstrap, topic)
        produce_compressed(broker, topic, COUNT, codec)
        rows = old_kcat(broker.bootstrap, fallback, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%k|%s|%h|%o|%T\\n")
        assert len(rows) == COUNT, (codec, rows[:3])
        for i, row in enumerate(rows):
            key, text, headers, offset, timestamp = row.split("|")
            assert (key, text, int(offset)) == ("key-%d" % i, value_of(i, codec), i), codec
            assert headers == "", "headers must be dropped for an old fetcher"
            assert int(timestamp) <= 0, "message format v0 has no timestamps"
    fetch_version = 0 if fallback == "0.8.2.2" else 1
    assert_used(broker, ("Fetch", fetch_version), ("ListOffsets", 0), ("Metadata", 0))


def test_old_kcat_is_refused_zstd_data(broker):
    """zstd batches cannot be down-converted: kcat (Fetch v1) reports UNSUPPORTED_COMPRESSION_TYPE and stops."""
    topic = "old-zstd"
    create_topic(broker.bootstrap, topic)
    produce_compressed(broker, topic, COUNT, "zstd")
    command = ["kcat", "-b", broker.bootstrap, "-X", "api.version.request=false",
               "-X", "broker.version.fallback=0.9.0.1", "-C", "-t", topic, "-o", "beginning", "-e", "-q"]
    result = subprocess.run(command, capture_output=True, timeout=60)
    assert result.returncode != 0 and result.stdout == b""
    assert b"Unsupported compression type" in result.stderr


def test_old_kcat_offsets_from_the_end(broker):
    """``-o end`` and ``-o -N`` resolve through ListOffsets v0 (latest and earliest offsets)."""
    topic = "old-end"
    create_topic(broker.bootstrap, topic)
    produce_compressed(broker, topic, 10, "none")
    rows = old_kcat(broker.bootstrap, "0.9.0.1", "-C", "-t", topic, "-o", "-3", "-e", "-q", "-f", "%o|%s\\n")
    assert rows == ["%d|%s" % (i, value_of(i, "none")) for i in (7, 8, 9)]
    assert old_kcat(broker.bootstrap, "0.9.0.1", "-C", "-t", topic, "-o", "end", "-e", "-q", "-f", "%o\\n") == []
    rows = old_kcat(broker.bootstrap, "0.8.2.2", "-C", "-t", topic, "-o", "-1", "-e", "-q", "-f", "%o\\n")
    assert rows == ["9"]
    assert_used(broker, ("ListOffsets", 0))


def test_old_kcat_balanced_group_commits_and_resumes(broker):
    """kcat -G with 0.9.0.1: the group APIs v0 assign both partitions, the commit is where the next run starts."""
    topic = "old-group"
    create_topic(broker.bootstrap, topic, 2)
    counts = produce_round_robin(broker.bootstrap, topic, 20, 2)
    group_args = ["-G", "old-kcat", "-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
                  "-X", "heartbeat.interval.ms=100", "-e", "-q", "-f", "%p|%o|%s\\n", topic]
    rows = old_kcat(broker.bootstrap, "0.9.0.1", *group_args)
    assert sorted(row.split("|")[2] for row in rows) == sorted("v%d" % i for i in range(20))
    assert wait_until(lambda: committed_offsets(broker.bootstrap, "old-kcat", topic, 2) == counts, timeout=30)
    produce_round_robin(broker.bootstrap, topic, 4, 2, start=20)
    rows = old_kcat(broker.bootstrap, "0.9.0.1", *group_args)
    assert sorted(row.split("|")[2] for row in rows) == ["v20", "v21", "v22", "v23"]
    assert_used(broker, ("FindCoordinator", 0), ("JoinGroup", 0), ("SyncGroup", 0), ("Heartbeat", 0),
                ("LeaveGroup", 0), ("OffsetCommit", 2), ("OffsetFetch", 1), ("Fetch", 1))


def consume_kafka_python(bootstrap, topic, group, api_version, count):
    """kafka-python as a client of ``api_version`` consumes ``count`` records in ``group`` and commits."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, api_version=api_version,
                             auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6000,
                             heartbeat_interval_ms=500)
    seen = []
    try:
        deadline = time.monotonic() + 60
        while len(seen) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                seen.extend((r.partition, r.offset, r.key, r.value, r.timestamp) for r in records)
        consumer.commit()
    finally:
        consumer.close()
    return seen


@pytest.mark.parametrize("api_version", [(0, 9), (0, 10), (0, 10, 1)])
def test_kafka_python_old_group_consumer_commits_and_a_second_resumes(broker, api_version):
    """kafka-python (0, 9) (Fetch v1, JoinGroup v0, OffsetCommit v2), (0, 10) (Fetch v2, format v1) and
    (0, 10, 1) (Fetch v3, JoinGroup v1) in a group; format v1 keeps the producer's timestamps."""
    suffix = "-".join(map(str, api_version))
    topic = "kp-old-" + suffix
    group = "kp-old-group-" + suffix
    create_topic(broker.bootstrap, topic, 2)
    before = int(time.time() * 1000)
    counts = produce_round_robin(broker.bootstrap, topic, 30, 2)
    after = int(time.time() * 1000)
    seen = consume_kafka_python(broker.bootstrap, topic, group, api_version, 30)
    assert sorted(value for *_, value, _ in seen) == sorted(b"v%d" % i for i in range(30))
    assert all(key == b"k" + value[1:] for _, _, key, value, _ in seen)
    if api_version == (0, 9):
        assert all(timestamp in (None, -1) for *_, timestamp in seen)
    else:
        assert all(before - 1000 <= timestamp <= after + 1000 for *_, timestamp in seen)
    assert committed_offsets(broker.bootstrap, group, topic, 2) == counts
    produce_round_robin(broker.bootstrap, topic, 6, 2, start=30)
    resumed = consume_kafka_python(broker.bootstrap, topic, group, api_version, 6)
    assert sorted(value for *_, value, _ in resumed) == sorted(b"v%d" % i for i in range(30, 36))
    assert {(p, offset) for p, offset, *_ in resumed} == {(p, counts[p] + i) for p in (0, 1) for i in range(3)}
    expected = {
        (0, 9): [("Fetch", 1), ("Metadata", 0), ("ListOffsets", 0), ("FindCoordinator", 0), ("JoinGroup", 0),
                 ("SyncGroup", 0), ("LeaveGroup", 0), ("OffsetCommit", 2), ("OffsetFetch", 1)],
        (0, 10): [("ApiVersions", 0), ("Fetch", 2), ("Metadata", 1), ("ListOffsets", 0), ("JoinGroup", 0)],
        (0, 10, 1): [("ApiVersions", 0), ("Fetch", 3), ("JoinGroup", 1)],
    }[api_version]
    assert_used(broker, *expected)


def test_monitoring_reads_committed_offsets_through_an_old_fetch(broker):
    """A monitor assigned to every ``__consumer_offsets`` partition with kafka-python (0, 10) (Fetch v2,
    format v1) decodes the group's commits with our offsets-topic schemas."""
    from kafka import KafkaConsumer, TopicPartition

    topic = "monitored"
    create_topic(broker.bootstrap, topic, 2)
    counts = produce_round_robin(broker.bootstrap, topic, 10, 2)
    consume_kafka_python(broker.bootstrap, topic, "monitored-group", (0, 10), 10)

    monitor = KafkaConsumer(bootstrap_servers=broker.bootstrap, api_version=(0, 10), enable_auto_commit=False,
                            auto_offset_reset="earliest")
    found = {}
    try:
        partitions = wait_until(lambda: monitor.partitions_for_topic(OFFSETS_TOPIC), timeout=30)
        monitor.assign([TopicPartition(OFFSETS_TOPIC, p) for p in sorted(partitions)])
        monitor.seek_to_beginning()
        deadline = time.monotonic() + 60
        while found != counts and time.monotonic() < deadline:
            for records in monitor.poll(timeout_ms=500).values():
                for record in records:
                    decoded = decode_key(record.key)
                    if decoded is None or decoded[0] is not OFFSET_COMMIT_KEY:
                        continue
                    key = decoded[1]
                    if (key["group"], key["topic"]) == ("monitored-group", topic) and record.value is not None:
                        found[key["partition"]] = OFFSET_COMMIT_VALUE.decode(record.value)[1]["offset"]
    finally:
        monitor.close()
    assert found == counts
    assert_used(broker, ("Fetch", 2))


@pytest.mark.parametrize("api_version", [(0, 8, 1), (0, 8, 2)])
def test_kafka_python_pre_group_consumer_commits_offsets(broker, api_version):
    """kafka-python (0, 8, 1) commits with OffsetCommit/OffsetFetch v0 (kept in ZooKeeper, as Kafka 2.8
    does) to any broker; (0, 8, 2) finds the coordinator (FindCoordinator v0) and uses OffsetCommit/
    OffsetFetch v1. Both read through Fetch v0 and ListOffsets v0; a second consumer sees the commit."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    topic = "kp-%d-%d-%d" % api_version
    group = "kp-group-%d-%d-%d" % api_version
    create_topic(broker.bootstrap, topic)
    produce_round_robin(broker.bootstrap, topic, 12, 1)
    partition = TopicPartition(topic, 0)

    def consumer():
        c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, api_version=api_version,
                          enable_auto_commit=False, auto_offset_reset="earliest")
        c.assign([partition])
        return c

    first = consumer()
    try:
        assert first.end_offsets([partition]) == {partition: 12}
        values = []
        deadline = time.monotonic() + 60
        while len(values) < 12 and time.monotonic() < deadline:
            for records in first.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
        assert values == [b"v%d" % i for i in range(12)]
        first.commit({partition: OffsetAndMetadata(7, "", -1)})
    finally:
        first.close()
    second = consumer()
    try:
        assert second.committed(partition) == 7
        resumed = []
        deadline = time.monotonic() + 60
        while len(resumed) < 5 and time.monotonic() < deadline:
            for records in second.poll(timeout_ms=500).values():
                resumed.extend(r.offset for r in records)
        assert resumed == [7, 8, 9, 10, 11]
    finally:
        second.close()
    if api_version == (0, 8, 1):
        assert_used(broker, ("Fetch", 0), ("ListOffsets", 0), ("Metadata", 0), ("OffsetCommit", 0), ("OffsetFetch", 0))
    else:
        assert_used(broker, ("FindCoordinator", 0), ("OffsetCommit", 1), ("OffsetFetch", 1))
