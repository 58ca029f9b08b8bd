"""The group API handlers: each version's fields mapped to and from the coordinator, without sockets.

The metadata cache, topic admin and ZooKeeper are the fakes of ``tests.support.coordinator``;
the real :class:`GroupCoordinator` and :class:`GroupMetadataManager` run on ``task.Clock``
over an in-memory ``__consumer_offsets``. Every response is also encoded with the codec at
its version, so a missing or mistyped field fails here rather than on the wire.
"""

from types import SimpleNamespace

import pytest
from twisted.internet import defer, task

from kafkalite.coordinator.group_metadata_manager import read_offset_value
from kafkalite.protocol import errors
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.offsets_topic import OFFSET_COMMIT_KEY, decode_key
from kafkalite.server.group_apis import GroupApis
from tests.support.coordinator import FakeMetadataCache, FakeOffsetsTopic, FakeTopicAdmin, make_coordinator
from tests.support.fake_zk import FakeZk


@pytest.fixture
def clock():
    return task.Clock()


@pytest.fixture
def log():
    return FakeOffsetsTopic()


@pytest.fixture
def broker(clock, log):
    """The collaborators ``broker.py`` hands GroupApis."""
    config = SimpleNamespace(offsets_topic_num_partitions=1, offsets_topic_replication_factor=1,
                             offsets_topic_segment_bytes=104857600, offset_metadata_max_bytes=4096)
    coordinator, _ = make_coordinator(clock, log, offsets_topic_num_partitions=1, group_min_session_timeout_ms=1000,
                                      group_initial_rebalance_delay_ms=0)
    return SimpleNamespace(config=config, group_coordinator=coordinator, metadata_cache=FakeMetadataCache(),
                           topic_admin=FakeTopicAdmin(), zk=FakeZk())


@pytest.fixture
def apis(broker):
    return GroupApis(broker.group_coordinator, broker.metadata_cache, broker.topic_admin, broker.zk, broker.config)


def call(apis, api_key, version, request):
    """Run the handler, check the response encodes at ``version``, return it."""
    context = SimpleNamespace(api_key=api_key, api_version=version, client_id="client", client_host="/127.0.0.1",
                              listener_name="PLAINTEXT")
    result = apis.handlers()[api_key](context, request)
    if not isinstance(result, (dict, defer.Deferred)):
        result = defer.Deferred.fromCoroutine(result)
    if isinstance(result, defer.Deferred):
        box = []
        result.addBoth(box.append)
        assert box, "the handler did not answer"
        result = box[0]
    API_BY_KEY[api_key].encode_response(result, version)
    return result


