"""Config administration through real admin clients: confluent-kafka and kafka-python against a real cluster.

AlterConfigs, IncrementalAlterConfigs (validate_only included) and DescribeConfigs for
topics and brokers; a bad value's error reaches the client; a password is reported
sensitive with no value; a change made on one broker is applied by the others.
"""

import pytest

from tests.support.cluster import wait_until

pytestmark = pytest.mark.cluster(size=2, overrides={
    "zookeeper.session.timeout.ms": "6000",
    # a password in server.properties must never be shown by DescribeConfigs
    "ssl.keystore.password": "do-not-show-me",
})


def _confluent_admin(cluster):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": cluster.bootstrap})


def _create(admin, topic, config=None):
    from confluent_kafka.admin import NewTopic

    new = NewTopic(topic, num_partitions=2, replication_factor=2, config=config or {})
    admin.create_topics([new])[topic].result(60)


def _describe_topic(admin, topic):
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return admin.describe_configs([resource])[resource].result(timeout=60)


def test_confluent_incremental_alter_describe_and_validate_only(cluster):
    """incremental_alter_configs SETs, APPENDs and DELETEs topic configs; validate_only changes nothing;
    a bad value fails with INVALID_CONFIG; describe_configs shows values and sources."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

    admin = _confluent_admin(cluster)
    _create(admin, "inc", {"retention.ms": "600000"})

    def alter(entries, validate_only=False):
        resource = ConfigResource(ConfigResource.Type.TOPIC, "inc", incremental_configs=entries)
        return admin.incremental_alter_configs([resource], validate_only=validate_only)[resource].result(60)

    alter([ConfigEntry("retention.ms", "120000", incremental_operation=AlterConfigOpType.SET),
           ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)])
    configs = _describe_topic(admin, "inc")
    assert configs["retention.ms"].value == "120000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["cleanup.policy"].value == "delete,compact"

    alter([ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)], validate_only=True)
    assert _describe_topic(admin, "inc")["retention.ms"].value == "120000"

    with pytest.raises(KafkaException) as caught:
        alter([ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)])
    assert caught.value.args[0].name() == "INVALID_CONFIG"
    assert "retention.ms" in caught.value.args[0].str()

    alter([ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    configs = _describe_topic(admin, "inc")
    assert configs["retention.ms"].value == "604800000"
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


def test_confluent_alter_configs_replaces_and_every_broker_applies(cluster):
    """alter_configs (the non-incremental API) replaces the topic's overrides; both brokers apply the change."""
    from confluent_kafka.admin import ConfigResource

    admin = _confluent_admin(cluster)
    _create(admin, "whole", {"retention.ms": "600000", "segment.bytes": "100000"})
    resource = ConfigResource(ConfigResource.Type.TOPIC, "whole", set_config={"retention.ms": "300000"})
    admin.alter_configs([resource])[resource].result(60)
    configs = _describe_topic(admin, "whole")
    assert configs["retention.ms"].value == "300000"
    assert configs["segment.bytes"].value == "1073741824"  # not in the new set: back to the default
    wait_until(lambda: all("applied config of topic whole" in b.log_path.read_text() for b in cluster.brokers), 15,
               message="both brokers to apply the change")


def test_confluent_broker_configs_dynamic_and_sensitive(cluster):
    """A broker's config: a dynamic key changes on that broker only, a static key is refused with
    INVALID_REQUEST, a bad value with INVALID_CONFIG, and the keystore password is sensitive and null."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource

    admin = _confluent_admin(cluster)

    def alter(broker, entries):
        resource = ConfigResource(ConfigResource.Type.BROKER, broker, incremental_configs=entries)
        return admin.incremental_alter_configs([resource])[resource].result(60)

    alter("2", [ConfigEntry("log.retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
                ConfigEntry("follower.replication.throttled.rate", "1048576",
                            incremental_operation=AlterConfigOpType.SET)])

    def described(broker):
        resource = ConfigResource(ConfigResource.Type.BROKER, broker)
        return admin.describe_configs([resource])[resource].result(timeout=60)

    two = wait_until(lambda: (lambda c: c if c["log.retention.ms"].value == "3600000" else None)(described("2")), 15,
                     message="broker 2 to apply its dynamic config")
    assert two["log.retention.ms"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
    assert two["follower.replication.throttled.rate"].value == "1048576"
    assert not two["log.retention.ms"].is_read_only
    one = described("1")
    assert one["log.retention.ms"].value == "604800000"
    assert one["broker.id"].is_read_only and one["broker.id"].value == "1"

    for broker in ("1", "2"):
        password = described(broker)["ssl.keystore.password"]
        assert password.is_sensitive and password.value is None

    with pytest.raises(KafkaException) as caught:
        alter("1", [ConfigEntry("zookeeper.connect", "elsewhere:2181", incremental_operation=AlterConfigOpType.SET)])
    assert caught.value.args[0].name() == "INVALID_REQUEST"
    with pytest.raises(KafkaException) as caught:
        alter("1", [ConfigEntry("num.io.threads", "4", incremental_operation=AlterConfigOpType.SET)])
    assert caught.value.args[0].name() == "INVALID_REQUEST"
    with pytest.raises(KafkaException) as caught:
        alter("1", [ConfigEntry("message.max.bytes", "-3", incremental_operation=AlterConfigOpType.SET)])
    assert caught.value.args[0].name() == "INVALID_CONFIG"


def test_kafka_python_alter_and_describe(cluster):
    """kafka-python's KafkaAdminClient alters a topic config (validate_only first) through both APIs, reads it
    back, and gets the error of a bad value; a broker's described password is sensitive with no value."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        admin.create_topics([NewTopic("kp-configs", 1, 2)])

        def described():
            result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-configs")],
                                            config_filter="all")
            return result["topic"]["kp-configs"]

        result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-configs",
                                                     configs={"retention.ms": "777777"})], validate_only=True)
        _assert_no_error(result)
        assert described()["retention.ms"]["value"] == "604800000"
        result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-configs",
                                                     configs={"retention.ms": "777777"})])
        _assert_no_error(result)
        assert described()["retention.ms"]["value"] == "777777"
        # the classic AlterConfigs (v2, flexible, with kafka-python 3) instead of IncrementalAlterConfigs
        result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-configs",
                                                     configs={"retention.ms": "888888"})], incremental=False)
        _assert_no_error(result)
        assert described()["retention.ms"]["value"] == "888888"

        result = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-configs",
                                                     configs={"min.insync.replicas": "zero"})])
        error = str(result["topic"]["kp-configs"])
        assert error.startswith("[Error 40] InvalidConfigurationError") and "min.insync.replicas" in error, result

        brokers = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all")
        password = brokers["broker"]["1"]["ssl.keystore.password"]
        assert password["is_sensitive"] and password["value"] is None
    finally:
        admin.close()


def _assert_no_error(result):
    """kafka-python reports each resource's outcome as ``OK`` or the error's text."""
    for names in result.values():
        for name, outcome in names.items():
            assert outcome == "OK", (name, outcome)
