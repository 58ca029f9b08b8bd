"""The group coordinator's membership protocol, driven by ``task.Clock`` (no sockets, no real time).

A real :class:`GroupMetadataManager` stores the groups over the in-memory
``__consumer_offsets`` of ``tests.support.coordinator``, so a reload after a leadership
change replays exactly what the coordinator had written. The store's own rules (loading,
expiry, lag) are tested in ``test_group_metadata_manager``.
"""

from types import SimpleNamespace

import pytest
from twisted.internet import task

from kafkalite.coordinator.group import COMPLETING_REBALANCE, DEAD, EMPTY, PREPARING_REBALANCE, STABLE
from kafkalite.coordinator.group_metadata_manager import group_metadata_key, offset_commit_key, read_group_value
from kafkalite.protocol import errors
from kafkalite.protocol.offsets_topic import GROUP_METADATA_KEY, OFFSET_COMMIT_KEY, decode_key
from tests.support.coordinator import FakeOffsetsTopic, make_coordinator

GROUP = "group-a"
SESSION_MS = 10000
REBALANCE_MS = 30000
PROTOCOLS = [("range", b"range-meta"), ("roundrobin", b"rr-meta")]
SETTINGS = {"offsets_topic_num_partitions": 1, "group_min_session_timeout_ms": 1000,
            "group_max_session_timeout_ms": 60000, "group_initial_rebalance_delay_ms": 0,
            "offsets_retention_minutes": 10}


@pytest.fixture
def clock():
    return task.Clock()


@pytest.fixture
def log():
    """The ``__consumer_offsets`` partitions the coordinator's store writes to."""
    return FakeOffsetsTopic()


def new_coordinator(clock, log, **overrides):
    return make_coordinator(clock, log, **dict(SETTINGS, **overrides))[0]


@pytest.fixture
def coordinator(clock, log):
    return new_coordinator(clock, log)


def group_of(coordinator, group_id=GROUP):
    return coordinator.group_manager.get_group(group_id)


def result(d):
    """The result of a Deferred that must have fired."""
    assert d.called, "the Deferred has not fired"
    box = []
    d.addBoth(box.append)
    return box[0]


def join(coordinator, member_id="", instance=None, protocols=PROTOCOLS, v4=False, session_ms=SESSION_MS,
         rebalance_ms=REBALANCE_MS, group=GROUP):
    return coordinator.join_group(group, member_id, instance, v4, "client", "/127.0.0.1", rebalance_ms,
                                  session_ms, "consumer", protocols)


def sync(coordinator, generation, member_id, assignments=None, instance=None, group=GROUP):
    return coordinator.sync_group(group, generation, member_id, instance, None, None, assignments or {})


def stable_group(clock, coordinator, count=2):
    """Join ``count`` members and complete the rebalance; returns their member ids (leader first)."""
    joins = [join(coordinator) for _ in range(count)]
    clock.advance(0)
    results = [result(d) for d in joins]
    generation = results[0]["generation_id"]
    leader = results[0]["leader"]
    members = [r["member_id"] for r in results]
    ordered = [leader] + [m for m in members if m != leader]
    syncs = [sync(coordinator, generation, m, {m: m.encode() for m in members} if m == leader else None)
             for m in ordered]
    for d in syncs:
        assert result(d)["error_code"] == 0
    return ordered


def test_join_v4_requires_member_id_then_completes(clock, coordinator):
    """JoinGroup v4 with an empty member id gets MEMBER_ID_REQUIRED and an id; rejoining with it joins."""
    first = result(join(coordinator, v4=True))
    assert first["error_code"] == errors.MemberIdRequiredError.code
    member_id = first["member_id"]
    assert member_id.startswith("client-")
    d = join(coordinator, member_id=member_id, v4=True)
    clock.advance(0)
    joined = result(d)
    assert (joined["error_code"], joined["generation_id"], joined["leader"], joined["member_id"]) == (
        0, 1, member_id, member_id)
    assert joined["protocol_name"] == "range"
    assert joined["members"] == [{"member_id": member_id, "group_instance_id": None, "metadata": b"range-meta"}]
    assert group_of(coordinator).state == COMPLETING_REBALANCE
    synced = result(sync(coordinator, 1, member_id, {member_id: b"assignment"}))
    assert (synced["error_code"], synced["assignment"]) == (0, b"assignment")
    assert group_of(coordinator).state == STABLE


