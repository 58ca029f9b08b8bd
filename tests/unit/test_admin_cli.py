"""``kafkalite-admin`` without a cluster: argument syntax, Kafka's JSON files, and the exact znodes it writes.

The ZooKeeper writes run against :class:`tests.support.fake_zk.FakeZk` (through the tool's own
:class:`~kafkalite.cli.admin.zk.BlockingZk`, its reactor replaced by synchronous resolution) and
are compared with the JSON Kafka 2.8's ``--zookeeper`` tools write.
"""

import io
import json
import struct

import pytest
from twisted.python.failure import Failure

from kafkalite import zkdata
from kafkalite.cli.admin import configs, election, groups, reassign, topics
from kafkalite.cli.admin.adminzk import ZkAdmin
from kafkalite.cli.admin.client import parse_bootstrap
from kafkalite.cli.admin.cluster import partition_health
from kafkalite.cli.admin.main import main
from kafkalite.cli.admin.output import AdminError, Output, format_table
from kafkalite.cli.blocking_zk import BlockingZk
from kafkalite.protocol.consumer_protocol import CONSUMER_PROTOCOL_ASSIGNMENT
from tests.support.fake_zk import FakeZk


def _resolve(deferred):
    results = []
    deferred.addBoth(results.append)
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


@pytest.fixture
def fake():
    """A FakeZk holding a 3-broker cluster with topic ``t`` (2 partitions on brokers 1,2 / 2,3)."""
    zk = FakeZk()
    for broker in (1, 2, 3):
        zk.put(f"/brokers/ids/{broker}", json.dumps({
            "version": 5, "host": "127.0.0.1", "port": 9091 + broker, "jmx_port": -1, "timestamp": "0",
            "endpoints": [f"PLAINTEXT://127.0.0.1:{9091 + broker}"],
            "listener_security_protocol_map": {"PLAINTEXT": "PLAINTEXT"}}).encode())
    zk.put("/brokers/topics/t", b'{"version":3,"partitions":{"0":[1,2],"1":[2,3]},"adding_replicas":{},'
                                b'"removing_replicas":{},"topic_id":"AAAAAAAAAAAAAAAAAAAAAQ"}')
    for partition, (leader, isr) in enumerate([(1, [1, 2]), (2, [2])]):
        zk.put(f"/brokers/topics/t/partitions/{partition}/state", json.dumps({
            "version": 1, "leader": leader, "leader_epoch": 0, "isr": isr, "controller_epoch": 1}).encode())
    return zk


@pytest.fixture
def cluster(fake):
    """The tool's ZooKeeper admin over ``fake``."""
    zk = BlockingZk.__new__(BlockingZk)
    zk._client = fake
    zk._call = lambda method, *args, **kwargs: _resolve(method(*args, **kwargs))
    return ZkAdmin(zk)


def test_parse_add_config_keeps_bracketed_lists():
    """Kafka's --add-config: commas inside [...] belong to the value, whose brackets are dropped."""
    assert configs.parse_add_config("retention.ms=1000,cleanup.policy=[compact,delete],x=") == {
        "retention.ms": "1000", "cleanup.policy": "compact,delete", "x": ""}
    with pytest.raises(AdminError, match="KEY=VALUE"):
        configs.parse_add_config("retention.ms")
    with pytest.raises(AdminError, match="unbalanced"):
        configs.parse_add_config("a=[1,2")


def test_sensitive_keys_are_kafkas_password_configs():
    """Every *.password, sasl.jaas.config and the other PASSWORD keys, listener-prefixed too."""
    for key in ("ssl.keystore.password", "listener.name.internal.ssl.key.password", "sasl.jaas.config",
                "listener.name.x.scram-sha-256.sasl.jaas.config", "password.encoder.secret"):
        assert configs.is_sensitive(key), key
    for key in ("retention.ms", "ssl.keystore.location", "leader.replication.throttled.rate"):
        assert not configs.is_sensitive(key), key


def test_replica_assignment_syntax():
    """--replica-assignment: partitions by ',', replicas by ':'; equal sizes, no duplicates."""
    assert topics.parse_replica_assignment("1:2,2:3,3:1") == {0: [1, 2], 1: [2, 3], 2: [3, 1]}
    for bad in ("1:1", "1:2,3", "1:x"):
        with pytest.raises(AdminError):
            topics.parse_replica_assignment(bad)


