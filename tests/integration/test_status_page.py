"""The operator's status page on a real 3-broker cluster: /status.json and / on each broker's
metrics port, the page rendered by headless Chromium showing the brokers and the controller,
a group's lag on its coordinator, and — once a broker is stopped — the under-replicated
partitions with the reason: that broker is down. A frozen follower (SIGSTOP: still
registered) shows as alive and behind, and a reassignment onto it as in progress."""

import json
import re
import signal
import urllib.error
import urllib.request

import pytest

from tests.integration.replication_support import zk_write
from tests.support.chromium import HeadlessChromium, chromium_path
from tests.support.clients import commit_offset, create_topic, produce_acked
from tests.support.cluster import wait_until

OVERRIDES = {"auto.leader.rebalance.enable": "false", "replica.lag.time.max.ms": "3000"}


@pytest.fixture
def chromium(tmp_path):
    binary = chromium_path()
    if binary is None:
        pytest.skip("Debian's chromium is not installed (make install installs it)")
    return HeadlessChromium(binary, tmp_path / "chromium")


def url(broker, path=""):
    return "http://127.0.0.1:%d/%s" % (broker.metrics_port, path)


def status(broker):
    return json.loads(urllib.request.urlopen(url(broker, "status.json"), timeout=10).read())


def group_lag(cluster, group):
    """The group's total lag on whichever broker coordinates it, or None."""
    for broker in cluster.brokers:
        for listed in status(broker)["groups"]["coordinated_here"]:
            if listed["group_id"] == group:
                return listed["total_lag"]
    return None


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES, metrics=True)
def test_the_status_page_says_why_a_partition_is_under_replicated(cluster, chromium):
    """Every broker serves the page; Chromium renders it with the brokers and the controller; a group's lag
    shows on its coordinator; after broker 3 stops, the page lists its partitions as under-replicated
    because broker 3 is down."""
    bootstrap = cluster.bootstrap
    create_topic(bootstrap, "watched", assignment=[[1, 2, 3], [2, 3, 1], [3, 1, 2]])
    produce_acked(bootstrap, "watched", 30, partition=0)

    wait_until(lambda: all(status(b)["partitions"]["total"] >= 3 and not status(b)["partitions"]["unhealthy"]
                           and len(status(b)["cluster"]["live_brokers"]) == 3 for b in cluster.brokers),
               30, message="every broker's status.json: 3 live brokers, no unhealthy partition")
    documents = {b.broker_id: status(b) for b in cluster.brokers}
    controllers = [i for i, d in documents.items() if d["broker"]["is_active_controller"]]
    assert len(controllers) == 1
    controller = controllers[0]
    for broker_id, document in documents.items():
        assert document["broker"]["broker_id"] == broker_id
        assert document["broker"]["zookeeper"]["state"] == "CONNECTED"
        assert document["cluster"]["controller_id"] == controller
    with pytest.raises(urllib.error.HTTPError) as not_found:
        urllib.request.urlopen(url(cluster.broker(1), "no-such-page"), timeout=10)
    assert not_found.value.code == 404

    commit_offset(bootstrap, "lagger", "watched", 0, 20)
    wait_until(lambda: group_lag(cluster, "lagger") == 10, 30, message="the coordinator's page shows lag 10")

    page = urllib.request.urlopen(url(cluster.broker(1)), timeout=10)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    dom = chromium.dump_dom(url(cluster.broker(1)))
    assert "kafkalite broker 1" in dom
    assert "Controller: <b>broker %d</b>" % controller in dom
    assert re.search(r"All \d+ partitions healthy\.", dom)
    for broker_id in (1, 2, 3):
        assert re.search(r'<tr class="broker"><td>%d</td><td>PLAINTEXT://127\.0\.0\.1:\d+</td>' % broker_id, dom)

    cluster.broker(3).stop()
    survivor = cluster.broker(1)

    def rendered_down():
        dom = chromium.dump_dom(url(survivor))
        return dom if "watched-0" in dom and "broker 3 is down" in dom else None

    dom = wait_until(rendered_down, 60, interval=1.0, message="Chromium's render lists watched-0: broker 3 is down")
    assert "under-replicated" in dom
    assert re.search(r'<tr class="broker down"><td>3</td>', dom)
    entry = next(e for e in status(survivor)["partitions"]["unhealthy"] if (e["topic"], e["partition"]) == (
        "watched", 0))
    assert entry["status"] == "under-replicated"
    assert [m["reason"] for m in entry["missing"]] == ["broker 3 is down"]
    assert status(survivor)["partitions"]["under_replicated"] >= 3


