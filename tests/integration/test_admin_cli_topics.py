"""``kafkalite-admin topics`` and ``configs`` against a real 3-broker cluster, run as an operator runs them.

Both routes: through ZooKeeper (the znodes Kafka's ``--zookeeper`` tools write, checked byte for
byte in shape) and through the Admin API. Outcomes are read back independently: Metadata through
confluent-kafka, znodes through kazoo.
"""

import json

import pytest

from kafkalite.protocol.apis import ApiKey
from tests.support.admin_cli import admin, advertises
from tests.support.clients import partition_metadata
from tests.support.cluster import wait_until
from tests.support.zookeeper import kazoo_client


def _partitions(bootstrap, topic):
    from confluent_kafka.admin import AdminClient

    # All topics: asking for one by name would auto-create it again after its deletion.
    entry = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics.get(topic)
    return None if entry is None or entry.error is not None else entry.partitions


def _led(bootstrap, topic, count):
    partitions = _partitions(bootstrap, topic)
    return partitions is not None and len(partitions) == count and all(p.leader >= 0 for p in partitions.values())


def test_topics_through_zookeeper(cluster, zookeeper):
    """Create with configs and an explicit assignment, describe, list, grow and delete by writing znodes."""
    zk = zookeeper.connect_string
    bootstrap = cluster.bootstrap
    admin("topics", "--zookeeper", zk, "--create", "--topic", "orders", "--partitions", 3,
          "--replication-factor", 2, "--config", "retention.ms=3600000").ok()
    wait_until(lambda: _led(bootstrap, "orders", 3), 60, message="orders led with 3 partitions")
    assert all(len(p.replicas) == 2 for p in _partitions(bootstrap, "orders").values())
    with kazoo_client(zk) as client:
        topic = json.loads(client.get("/brokers/topics/orders")[0])
        config = json.loads(client.get("/config/topics/orders")[0])
    # AdminZkClient's formats: a v3 topic znode with a topic id, a v1 config znode of strings.
    assert topic["version"] == 3 and isinstance(topic["topic_id"], str) and len(topic["topic_id"]) == 22
    assert sorted(topic["partitions"]) == ["0", "1", "2"]
    assert topic["adding_replicas"] == {} and topic["removing_replicas"] == {}
    assert config == {"version": 1, "config": {"retention.ms": "3600000"}}

    admin("topics", "--zookeeper", zk, "--create", "--topic", "pinned", "--replica-assignment", "3:1,1:2").ok()
    wait_until(lambda: _led(bootstrap, "pinned", 2), 60, message="pinned led")
    assert [list(p.replicas) for _, p in sorted(_partitions(bootstrap, "pinned").items())] == [[3, 1], [1, 2]]

    described = admin("topics", "--zookeeper", zk, "--describe", "--topic", "orders", "--json").ok().json
    [entry] = described["topics"]
    assert entry["partition_count"] == 3 and entry["replication_factor"] == 2
    assert entry["configs"] == {"retention.ms": "3600000"}
    wait_until(lambda: all(len(p["isr"]) == 2 for p in admin(
        "topics", "--zookeeper", zk, "--describe", "--topic", "orders", "--json").json["topics"][0]["partitions"]),
        60, message="full ISRs")
    text = admin("topics", "--zookeeper", zk, "--describe", "--topic", "ord.*").ok().stdout
    assert "Topic: orders\tTopicId: " in text and "PartitionCount: 3\tReplicationFactor: 2" in text
    assert text.count("\tTopic: orders\tPartition: ") == 3 and "Configs: retention.ms=3600000" in text
    assert admin("topics", "--zookeeper", zk, "--describe", "--under-replicated-partitions").ok().stdout == ""

    listed = admin("topics", "--zookeeper", zk, "--list").ok().stdout.split()
    assert "orders" in listed and "pinned" in listed

    admin("topics", "--zookeeper", zk, "--alter", "--topic", "orders", "--partitions", 5).ok()
    wait_until(lambda: _led(bootstrap, "orders", 5), 60, message="orders grown to 5 partitions")
    with kazoo_client(zk) as client:
        grown = json.loads(client.get("/brokers/topics/orders")[0])
    assert grown["topic_id"] == topic["topic_id"]
    assert {k: v for k, v in grown["partitions"].items() if k in topic["partitions"]} == topic["partitions"]

    admin("topics", "--zookeeper", zk, "--alter", "--topic", "orders", "--partitions", 2).refused("INVALID_PARTITIONS")
    admin("topics", "--zookeeper", zk, "--create", "--topic", "orders", "--partitions", 1,
          "--replication-factor", 1).refused("TOPIC_ALREADY_EXISTS")
    admin("topics", "--zookeeper", zk, "--create", "--topic", "wide", "--partitions", 1,
          "--replication-factor", 4).refused("INVALID_REPLICATION_FACTOR")
    admin("topics", "--zookeeper", zk, "--create", "--topic", "bad", "--partitions", 1, "--replication-factor", 1,
          "--config", "segment.bytes=-5").refused("INVALID_CONFIG")
    admin("topics", "--zookeeper", zk, "--delete", "--topic", "missing").refused("UNKNOWN_TOPIC_OR_PARTITION")

    deleted = admin("topics", "--zookeeper", zk, "--delete", "--topic", "pinned").ok().stdout
    assert "Topic pinned is marked for deletion." in deleted
    wait_until(lambda: _partitions(bootstrap, "pinned") is None, 60, message="pinned deleted")