def test_initial_rebalance_delay_collects_members(clock, log):
    """An empty group waits group.initial.rebalance.delay.ms, so members joining meanwhile share generation 1."""
    coordinator = new_coordinator(clock, log, group_initial_rebalance_delay_ms=3000)
    first = join(coordinator)
    clock.advance(2.0)
    second = join(coordinator)
    clock.advance(2.0)
    assert not first.called and not second.called
    clock.advance(3.0)
    a, b = result(first), result(second)
    assert a["generation_id"] == b["generation_id"] == 1
    assert a["leader"] == b["leader"]
    leader = [r for r in (a, b) if r["member_id"] == r["leader"]][0]
    assert len(leader["members"]) == 2
    follower = [r for r in (a, b) if r["member_id"] != r["leader"]][0]
    assert follower["members"] == []


def test_sync_waits_for_leader_assignment(clock, coordinator):
    """A follower's SyncGroup parks until the leader's; each member then gets its own assignment."""
    joins = [join(coordinator), join(coordinator)]
    clock.advance(0)
    results = [result(d) for d in joins]
    leader = results[0]["leader"]
    follower = [r["member_id"] for r in results if r["member_id"] != leader][0]
    waiting = sync(coordinator, 1, follower)
    assert not waiting.called
    led = sync(coordinator, 1, leader, {leader: b"L", follower: b"F"})
    assert result(led)["assignment"] == b"L"
    assert result(waiting)["assignment"] == b"F"


def test_assignment_is_persisted_before_sync_answers(clock, coordinator, log):
    """SyncGroup answers only once the group metadata is written (acks=all in the broker)."""
    log.hold = True
    d = join(coordinator)
    clock.advance(0)
    member = result(d)["member_id"]
    synced = sync(coordinator, 1, member, {member: b"A"})
    assert not synced.called
    log.release()
    assert result(synced)["assignment"] == b"A"
    key, value = log.records(0)[-1]
    assert decode_key(key) == (GROUP_METADATA_KEY, {"group": GROUP})
    stored = read_group_value(GROUP, value, 0)
    assert (stored.generation_id, stored.protocol_name, stored.leader_id) == (1, "range", member)
    assert stored.members[member].assignment == b"A"


def test_failed_assignment_write_maps_error(clock, coordinator, log):
    """A failed write of the assignment reaches SyncGroup as Kafka's coordinator error."""
    d = join(coordinator)
    clock.advance(0)
    member = result(d)["member_id"]
    log.error = errors.NotLeaderOrFollowerError.code
    assert result(sync(coordinator, 1, member, {member: b"A"}))["error_code"] == errors.NotCoordinatorError.code


def test_session_timeout_removes_member_and_rebalances(clock, coordinator):
    """A member that stops heartbeating is removed after session.timeout.ms; the other must rejoin."""
    leader, other = stable_group(clock, coordinator)
    for _ in range(4):
        clock.advance(SESSION_MS / 1000.0 / 2)
        code = coordinator.heartbeat(GROUP, leader, None, 1)
        if code:
            break
    assert code == errors.RebalanceInProgressError.code
    group = group_of(coordinator)
    assert not group.has(other) and group.state == PREPARING_REBALANCE
    d = join(coordinator, member_id=leader)
    clock.advance(0)
    rejoined = result(d)
    assert (rejoined["generation_id"], [m["member_id"] for m in rejoined["members"]]) == (2, [leader])


