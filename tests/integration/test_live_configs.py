"""Live configs on a real broker: znodes written by hand as Kafka's tools wrote them take effect without a restart.

Topic configs through ``/config/topics/<t>`` plus a ``/config/changes`` notification in
both formats (v1 as 0.9–1.x ``kafka-configs --zookeeper`` wrote, v2 as 2.x does), and a
dynamic broker default through ``/config/brokers/<default>``.
"""

import json
import subprocess

import pytest

from kafkalite.protocol.apis import ApiKey
from tests.support.cluster import wait_until
from tests.support.wire import WireClient
from tests.support.zk_admin import write_entity_config
from tests.support.zookeeper import kazoo_client

# A retention check every 5 minutes: whatever deletes segments within seconds is the config change.
pytestmark = pytest.mark.cluster(size=1, overrides={"log.retention.check.interval.ms": "300000"})


def _create_topic(bootstrap, topic, config):
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=config)])[topic].result(60)


def _produce(bootstrap, topic, count, size=100):
    lines = "".join("%0*d\n" % (size, i) for i in range(count)).encode()
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-X", "batch.num.messages=1", "-X", "linger.ms=0"],
                   input=lines, check=True, timeout=120)


def _segments(broker, topic):
    return sorted(p.name for p in (broker.log_dir / f"{topic}-0").glob("*.log"))


def _notify(zk, notification):
    zk.create("/config/changes/config_change_", json.dumps(notification).encode(), sequence=True)


@pytest.mark.parametrize("notification", [
    lambda t: {"version": 1, "entity_type": "topics", "entity_name": t},
    lambda t: {"version": 2, "entity_path": "topics/" + t},
], ids=["v1", "v2"])
def test_lowered_retention_deletes_old_segments_without_restart(broker, zookeeper, notification):
    """retention.ms lowered in /config/topics/<t> plus a v1 or v2 notification deletes the old segments in seconds."""
    topic = "retained"
    _create_topic(broker.bootstrap, topic, {"segment.bytes": "1024"})
    _produce(broker.bootstrap, topic, 60)
    assert len(_segments(broker, topic)) >= 5
    with kazoo_client(zookeeper.connect_string, start_timeout=30) as zk:
        write_entity_config(zk, "topics/" + topic, {"segment.bytes": "1024", "retention.ms": "1"})
        _notify(zk, notification(topic))
        wait_until(lambda: len(_segments(broker, topic)) <= 1, 10, message="old segments to be deleted")
    result = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"],
                            capture_output=True, check=True, timeout=60)
    assert len(result.stdout.split()) < 60


def _produce_one(bootstrap, topic, size):
    """Produce one record of ``size`` bytes with confluent-kafka; returns the delivery error (None if delivered)."""
    from confluent_kafka import Producer

    outcome = []
    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 10_000_000, "retries": 0,
                         "enable.idempotence": False})
    producer.produce(topic, b"x" * size, on_delivery=lambda err, msg: outcome.append(err))
    producer.flush(30)
    assert outcome, "no delivery report"
    return outcome[0]


def test_lowered_max_message_bytes_refuses_a_larger_record(broker, zookeeper):
    """max.message.bytes lowered live makes the broker refuse a record a real producer could send before."""
    topic = "bounded"
    _create_topic(broker.bootstrap, topic, {})
    assert _produce_one(broker.bootstrap, topic, 2000) is None
    with kazoo_client(zookeeper.connect_string, start_timeout=30) as zk:
        write_entity_config(zk, "topics/" + topic, {"max.message.bytes": "1000"})
        _notify(zk, {"version": 2, "entity_path": "topics/" + topic})
        error = wait_until(lambda: _produce_one(broker.bootstrap, topic, 2000), 15,
                           message="a 2000-byte record to be refused")
    assert error.name() == "MSG_SIZE_TOO_LARGE"
    assert _produce_one(broker.bootstrap, topic, 100) is None


def test_dynamic_broker_default_takes_effect_and_is_described(broker, zookeeper):
    """/config/brokers/<default> lowers message.max.bytes for topics without an override; DescribeConfigs
    reports it as DYNAMIC_DEFAULT_BROKER_CONFIG with the static and default synonyms behind it."""
    topic = "defaulted"
    _create_topic(broker.bootstrap, topic, {})
    assert _produce_one(broker.bootstrap, topic, 2000) is None
    with kazoo_client(zookeeper.connect_string, start_timeout=30) as zk:
        write_entity_config(zk, "brokers/<default>", {"message.max.bytes": "1000"})
        _notify(zk, {"version": 2, "entity_path": "brokers/<default>"})
        wait_until(lambda: _produce_one(broker.bootstrap, topic, 2000), 15, message="the broker default to apply")
    with WireClient(broker.bootstrap) as client:
        response = client.request(ApiKey.DESCRIBE_CONFIGS, 3, {
            "resources": [{"resource_type": 4, "resource_name": "1", "configuration_keys": ["message.max.bytes"]},
                          {"resource_type": 2, "resource_name": topic, "configuration_keys": ["max.message.bytes"]}],
            "include_synonyms": True, "include_documentation": False})
    broker_entry, topic_entry = (result["configs"][0] for result in response["results"])
    assert (broker_entry["value"], broker_entry["config_source"], broker_entry["read_only"]) == ("1000", 3, False)
    assert [(s["value"], s["source"]) for s in broker_entry["synonyms"]] == [("1000", 3), ("1048588", 5)]
    assert (topic_entry["value"], topic_entry["config_source"]) == ("1000", 3)