def test_topics_through_admin_api(cluster):
    """Create, describe, list and delete through CreateTopics / Metadata / DescribeConfigs / DeleteTopics."""
    bootstrap = cluster.bootstrap
    admin("topics", "--bootstrap-server", bootstrap, "--create", "--topic", "events", "--partitions", 2,
          "--replication-factor", 3, "--config", "cleanup.policy=compact").ok()
    wait_until(lambda: _led(bootstrap, "events", 2), 60, message="events led")
    [entry] = admin("topics", "--bootstrap-server", bootstrap, "--describe", "--topic", "events",
                    "--json").ok().json["topics"]
    assert entry["partition_count"] == 2 and entry["replication_factor"] == 3
    assert entry["configs"].get("cleanup.policy") == "compact"
    assert "events" in admin("topics", "--bootstrap-server", bootstrap, "--list").ok().stdout.split()
    admin("topics", "--bootstrap-server", bootstrap, "--create", "--topic", "events", "--partitions", 1
          ).refused("TOPIC_ALREADY_EXISTS")
    admin("topics", "--bootstrap-server", bootstrap, "--delete", "--topic", "events").ok()
    wait_until(lambda: _partitions(bootstrap, "events") is None, 60, message="events deleted")


def test_topics_grow_through_admin_api(cluster):
    """``--alter --partitions`` sends CreatePartitions to the controller."""
    bootstrap = cluster.bootstrap
    if not advertises(cluster.brokers[0].bootstrap, ApiKey.CREATE_PARTITIONS):
        pytest.skip("the broker does not serve CreatePartitions yet (issue 8, item 5)")
    admin("topics", "--bootstrap-server", bootstrap, "--create", "--topic", "growing", "--partitions", 1,
          "--replication-factor", 2).ok()
    admin("topics", "--bootstrap-server", bootstrap, "--alter", "--topic", "growing", "--partitions", 4).ok()
    wait_until(lambda: _led(bootstrap, "growing", 4), 60, message="growing has 4 partitions")
    admin("topics", "--bootstrap-server", bootstrap, "--alter", "--topic", "growing", "--partitions", 2
          ).refused("INVALID_PARTITIONS")