def test_reassignment_json_is_checked_as_kafka_checks_it():
    """Kafka's reassignment JSON: replicas required, distinct, log dirs 'any', each partition once."""
    good = {"version": 1, "partitions": [{"topic": "t", "partition": 0, "replicas": [2, 3], "log_dirs": ["any", "any"]},
                                         {"topic": "t", "partition": 1, "replicas": [1]}]}
    assert reassign.parse_reassignment_json(good) == {("t", 0): [2, 3], ("t", 1): [1]}
    for partitions in ([{"topic": "t", "partition": 0, "replicas": []}],
                       [{"topic": "t", "partition": 0, "replicas": [1, 1]}],
                       [{"topic": "t", "partition": 0, "replicas": [1], "log_dirs": ["/data"]}],
                       [{"topic": "t", "partition": 0, "replicas": [1]},
                        {"topic": "t", "partition": 0, "replicas": [2]}],
                       [{"topic": "t", "replicas": [1]}]):
        with pytest.raises(AdminError):
            reassign.parse_reassignment_json({"version": 1, "partitions": partitions})


def test_assignment_json_matches_kafkas_output():
    """The current/proposed assignment lines are Kafka 2.8's compact JSON, log_dirs 'any'."""
    assert reassign.encode_assignment_json({("t", 1): [2, 3], ("t", 0): [1]}) == (
        '{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["any"]},'
        '{"topic":"t","partition":1,"replicas":[2,3],"log_dirs":["any","any"]}]}')


def test_throttles_are_kafkas():
    """Leaders throttle the existing replicas of moving partitions, followers the added ones."""
    current = {("t", 0): [1, 2], ("t", 1): [2, 3], ("u", 0): [1]}
    target = {("t", 0): [2, 3], ("t", 1): [2, 3], ("u", 0): [3]}
    per_topic, brokers = reassign.throttle_configs(current, target)
    assert per_topic == {
        "t": {"leader.replication.throttled.replicas": "0:1,0:2", "follower.replication.throttled.replicas": "0:3"},
        "u": {"leader.replication.throttled.replicas": "0:1", "follower.replication.throttled.replicas": "0:3"}}
    assert brokers == [1, 2, 3]


def test_other_argument_syntax():
    """Bootstrap lists, --topic t:p,p, election JSON and ISO datetimes."""
    assert parse_bootstrap("a:1,[::1]:2") == [("a", 1), ("::1", 2)]
    with pytest.raises(AdminError):
        parse_bootstrap("localhost")
    assert groups.parse_topic_partitions("t") == ("t", None)
    assert groups.parse_topic_partitions("t:2,0") == ("t", [0, 2])
    assert groups.parse_datetime("1970-01-01T00:00:01.500+00:00") == 1500
    with pytest.raises(AdminError):
        groups.parse_datetime("yesterday")
    assert election.parse_election_json({"partitions": [{"topic": "b", "partition": 1},
                                                        {"topic": "a", "partition": 0}]}) == [("a", 0), ("b", 1)]
    with pytest.raises(AdminError):
        election.parse_election_json({"partitions": [{"topic": "a", "partition": 0}] * 2})


def test_tables_and_json_output():
    """Columns aligned to the widest cell, None as '-'; --json prints the data only."""
    assert format_table(["A", "LONGER"], [[1, None], ["wide", "x"]]) == "A    LONGER\n1    -\nwide x"
    stream = io.StringIO()
    out = Output(as_json=True, stream=stream)
    out.line("ignored")
    out.data = {"k": [1]}
    out.flush()
    assert json.loads(stream.getvalue()) == {"k": [1]}


def test_partition_health_counts():
    """Online = led by a live broker; under-replicated = ISR smaller than the replicas."""
    assert partition_health([(1, [1, 2], [1, 2]), (2, [1, 2], [2]), (3, [3], [3]), (-1, [1], [])], {1, 2}) == {
        "total": 4, "online": 2, "under_replicated": 2, "offline": 2}


def test_consumer_assignment_decodes_kafkas_bytes():
    """A ConsumerProtocolAssignment v0 as Kafka's client writes it: version, topics, user data."""
    data = (struct.pack(">h", 0) + struct.pack(">i", 1) + struct.pack(">h", 1) + b"t"
            + struct.pack(">i", 2) + struct.pack(">ii", 0, 3) + struct.pack(">i", -1))
    version, value = CONSUMER_PROTOCOL_ASSIGNMENT.decode(data)
    assert version == 0 and value["assigned_partitions"] == [{"topic": "t", "partitions": [0, 3]}]


