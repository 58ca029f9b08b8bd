"""Unit tests of the operator's status page: the document kafkalite.status_model builds from
broker state (reasons per missing replica, counts, the list caps), its HTML rendering (escaping
of hostile names), the ZooKeeper reassignment reader and the resources on the metrics site."""

import json
from types import SimpleNamespace

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.web.test.requesthelper import DummyRequest

from kafkalite import zkdata
from kafkalite.coordinator.group import GroupMetadata, MemberMetadata, OffsetAndMetadata
from kafkalite.health import follower_lag
from kafkalite.metrics import BrokerMetrics, metrics_site, new_registry
from kafkalite.replica.metadata_cache import BrokerEndpoint, LiveBroker, MetadataCache, PartitionInfo
from kafkalite.replica.partition import FollowerState, Partition
from kafkalite.status_model import build_status
from kafkalite.status_page import StatusJsonResource, StatusSource, render_status_html
from kafkalite.status_reassignments import ZkReassignments
from kafkalite.zkclient import ConnectionLoss
from tests.support.fake_zk import FakeZk

NOW_MS = 1_000_000
HOSTILE = '<script>alert("x")</script>&'


def _cache(live, controller=1, this_broker=1):
    cache = MetadataCache(this_broker)
    cache.controller_id = controller
    cache.controller_epoch = 3
    cache.brokers = {b: LiveBroker(b, (BrokerEndpoint("PLAINTEXT", "127.0.0.1", 9090 + b),)) for b in live}
    return cache


def _add(cache, topic, partition, leader, isr, replicas, offline_replicas=()):
    cache.topics.setdefault(topic, {})[partition] = PartitionInfo(topic, partition, leader, 5, list(isr),
                                                                  list(replicas), list(offline_replicas))


def _local(topic, partition, leader, isr, replicas, log_end_offset=100, high_watermark=100, min_isr=1,
           followers=None, broker_id=1):
    """A Partition hosted on broker ``broker_id`` with a fake log."""
    log = SimpleNamespace(log_end_offset=log_end_offset, high_watermark=high_watermark,
                          config=SimpleNamespace(min_insync_replicas=min_isr))
    local = Partition(topic, partition, broker_id, log)
    local.leader_id, local.isr, local.replicas = leader, list(isr), list(replicas)
    local.followers = followers or {}
    return local


def _identity():
    return {"broker_id": 1, "cluster_id": "c-1", "broker_epoch": 42, "started_at_ms": NOW_MS - 3_723_000,
            "rack": None, "listeners": [{"listener": "PLAINTEXT", "host": "0.0.0.0", "port": 9091}],
            "advertised": [{"listener": "PLAINTEXT", "host": "127.0.0.1", "port": 9091}],
            "zookeeper": {"state": "CONNECTED", "connect": "127.0.0.1:2181"}, "is_active_controller": True}


NO_REASSIGNMENTS = {"source": "test", "as_of_ms": NOW_MS, "error": None, "partitions": [],
                    "legacy_request_partitions": 0}


def _build(cache, hosted=None, groups=(), reassignments=NO_REASSIGNMENTS, limit=500):
    return build_status(_identity(), cache, hosted or {}, list(groups), reassignments, NOW_MS, limit)


def _entry(document, topic, partition):
    matches = [e for e in document["partitions"]["unhealthy"] if (e["topic"], e["partition"]) == (topic, partition)]
    return matches[0] if matches else None


def test_a_healthy_cluster_lists_no_partition():
    """Counts, brokers and the controller; no unhealthy partition; the page says all is well."""
    cache = _cache([1, 2, 3])
    for p in range(3):
        _add(cache, "t", p, 1 + p, [1, 2, 3], [1, 2, 3])
    document = _build(cache)
    assert document["partitions"]["total"] == 3
    assert document["partitions"]["unhealthy"] == []
    assert [b["id"] for b in document["cluster"]["live_brokers"]] == [1, 2, 3]
    assert document["cluster"]["controller_id"] == 1
    assert document["cluster"]["down_brokers"] == []
    assert document["broker"]["uptime_s"] == 3723.0
    page = render_status_html(document)
    assert "All 3 partitions healthy." in page
    assert "Controller: <b>broker 1</b>" in page
    assert "1 h 2 min 3 s" in page