def test_configs_through_zookeeper(cluster, zookeeper):
    """Topic and broker configs: the entity znode and a v2 change notification, as kafka-configs --zookeeper."""
    zk = zookeeper.connect_string
    bootstrap = cluster.bootstrap
    admin("topics", "--zookeeper", zk, "--create", "--topic", "logs", "--partitions", 1,
          "--replication-factor", 1).ok()
    with kazoo_client(zk) as client:
        before = set(client.get_children("/config/changes")) if client.exists("/config/changes") else set()
    admin("configs", "--zookeeper", zk, "--alter", "--entity-type", "topics", "--entity-name", "logs",
          "--add-config", "retention.ms=60000,cleanup.policy=[compact,delete]").ok()
    with kazoo_client(zk) as client:
        assert json.loads(client.get("/config/topics/logs")[0]) == {
            "version": 1, "config": {"retention.ms": "60000", "cleanup.policy": "compact,delete"}}
        notes = sorted(set(client.get_children("/config/changes")) - before)
        assert len(notes) == 1 and notes[0].startswith("config_change_")
        assert json.loads(client.get("/config/changes/" + notes[0])[0]) == {"version": 2, "entity_path": "topics/logs"}

    shown = admin("configs", "--zookeeper", zk, "--describe", "--entity-type", "topics", "--entity-name", "logs").ok()
    assert shown.stdout.strip() == "Configs for topic 'logs' are cleanup.policy=compact,delete,retention.ms=60000"
    # The brokers read the same znode: DescribeConfigs through the Admin API reports it as a topic override.
    wait_until(lambda: {c["name"]: c["value"] for c in admin(
        "configs", "--bootstrap-server", bootstrap, "--describe", "--entity-type", "topics", "--entity-name", "logs",
        "--json").json["entities"][0]["configs"]}.get("retention.ms") == "60000", 30, message="retention.ms reported")

    admin("configs", "--zookeeper", zk, "--alter", "--entity-type", "topics", "--entity-name", "logs",
          "--delete-config", "cleanup.policy").ok()
    with kazoo_client(zk) as client:
        assert json.loads(client.get("/config/topics/logs")[0])["config"] == {"retention.ms": "60000"}
    admin("configs", "--zookeeper", zk, "--alter", "--entity-type", "topics", "--entity-name", "logs",
          "--delete-config", "cleanup.policy").refused("INVALID_CONFIG", "cleanup.policy")
    admin("configs", "--zookeeper", zk, "--alter", "--entity-type", "topics", "--entity-name", "logs",
          "--add-config", "retention.ms=soon").refused("INVALID_CONFIG", "retention.ms")
    admin("configs", "--zookeeper", zk, "--alter", "--entity-type", "topics", "--entity-name", "nope",
          "--add-config", "retention.ms=1").refused("UNKNOWN_TOPIC_OR_PARTITION")

    admin("configs", "--zookeeper", zk, "--alter", "--entity-type", "brokers", "--entity-name", 2,
          "--add-config", "follower.replication.throttled.rate=1048576").ok()
    admin("configs", "--zookeeper", zk, "--alter", "--entity-type", "brokers", "--entity-default",
          "--add-config", "leader.replication.throttled.rate=2097152").ok()
    with kazoo_client(zk) as client:
        assert json.loads(client.get("/config/brokers/2")[0])["config"] == {
            "follower.replication.throttled.rate": "1048576"}
        assert json.loads(client.get("/config/brokers/<default>")[0])["config"] == {
            "leader.replication.throttled.rate": "2097152"}
        paths = {json.loads(client.get("/config/changes/" + n)[0])["entity_path"]
                 for n in client.get_children("/config/changes")}
        assert {"brokers/2", "brokers/<default>"} <= paths
        # A secret written by hand (as an old tool might have) is never printed.
        client.set("/config/brokers/2", b'{"version":1,"config":{"listener.name.x.ssl.key.password":"s3cret"}}')
    shown = admin("configs", "--zookeeper", zk, "--describe", "--entity-type", "brokers", "--entity-name", 2)
    assert "s3cret" not in shown.ok().stdout and "listener.name.x.ssl.key.password=[hidden]" in shown.stdout
    admin("configs", "--zookeeper", zk, "--alter", "--entity-type", "brokers", "--entity-name", 2,
          "--add-config", "ssl.keystore.password=x").refused("INVALID_CONFIG")


def test_configs_through_admin_api(cluster):
    """IncrementalAlterConfigs (or AlterConfigs) then DescribeConfigs; secrets never printed."""
    bootstrap = cluster.bootstrap
    if not (advertises(bootstrap.split(",")[0], ApiKey.INCREMENTAL_ALTER_CONFIGS)
            or advertises(bootstrap.split(",")[0], ApiKey.ALTER_CONFIGS)):
        pytest.skip("the broker serves neither IncrementalAlterConfigs nor AlterConfigs yet (issue 8, item 2)")
    admin("topics", "--bootstrap-server", bootstrap, "--create", "--topic", "live", "--partitions", 1,
          "--replication-factor", 1).ok()
    admin("configs", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "topics", "--entity-name", "live",
          "--add-config", "retention.ms=120000").ok()
    shown = admin("configs", "--bootstrap-server", bootstrap, "--describe", "--entity-type", "topics",
                  "--entity-name", "live").ok().stdout
    assert "retention.ms=120000 sensitive=false" in shown
    admin("configs", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "topics", "--entity-name", "live",
          "--delete-config", "retention.ms").ok()
    assert "retention.ms=" not in admin("configs", "--bootstrap-server", bootstrap, "--describe", "--entity-type",
                                        "topics", "--entity-name", "live").ok().stdout
    admin("configs", "--bootstrap-server", bootstrap, "--alter", "--entity-type", "topics", "--entity-name", "live",
          "--add-config", "retention.ms=soon").refused("INVALID_CONFIG")
    everything = admin("configs", "--bootstrap-server", bootstrap, "--describe", "--entity-type", "brokers",
                       "--entity-name", 1, "--all", "--json").ok().json
    for entry in everything["entities"][0]["configs"]:
        if entry["sensitive"]:
            assert entry["value"] is None


def test_partition_metadata_helper_sees_cluster(cluster):
    """The describe output's leader agrees with what librdkafka sees (the two views of one partition)."""
    bootstrap = cluster.bootstrap
    admin("topics", "--bootstrap-server", bootstrap, "--create", "--topic", "agree", "--partitions", 1,
          "--replication-factor", 3).ok()
    wait_until(lambda: _led(bootstrap, "agree", 1), 60, message="agree led")
    [entry] = admin("topics", "--bootstrap-server", bootstrap, "--describe", "--topic", "agree",
                    "--json").ok().json["topics"]
    assert entry["partitions"][0]["leader"] == partition_metadata(bootstrap, "agree").leader