# -- what --zookeeper writes -----------------------------------------------------------------------


def test_topic_creation_writes_config_then_assignment(cluster, fake):
    """AdminZkClient's order and formats: /config/topics/<t> (v1) and /brokers/topics/<t> (v3, topic id)."""
    cluster.create_topic("new", {0: [1, 2], 1: [2, 3]}, {"retention.ms": "1000"})
    assert fake.nodes["/config/topics/new"][0] == b'{"version":1,"config":{"retention.ms":"1000"}}'
    written = json.loads(fake.nodes["/brokers/topics/new"][0])
    assert written["version"] == 3 and len(written["topic_id"]) == 22
    assert written["partitions"] == {"0": [1, 2], "1": [2, 3]}
    assert written["adding_replicas"] == {} and written["removing_replicas"] == {}
    with pytest.raises(AdminError, match="TOPIC_ALREADY_EXISTS"):
        cluster.create_topic("new", {0: [1]}, {})


def test_config_change_writes_entity_then_v2_notification(cluster, fake):
    """kafka-configs --zookeeper: the whole config, then config_change_<seq> {"version":2,"entity_path":...}."""
    configs.alter_configs(cluster, "topics", "t", {"retention.ms": "60000"}, [])
    configs.alter_configs(cluster, "brokers", "<default>", {"leader.replication.throttled.rate": "10"}, [])
    assert fake.nodes["/config/topics/t"][0] == b'{"version":1,"config":{"retention.ms":"60000"}}'
    assert fake.nodes["/config/brokers/<default>"][0] == \
        b'{"version":1,"config":{"leader.replication.throttled.rate":"10"}}'
    changes = sorted(p for p in fake.nodes if p.startswith("/config/changes/config_change_"))
    assert [fake.nodes[p][0] for p in changes] == [b'{"version":2,"entity_path":"topics/t"}',
                                                   b'{"version":2,"entity_path":"brokers/<default>"}']
    assert all(zkdata.sequence_number(p, "config_change_").isdigit() for p in changes)
    with pytest.raises(AdminError, match="Invalid config"):
        configs.alter_configs(cluster, "topics", "t", {}, ["segment.bytes"])
    with pytest.raises(AdminError, match="UNKNOWN_TOPIC"):
        configs.alter_configs(cluster, "topics", "nope", {"retention.ms": "1"}, [])
    for bad in ("fast", "-1"):
        with pytest.raises(AdminError, match="INVALID_CONFIG.*leader.replication.throttled.rate"):
            configs.alter_configs(cluster, "brokers", "1", {"leader.replication.throttled.rate": bad}, [])


