"""The other Admin APIs through kafka-python's KafkaAdminClient on a real 3-broker cluster.

create_partitions, delete_records, describe_log_dirs and elect_leaders (preferred and
unclean), plus every advertised version of the new APIs through our own wire client (the
versions no installed client sends, and DescribeCluster: kafka-python 3.0.12's
describe_cluster sends it, then fails on the ``endpoint_type`` field, which only v1+ has
and Kafka 2.8 does not serve either; librdkafka describes the cluster with Metadata).
"""

import pytest

from tests.support.clients import create_topic, partition_metadata, produce_acked
from tests.support.cluster import wait_until
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster(size=3, overrides={"zookeeper.session.timeout.ms": "6000",
                                                    "auto.leader.rebalance.enable": "false",
                                                    "replica.lag.time.max.ms": "3000"})


@pytest.fixture
def admin(cluster):
    from kafka import KafkaAdminClient

    client = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=60000)
    try:
        yield client
    finally:
        client.close()


def test_create_partitions(cluster, admin):
    """A count grows the topic with Kafka's assignment; explicit assignments are honoured."""
    from kafka.errors import InvalidPartitionsError

    create_topic(cluster.bootstrap, "kp-grow", partitions=1, replication_factor=3)
    admin.create_partitions({"kp-grow": 3}, timeout_ms=30000)
    admin.create_partitions({"kp-grow": {"count": 4, "assignments": [[2, 3, 1]]}}, timeout_ms=30000)
    wait_until(lambda: partition_metadata(cluster.bootstrap, "kp-grow", 3) is not None, 30,
               message="partition 3 in the metadata")
    assert partition_metadata(cluster.bootstrap, "kp-grow", 3).replicas == [2, 3, 1]
    assert all(len(partition_metadata(cluster.bootstrap, "kp-grow", p).replicas) == 3 for p in range(4))
    with pytest.raises(InvalidPartitionsError):
        admin.create_partitions({"kp-grow": 2})


