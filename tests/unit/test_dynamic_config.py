"""Live configs without ZooKeeper: precedence and validation of dynamic broker configs, the
``/config/changes`` listener (order, v1/v2, purge, reload) over the documented FakeZk, the
manager applying configs to logs, and the config API handlers."""

import json

import pytest
from twisted.internet import defer

from kafkalite.config import parse_config
from kafkalite.config_dynamic import (
    SOURCE_DEFAULT,
    SOURCE_DYNAMIC_BROKER,
    SOURCE_DYNAMIC_DEFAULT_BROKER,
    SOURCE_STATIC_BROKER,
    BrokerConfigLayers,
    DynamicConfigError,
    is_sensitive,
)
from kafkalite.log.config import LogConfig
from kafkalite.protocol import errors
from kafkalite.server.config_admin import ConfigAdmin
from kafkalite.server.config_apis import ConfigApis
from kafkalite.server.config_change_listener import ConfigChangeListener
from kafkalite.server.dynamic_config import DynamicConfigManager
from tests.support.fake_zk import FakeZk

STATIC = {"zookeeper.connect": "127.0.0.1:2181", "broker.id": "1", "log.retention.hours": "24",
          "message.max.bytes": "5000", "ssl.key.password": "secret"}


def static_config(**extra):
    with pytest.warns(Warning):  # ssl.key.password is not a key kafkalite models
        return parse_config({**STATIC, **extra}, canonical_host_name=lambda: "h")


def run(coroutine):
    """Run a coroutine driven by FakeZk (whose Deferreds have already fired) and return its result."""
    d = defer.ensureDeferred(coroutine)
    results = []
    d.addBoth(results.append)
    assert results, "the coroutine waited on something FakeZk does not fire"
    if isinstance(results[0], Exception) or hasattr(results[0], "raiseException"):
        results[0].raiseException()
    return results[0]


# --- precedence, validation and describe ------------------------------------------------------


def test_per_broker_over_default_over_static_over_kafka_default():
    """message.max.bytes: per-broker dynamic wins over <default>, which wins over server.properties."""
    layers = BrokerConfigLayers(static_config())
    assert layers.effective().message_max_bytes == 5000
    layers = layers.with_dynamic({"message.max.bytes": "4000"}, None)
    assert layers.effective().message_max_bytes == 4000
    layers = layers.with_dynamic(None, {"message.max.bytes": "3000"})
    assert layers.effective().message_max_bytes == 3000
    entry = next(e for e in layers.describe() if e.name == "message.max.bytes")
    assert (entry.value, entry.source, entry.read_only) == ("3000", SOURCE_DYNAMIC_BROKER, False)
    assert [(v, s) for _, v, s in entry.synonyms] == [("3000", SOURCE_DYNAMIC_BROKER),
                                                     ("4000", SOURCE_DYNAMIC_DEFAULT_BROKER),
                                                     ("5000", SOURCE_STATIC_BROKER), ("1048588", SOURCE_DEFAULT)]


def test_retention_ms_dynamic_wins_over_static_hours_with_synonyms():
    """A dynamic log.retention.ms beats a static log.retention.hours; the synonyms list both, finest first."""
    layers = BrokerConfigLayers(static_config()).with_dynamic({"log.retention.ms": "60000"}, None)
    assert layers.effective().log_retention_ms == 60000
    entry = next(e for e in layers.describe() if e.name == "log.retention.ms")
    assert entry.synonyms == (("log.retention.ms", "60000", SOURCE_DYNAMIC_DEFAULT_BROKER),
                              ("log.retention.hours", "24", SOURCE_STATIC_BROKER),
                              ("log.retention.hours", "168", SOURCE_DEFAULT))


def test_stored_keys_that_cannot_apply_are_left_out_not_fatal():
    """A hand-written <default> with a static key and a bad value keeps only the good entry."""
    layers = BrokerConfigLayers(static_config()).with_dynamic(
        {"broker.id": "9", "min.insync.replicas": "zero", "log.segment.bytes": "2048"}, None)
    assert layers.cluster_default == {"log.segment.bytes": "2048"}
    assert sorted(key for _, key, _ in layers.rejected) == ["broker.id", "min.insync.replicas"]
    assert layers.effective().broker_id == 1