def join_request(member_id="", instance=None):
    return {"group_id": "g", "session_timeout_ms": 6000, "rebalance_timeout_ms": 6000, "member_id": member_id,
            "group_instance_id": instance, "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b"meta"}]}


def test_find_coordinator_creates_offsets_topic_then_answers(apis, broker):
    """Without __consumer_offsets: create it compacted and answer 15; with a leader: its endpoint."""
    del broker.metadata_cache.topics["t"]
    response = call(apis, ApiKey.FIND_COORDINATOR, 1, {"key": "g", "key_type": 0})
    assert response["error_code"] == errors.CoordinatorNotAvailableError.code
    (topic, partitions, rf, configs), = broker.topic_admin.created
    assert (topic, partitions, rf) == ("__consumer_offsets", 1, 1)
    assert configs["cleanup.policy"] == "compact" and configs["segment.bytes"] == "104857600"
    broker.metadata_cache.topics["__consumer_offsets"] = {0: SimpleNamespace(leader=1)}
    response = call(apis, ApiKey.FIND_COORDINATOR, 3, {"key": "g", "key_type": 0})
    assert (response["error_code"], response["node_id"], response["host"], response["port"]) == (
        0, 1, "broker-1.example", 9092)
    assert call(apis, ApiKey.FIND_COORDINATOR, 0, {"key": "g"})["node_id"] == 1


def test_find_coordinator_for_transactions_is_unavailable(apis):
    """key_type 1 (transactional id) answers COORDINATOR_NOT_AVAILABLE: no transaction coordinator yet."""
    response = call(apis, ApiKey.FIND_COORDINATOR, 2, {"key": "txn", "key_type": 1})
    assert response["error_code"] == errors.CoordinatorNotAvailableError.code


@pytest.mark.parametrize("version", [4, 5, 6, 7])
def test_join_group_member_id_required_by_version(apis, version):
    """JoinGroup v4+ with no member id answers MEMBER_ID_REQUIRED; protocol_name is "" before v7, null from v7."""
    response = call(apis, ApiKey.JOIN_GROUP, version, join_request())
    assert response["error_code"] == errors.MemberIdRequiredError.code
    assert response["member_id"].startswith("client-")
    assert response["protocol_name"] == ("" if version < 7 else None)


def test_join_sync_heartbeat_leave_v0_to_v3(apis, clock):
    """A v0 member joins at once, syncs, heartbeats; LeaveGroup v0 answers with one top-level error."""
    joined = apis.handlers()[ApiKey.JOIN_GROUP](
        SimpleNamespace(api_version=0, client_id="client", client_host="/127.0.0.1"), join_request())
    clock.advance(0)
    joined = joined.result
    API_BY_KEY[ApiKey.JOIN_GROUP].encode_response(dict(joined), 0)
    member = joined["member_id"]
    assert (joined["error_code"], joined["generation_id"], joined["protocol_name"]) == (0, 1, "range")
    synced = call(apis, ApiKey.SYNC_GROUP, 3, {"group_id": "g", "generation_id": 1, "member_id": member,
                                              "group_instance_id": None,
                                              "assignments": [{"member_id": member, "assignment": b"A"}]})
    assert (synced["error_code"], synced["assignment"]) == (0, b"A")
    beat = call(apis, ApiKey.HEARTBEAT, 0, {"group_id": "g", "generation_id": 1, "member_id": member})
    assert beat["error_code"] == 0
    left = call(apis, ApiKey.LEAVE_GROUP, 0, {"group_id": "g", "member_id": "unknown"})
    assert left["error_code"] == errors.UnknownMemberIdError.code
    left = call(apis, ApiKey.LEAVE_GROUP, 4, {"group_id": "g", "members": [
        {"member_id": member, "group_instance_id": None}]})
    assert left["error_code"] == 0 and left["members"][0]["error_code"] == 0


def test_offset_commit_versions(apis, log):
    """v2's retention time writes value v1 with an expire timestamp; unknown topics get error 3."""
    response = call(apis, ApiKey.OFFSET_COMMIT, 2, {
        "group_id": "simple", "generation_id": -1, "member_id": "", "retention_time_ms": 60000,
        "topics": [{"name": "t", "partitions": [{"partition_index": 0, "committed_offset": 9,
                                                 "committed_metadata": "x"}]},
                   {"name": "nope", "partitions": [{"partition_index": 0, "committed_offset": 1,
                                                    "committed_metadata": ""}]}]})
    codes = {t["name"]: t["partitions"][0]["error_code"] for t in response["topics"]}
    assert codes == {"t": 0, "nope": errors.UnknownTopicOrPartitionError.code}
    key, value = log.records(0)[-1]
    assert decode_key(key) == (OFFSET_COMMIT_KEY, {"group": "simple", "topic": "t", "partition": 0})
    assert value[:2] == b"\x00\x01" and read_offset_value(value).expire_timestamp == 60000


def test_offset_fetch_versions(apis, broker):
    """v1 reports a coordinator error per partition; v2+ also at the top; null topics (v2+) fetch all."""
    call(apis, ApiKey.OFFSET_COMMIT, 8, {
        "group_id": "simple", "generation_id": -1, "member_id": "", "group_instance_id": None,
        "topics": [{"name": "t", "partitions": [{"partition_index": 1, "committed_offset": 4,
                                                 "committed_leader_epoch": 2, "committed_metadata": None}]}]})
    everything = call(apis, ApiKey.OFFSET_FETCH, 7, {"group_id": "simple", "topics": None, "require_stable": False})
    assert everything["topics"] == [{"name": "t", "partitions": [
        {"partition_index": 1, "committed_offset": 4, "committed_leader_epoch": 2, "metadata": "", "error_code": 0}]}]
    broker.group_coordinator.on_stop_replicas([("__consumer_offsets", 0)])
    request = {"group_id": "simple", "topics": [{"name": "t", "partition_indexes": [1]}]}
    v1 = call(apis, ApiKey.OFFSET_FETCH, 1, request)
    assert v1["topics"][0]["partitions"][0]["error_code"] == errors.NotCoordinatorError.code
    v5 = call(apis, ApiKey.OFFSET_FETCH, 5, request)
    assert v5["error_code"] == errors.NotCoordinatorError.code


def test_legacy_v0_offsets_in_zookeeper(apis, broker):
    """OffsetCommit v0 writes /consumers/<g>/offsets/<t>/<p> (creating it, then updating it); v0 fetch reads it."""
    for offset in (5, 6):
        response = call(apis, ApiKey.OFFSET_COMMIT, 0, {"group_id": "old", "topics": [
            {"name": "t", "partitions": [{"partition_index": 0, "committed_offset": offset,
                                          "committed_metadata": ""}]}]})
        assert response["topics"][0]["partitions"][0]["error_code"] == 0
    assert broker.zk.nodes["/consumers/old/offsets/t/0"][:2] == [b"6", 1]
    fetched = call(apis, ApiKey.OFFSET_FETCH, 0, {"group_id": "old", "topics": [
        {"name": "t", "partition_indexes": [0, 1]}, {"name": "nope", "partition_indexes": [0]}]})
    found = {(t["name"], p["partition_index"]): (p["committed_offset"], p["error_code"])
             for t in fetched["topics"] for p in t["partitions"]}
    assert found == {("t", 0): (6, 0), ("t", 1): (-1, 0),
                     ("nope", 0): (-1, errors.UnknownTopicOrPartitionError.code)}


def test_admin_apis_encode(apis, clock):
    """DescribeGroups, ListGroups, DeleteGroups and OffsetDelete answer in their schemas."""
    call(apis, ApiKey.OFFSET_COMMIT, 3, {
        "group_id": "simple", "generation_id": -1, "member_id": "", "retention_time_ms": -1,
        "topics": [{"name": "t", "partitions": [{"partition_index": 0, "committed_offset": 1,
                                                 "committed_metadata": ""}]}]})
    described = call(apis, ApiKey.DESCRIBE_GROUPS, 5, {"groups": ["simple", "nope"],
                                                       "include_authorized_operations": False})
    assert [g["group_state"] for g in described["groups"]] == ["Empty", "Dead"]
    listed = call(apis, ApiKey.LIST_GROUPS, 4, {"states_filter": []})
    assert listed["groups"] == [{"group_id": "simple", "protocol_type": "", "group_state": "Empty"}]
    deleted = call(apis, ApiKey.OFFSET_DELETE, 0, {"group_id": "simple", "topics": [
        {"name": "t", "partitions": [{"partition_index": 0}]}]})
    assert deleted["error_code"] == 0 and deleted["topics"][0]["partitions"][0]["error_code"] == 0
    missing = call(apis, ApiKey.OFFSET_DELETE, 0, {"group_id": "nope", "topics": []})
    assert missing["error_code"] == errors.GroupIdNotFoundError.code
    gone = call(apis, ApiKey.DELETE_GROUPS, 2, {"groups_names": ["simple", "nope"]})
    assert [(r["group_id"], r["error_code"]) for r in gone["results"]] == [
        ("simple", 0), ("nope", errors.GroupIdNotFoundError.code)]