def _run(args, cluster, monkeypatch, capsys):
    """Run ``kafkalite-admin ARGS --zookeeper fake`` with ``cluster`` as its connection."""
    from contextlib import contextmanager

    import kafkalite.cli.admin.main as admin_main

    @contextmanager
    def connection(parsed, zookeeper=True, bootstrap=True):
        yield cluster

    monkeypatch.setattr(admin_main, "connection", connection)
    status = main([*args, "--zookeeper", "fake:2181"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_reassignment_znode_and_refusal(cluster, fake, monkeypatch, capsys, tmp_path):
    """--execute writes Kafka's /admin/reassign_partitions and refuses while one is there."""
    plan = tmp_path / "plan.json"
    plan.write_text('{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3],"log_dirs":["any","any"]}]}')
    status, out, _ = _run(["reassign-partitions", "--execute", "--reassignment-json-file", str(plan)],
                          cluster, monkeypatch, capsys)
    assert status == 0 and "Save this to use as the --reassignment-json-file option during rollback" in out
    assert fake.nodes["/admin/reassign_partitions"][0] == \
        b'{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3]}]}'
    status, _, err = _run(["reassign-partitions", "--execute", "--reassignment-json-file", str(plan)],
                          cluster, monkeypatch, capsys)
    assert status == 1 and err.strip().endswith("There is an existing assignment running.")
    status, out, _ = _run(["reassign-partitions", "--verify", "--reassignment-json-file", str(plan)],
                          cluster, monkeypatch, capsys)
    assert "Reassignment of partition t-0 is still in progress." in out


def test_preferred_election_znode(cluster, fake, monkeypatch, capsys):
    """kafka-preferred-replica-election --zookeeper's znode; a second one is refused."""
    status, _, _ = _run(["leader-election", "--election-type", "preferred", "--all-topic-partitions"],
                        cluster, monkeypatch, capsys)
    assert status == 0
    assert fake.nodes["/admin/preferred_replica_election"][0] == \
        b'{"version":1,"partitions":[{"topic":"t","partition":0},{"topic":"t","partition":1}]}'
    status, _, err = _run(["leader-election", "--election-type", "preferred", "--topic", "t", "--partition", "1"],
                          cluster, monkeypatch, capsys)
    assert status == 1 and "currently in progress for t-0, t-1" in err


def test_grow_topic_appends_partitions_keeping_the_id(cluster, fake, monkeypatch, capsys):
    """--alter --partitions rewrites the topic znode with the new partitions only added."""
    status, _, err = _run(["topics", "--alter", "--topic", "t", "--partitions", "4"], cluster, monkeypatch, capsys)
    assert status == 0, err
    written = json.loads(fake.nodes["/brokers/topics/t"][0])
    assert written["topic_id"] == "AAAAAAAAAAAAAAAAAAAAAQ"
    assert written["partitions"]["0"] == [1, 2] and written["partitions"]["1"] == [2, 3]
    assert sorted(written["partitions"]) == ["0", "1", "2", "3"]
    assert all(len(r) == 2 and len(set(r)) == 2 for r in written["partitions"].values())


def test_describe_flags_under_replicated_and_unavailable(cluster, fake, monkeypatch, capsys):
    """Partition 1 has ISR [2] of [2,3]; once broker 2 is gone it is also unavailable."""
    status, out, _ = _run(["topics", "--describe", "--under-replicated-partitions"], cluster, monkeypatch, capsys)
    assert status == 0 and out == "\tTopic: t\tPartition: 1\tLeader: 2\tReplicas: 2,3\tIsr: 2\n"
    del fake.nodes["/brokers/ids/2"]
    status, out, _ = _run(["topics", "--describe", "--unavailable-partitions", "--json"], cluster, monkeypatch, capsys)
    assert [p["partition"] for p in json.loads(out)["topics"][0]["partitions"]] == [1]


def test_bad_arguments_exit_non_zero_with_one_line(capsys):
    """A usage error is one line and exit 2; a missing connection option exit 1."""
    with pytest.raises(SystemExit) as exit_info:
        main(["topics", "--create", "--list"])
    assert exit_info.value.code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
    assert main(["topics", "--list"]) == 1
    assert capsys.readouterr().err.strip() == \
        "kafkalite-admin topics: give exactly one of --bootstrap-server or --zookeeper"
    assert main(["topics", "--create", "--topic", "a b", "--bootstrap-server", "x:1"]) == 1
    assert "INVALID_TOPIC_EXCEPTION" in capsys.readouterr().err


def test_cluster_summary_from_zookeeper(cluster, fake, monkeypatch, capsys):
    """Controller and epoch, per-broker leaders and replicas, partition health, a reassignment in progress."""
    fake.put("/controller", b'{"version":1,"brokerid":2,"timestamp":"1"}')
    fake.put("/controller_epoch", b"7")
    fake.put("/admin/reassign_partitions", b'{"version":1,"partitions":[{"topic":"t","partition":1,"replicas":[3]}]}')
    status, out, _ = _run(["cluster", "--json"], cluster, monkeypatch, capsys)
    summary = json.loads(out)
    assert status == 0 and summary["controller"] == 2 and summary["controller_epoch"] == 7
    assert [(b["id"], b["leaders"], b["replicas"]) for b in summary["brokers"]] == [(1, 1, 1), (2, 1, 2), (3, 0, 1)]
    assert summary["partitions"] == {"total": 2, "online": 2, "under_replicated": 1, "offline": 0}
    assert summary["reassignments"] == [{"topic": "t", "partition": 1, "replicas": [3]}]
    status, out, _ = _run(["cluster"], cluster, monkeypatch, capsys)
    assert "Controller: 2 (epoch 7)" in out and "Groups: not in ZooKeeper" in out
