"""Admin operations through real clients: create with configs, describe configs, delete, auto-create."""

import subprocess

import pytest

from tests.support.cluster import Cluster, wait_until
from tests.support.zookeeper import kazoo_client

pytestmark = pytest.mark.cluster(size=1, overrides={"zookeeper.session.timeout.ms": "6000"})


def test_confluent_admin_create_describe_delete(broker, zookeeper):
    """confluent-kafka's AdminClient creates a topic with an override, reads it back, and deletes the topic."""
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.create_topics([NewTopic("configured", num_partitions=3, replication_factor=1,
                                            config={"retention.ms": "123456", "cleanup.policy": "delete"})])
    futures["configured"].result(timeout=60)
    metadata = admin.list_topics(timeout=30)
    assert sorted(metadata.topics["configured"].partitions) == [0, 1, 2]

    resource = ConfigResource(ConfigResource.Type.TOPIC, "configured")
    configs = admin.describe_configs([resource])[resource].result(timeout=60)
    assert configs["retention.ms"].value == "123456"
    assert not configs["retention.ms"].is_default
    assert configs["segment.bytes"].value == "1073741824"

    with kazoo_client(zookeeper.connect_string, start_timeout=30) as zk:
        data, _ = zk.get("/config/topics/configured")
        assert b'"retention.ms": "123456"' in data or b'"retention.ms":"123456"' in data
        admin.delete_topics(["configured"], operation_timeout=30)["configured"].result(timeout=60)
        wait_until(lambda: zk.exists("/brokers/topics/configured") is None, 30, message="the topic znode to go")
        assert zk.exists("/config/topics/configured") is None
    wait_until(lambda: "configured" not in admin.list_topics(timeout=30).topics, 30,
               message="the topic to leave the metadata")
    # Deleted replicas are renamed <topic>-<p>.<uuid>-delete at once and removed later, as Kafka does.
    wait_until(lambda: not [p for p in broker.log_dir.glob("configured-*") if not p.name.endswith("-delete")], 30,
               message="the replicas' logs to be deleted")


def test_kafka_python_admin_rejects_bad_requests(broker):
    """kafka-python's admin client gets TopicAlreadyExists, InvalidReplicationFactor and InvalidConfig errors."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import InvalidConfigurationError, InvalidReplicationFactorError, TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic("kp-admin", 2, 1)])
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic("kp-admin", 2, 1)])
        with pytest.raises(InvalidReplicationFactorError):
            admin.create_topics([NewTopic("too-replicated", 1, 3)])
        with pytest.raises(InvalidConfigurationError):
            admin.create_topics([NewTopic("misconfigured", 1, 1, topic_configs={"segment.bytes": "-5"})])
    finally:
        admin.close()


def test_auto_creation_on_produce(broker):
    """Producing to an unknown topic creates it with num.partitions, as auto.create.topics.enable promises."""
    subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", "appeared"], input=b"one\ntwo\n",
                   check=True, timeout=60)
    result = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", "appeared", "-o", "beginning", "-e", "-q"],
                            capture_output=True, check=True, timeout=60)
    assert result.stdout.decode().split() == ["one", "two"]


def test_no_auto_creation_when_disabled(zookeeper, tmp_path):
    """With auto.create.topics.enable=false, Metadata for an unknown topic says UNKNOWN_TOPIC_OR_PARTITION."""
    from kafkalite.protocol import errors
    from kafkalite.protocol.apis import ApiKey
    from tests.support.wire import WireClient

    cluster = Cluster(zookeeper, tmp_path, size=1, overrides={"auto.create.topics.enable": "false"}).start()
    try:
        with WireClient(cluster.bootstrap) as client:
            response = client.request(ApiKey.METADATA, 9, {"topics": [{"name": "absent"}],
                                                          "allow_auto_topic_creation": True})
        assert response["topics"][0]["error_code"] == errors.UnknownTopicOrPartitionError.code
    finally:
        cluster.stop()