def test_a_stopped_broker_is_named_down():
    """Partitions whose replica's broker is not registered say "broker N is down"; the broker is listed down."""
    cache = _cache([1, 2])
    _add(cache, "t", 0, 2, [2, 1], [2, 1, 3])
    document = _build(cache)
    entry = _entry(document, "t", 0)
    assert entry["status"] == "under-replicated"
    assert [m["reason"] for m in entry["missing"]] == ["broker 3 is down"]
    assert entry["reason"] == "2 of 3 replicas in sync"
    assert document["cluster"]["down_brokers"] == [{"id": 3, "replicas": 1}]
    page = render_status_html(document)
    assert "broker 3 is down" in page
    assert "Partitions: 1 under-replicated; broker 3 down." in page


def test_the_leader_says_how_far_behind_a_follower_is():
    """On the leader, a live follower out of the ISR gets its lag and when it last caught up."""
    cache = _cache([1, 2])
    _add(cache, "t", 0, 1, [1, 2], [1, 2])  # the controller's copy is older than the leader's ISR
    followers = {2: FollowerState(log_end_offset=60, last_caught_up_ms=NOW_MS - 12_500)}
    hosted = {("t", 0): _local("t", 0, 1, [1], [1, 2], log_end_offset=100, followers=followers)}
    entry = _entry(_build(cache, hosted), "t", 0)
    assert entry["isr"] == [1]
    assert entry["missing"][0]["reason"] == (
        "broker 2 is alive, out of the ISR, 40 messages behind, last caught up 12.5 s ago")
    assert entry["missing"][0]["messages_behind"] == 40
    assert entry["missing"][0]["caught_up_s_ago"] == 12.5


def test_a_follower_that_never_fetched_from_this_leader():
    """A follower unknown since this broker became leader is said to be so, not 56 years behind."""
    cache = _cache([1, 2])
    hosted = {("t", 0): _local("t", 0, 1, [1], [1, 2], followers={2: FollowerState()})}
    _add(cache, "t", 0, 1, [1], [1, 2])
    reason = _entry(_build(cache, hosted), "t", 0)["missing"][0]["reason"]
    assert reason == ("broker 2 is alive, out of the ISR, has not fetched since this broker became leader, "
                      "not caught up since this broker became leader")


def test_another_broker_leads_so_it_knows_the_lag():
    """Where another broker leads, a live replica out of the ISR points at the leader for its lag."""
    cache = _cache([1, 2, 3])
    _add(cache, "t", 0, 2, [2, 1], [2, 1, 3])
    hosted = {("t", 0): _local("t", 0, 2, [2, 1], [2, 1, 3])}
    reason = _entry(_build(cache, hosted), "t", 0)["missing"][0]["reason"]
    assert reason == "broker 3 is alive, out of the ISR (lag known to leader broker 2)"


def test_offline_partitions_say_which_replicas_exist_and_why_none_leads():
    """No live replica; live replicas outside the ISR (unclean election needed); a replica on a failed log dir."""
    cache = _cache([1])
    _add(cache, "gone", 0, -1, [3], [2, 3])
    _add(cache, "stuck", 0, -1, [3], [1, 3])
    _add(cache, "disk", 0, 2, [1, 2], [1, 2], offline_replicas=[1])
    document = _build(cache)
    gone = _entry(document, "gone", 0)
    assert gone["status"] == "offline"
    assert gone["reason"] == "no leader: none of its replicas (2, 3) is alive"
    assert [m["reason"] for m in gone["missing"]] == [
        "broker 2 is down", "broker 3 is down (it is still the last ISR member)"]
    stuck = _entry(document, "stuck", 0)
    assert "no live replica is in the ISR (ISR 3); electing broker 1 would take an unclean" in stuck["reason"]
    assert stuck["missing"][0]["reason"] == "broker 1 is alive, out of the ISR (no leader to catch up from)"
    disk = _entry(document, "disk", 0)
    assert disk["status"] == "offline"  # its leader, broker 2, is not registered
    assert disk["missing"][0]["reason"].startswith("broker 1 is alive, but its replica is offline")
    assert document["partitions"]["offline"] == 3
    assert "Partitions: 3 offline" in render_status_html(document)


