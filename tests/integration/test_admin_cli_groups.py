"""``kafkalite-admin consumer-groups`` and ``cluster`` against a real 3-broker cluster.

The group's lag is checked against what was produced minus what a real consumer
(confluent-kafka) consumed and committed; reset-offsets is checked by reading the committed
offsets back through OffsetFetch.
"""

import time

import pytest

from tests.support.admin_cli import admin
from tests.support.clients import GROUP_OVERRIDES, committed_offsets, consume_in_group, produce_round_robin
from tests.support.cluster import wait_until
from tests.support.zookeeper import kazoo_client

pytestmark = pytest.mark.cluster(size=3, overrides=GROUP_OVERRIDES)


def _stable_member(bootstrap, group, topic):
    """A subscribed confluent-kafka consumer that holds its assignment (the group is Stable)."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "client.id": "holder"})
    consumer.subscribe([topic])
    wait_until(lambda: consumer.poll(0.2) is None and consumer.assignment(), 60, message="an assignment")
    return consumer


def test_consumer_groups_describe_reset_delete(cluster):
    """Lag = produced - consumed; reset-offsets moves committed offsets (dry run by default); delete."""
    bootstrap = cluster.bootstrap
    admin("topics", "--bootstrap-server", bootstrap, "--create", "--topic", "clicks", "--partitions", 2,
          "--replication-factor", 2).ok()
    produced = produce_round_robin(bootstrap, "clicks", 20, 2)
    consumed = consume_in_group(bootstrap, "clicks", "readers", 12)
    assert len(consumed) == 12
    committed = committed_offsets(bootstrap, "readers", "clicks", 2)

    described = admin("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", "readers",
                      "--json").ok().json["groups"][0]
    rows = {r["partition"]: r for r in described["offsets"]}
    assert described["state"] == "Empty"
    assert {p: r["current_offset"] for p, r in rows.items()} == committed
    assert {p: r["log_end_offset"] for p, r in rows.items()} == produced
    assert sum(r["lag"] for r in rows.values()) == 20 - 12
    table = admin("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", "readers").ok().stdout
    assert "Consumer group 'readers' has no active members." in table
    header = next(line for line in table.splitlines() if line.startswith("GROUP"))
    assert header.split() == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                              "CONSUMER-ID", "HOST", "CLIENT-ID"]
    assert "readers" in admin("consumer-groups", "--bootstrap-server", bootstrap, "--list").ok().stdout.split()

    dry = admin("consumer-groups", "--bootstrap-server", bootstrap, "--reset-offsets", "--group", "readers",
                "--topic", "clicks", "--to-earliest").ok()
    assert "NEW-OFFSET" in dry.stdout and "dry run" in dry.stdout
    assert committed_offsets(bootstrap, "readers", "clicks", 2) == committed
    admin("consumer-groups", "--bootstrap-server", bootstrap, "--reset-offsets", "--group", "readers",
          "--topic", "clicks", "--to-earliest", "--execute").ok()
    assert committed_offsets(bootstrap, "readers", "clicks", 2) == {0: 0, 1: 0}
    admin("consumer-groups", "--bootstrap-server", bootstrap, "--reset-offsets", "--group", "readers",
          "--topic", "clicks:1", "--shift-by", 3, "--execute").ok()
    assert committed_offsets(bootstrap, "readers", "clicks", 2) == {0: 0, 1: 3}
    admin("consumer-groups", "--bootstrap-server", bootstrap, "--reset-offsets", "--group", "readers",
          "--all-topics", "--to-offset", 1000, "--execute").ok()
    assert committed_offsets(bootstrap, "readers", "clicks", 2) == produced  # clamped to the log end
    admin("consumer-groups", "--bootstrap-server", bootstrap, "--reset-offsets", "--group", "readers",
          "--topic", "clicks", "--to-datetime", "2000-01-01T00:00:00.000+00:00", "--execute").ok()
    assert committed_offsets(bootstrap, "readers", "clicks", 2) == {0: 0, 1: 0}
    future = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 86400)) + "+00:00"
    admin("consumer-groups", "--bootstrap-server", bootstrap, "--reset-offsets", "--group", "readers",
          "--topic", "clicks", "--to-datetime", future, "--execute").ok()
    assert committed_offsets(bootstrap, "readers", "clicks", 2) == produced

    holder = _stable_member(bootstrap, "readers", "clicks")
    try:
        admin("consumer-groups", "--bootstrap-server", bootstrap, "--reset-offsets", "--group", "readers",
              "--topic", "clicks", "--to-earliest", "--execute").refused("inactive", "Stable")
        members = admin("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", "readers",
                        "--members", "--json").ok().json["groups"][0]["members"]
        assert [m["client_id"] for m in members] == ["holder"]
        assert sorted((p["topic"], p["partition"]) for p in members[0]["partitions"]) == [("clicks", 0), ("clicks", 1)]
        admin("consumer-groups", "--bootstrap-server", bootstrap, "--delete", "--group", "readers"
              ).refused("NON_EMPTY_GROUP")
    finally:
        holder.close()
    wait_until(lambda: admin("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", "readers",
                             "--json").json["groups"][0]["state"] == "Empty", 30, message="the group to empty")
    assert "successful" in admin("consumer-groups", "--bootstrap-server", bootstrap, "--delete",
                                 "--group", "readers").ok().stdout
    admin("consumer-groups", "--bootstrap-server", bootstrap, "--describe", "--group", "readers"
          ).refused("does not exist")
    admin("consumer-groups", "--zookeeper", "127.0.0.1:1", "--list").refused("--bootstrap-server")


def test_cluster_summary_both_ways(cluster, zookeeper):
    """Brokers, controller and epoch, partition health and groups; ZooKeeper and the Admin API agree."""
    bootstrap = cluster.bootstrap
    admin("topics", "--bootstrap-server", bootstrap, "--create", "--topic", "health", "--partitions", 3,
          "--replication-factor", 3).ok()
    through_zk = admin("cluster", "--zookeeper", zookeeper.connect_string, "--json").ok().json
    with kazoo_client(zookeeper.connect_string) as client:
        controller = int(client.get("/controller")[0].split(b'"brokerid":')[1].split(b",")[0])
        epoch = int(client.get("/controller_epoch")[0])
    assert through_zk["controller"] == controller and through_zk["controller_epoch"] == epoch
    assert [b["id"] for b in through_zk["brokers"]] == [1, 2, 3]
    assert all(b["endpoints"] for b in through_zk["brokers"])
    assert through_zk["partitions"]["total"] >= 3 and through_zk["partitions"]["offline"] == 0
    assert sum(b["leaders"] for b in through_zk["brokers"]) == through_zk["partitions"]["total"]
    assert all(b["replicas"] >= 3 for b in through_zk["brokers"])  # "health" has a replica on each
    through_api = admin("cluster", "--bootstrap-server", bootstrap, "--json").ok().json
    assert through_api["controller"] == controller
    assert [b["id"] for b in through_api["brokers"]] == [1, 2, 3]
    assert through_api["partitions"]["total"] == through_zk["partitions"]["total"]
    assert through_api["cluster_id"] == through_zk["cluster_id"]
    text = admin("cluster", "--zookeeper", zookeeper.connect_string).ok().stdout
    assert f"Controller: {controller} (epoch {epoch})" in text and "UNDER-REPLICATED" in text

    # A stopped broker: its partitions show as under-replicated (and, where it was the only replica, offline).
    cluster.broker(3).stop()
    wait_until(lambda: admin("cluster", "--zookeeper", zookeeper.connect_string,
                             "--json").json["partitions"]["under_replicated"] >= 3, 60,
               message="under-replicated partitions after broker 3 stopped")
    listed = admin("topics", "--zookeeper", zookeeper.connect_string, "--describe",
                   "--under-replicated-partitions", "--json").ok().json
    assert {p["partition"] for t in listed["topics"] if t["name"] == "health" for p in t["partitions"]} == {0, 1, 2}