# The frozen broker must stay registered for the whole test.
FROZEN_OVERRIDES = dict(OVERRIDES, **{"zookeeper.session.timeout.ms": "30000"})


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=FROZEN_OVERRIDES, metrics=True)
def test_a_frozen_follower_is_shown_alive_behind_and_a_stuck_reassignment_in_progress(cluster, chromium):
    """A SIGSTOPped broker stays registered: its leader's page says how many messages behind it is and when
    it last caught up, another broker's page points at the leader; a reassignment onto it stays in progress
    and every responsive broker's page lists it."""
    wait_until(lambda: status(cluster.broker(1))["cluster"]["controller_id"] > 0, 30, message="a controller")
    controller = status(cluster.broker(1))["cluster"]["controller_id"]
    # The controller answers the reassignment: it must stay responsive, so it leads and is never frozen.
    leader, frozen = [b for b in (1, 2, 3) if b != controller]
    create_topic(cluster.bootstrap, "behind", assignment=[[leader, frozen]])
    create_topic(cluster.bootstrap, "moving", assignment=[[controller, leader]])
    produce_acked(cluster.bootstrap, "behind", 10)
    wait_until(lambda: not status(cluster.broker(leader))["partitions"]["unhealthy"], 30,
               message="every ISR full")

    cluster.broker(frozen).kill(signal.SIGSTOP)
    try:
        produce_acked(cluster.broker(leader).bootstrap, "behind", 25)  # acked once the ISR shrinks (3 s)
        # As Kafka's ZooKeeper tools ask for it (no client that could wait on the frozen broker).
        zk_write(cluster.zk_connect, "/admin/reassign_partitions", json.dumps({"version": 1, "partitions": [
            {"topic": "moving", "partition": 0, "replicas": [leader, frozen]}]}).encode())

        def leader_says_behind():
            entry = next((e for e in status(cluster.broker(leader))["partitions"]["unhealthy"]
                          if e["topic"] == "behind"), None)
            return entry if entry and entry["isr"] == [leader] else None

        entry = wait_until(leader_says_behind, 30, message="the leader's page: behind-0 under-replicated")
        [missing] = entry["missing"]
        assert missing["alive"] is True and missing["messages_behind"] == 25
        assert re.fullmatch(r"broker %d is alive, out of the ISR, 25 messages behind, last caught up [\d.]+ s ago"
                            % frozen, missing["reason"]), missing["reason"]
        wait_until(lambda: any(e["topic"] == "behind" for e in status(cluster.broker(controller))["partitions"][
            "unhealthy"]), 30, message="the controller's page: behind-0 under-replicated")
        elsewhere = next(e for e in status(cluster.broker(controller))["partitions"]["unhealthy"]
                         if e["topic"] == "behind")
        assert [m["reason"] for m in elsewhere["missing"]] == [
            "broker %d is alive, out of the ISR (lag known to leader broker %d)" % (frozen, leader)]

        for broker_id in (leader, controller):
            reassignments = wait_until(lambda b=broker_id: status(cluster.broker(b))["reassignments"]["partitions"],
                                       30, message="broker %d's page lists the reassignment" % broker_id)
            assert reassignments == [{"topic": "moving", "partition": 0, "replicas": [leader, frozen, controller],
                                      "adding": [frozen], "removing": [controller], "adding_in_isr": []}]
            assert status(cluster.broker(broker_id))["reassignments"]["legacy_request_partitions"] == 1

        dom = chromium.dump_dom(url(cluster.broker(leader)))
        assert "broker %d is alive, out of the ISR, 25 messages behind, last caught up" % frozen in dom
        assert re.search(r'<tr class="reassignment"><td>moving-0</td>', dom)
    finally:
        cluster.broker(frozen).kill(signal.SIGCONT)