def test_under_min_isr_is_judged_where_the_log_is_hosted():
    """min.insync.replicas comes from the local log's config; the entry says acks=all produce fails."""
    cache = _cache([1, 2, 3])
    _add(cache, "t", 0, 1, [1], [1, 2, 3])
    _add(cache, "t", 1, 2, [2], [2, 3])  # not hosted here: its min ISR is unknown
    followers = {2: FollowerState(log_end_offset=100, last_caught_up_ms=NOW_MS), 3: FollowerState()}
    hosted = {("t", 0): _local("t", 0, 1, [1], [1, 2, 3], min_isr=2, followers=followers)}
    document = _build(cache, hosted)
    entry = _entry(document, "t", 0)
    assert entry["status"] == "under min ISR"
    assert "below min.insync.replicas=2" in entry["reason"]
    assert _entry(document, "t", 1)["under_min_isr"] is False
    assert (document["partitions"]["under_min_isr"], document["partitions"]["under_replicated"]) == (1, 2)


def test_the_list_is_capped_worst_first():
    """With more unhealthy partitions than the limit: offline first, then the rest, and "and N more"."""
    cache = _cache([1, 2])
    for p in range(1000):
        _add(cache, "big", p, 1, [1, 2], [1, 2])  # healthy: never listed
    for p in range(6):
        _add(cache, "sick", p, 1, [1], [1, 2, 3])
    _add(cache, "zz-offline", 0, -1, [3], [3])
    document = _build(cache, limit=3)
    partitions = document["partitions"]
    assert partitions["total"] == 1007
    assert [(e["topic"], e["partition"]) for e in partitions["unhealthy"]] == [
        ("zz-offline", 0), ("sick", 0), ("sick", 1)]
    assert partitions["unhealthy_omitted"] == 4
    page = render_status_html(document)
    assert "and 4 more unhealthy partitions" in page
    assert "big-" not in page


def test_groups_with_their_lag_and_the_coordinator_note():
    """A group's state, members and total lag over the partitions hosted here; others are not counted."""
    group = GroupMetadata("g1", state="Stable", protocol_type="consumer", protocol_name="range", generation_id=4)
    group.members = {"m-1": MemberMetadata("m-1", None, "app", "/127.0.0.1", 60000, 10000, "consumer", [])}
    group.offsets = {("t", 0): OffsetAndMetadata(90), ("t", 1): OffsetAndMetadata(10), ("u", 0): OffsetAndMetadata(5)}
    hosted = {("t", 0): _local("t", 0, 1, [1], [1], high_watermark=100),
              ("t", 1): _local("t", 1, 2, [2, 1], [2, 1], high_watermark=30)}
    dead = GroupMetadata("old", state="Dead")
    document = _build(_cache([1, 2]), hosted, groups=[group, dead])
    [listed] = document["groups"]["coordinated_here"]
    assert listed["total_lag"] == 30
    assert listed["partitions_without_lag"] == 1
    assert listed["partitions"][0] == {"topic": "t", "partition": 0, "committed_offset": 90, "lag": 10}
    assert listed["members"][0]["client_id"] == "app"
    page = render_status_html(document)
    assert "other group is on its coordinator" in page
    assert "1 (app)" in page