def test_delete_records_and_restart(cluster, admin):
    """DeleteRecords moves every replica's log start offset: a follower elected leader starts at it too, and
    it survives a restart of every broker."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition as CkTopicPartition
    from kafka import TopicPartition
    from kafka.errors import OffsetOutOfRangeError

    create_topic(cluster.bootstrap, "kp-trim", assignment=[[1, 2, 3]], configs={"segment.bytes": "1024"})
    produce_acked(cluster.bootstrap, "kp-trim", 100)
    result = admin.delete_records({TopicPartition("kp-trim", 0): 60}, timeout_ms=30000)
    assert result[TopicPartition("kp-trim", 0)]["low_watermark"] == 60
    with pytest.raises(OffsetOutOfRangeError):
        admin.delete_records({TopicPartition("kp-trim", 0): 1000}, timeout_ms=30000)

    def earliest_is_60():
        consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "kp-trim-reader"})
        try:
            return consumer.get_watermark_offsets(CkTopicPartition("kp-trim", 0), timeout=10)[0] == 60
        except Exception:  # noqa: BLE001 -- no leader yet: not yet
            return False
        finally:
            consumer.close()

    # the leader goes: follower 2 leads, and its log starts at 60 as well
    cluster.broker(1).stop()
    wait_until(lambda: partition_metadata(cluster.brokers[1].bootstrap, "kp-trim").leader == 2, 60,
               message="broker 2 to lead kp-trim")
    wait_until(earliest_is_60, 60, message="the new leader's earliest offset to be 60")
    cluster.broker(1).start().wait_ready()

    for broker in reversed(cluster.brokers):
        broker.stop()
    for broker in cluster.brokers:
        broker.start()
    for broker in cluster.brokers:
        broker.wait_ready()
    wait_until(earliest_is_60, 60, message="the earliest offset to stay 60 after a restart")


@pytest.mark.cluster(size=3, overrides={"zookeeper.session.timeout.ms": "6000",
                                        "log.retention.check.interval.ms": "500", "log.segment.delete.delay.ms": "0"})
def test_describe_log_dirs_and_retention_below_the_log_start(cluster):
    """describe_log_dirs lists each broker's dir with the partition sizes; whole segments below the log
    start offset are deleted by retention."""
    from kafka import KafkaAdminClient, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=60000)
    try:
        create_topic(cluster.bootstrap, "kp-dirs", partitions=2, replication_factor=2,
                     configs={"segment.bytes": "1024"})
        produce_acked(cluster.bootstrap, "kp-dirs", 100, partition=0)
        answers = admin.describe_log_dirs()
        by_broker = {}
        for answer in answers:
            for log_dir in answer["log_dirs"]:
                assert log_dir["error_code"] == 0 and log_dir["log_dir"].endswith("/data")
                for topic in log_dir["topics"]:
                    for p in topic["partitions"]:
                        by_broker.setdefault(topic["name"], []).append((p["partition_index"], p["partition_size"],
                                                                        p["offset_lag"], p["is_future_key"]))
        replicas = sorted(by_broker["kp-dirs"])
        assert [p for p, *_ in replicas] == [0, 0, 1, 1]
        assert all(size > 0 for p, size, _lag, _f in replicas if p == 0)
        assert all(lag == 0 and not future for _p, _s, lag, future in replicas)
        before = max(size for p, size, *_ in replicas if p == 0)

        admin.delete_records({TopicPartition("kp-dirs", 0): 90}, timeout_ms=30000)

        def sizes():
            return [p["partition_size"] for answer in admin.describe_log_dirs({"kp-dirs": [0]})
                    for d in answer["log_dirs"] for t in d["topics"] for p in t["partitions"]]
        wait_until(lambda: len(sizes()) == 2 and all(s < before / 2 for s in sizes()), 30,
                   message="retention to delete the segments below offset 90 on both replicas")
    finally:
        admin.close()


def test_elect_leaders_preferred_and_unclean(cluster, admin):
    """Preferred election moves leadership back; unclean election brings an offline partition back."""
    create_topic(cluster.bootstrap, "kp-elect", assignment=[[1, 2]])
    create_topic(cluster.bootstrap, "kp-unclean", assignment=[[3, 2]])
    cluster.broker(1).stop()
    wait_until(lambda: partition_metadata(cluster.brokers[1].bootstrap, "kp-elect").leader == 2, 60,
               message="broker 2 to lead kp-elect")
    cluster.broker(1).start().wait_ready()
    wait_until(lambda: 1 in partition_metadata(cluster.brokers[1].bootstrap, "kp-elect").isrs, 60,
               message="broker 1 back in the ISR")
    admin.elect_leaders(0, {"kp-elect": [0]}, timeout_ms=30000)
    wait_until(lambda: partition_metadata(cluster.bootstrap, "kp-elect").leader == 1, 30,
               message="broker 1 to lead kp-elect again")
    # kafka-python ignores ELECTION_NOT_NEEDED; its response still says it
    again = admin.elect_leaders(0, {"kp-elect": [0]}, timeout_ms=30000, raise_errors=False).to_dict()
    assert again["replica_election_results"][0]["partition_result"][0]["error_code"] == 84

    # kp-unclean: broker 2 leaves the ISR (stopped), then its leader 3 goes: offline, ISR [3]
    broker_2, broker_3 = cluster.broker(2), cluster.broker(3)
    broker_2.stop()
    wait_until(lambda: partition_metadata(cluster.brokers[0].bootstrap, "kp-unclean").isrs == [3], 60,
               message="the ISR of kp-unclean to shrink to [3]")
    broker_3.stop()
    broker_2.start().wait_ready()
    wait_until(lambda: partition_metadata(cluster.brokers[0].bootstrap, "kp-unclean").leader == -1, 60,
               message="kp-unclean to be offline")
    from kafka import KafkaAdminClient

    fresh = KafkaAdminClient(bootstrap_servers=cluster.brokers[0].bootstrap, request_timeout_ms=60000)
    try:  # (the first client's controller, broker 3, is gone)
        fresh.elect_leaders(1, {"kp-unclean": [0]}, timeout_ms=30000)
    finally:
        fresh.close()
    wait_until(lambda: partition_metadata(cluster.brokers[0].bootstrap, "kp-unclean").leader == 2, 30,
               message="broker 2 to lead kp-unclean after the unclean election")
    broker_3.start().wait_ready()


def test_every_advertised_version_through_the_wire(cluster):
    """DeleteRecords v0-2, ElectLeaders v0-2, DescribeLogDirs v0-2 and DescribeCluster v0, byte for byte ours."""
    from confluent_kafka.admin import AdminClient

    from kafkalite.protocol.apis import ApiKey

    create_topic(cluster.bootstrap, "wired", assignment=[[1, 2, 3]])
    produce_acked(cluster.bootstrap, "wired", 10)
    controller_id = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(timeout=30).controller_id
    with WireClient(cluster.broker(1).bootstrap) as leader, WireClient(cluster.broker(2).bootstrap) as follower, \
            WireClient(cluster.broker(controller_id).bootstrap) as controller:
        for version in (0, 1, 2):
            request = {"topics": [{"name": "wired", "partitions": [{"partition_index": 0, "offset": 2 + version}]}],
                       "timeout_ms": 30000}
            answer = leader.request(ApiKey.DELETE_RECORDS, version, request)["topics"][0]["partitions"][0]
            assert (answer["error_code"], answer["low_watermark"]) == (0, 2 + version)
            answer = follower.request(ApiKey.DELETE_RECORDS, version, request)["topics"][0]["partitions"][0]
            assert answer["error_code"] == 6  # NOT_LEADER_OR_FOLLOWER

            answer = controller.request(ApiKey.ELECT_LEADERS, version, {
                "election_type": 0, "topic_partitions": [{"topic": "wired", "partitions": [0]}],
                "timeout_ms": 10000})
            result = answer["replica_election_results"][0]["partition_result"][0]
            assert result["error_code"] == 84  # ELECTION_NOT_NEEDED: broker 1 leads already

            dirs = follower.request(ApiKey.DESCRIBE_LOG_DIRS, version, {"topics": [
                {"topic": "wired", "partitions": [0]}]})["results"]
            assert [[(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in d["topics"]]
                    for d in dirs] == [[("wired", [0])]]

        # below the log start offset (now 4) a consumer's fetch is out of range
        fetched = leader.request(ApiKey.FETCH, 11, {
            "replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "rack_id": "", "forgotten_topics_data": [],
            "topics": [{"topic": "wired", "partitions": [{"partition": 0, "current_leader_epoch": -1,
                                                          "fetch_offset": 1, "log_start_offset": -1,
                                                          "partition_max_bytes": 1 << 20}]}]})
        partition = fetched["responses"][0]["partitions"][0]
        assert (partition["error_code"], partition["log_start_offset"]) == (1, 4)  # OFFSET_OUT_OF_RANGE

        described = follower.request(ApiKey.DESCRIBE_CLUSTER, 0, {"include_cluster_authorized_operations": False})
        assert described["error_code"] == 0 and described["controller_id"] == controller_id
        assert sorted((b["broker_id"], b["port"]) for b in described["brokers"]) == \
            sorted((b.broker_id, b.port) for b in cluster.brokers)
        assert described["cluster_authorized_operations"] == -2147483648


def test_create_topics_v5_returns_the_effective_configs(cluster):
    """CreateTopics v5+ answers each topic's configs with their sources, its partition count and replication
    factor (validate_only too); v7 also its topic id, the one written in the topic znode."""
    import base64
    import json
    import uuid

    from confluent_kafka.admin import AdminClient

    from kafkalite.protocol.apis import ApiKey
    from tests.support.zookeeper import kazoo_client

    controller_id = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(timeout=30).controller_id
    with WireClient(cluster.broker(controller_id).bootstrap) as client:
        for version, name, validate_only in ((5, "v5-topic", True), (7, "v7-topic", False)):
            response = client.request(ApiKey.CREATE_TOPICS, version, {
                "topics": [{"name": name, "num_partitions": 2, "replication_factor": 3, "assignments": [],
                            "configs": [{"name": "retention.ms", "value": "1234"}]}],
                "timeout_ms": 30000, "validate_only": validate_only})
            topic = response["topics"][0]
            assert (topic["error_code"], topic["num_partitions"], topic["replication_factor"]) == (0, 2, 3)
            configs = {c["name"]: c for c in topic["configs"]}
            assert (configs["retention.ms"]["value"], configs["retention.ms"]["config_source"]) == ("1234", 1)
            assert (configs["segment.bytes"]["value"], configs["segment.bytes"]["config_source"]) == ("1073741824", 5)
            assert not any(c["read_only"] or c["is_sensitive"] for c in topic["configs"])
        with kazoo_client(cluster.zk_connect) as zk:
            written = json.loads(zk.get("/brokers/topics/v7-topic")[0])["topic_id"]
            assert zk.exists("/brokers/topics/v5-topic") is None
        assert topic["topic_id"] == uuid.UUID(bytes=base64.urlsafe_b64decode(written + "=="))