def test_rebalance_timeout_drops_members_that_do_not_rejoin(clock, coordinator):
    """A member that keeps heartbeating but never rejoins is dropped when the rebalance timeout ends."""
    leader, other = stable_group(clock, coordinator)
    d = join(coordinator, member_id=leader, protocols=[("range", b"changed")])
    assert group_of(coordinator).state == PREPARING_REBALANCE
    assert coordinator.heartbeat(GROUP, other, None, 1) == errors.RebalanceInProgressError.code
    for _ in range(REBALANCE_MS // 1000 - 1):
        clock.advance(1)
        assert coordinator.heartbeat(GROUP, other, None, 1) == errors.RebalanceInProgressError.code
    assert not d.called
    clock.advance(1)
    assert result(d)["generation_id"] == 2
    assert not group_of(coordinator).has(other)
    assert coordinator.heartbeat(GROUP, other, None, 2) == errors.UnknownMemberIdError.code


def test_fencing_errors(clock, coordinator):
    """Old generations, unknown members and syncs during a rebalance are fenced with Kafka's errors."""
    leader, other = stable_group(clock, coordinator)
    assert coordinator.heartbeat(GROUP, leader, None, 0) == errors.IllegalGenerationError.code
    assert coordinator.heartbeat(GROUP, "nobody", None, 1) == errors.UnknownMemberIdError.code
    assert coordinator.heartbeat(GROUP, leader, None, 1) == 0
    stale = result(coordinator.commit_offsets(GROUP, leader, None, 0, {("t", 0): (5, -1, "")}))
    assert stale == {("t", 0): errors.IllegalGenerationError.code}
    unknown = result(coordinator.commit_offsets(GROUP, "nobody", None, 1, {("t", 0): (5, -1, "")}))
    assert unknown == {("t", 0): errors.UnknownMemberIdError.code}
    join(coordinator, member_id=other, protocols=[("range", b"new")])
    assert result(sync(coordinator, 1, leader))["error_code"] == errors.RebalanceInProgressError.code
    assert result(join(coordinator, member_id="ghost"))["error_code"] == errors.UnknownMemberIdError.code


def test_session_timeout_bounds(coordinator):
    """Session timeouts outside group.min/max.session.timeout.ms are refused."""
    assert result(join(coordinator, session_ms=500))["error_code"] == errors.InvalidSessionTimeoutError.code
    assert result(join(coordinator, session_ms=70000))["error_code"] == errors.InvalidSessionTimeoutError.code


def test_inconsistent_protocols_rejected(clock, coordinator):
    """A member with no protocol in common with the group is refused."""
    stable_group(clock, coordinator, 1)
    d = join(coordinator, protocols=[("sticky", b"")])
    assert result(d)["error_code"] == errors.InconsistentGroupProtocolError.code


def test_leave_group_triggers_rebalance(clock, coordinator):
    """LeaveGroup removes the member at once; the remaining member's rejoin completes generation 2 alone."""
    leader, other = stable_group(clock, coordinator)
    code, results = coordinator.leave_group(GROUP, [(other, None), ("ghost", None)])
    assert (code, results) == (0, [0, errors.UnknownMemberIdError.code])
    assert group_of(coordinator).state == PREPARING_REBALANCE
    d = join(coordinator, member_id=leader)
    clock.advance(0)
    assert result(d)["generation_id"] == 2
    code, _ = coordinator.leave_group(GROUP, [(leader, None)])
    assert group_of(coordinator).state == PREPARING_REBALANCE
    clock.advance(0)
    assert group_of(coordinator).state == EMPTY


def test_static_member_rejoin_keeps_assignment_without_rebalance(clock, coordinator):
    """A static member restarting (new member id, same group.instance.id) keeps generation and assignment."""
    first = join(coordinator, instance="instance-1")
    second = join(coordinator, instance="instance-2")
    clock.advance(0)
    a, b = result(first), result(second)
    leader = a["leader"]
    assignments = {a["member_id"]: b"A", b["member_id"]: b"B"}
    follower = b["member_id"] if leader == a["member_id"] else a["member_id"]
    sync(coordinator, 1, follower, instance=None)
    result(sync(coordinator, 1, leader, assignments))
    old_id = b["member_id"]
    again = result(join(coordinator, instance="instance-2"))
    assert again["error_code"] == 0 and again["generation_id"] == 1
    assert again["member_id"] != old_id and again["leader"] == leader
    group = group_of(coordinator)
    assert group.state == STABLE
    assert result(sync(coordinator, 1, again["member_id"], instance="instance-2"))["assignment"] == b"B"
    assert coordinator.heartbeat(GROUP, old_id, "instance-2", 1) == errors.FencedInstanceIdError.code


def test_static_member_session_expiry_rebalances(clock, coordinator):
    """A static member that never comes back is removed after its session timeout."""
    first = join(coordinator, instance="i-1")
    clock.advance(0)
    member = result(first)["member_id"]
    result(sync(coordinator, 1, member, {member: b"x"}))
    clock.advance(SESSION_MS / 1000.0 + 0.1)
    clock.advance(0)
    assert group_of(coordinator).state == EMPTY


def test_heartbeat_during_completing_rebalance_is_fine(clock, coordinator):
    """Heartbeats between JoinGroup and SyncGroup answer NONE (Kafka 2.8)."""
    d = join(coordinator)
    clock.advance(0)
    member = result(d)["member_id"]
    assert group_of(coordinator).state == COMPLETING_REBALANCE
    assert coordinator.heartbeat(GROUP, member, None, 1) == 0


def test_commit_and_fetch_offsets(clock, coordinator, log):
    """Commits from a member are stored and fetched back; unknown partitions fetch as -1; all-partitions works."""
    leader, _ = stable_group(clock, coordinator)
    codes = result(coordinator.commit_offsets(GROUP, leader, None, 1, {("t", 0): (10, 3, "meta"),
                                                                      ("t", 1): (20, -1, None)}))
    assert codes == {("t", 0): 0, ("t", 1): 0}
    code, found = coordinator.fetch_offsets(GROUP, [("t", 0), ("t", 5)])
    assert code == 0
    assert [(t, p, v and (v.offset, v.leader_epoch, v.metadata)) for t, p, v in found] == [
        ("t", 0, (10, 3, "meta")), ("t", 5, None)]
    code, everything = coordinator.fetch_offsets(GROUP, None)
    assert [(t, p, v.offset) for t, p, v in everything] == [("t", 0, 10), ("t", 1, 20)]
    keys = [decode_key(k) for k, _ in log.records(0)]
    assert (OFFSET_COMMIT_KEY, {"group": GROUP, "topic": "t", "partition": 0}) in keys


def test_simple_consumer_commits_without_group(coordinator):
    """generation -1 with no group (a consumer that assigns partitions itself) may commit."""
    codes = result(coordinator.commit_offsets("solo", "", None, -1, {("t", 0): (7, -1, "")}))
    assert codes == {("t", 0): 0}
    assert group_of(coordinator, "solo").state == EMPTY
    assert result(coordinator.commit_offsets("other", "m", None, 3, {("t", 0): (7, -1, "")})) == {
        ("t", 0): errors.IllegalGenerationError.code}


def test_metadata_too_large(clock, log):
    """Offset metadata longer than offset.metadata.max.bytes is refused per partition."""
    coordinator = new_coordinator(clock, log, offset_metadata_max_bytes=4)
    codes = result(coordinator.commit_offsets("solo", "", None, -1, {("t", 0): (1, -1, "12345"),
                                                                    ("t", 1): (1, -1, "1234")}))
    assert codes == {("t", 0): errors.OffsetMetadataTooLargeError.code, ("t", 1): 0}


def test_reload_after_leadership_change(clock, coordinator, log):
    """Unloading drops the groups (NOT_COORDINATOR); loading replays the log: offsets and a Stable group return."""
    leader, other = stable_group(clock, coordinator)
    result(coordinator.commit_offsets(GROUP, leader, None, 1, {("t", 0): (10, -1, ""), ("t", 1): (4, -1, "")}))
    result(coordinator.delete_offsets(GROUP, [("t", 1)]))
    parked = join(coordinator, member_id=other, protocols=[("range", b"changed")])
    coordinator.on_stop_replicas([("__consumer_offsets", 0)])
    assert result(parked)["error_code"] == errors.NotCoordinatorError.code
    assert coordinator.heartbeat(GROUP, leader, None, 1) == errors.NotCoordinatorError.code
    assert coordinator.fetch_offsets(GROUP, None)[0] == errors.NotCoordinatorError.code
    coordinator.on_become_leader([("__consumer_offsets", 0)])
    assert coordinator.heartbeat(GROUP, leader, None, 1) == errors.CoordinatorLoadInProgressError.code
    clock.advance(0)
    group = group_of(coordinator)
    assert group.state == STABLE and group.generation_id == 1 and set(group.members) == {leader, other}
    _, found = coordinator.fetch_offsets(GROUP, None)
    assert [(t, p, v.offset) for t, p, v in found] == [("t", 0, 10)]
    assert coordinator.heartbeat(GROUP, leader, None, 1) == 0


def test_empty_group_offsets_expire(clock, coordinator, log):
    """Offsets of an empty group expire offsets.retention.minutes after it emptied; the group goes too."""
    leader, other = stable_group(clock, coordinator)
    result(coordinator.commit_offsets(GROUP, leader, None, 1, {("t", 0): (10, -1, "")}))
    coordinator.leave_group(GROUP, [(leader, None), (other, None)])
    clock.advance(0)
    assert group_of(coordinator).state == EMPTY
    clock.advance(9 * 60)
    result(coordinator.group_manager.expire_offsets())
    assert coordinator.fetch_offsets(GROUP, None)[1]
    clock.advance(61)
    result(coordinator.group_manager.expire_offsets())
    assert group_of(coordinator) is None
    tail = log.records(0)[-2:]
    assert tail == [(offset_commit_key(GROUP, "t", 0), None), (group_metadata_key(GROUP), None)]


def test_explicit_retention_expires_at_its_time(clock, coordinator):
    """OffsetCommit v2-v4's retention time sets an expire timestamp honoured by expiry."""
    result(coordinator.commit_offsets("solo", "", None, -1, {("t", 0): (1, -1, "")}, retention_ms=5000))
    clock.advance(4)
    result(coordinator.group_manager.expire_offsets())
    assert group_of(coordinator, "solo") is not None
    clock.advance(1)
    result(coordinator.group_manager.expire_offsets())
    assert group_of(coordinator, "solo") is None


def test_delete_groups(clock, coordinator, log):
    """DeleteGroups removes an empty group with its offsets, refuses a live one, reports unknown ones."""
    leader, _ = stable_group(clock, coordinator)
    result(coordinator.commit_offsets("solo", "", None, -1, {("t", 0): (1, -1, "")}))
    results = result(coordinator.delete_groups(["solo", GROUP, "nope", ""]))
    assert results == {"solo": 0, GROUP: errors.NonEmptyGroupError.code,
                       "nope": errors.GroupIdNotFoundError.code, "": errors.InvalidGroupIdError.code}
    assert group_of(coordinator, "solo") is None
    assert log.records(0)[-1] == (group_metadata_key("solo"), None)


def test_offset_delete_refuses_subscribed_topics(clock, coordinator):
    """OffsetDelete removes offsets of topics the group does not subscribe to, not of subscribed ones."""
    subscription = b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff"
    d = join(coordinator, protocols=[("range", subscription)])
    clock.advance(0)
    member = result(d)["member_id"]
    result(sync(coordinator, 1, member, {member: b""}))
    result(coordinator.commit_offsets(GROUP, member, None, 1, {("t", 0): (1, -1, ""), ("old", 0): (2, -1, "")}))
    code, results = result(coordinator.delete_offsets(GROUP, [("t", 0), ("old", 0)]))
    assert (code, results) == (0, {("t", 0): errors.GroupSubscribedToTopicError.code, ("old", 0): 0})
    assert [(t, p) for t, p, _ in coordinator.fetch_offsets(GROUP, None)[1]] == [("t", 0)]
    assert result(coordinator.delete_offsets("nope", []))[0] == errors.GroupIdNotFoundError.code


def test_describe_and_list_groups(clock, coordinator):
    """DescribeGroups shows a Stable group's protocol, members and assignments; ListGroups lists it."""
    leader, other = stable_group(clock, coordinator)
    entry = coordinator.describe_group(GROUP)
    assert (entry["group_state"], entry["protocol_type"], entry["protocol_data"]) == (STABLE, "consumer", "range")
    assert {m["member_id"]: m["member_assignment"] for m in entry["members"]} == {
        leader: leader.encode(), other: other.encode()}
    assert coordinator.describe_group("nope")["group_state"] == DEAD
    assert coordinator.list_groups() == (0, [(GROUP, "consumer", STABLE)])
    assert coordinator.list_groups(["Empty"]) == (0, [])


def test_not_coordinator_for_other_partitions(clock, log):
    """Groups of partitions this broker does not lead get NOT_COORDINATOR; loading ones LOAD_IN_PROGRESS."""
    coordinator = new_coordinator(clock, log, offsets_topic_num_partitions=50, loaded=())
    partition = coordinator.partition_for(GROUP)
    assert result(join(coordinator))["error_code"] == errors.NotCoordinatorError.code
    coordinator.on_become_leader([("__consumer_offsets", partition)])
    assert coordinator.heartbeat(GROUP, "m", None, 1) == errors.CoordinatorLoadInProgressError.code
    assert coordinator.list_groups()[0] == errors.CoordinatorLoadInProgressError.code
    clock.advance(0)
    assert coordinator.heartbeat(GROUP, "m", None, 1) == errors.UnknownMemberIdError.code


def test_new_member_join_times_out(clock, coordinator):
    """A new member parked in JoinGroup is dropped after Kafka's 5-minute new-member timeout."""
    leader, other = stable_group(clock, coordinator)
    join(coordinator, member_id=leader, protocols=[("range", b"x")])
    newcomer = join(coordinator)
    for _ in range(20):
        clock.advance(5)
        coordinator.heartbeat(GROUP, other, None, 1)
    assert newcomer.called  # the rebalance completed (after the rebalance timeout) with the newcomer
    assert result(newcomer)["generation_id"] == 2


def test_shutdown_fails_parked_requests(clock, coordinator):
    """Shutting down answers parked JoinGroups with NOT_COORDINATOR and cancels every timer."""
    leader, other = stable_group(clock, coordinator)
    parked = join(coordinator, member_id=leader, protocols=[("range", b"x")])
    coordinator.shutdown()
    assert result(parked)["error_code"] == errors.NotCoordinatorError.code
    assert clock.getDelayedCalls() == []


def test_deleted_partitions_drop_offsets(clock, coordinator, log):
    """Offsets of deleted partitions are removed with tombstones; an empty group left without offsets goes."""
    leader, _ = stable_group(clock, coordinator)
    result(coordinator.commit_offsets(GROUP, leader, None, 1, {("t", 0): (1, -1, ""), ("u", 0): (2, -1, "")}))
    result(coordinator.commit_offsets("solo", "", None, -1, {("t", 0): (3, -1, "")}))
    result(coordinator.handle_deleted_partitions([("t", 0)]))
    assert [(t, p) for t, p, _ in coordinator.fetch_offsets(GROUP, None)[1]] == [("u", 0)]
    assert group_of(coordinator, "solo") is None
    assert (offset_commit_key(GROUP, "t", 0), None) in log.records(0)
    assert log.records(0)[-1] == (group_metadata_key("solo"), None)


def test_leave_by_group_instance_id(clock, coordinator):
    """LeaveGroup v3+ removes a static member by instance id; a mismatching member id is FENCED_INSTANCE_ID."""
    d = join(coordinator, instance="i-1")
    clock.advance(0)
    member = result(d)["member_id"]
    assert coordinator.leave_group(GROUP, [("other-id", "i-1")]) == (0, [errors.FencedInstanceIdError.code])
    assert coordinator.leave_group(GROUP, [("", "i-2")]) == (0, [errors.UnknownMemberIdError.code])
    assert coordinator.leave_group(GROUP, [("", "i-1")]) == (0, [0])
    assert not group_of(coordinator).has(member)


def test_pending_member_that_never_rejoins_is_forgotten(clock, coordinator):
    """A MEMBER_ID_REQUIRED member that never rejoins stops holding up the rebalance after its session timeout."""
    leader, other = stable_group(clock, coordinator)
    pending = result(join(coordinator, v4=True))["member_id"]
    assert pending in group_of(coordinator).pending_members
    rejoin = [join(coordinator, member_id=leader, protocols=[("range", b"x")]),
              join(coordinator, member_id=other, protocols=[("range", b"y")])]
    assert group_of(coordinator).all_joined() is False
    assert not any(d.called for d in rejoin)
    clock.advance(SESSION_MS / 1000.0)
    assert all(result(d)["generation_id"] == 2 for d in rejoin)
    assert pending not in group_of(coordinator).pending_members


def test_becoming_follower_unloads_and_leading_again_reloads(clock, coordinator):
    """The replica manager's leadership callbacks: follower → NOT_COORDINATOR, parked syncs too; leader → reload."""
    joins = [join(coordinator), join(coordinator)]
    clock.advance(0)
    results = [result(d) for d in joins]
    follower = [r["member_id"] for r in results if r["member_id"] != r["leader"]][0]
    parked = sync(coordinator, 1, follower)
    coordinator.on_become_follower([SimpleNamespace(topic="other", partition=0)], {})
    assert not parked.called and coordinator.heartbeat(GROUP, follower, None, 1) == 0
    coordinator.on_become_follower([SimpleNamespace(topic="__consumer_offsets", partition=0)], {})
    assert result(parked)["error_code"] == errors.NotCoordinatorError.code
    assert coordinator.heartbeat(GROUP, follower, None, 1) == errors.NotCoordinatorError.code
    assert coordinator.list_groups() == (0, [])
    coordinator.on_become_leader([("__consumer_offsets", 0), ("other", 0)])
    clock.advance(0)
    # The group was CompletingRebalance, never stored: nothing of it comes back.
    assert coordinator.heartbeat(GROUP, follower, None, 1) == errors.UnknownMemberIdError.code
    assert coordinator.describe_group(GROUP)["group_state"] == DEAD
