"""``kafkalite-admin --bootstrap-server`` against fake brokers that speak the real wire protocol.

The fake brokers decode the tool's requests with the broker's own schemas (IncrementalAlterConfigs,
AlterConfigs, Alter/ListPartitionReassignments, ElectLeaders, DescribeLogDirs, DescribeCluster among
them), so each request is checked field by field and the tool's handling of the answers exercised.
"""

import json

import pytest

from kafkalite.cli.admin.main import main
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from tests.support.fake_broker import FakeKafkaCluster

#: The Admin APIs the tool calls beyond the basic ones, as the broker declares them.
KAFKA_28_APIS = [API_BY_KEY[key] for key in (
    ApiKey.INCREMENTAL_ALTER_CONFIGS, ApiKey.ALTER_CONFIGS, ApiKey.ALTER_PARTITION_REASSIGNMENTS,
    ApiKey.LIST_PARTITION_REASSIGNMENTS, ApiKey.ELECT_LEADERS, ApiKey.DESCRIBE_LOG_DIRS, ApiKey.DESCRIBE_CLUSTER)]

#: Topic "t": partition 0 on [1, 2] led by 1, partition 1 on [2, 3] led by 2.
PARTITIONS = {0: ([1, 2], 1), 1: ([2, 3], 2)}


def metadata(node_id, request):
    return {"brokers": [{"node_id": b, "host": "fake", "port": 9090 + b, "rack": None} for b in (1, 2, 3)],
            "cluster_id": "fake-cluster", "controller_id": 2,
            "topics": [{"error_code": 0, "name": "t", "partitions": [
                {"error_code": 0, "partition_index": p, "leader_id": leader, "replica_nodes": replicas,
                 "isr_nodes": replicas, "offline_replicas": []} for p, (replicas, leader) in PARTITIONS.items()]}]}


def describe_configs(dynamic):
    def handler(node_id, request):
        resource = request["resources"][0]
        source = 1 if resource["resource_type"] == 2 else 2
        return {"results": [{"error_code": 0, "error_message": None, "resource_type": resource["resource_type"],
                             "resource_name": resource["resource_name"], "configs": [
                                 {"name": k, "value": v, "read_only": False, "config_source": source,
                                  "is_sensitive": k.endswith(".password"), "synonyms": []}
                                 for k, v in dynamic.get(resource["resource_name"], {}).items()]}]}
    return handler


def alter_answer(node_id, request):
    return {"responses": [{"error_code": 0, "error_message": None, "resource_type": r["resource_type"],
                           "resource_name": r["resource_name"]} for r in request["resources"]]}