@pytest.mark.parametrize("change, invalid_value, text", [
    ({"broker.id": "2"}, False, "Cannot update these configs dynamically: ['broker.id']"),
    ({"num.io.threads": "4"}, False, "Cannot update these configs dynamically in kafkalite"),
    ({"no.such.key": "1"}, False, "Cannot update these configs dynamically"),
    ({"log.segment.bytes": "10"}, True, "log.segment.bytes"),
    ({"leader.replication.throttled.rate": "-1"}, True, "leader.replication.throttled.rate"),
])
def test_validate_change_refuses_with_the_kind_of_error(change, invalid_value, text):
    """Keys that cannot change dynamically and bad values are told apart (INVALID_REQUEST vs INVALID_CONFIG)."""
    with pytest.raises(DynamicConfigError) as caught:
        BrokerConfigLayers(static_config()).validate_change("1", change)
    assert caught.value.invalid_value is invalid_value
    assert text in str(caught.value)


def test_passwords_are_sensitive_and_never_shown():
    """A password in server.properties (and every PASSWORD key) is described sensitive with no value."""
    entries = {e.name: e for e in BrokerConfigLayers(static_config()).describe()}
    assert entries["ssl.key.password"].is_sensitive and entries["ssl.key.password"].value is None
    assert entries["ssl.key.password"].source == SOURCE_STATIC_BROKER
    assert all(v is None for _, v, _ in entries["ssl.key.password"].synonyms)
    assert entries["ssl.truststore.password"].value is None and entries["ssl.truststore.password"].is_sensitive
    assert is_sensitive("listener.name.internal.ssl.keystore.password")
    assert is_sensitive("listener.name.client.plain.sasl.jaas.config")
    assert not is_sensitive("log.retention.ms")


# --- the /config/changes listener -------------------------------------------------------------


def notification(zk, payload):
    return zk._create("/config/changes/config_change_", json.dumps(payload).encode(), sequence=True)


def test_listener_processes_v1_and_v2_in_order_once_and_purges_expired():
    """Every notification is handled once, in sequence order, whichever version; expired ones are deleted."""
    zk = FakeZk()
    zk.put("/config/changes", b"")
    seen, reloads = [], []

    async def changed(entity_type, name):
        seen.append((entity_type, name))

    async def reload_all():
        reloads.append(True)

    notification(zk, {"version": 1, "entity_type": "topics", "entity_name": "a"})
    notification(zk, {"version": 2, "entity_path": "brokers/<default>"})
    zk._create("/config/changes/config_change_", b"not json", sequence=True)
    now = [10 * 60 * 1000]  # ten minutes after the (fake) ctime 0: nothing expired yet
    listener = ConfigChangeListener(zk, changed, reload_all, now_ms=lambda: now[0])
    listener.start()
    assert reloads == [True]
    assert seen == [("topics", "a"), ("brokers", "<default>")]
    assert listener.last_processed == 3
    assert ("/config/changes", listener._on_watch) in zk.watches

    notification(zk, {"version": 2, "entity_path": "topics/b"})
    now[0] = 16 * 60 * 1000
    listener._on_watch()
    assert seen[-1] == ("topics", "b") and len(seen) == 3
    assert zk.children("/config/changes") == []  # all older than 15 minutes: purged


def test_listener_reload_after_new_session_and_catch_up_after_reconnect():
    """A new session re-reads everything; a dropped connection (watch NONE) catches up on reconnect."""
    zk = FakeZk()
    zk.put("/config/changes", b"")
    seen, reloads = [], []

    async def changed(entity_type, name):
        seen.append(name)

    async def reload_all():
        reloads.append(True)

    listener = ConfigChangeListener(zk, changed, reload_all, now_ms=lambda: 0)
    listener.start()
    notification(zk, {"version": 2, "entity_path": "topics/x"})
    listener._on_watch(type("Event", (), {"type": "NONE"})())
    assert seen == []
    listener.on_reconnected()
    assert seen == ["x"]
    listener.on_session_reestablished()
    assert len(reloads) == 2 and seen == ["x"]  # reloaded; the notification was not handled twice


# --- the manager applying configs -------------------------------------------------------------


class StubLog:
    """Just what the manager touches on a log: its config and retention."""

    def __init__(self, config):
        self.config = config
        self.retention_runs = 0

    def update_config(self, config):
        self.config = config

    def delete_retention_segments(self):
        self.retention_runs += 1
        return 0


class StubLogManager:
    def __init__(self, logs, default_config):
        self.logs = logs
        self.default_config = default_config


def manager_with(zk, logs=None):
    config = static_config()
    defaults = []
    unclean = []
    default = LogConfig()
    log_manager = StubLogManager(logs if logs is not None else {}, default)
    manager = DynamicConfigManager(config, zk, log_manager, on_default_log_config=defaults.append,
                                   on_unclean_election_enabled=unclean.append, topics=lambda: ["t", "u"])
    return manager, log_manager, defaults, unclean