def test_hostile_names_are_escaped():
    """A topic, group and client id made of markup reach the page only as text."""
    cache = _cache([1])
    _add(cache, HOSTILE, 0, 1, [1], [1, 2])
    group = GroupMetadata(HOSTILE, state="Stable")
    group.members = {"m": MemberMetadata("m", None, HOSTILE, "h", 1, 1, "consumer", [])}
    reassignments = dict(NO_REASSIGNMENTS, partitions=[
        {"topic": HOSTILE, "partition": 0, "replicas": [1, 2], "adding": [2], "removing": []}])
    document = _build(cache, groups=[group], reassignments=reassignments)
    page = render_status_html(document)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert page.count("&lt;script&gt;") >= 3  # partition, reassignment, group (and its client id)
    assert json.loads(json.dumps(document))["partitions"]["unhealthy"][0]["topic"] == HOSTILE


def test_before_the_first_update_metadata():
    """A broker the controller has not described the cluster to yet says so instead of calling all offline."""
    page = render_status_html(_build(MetadataCache(1)))
    assert "No metadata from the controller yet." in page


def test_follower_lag_only_on_the_leader():
    """The shared rule answers None on a follower and for a replica that is not a follower."""
    follower_side = _local("t", 0, 2, [2, 1], [2, 1])
    assert follower_lag(follower_side, 2, NOW_MS) is None
    leader = _local("t", 0, 1, [1], [1, 2], followers={2: FollowerState(log_end_offset=99, last_caught_up_ms=1)})
    assert follower_lag(leader, 3, NOW_MS) is None
    assert follower_lag(leader, 2, NOW_MS).messages_behind == 1


# -- the reassignments, read from ZooKeeper ---------------------------------------------------


def _zk_with_reassignment():
    zk = FakeZk()
    zk.put(zkdata.topic_path("moving"), zkdata.encode_topic_assignment(zkdata.TopicAssignment(
        {0: (4, 1, 2), 1: (1, 2)}, adding_replicas={0: (4,)}, removing_replicas={0: (2,)})))
    zk.put(zkdata.topic_path("still"), zkdata.encode_topic_assignment(zkdata.TopicAssignment({0: (1,)})))
    return zk


def test_reassignments_come_from_the_topic_znodes():
    """Partitions with adding/removing replicas are listed; a read serves the next MAX_AGE_S seconds."""
    zk, clock = _zk_with_reassignment(), Clock()
    zk.put(zkdata.REASSIGN_PARTITIONS, zkdata.encode_reassign_partitions({("moving", 0): [4, 1]}))
    reader = ZkReassignments(zk, clock, max_age_s=5)
    section = reader.current().result
    assert section["error"] is None
    assert section["partitions"] == [
        {"topic": "moving", "partition": 0, "replicas": [4, 1, 2], "adding": [4], "removing": [2]}]
    assert section["legacy_request_partitions"] == 1
    zk.put(zkdata.topic_path("moving"), zkdata.encode_topic_assignment(zkdata.TopicAssignment({0: (4, 1)})))
    assert reader.current().result["partitions"] != []  # cached
    clock.advance(5)
    assert reader.current().result["partitions"] == []


def test_a_failed_read_shows_the_error_and_the_last_answer():
    """ZooKeeper unreachable: the section names the error and keeps the last good partitions, dated."""
    zk, clock = _zk_with_reassignment(), Clock()
    reader = ZkReassignments(zk, clock, max_age_s=5)
    first = reader.current().result
    clock.advance(10)
    zk.get_children = lambda path, watch=None: defer.fail(ConnectionLoss("connection lost"))
    section = reader.current().result
    assert section["error"].startswith("ConnectionLoss")
    assert section["partitions"] == first["partitions"]
    assert section["as_of_ms"] == 0
    cache = _cache([1, 2, 4])
    _add(cache, "moving", 0, 4, [4, 1], [4, 1, 2])
    page = render_status_html(_build(cache, reassignments=section))
    assert "Could not read them from ZooKeeper: ConnectionLoss" in page
    assert "moving-0" in page


# -- the resources on the metrics site --------------------------------------------------------