def run(monkeypatch, capsys, fake, *args):
    fake.install(monkeypatch)
    status = main([*map(str, args), "--bootstrap-server", fake.bootstrap, "--timeout", "1"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_incremental_alter_configs(monkeypatch, capsys):
    """--add-config/--delete-config become SET and DELETE operations, sent to the named broker."""
    fake = FakeKafkaCluster({ApiKey.METADATA: metadata, ApiKey.INCREMENTAL_ALTER_CONFIGS: alter_answer},
                            extra_apis=KAFKA_28_APIS)
    status, out, err = run(monkeypatch, capsys, fake, "configs", "--alter", "--entity-type", "brokers",
                           "--entity-name", 3, "--add-config", "log.cleaner.threads=2",
                           "--delete-config", "follower.replication.throttled.rate")
    assert status == 0, err
    assert out.strip() == "Completed updating config for broker 3."
    [(node, body)] = fake.requests(ApiKey.INCREMENTAL_ALTER_CONFIGS)
    assert node == 3 and body["resources"][0]["resource_type"] == 4 and body["resources"][0]["resource_name"] == "3"
    assert body["resources"][0]["configs"] == [
        {"name": "log.cleaner.threads", "config_operation": 0, "value": "2"},
        {"name": "follower.replication.throttled.rate", "config_operation": 1, "value": None}]


def test_alter_configs_fallback_merges_the_current_dynamic_configs(monkeypatch, capsys):
    """Without IncrementalAlterConfigs, AlterConfigs gets the whole new dynamic config."""
    fake = FakeKafkaCluster({ApiKey.METADATA: metadata, ApiKey.ALTER_CONFIGS: alter_answer,
                             ApiKey.DESCRIBE_CONFIGS: describe_configs({"t": {"retention.ms": "1", "x.y": "2"}})},
                            extra_apis=KAFKA_28_APIS)
    status, _, err = run(monkeypatch, capsys, fake, "configs", "--alter", "--entity-type", "topics",
                         "--entity-name", "t", "--add-config", "segment.ms=5", "--delete-config", "x.y")
    assert status == 0, err
    [(_, body)] = fake.requests(ApiKey.ALTER_CONFIGS)
    assert {c["name"]: c["value"] for c in body["resources"][0]["configs"]} == {"retention.ms": "1", "segment.ms": "5"}
    status, _, err = run(monkeypatch, capsys, fake, "configs", "--alter", "--entity-type", "topics",
                         "--entity-name", "t", "--delete-config", "nope")
    assert status == 1 and "Invalid config(s): nope" in err


def test_describe_configs_hides_secrets(monkeypatch, capsys):
    """A sensitive value is never printed, in the text or in --json."""
    fake = FakeKafkaCluster({ApiKey.METADATA: metadata,
                             ApiKey.DESCRIBE_CONFIGS: describe_configs({"1": {"ssl.key.password": "s3cret"}})})
    status, out, _ = run(monkeypatch, capsys, fake, "configs", "--describe", "--entity-type", "brokers",
                         "--entity-name", 1)
    assert status == 0 and "s3cret" not in out and "ssl.key.password=[hidden] sensitive=true" in out
    status, out, _ = run(monkeypatch, capsys, fake, "configs", "--describe", "--entity-type", "brokers",
                         "--entity-name", 1, "--json")
    assert "s3cret" not in out and json.loads(out)["entities"][0]["configs"][0]["value"] is None


def _reassignment_cluster(in_progress, alter_errors=None):
    def list_reassignments(node_id, request):
        return {"error_code": 0, "error_message": None, "topics": [
            {"name": "t", "partitions": [{"partition_index": p, "replicas": r, "adding_replicas": [],
                                          "removing_replicas": []} for p, r in in_progress.items()]}]}

    def alter_reassignments(node_id, request):
        assert node_id == 2, "reassignments go to the controller"
        return {"error_code": 0, "error_message": None, "responses": [
            {"name": t["name"], "partitions": [
                {"partition_index": p["partition_index"],
                 "error_code": (alter_errors or {}).get(p["partition_index"], 0), "error_message": None}
                for p in t["partitions"]]} for t in request["topics"]]}

    return FakeKafkaCluster({ApiKey.METADATA: metadata, ApiKey.LIST_PARTITION_REASSIGNMENTS: list_reassignments,
                             ApiKey.ALTER_PARTITION_REASSIGNMENTS: alter_reassignments,
                             ApiKey.INCREMENTAL_ALTER_CONFIGS: alter_answer,
                             ApiKey.DESCRIBE_CONFIGS: describe_configs({})}, extra_apis=KAFKA_28_APIS)


def test_reassignment_execute_verify_cancel(monkeypatch, capsys, tmp_path):
    """--execute: throttles then AlterPartitionReassignments to the controller; --verify; --cancel."""
    plan = tmp_path / "plan.json"
    plan.write_text('{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3]}]}')
    fake = _reassignment_cluster({})
    status, out, err = run(monkeypatch, capsys, fake, "reassign-partitions", "--execute",
                           "--reassignment-json-file", plan, "--throttle", 1000)
    assert status == 0, err
    assert '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}' in out
    [(_, body)] = fake.requests(ApiKey.ALTER_PARTITION_REASSIGNMENTS)
    assert body["topics"] == [{"name": "t", "partitions": [{"partition_index": 0, "replicas": [2, 3]}]}]
    throttles = {(b["resources"][0]["resource_type"], b["resources"][0]["resource_name"]):
                 {c["name"]: c["value"] for c in b["resources"][0]["configs"]}
                 for _, b in fake.requests(ApiKey.INCREMENTAL_ALTER_CONFIGS)}
    assert throttles[(2, "t")] == {"leader.replication.throttled.replicas": "0:1,0:2",
                                   "follower.replication.throttled.replicas": "0:3"}
    assert throttles[(4, "1")] == throttles[(4, "3")] == {"leader.replication.throttled.rate": "1000",
                                                          "follower.replication.throttled.rate": "1000"}

    busy = _reassignment_cluster({1: [3, 1]})
    status, _, err = run(monkeypatch, capsys, busy, "reassign-partitions", "--execute",
                         "--reassignment-json-file", plan)
    assert status == 1 and "--additional" in err
    status, out, _ = run(monkeypatch, capsys, busy, "reassign-partitions", "--verify", "--reassignment-json-file",
                         plan, "--json")
    assert json.loads(out)["partitions"] == [{"topic": "t", "partition": 0, "status": "failed"}]

    idle = _reassignment_cluster({}, alter_errors={0: 85})
    status, out, _ = run(monkeypatch, capsys, idle, "reassign-partitions", "--cancel", "--reassignment-json-file",
                         plan, "--preserve-throttles")
    assert status == 0 and "None of the specified partition reassignments are active: t-0" in out
    [(_, body)] = idle.requests(ApiKey.ALTER_PARTITION_REASSIGNMENTS)
    assert body["topics"][0]["partitions"] == [{"partition_index": 0, "replicas": None}]

    refused = _reassignment_cluster({}, alter_errors={0: 39})
    status, _, err = run(monkeypatch, capsys, refused, "reassign-partitions", "--execute",
                         "--reassignment-json-file", plan)
    assert status == 1 and "t-0: INVALID_REPLICA_ASSIGNMENT" in err


def test_leader_election(monkeypatch, capsys):
    """ElectLeaders to the controller; not-needed and failed partitions reported as Kafka's tool does."""
    def elect(node_id, request):
        assert node_id == 2
        return {"error_code": 0, "replica_election_results": [{"topic": "t", "partition_result": [
            {"partition_id": 0, "error_code": 0, "error_message": None},
            {"partition_id": 1, "error_code": 84, "error_message": None}]}]}

    fake = FakeKafkaCluster({ApiKey.METADATA: metadata, ApiKey.ELECT_LEADERS: elect}, extra_apis=KAFKA_28_APIS)
    status, out, _ = run(monkeypatch, capsys, fake, "leader-election", "--election-type", "unclean",
                         "--all-topic-partitions")
    assert status == 0
    assert "Successfully completed leader election (UNCLEAN) for partitions t-0" in out
    assert "Valid replica already elected for partitions t-1" in out
    [(_, body)] = fake.requests(ApiKey.ELECT_LEADERS)
    assert body["election_type"] == 1 and body["topic_partitions"] is None


def test_log_dirs_and_cluster(monkeypatch, capsys):
    """DescribeLogDirs per broker in Kafka's JSON shape; cluster from DescribeCluster and ListGroups."""
    def log_dirs(node_id, request):
        assert request["topics"] == [{"topic": "t", "partitions": [0, 1]}]
        return {"results": [{"error_code": 0, "log_dir": f"/data/{node_id}", "topics": [{"name": "t", "partitions": [
            {"partition_index": p, "partition_size": 100 * node_id, "offset_lag": 0, "is_future_key": False}
            for p, (replicas, _) in PARTITIONS.items() if node_id in replicas]}]}]}

    def describe_cluster(node_id, request):
        return {"error_code": 0, "cluster_id": "fake-cluster", "controller_id": 2, "brokers": [
            {"broker_id": b, "host": "fake", "port": 9090 + b, "rack": "r%d" % b} for b in (1, 2, 3)]}

    def list_groups(node_id, request):
        return {"error_code": 0, "groups": [{"group_id": f"g{node_id}", "protocol_type": "consumer"}]}

    def describe_groups(node_id, request):
        return {"groups": [{"error_code": 0, "group_id": g, "group_state": "Stable", "protocol_type": "consumer",
                            "protocol_data": "range", "members": []} for g in request["groups"]]}

    fake = FakeKafkaCluster({ApiKey.METADATA: metadata, ApiKey.DESCRIBE_LOG_DIRS: log_dirs,
                             ApiKey.DESCRIBE_CLUSTER: describe_cluster, ApiKey.LIST_GROUPS: list_groups,
                             ApiKey.DESCRIBE_GROUPS: describe_groups}, extra_apis=KAFKA_28_APIS)
    status, out, err = run(monkeypatch, capsys, fake, "log-dirs", "--describe", "--topic-list", "t", "--json")
    assert status == 0, err
    assert json.loads(out)["brokers"][1] == {"broker": 2, "logDirs": [
        {"logDir": "/data/2", "error": None, "partitions": [
            {"partition": "t-0", "size": 200, "offsetLag": 0, "isFuture": False},
            {"partition": "t-1", "size": 200, "offsetLag": 0, "isFuture": False}]}]}
    status, out, err = run(monkeypatch, capsys, fake, "cluster", "--json")
    summary = json.loads(out)
    assert status == 0, err
    assert [b["rack"] for b in summary["brokers"]] == ["r1", "r2", "r3"] and summary["controller"] == 2
    assert summary["groups"] == [{"group": g, "state": "Stable"} for g in ("g1", "g2", "g3")]
    assert summary["partitions"] == {"total": 2, "online": 2, "under_replicated": 0, "offline": 0}


def test_unserved_api_is_one_line(monkeypatch, capsys, tmp_path):
    """A broker without ElectLeaders: one line naming the API and the way around it."""
    fake = FakeKafkaCluster({ApiKey.METADATA: metadata})
    status, _, err = run(monkeypatch, capsys, fake, "leader-election", "--election-type", "preferred",
                         "--topic", "t", "--partition", 0)
    assert status == 1 and len(err.strip().splitlines()) == 1 and "ElectLeaders" in err


@pytest.mark.parametrize("bootstrap", ["fake:9099", "nohost"])
def test_unreachable_or_malformed_bootstrap(monkeypatch, capsys, bootstrap):
    """No broker answers, or the option is malformed: one line, exit 1."""
    FakeKafkaCluster({}).install(monkeypatch)
    assert main(["topics", "--list", "--bootstrap-server", bootstrap, "--timeout", "1"]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