def test_topic_change_applies_to_its_logs_and_runs_retention():
    """A topic's new overrides reach its logs (not others'); lowered retention runs at once."""
    zk = FakeZk()
    logs = {("t", 0): StubLog(LogConfig()), ("t", 1): StubLog(LogConfig()), ("u", 0): StubLog(LogConfig())}
    manager, _, _, unclean = manager_with(zk, logs)
    zk._create("/config/topics/t", json.dumps({"version": 1, "config": {
        "retention.ms": "1000", "min.insync.replicas": "2", "unclean.leader.election.enable": "true",
        "leader.replication.throttled.replicas": "0:1"}}).encode(), makepath=True)
    run(manager.entity_changed("topics", "t"))
    assert [logs[("t", p)].config.retention_ms for p in (0, 1)] == [1000, 1000]
    assert logs[("t", 0)].config.min_insync_replicas == 2
    assert logs[("t", 0)].retention_runs == 1
    assert logs[("u", 0)].config == LogConfig()
    assert unclean == ["t"]
    assert manager.throttles.replicas == {"t": {"leader.replication.throttled.replicas": "0:1"}}


def test_broker_default_reaches_logs_without_override_and_the_topic_creator():
    """<default> message.max.bytes reaches every log whose topic does not override it."""
    zk = FakeZk()
    logs = {("t", 0): StubLog(LogConfig()), ("u", 0): StubLog(LogConfig())}
    manager, log_manager, defaults, _ = manager_with(zk, logs)
    zk._create("/config/topics/u", json.dumps({"version": 1, "config": {"max.message.bytes": "777"}}).encode(),
               makepath=True)
    zk._create("/config/brokers/<default>", json.dumps({"version": 1, "config": {
        "message.max.bytes": "2000", "follower.replication.throttled.rate": "100"}}).encode(), makepath=True)
    run(manager.entity_changed("brokers", "<default>"))
    assert logs[("t", 0)].config.max_message_bytes == 2000
    assert logs[("u", 0)].config.max_message_bytes == 777
    assert log_manager.default_config.max_message_bytes == 2000
    assert defaults[-1].max_message_bytes == 2000
    assert manager.throttles.rates["follower.replication.throttled.rate"] == 100
    run(manager.entity_changed("brokers", "7"))  # another broker's own config: not ours
    assert manager.effective_config.message_max_bytes == 2000


# --- the API handlers -------------------------------------------------------------------------


class StubTopicAdmin:
    def __init__(self, zk):
        self.zk = zk

    async def topic_exists(self, topic):
        return f"/brokers/topics/{topic}" in self.zk.nodes

    async def topic_overrides(self, topic):
        return await ConfigAdmin(self.zk).entity_config("topics", topic)


class StubMetadataCache:
    def partitions(self, topic):
        return None


def config_apis(zk):
    manager, *_ = manager_with(zk)
    zk.put("/brokers/topics/t", b"{}")
    return ConfigApis(1, manager, StubTopicAdmin(zk), ConfigAdmin(zk), StubMetadataCache())


def incremental(apis, resource_type, name, configs, validate_only=False):
    request = {"resources": [{"resource_type": resource_type, "resource_name": name, "configs": [
        {"name": n, "config_operation": op, "value": v} for n, op, v in configs]}], "validate_only": validate_only}
    return run(apis.handle_incremental_alter_configs(None, request))["responses"][0]


def test_incremental_operations_write_config_and_notification():
    """SET, APPEND and SUBTRACT build the new overrides, one v2 notification per change; validate_only writes
    nothing."""
    zk = FakeZk()
    apis = config_apis(zk)
    assert incremental(apis, 2, "t", [("retention.ms", 0, "1000"), ("cleanup.policy", 2, "compact")],
                       validate_only=True)["error_code"] == 0
    assert "/config/topics/t" not in zk.nodes
    assert incremental(apis, 2, "t", [("retention.ms", 0, "1000"), ("cleanup.policy", 2, "compact")])[
        "error_code"] == 0
    assert zk.json("/config/topics/t")["config"] == {"retention.ms": "1000", "cleanup.policy": "delete,compact"}
    assert incremental(apis, 2, "t", [("cleanup.policy", 3, "delete"), ("retention.ms", 1, None)])["error_code"] == 0
    assert zk.json("/config/topics/t")["config"] == {"cleanup.policy": "compact"}
    changes = zk.children("/config/changes")
    assert len(changes) == 2
    assert zk.json("/config/changes/" + changes[0]) == {"version": 2, "entity_path": "topics/t"}