def _site():
    cache = _cache([1, 2])
    _add(cache, "t", 0, 1, [1, 2], [1, 2, 3])
    source = StatusSource(_identity, cache, SimpleNamespace(partitions={}),
                          SimpleNamespace(current_groups=lambda: []), ZkReassignments(FakeZk(), Clock()), Clock())
    registry = new_registry()
    BrokerMetrics(registry, process=False)
    return metrics_site(registry, status=source)


def _get(site, *path):
    request = DummyRequest(list(path))
    resource = site.getResourceFor(request)
    body = resource.render(request)
    return request, (body if isinstance(body, bytes) else b"".join(request.written))


def test_the_site_serves_the_page_the_json_and_404():
    """/ is HTML, /status.json the same document as JSON, /metrics still there, other paths 404."""
    site = _site()
    request, body = _get(site, b"")
    assert request.responseHeaders.getRawHeaders(b"content-type") == [b"text/html; charset=utf-8"]
    assert b"broker 3 is down" in body and b'http-equiv="refresh"' in body
    request, body = _get(site, b"status.json")
    assert request.responseHeaders.getRawHeaders(b"content-type") == [b"application/json"]
    document = json.loads(body)
    assert document["partitions"]["unhealthy"][0]["missing"][0]["reason"] == "broker 3 is down"
    assert document["reassignments"]["partitions"] == []
    _, body = _get(site, b"metrics")
    assert b"kafka_server_brokertopicmetrics_messagesin_total" in body
    request, _ = _get(site, b"nope")
    assert request.responseCode == 404


def test_without_a_status_source_only_metrics():
    """metrics_site without a status source serves /metrics alone, as before."""
    request, _ = _get(metrics_site(new_registry()), b"")
    assert request.responseCode == 404


def test_a_silent_zookeeper_costs_the_page_three_seconds_not_a_session_timeout():
    """No answer within READ_TIMEOUT_S: the section says so; the page is not held for the ZooKeeper timeout."""
    zk, clock = FakeZk(), Clock()
    zk.get_children = lambda path, watch=None: defer.Deferred()  # never answers
    pending = ZkReassignments(zk, clock).current()
    assert not pending.called
    clock.advance(3)
    section = pending.result
    assert section["error"] == "no answer from ZooKeeper within 3 s"
    assert section["as_of_ms"] is None and section["partitions"] == []


class _SlowSource:
    """A status source whose document is fired by the test."""

    def __init__(self):
        self.pending = defer.Deferred()

    def document(self):
        return self.pending


def test_a_client_gone_before_the_document_is_ready_gets_nothing_written():
    """The connection closes while the reassignments are read: nothing is written to the dead request."""
    source = _SlowSource()
    request = DummyRequest([b""])
    metrics_site(new_registry(), status=source).getResourceFor(request).render(request)
    request.processingFailed(ConnectionLoss("client went away"))
    source.pending.callback(_build(_cache([1])))
    assert request.written == [] and request.finished == 0


def test_a_failing_document_answers_500(monkeypatch):
    """A bug while building the document is logged and answered 500, never left hanging."""
    events = []
    monkeypatch.setattr(StatusJsonResource, "log", Logger(observer=events.append))
    source = _SlowSource()
    request = DummyRequest([b"status.json"])
    metrics_site(new_registry(), status=source).getResourceFor(request).render(request)
    source.pending.errback(ValueError("boom"))
    assert request.responseCode == 500 and request.finished == 1
    assert b"see the broker log" in b"".join(request.written)
    assert [event["log_failure"].type for event in events] == [ValueError]


def test_ten_thousand_unhealthy_partitions_give_a_bounded_page():
    """The scale target's 10,000 partitions, all under-replicated: 500 listed, the rest counted."""
    cache = _cache([1, 2])
    for p in range(10_000):
        _add(cache, "wide", p, 1, [1, 2], [1, 2, 3])
    document = _build(cache)
    assert document["partitions"]["under_replicated"] == 10_000
    assert len(document["partitions"]["unhealthy"]) == 500
    page = render_status_html(document)
    assert "and 9500 more unhealthy partitions" in page
    assert page.count('<tr class="partition">') == 500
    assert len(page) < 500_000