@pytest.mark.parametrize("resource_type, name, configs, code", [
    (2, "t", [("retention.ms", 0, "soon")], errors.InvalidConfigError.code),
    (2, "t", [("no.such.config", 0, "1")], errors.InvalidConfigError.code),
    (2, "t", [("retention.ms", 2, "1")], errors.InvalidRequestError.code),
    (2, "t", [("retention.ms", 0, "1"), ("retention.ms", 1, None)], errors.InvalidRequestError.code),
    (2, "t", [("retention.ms", 9, "1")], errors.InvalidRequestError.code),
    (2, "absent", [("retention.ms", 0, "1")], errors.UnknownTopicOrPartitionError.code),
    (4, "2", [("log.retention.ms", 0, "1")], errors.InvalidRequestError.code),
    (4, "x", [("log.retention.ms", 0, "1")], errors.InvalidRequestError.code),
    (4, "1", [("broker.id", 0, "3")], errors.InvalidRequestError.code),
    (4, "", [("message.max.bytes", 0, "-2")], errors.InvalidConfigError.code),
    (8, "1", [("kafka.server", 0, "DEBUG")], errors.InvalidRequestError.code),
])
def test_refused_changes_answer_kafkas_error_and_write_nothing(resource_type, name, configs, code):
    """Each refused change gets the code a Kafka client expects and leaves ZooKeeper untouched."""
    zk = FakeZk()
    apis = config_apis(zk)
    before = dict(zk.nodes)
    response = incremental(apis, resource_type, name, configs)
    assert response["error_code"] == code, response
    assert response["error_message"]
    assert zk.nodes == before


def test_broker_change_goes_to_its_entity_and_is_described():
    """A broker's own id writes /config/brokers/<id>; the empty name writes <default>; DescribeConfigs of ""
    shows the cluster defaults only, of the id every key with its source."""
    zk = FakeZk()
    apis = config_apis(zk)
    assert incremental(apis, 4, "1", [("log.retention.ms", 0, "5000")])["error_code"] == 0
    assert incremental(apis, 4, "", [("message.max.bytes", 0, "3000")])["error_code"] == 0
    assert zk.json("/config/brokers/1")["config"] == {"log.retention.ms": "5000"}
    assert zk.json("/config/brokers/<default>")["config"] == {"message.max.bytes": "3000"}
    run(apis.dynamic_config.entity_changed("brokers", "<default>"))
    response = run(apis.handle_describe_configs(None, {"resources": [
        {"resource_type": 4, "resource_name": "", "configuration_keys": None},
        {"resource_type": 4, "resource_name": "1", "configuration_keys": ["message.max.bytes", "ssl.key.password"]},
        {"resource_type": 2, "resource_name": "t", "configuration_keys": ["max.message.bytes"]}],
        "include_synonyms": True}))
    default, own, topic = response["results"]
    assert [(c["name"], c["value"], c["config_source"]) for c in default["configs"]] == [
        ("message.max.bytes", "3000", SOURCE_DYNAMIC_DEFAULT_BROKER)]
    by_name = {c["name"]: c for c in own["configs"]}
    assert by_name["message.max.bytes"]["value"] == "3000"
    password = by_name["ssl.key.password"]
    assert password["is_sensitive"] and password["value"] is None
    assert (topic["configs"][0]["value"], topic["configs"][0]["config_source"]) == ("3000",
                                                                                    SOURCE_DYNAMIC_DEFAULT_BROKER)


def test_reload_reads_the_throttled_replicas_of_topics_not_hosted_here():
    """As Kafka reads every topic's config at start-up: a replica moved here later is throttled at once;
    a list whose topic config is gone is dropped."""
    zk = FakeZk()
    logs = {("t", 0): StubLog(LogConfig())}
    manager, *_ = manager_with(zk, logs)
    manager.throttles._set(topic="gone", replicas={"leader.replication.throttled.replicas": "*"})
    zk._create("/config/topics/t", json.dumps({"version": 1, "config": {
        "follower.replication.throttled.replicas": "0:1"}}).encode(), makepath=True)
    zk._create("/config/topics/elsewhere", json.dumps({"version": 1, "config": {
        "follower.replication.throttled.replicas": "0:1", "retention.ms": "5"}}).encode(), makepath=True)
    zk._create("/config/topics/plain", json.dumps({"version": 1, "config": {"retention.ms": "5"}}).encode())
    run(manager.reload_all())
    assert manager.throttles.replicas == {"t": {"follower.replication.throttled.replicas": "0:1"},
                                          "elsewhere": {"follower.replication.throttled.replicas": "0:1"}}
