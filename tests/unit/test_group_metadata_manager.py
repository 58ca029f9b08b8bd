"""The group and offset store on ``__consumer_offsets``, alone: no coordinator, no sockets, ``task.Clock``.

Groups are built by hand (as the coordinator would leave them) and written through the
store to the in-memory ``__consumer_offsets`` of ``tests.support.coordinator``; loads
read back the real record batches.
"""

import pytest
from twisted.internet import defer, task

from kafkalite.coordinator.config import OffsetConfig
from kafkalite.coordinator.group import (
    DEAD,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    GroupMetadata,
    MemberMetadata,
    OffsetAndMetadata,
)
from kafkalite.coordinator.group_metadata_manager import (
    LOAD_BUFFER_BYTES,
    LOAD_RECORDS_PER_TURN,
    LOAD_RETRY_SECONDS,
    GroupMetadataManager,
    group_metadata_key,
    group_metadata_value,
    offset_commit_key,
    offset_commit_value,
)
from kafkalite.protocol import errors
from tests.support.coordinator import FakeOffsetsTopic

MINUTE = 60.0
SUBSCRIPTION_T = b"\x00\x00\x00\x00\x00\x01\x00\x01t\xff\xff\xff\xff"  # consumer protocol v0: topics ["t"]


@pytest.fixture
def clock():
    clock = task.Clock()
    clock.advance(1000)
    return clock


@pytest.fixture
def topic():
    return FakeOffsetsTopic()


def new_manager(clock, topic, high_watermark=None, **settings):
    config = OffsetConfig(**dict({"offsets_topic_num_partitions": 1, "offsets_retention_minutes": 10}, **settings))
    return GroupMetadataManager(clock, config, topic.log, topic.append, high_watermark)


def load(clock, manager, partition=0):
    """Load ``partition`` to the end; returns the groups handed to ``on_group_loaded``."""
    loaded = []
    manager.schedule_load_group_and_offsets(partition, loaded.append)
    clock.advance(0)
    return loaded


@pytest.fixture
def manager(clock, topic):
    manager = new_manager(clock, topic)
    load(clock, manager)
    return manager


def result(d):
    """The result of a Deferred that must have fired."""
    assert d.called, "the Deferred has not fired"
    box = []
    d.addBoth(box.append)
    return box[0]


def stable_group(manager, group_id="g", protocol="range", subscription=b"sub"):
    """A Stable consumer group of one member with an assignment, cached in ``manager``."""
    group = GroupMetadata(group_id, current_state_timestamp=manager.now_ms())
    group.add(MemberMetadata("m-1", "instance-1", "client", "/10.0.0.1", 30000, 10000, "consumer",
                             [(protocol, subscription)], assignment=b"assigned"))
    group.transition_to(PREPARING_REBALANCE, manager.now_ms())
    group.init_next_generation(manager.now_ms())
    group.transition_to(STABLE, manager.now_ms())
    return manager.add_group(group)


def commit(manager, group, offsets):
    return result(manager.store_offsets(group, {key: OffsetAndMetadata(*value) for key, value in offsets.items()}))


def test_store_and_reload_group_and_offsets(clock, topic, manager):
    """A stored group and its offsets come back from the log, Stable, with members and assignment."""
    group = stable_group(manager)
    assert result(manager.store_group(group)) == 0
    assert commit(manager, group, {("t", 0): (10, 3, "meta", 5), ("t", 1): (20,)}) == {("t", 0): 0, ("t", 1): 0}
    assert manager.offset_commits == 2  # the commit-rate metric counts written offsets
    assert topic.records(0)[0] == (group_metadata_key("g"), group_metadata_value(group))

    unloaded = []
    manager.remove_groups_for_partition(0, unloaded.append)
    assert unloaded == [group] and manager.get_group("g") is None and not manager.is_group_local("g")
    loaded = load(clock, manager)
    again = manager.get_group("g")
    assert loaded == [again] and again is not group
    assert (again.state, again.generation_id, again.protocol_type, again.protocol_name, again.leader_id) == (
        STABLE, 1, "consumer", "range", "m-1")
    member = again.members["m-1"]
    assert (member.group_instance_id, member.client_host, member.rebalance_timeout_ms, member.assignment,
            member.metadata("range")) == ("instance-1", "/10.0.0.1", 30000, b"assigned", b"sub")
    assert again.static_members == {"instance-1": "m-1"}
    assert manager.get_offsets("g", [("t", 0), ("t", 1), ("t", 2)]) == [
        ("t", 0, OffsetAndMetadata(10, 3, "meta", 5)), ("t", 1, OffsetAndMetadata(20)), ("t", 2, None)]


def test_offsets_only_group_loads_empty(clock, topic, manager):
    """Offsets without group metadata (a consumer assigning itself) load as an Empty group."""
    topic.write(0, [(offset_commit_key("solo", "t", 0), offset_commit_value(OffsetAndMetadata(7)))])
    manager.remove_groups_for_partition(0, lambda group: None)
    load(clock, manager)
    group = manager.get_group("solo")
    assert group.state == EMPTY and group.generation_id == 0 and group.offsets[("t", 0)].offset == 7


def test_load_applies_tombstones_and_skips_what_is_not_group_data(clock, topic):
    """Tombstones delete, later values win; control batches, unknown keys and other partitions' groups are skipped."""
    manager = new_manager(clock, topic, offsets_topic_num_partitions=2)
    mine, theirs = "g1", "g0"
    assert (manager.partition_for(mine), manager.partition_for(theirs)) == (0, 1)
    topic.write(0, [(offset_commit_key(mine, "t", 0), offset_commit_value(OffsetAndMetadata(1))),
                    (offset_commit_key(mine, "t", 1), offset_commit_value(OffsetAndMetadata(2))),
                    (offset_commit_key(theirs, "t", 0), offset_commit_value(OffsetAndMetadata(3)))])
    topic.write(0, [(b"\x00\x00\x00\x00\x00\x00", b"")], is_control=True)
    topic.write(0, [(b"\x00\x09whatever", b"x"), (None, b"no key")])
    topic.write(0, [(offset_commit_key(mine, "t", 0), offset_commit_value(OffsetAndMetadata(4))),
                    (offset_commit_key(mine, "t", 1), None)])
    assert [g.group_id for g in load(clock, manager)] == [mine]
    assert manager.get_offsets(mine) == [("t", 0, OffsetAndMetadata(4))]
    assert manager.get_group(theirs) is None


def test_group_tombstone_leaves_offsets_only(clock, topic, manager):
    """A group-metadata tombstone removes the group's members; its later offsets still load."""
    group = stable_group(manager)
    result(manager.store_group(group))
    topic.write(0, [(group_metadata_key("g"), None)])
    commit(manager, group, {("t", 0): (1,)})
    manager.remove_groups_for_partition(0, lambda group: None)
    load(clock, manager)
    assert manager.get_group("g").state == EMPTY and not manager.get_group("g").members


def reactor_turn(clock):
    """Run the calls due now that were scheduled before this turn, as one reactor iteration does
    (``Clock.advance`` would also run the ones they schedule)."""
    due = [(call, call.func, call.args, call.kw) for call in clock.getDelayedCalls()
           if call.getTime() <= clock.seconds()]
    for call, _, _, _ in due:
        call.cancel()
    for _, func, args, kw in due:
        func(*args, **kw)


def test_long_partition_loads_over_several_reactor_turns(clock, topic):
    """A long log is read in buffers and applied a chunk per reactor turn; an unload abandons a load."""
    count = LOAD_RECORDS_PER_TURN * 2 + 10
    value = offset_commit_value(OffsetAndMetadata(0, metadata="x" * 300))
    for start in range(0, count, 500):
        topic.write(0, [(offset_commit_key("big", "t", 0), value)] * (min(count, start + 500) - start - 1)
                    + [(offset_commit_key("big", "t", 0), offset_commit_value(OffsetAndMetadata(start)))])
    assert sum(len(data) for _, _, data in topic.log(0).batches) > LOAD_BUFFER_BYTES
    manager = new_manager(clock, topic)
    manager.schedule_load_group_and_offsets(0, lambda group: None)
    reactor_turn(clock)
    assert manager.is_group_loading("big")
    reactor_turn(clock)
    assert manager.is_group_loading("big")
    reactor_turn(clock)
    assert manager.is_group_local("big") and not manager.is_loading()
    assert manager.get_offsets("big") == [("t", 0, OffsetAndMetadata(count - count % 500))]

    manager.remove_groups_for_partition(0, lambda group: None)
    manager.schedule_load_group_and_offsets(0, lambda group: None)
    reactor_turn(clock)
    manager.remove_groups_for_partition(0, lambda group: None)
    clock.advance(0)
    assert not manager.is_group_local("big") and not manager.is_group_loading("big")
    assert clock.getDelayedCalls() == []


def test_failed_load_is_retried(clock, topic):
    """A load that fails (no local log yet, a corrupt batch) stays LOAD_IN_PROGRESS and is retried until it works."""
    topic.write(0, [(offset_commit_key("g", "t", 0), offset_commit_value(OffsetAndMetadata(7)))])
    good = topic.log(0).batches[0]
    topic.log(0).batches[0] = good[:2] + (good[2][:-1] + bytes([good[2][-1] ^ 1]),)  # a bad CRC
    topic.missing.add(0)
    manager = new_manager(clock, topic)
    manager.schedule_load_group_and_offsets(0, lambda group: None)
    clock.advance(0)
    assert manager.is_group_loading("g")
    topic.missing.clear()
    clock.advance(LOAD_RETRY_SECONDS)
    assert manager.is_group_loading("g")
    topic.log(0).batches[0] = good
    clock.advance(LOAD_RETRY_SECONDS)
    assert [v.offset for _, _, v in manager.get_offsets("g")] == [7]


def test_metadata_too_large_is_refused_per_partition(clock, topic):
    """Offset metadata over offset.metadata.max.bytes is refused, the rest stored; none stored writes nothing."""
    manager = new_manager(clock, topic, offset_metadata_max_bytes=4)
    load(clock, manager)
    group = manager.add_group(GroupMetadata("solo"))
    assert commit(manager, group, {("t", 0): (1, -1, "12345"), ("t", 1): (1, -1, "1234")}) == {
        ("t", 0): errors.OffsetMetadataTooLargeError.code, ("t", 1): 0}
    appends = topic.appends
    assert commit(manager, group, {("t", 0): (1, -1, "12345")}) == {("t", 0): errors.OffsetMetadataTooLargeError.code}
    assert topic.appends == appends


@pytest.mark.parametrize("append_error, offsets_error, group_error", [
    (errors.NotLeaderOrFollowerError.code, errors.NotCoordinatorError.code, errors.NotCoordinatorError.code),
    (errors.NotEnoughReplicasError.code, errors.CoordinatorNotAvailableError.code,
     errors.CoordinatorNotAvailableError.code),
    (errors.RequestTimedOutError.code, errors.CoordinatorNotAvailableError.code,
     errors.CoordinatorNotAvailableError.code),
    (errors.MessageTooLargeError.code, errors.InvalidCommitOffsetSizeError.code, errors.UnknownServerError.code),
])
def test_append_errors_become_coordinator_errors(clock, topic, manager, append_error, offsets_error, group_error):
    """A failed append answers Kafka's coordinator error; failed offsets are not cached."""
    group = stable_group(manager)
    topic.error = append_error
    assert commit(manager, group, {("t", 0): (1,)}) == {("t", 0): offsets_error}
    assert result(manager.store_group(group)) == group_error
    assert manager.get_offsets("g") == []


def test_append_raising_kafka_error_is_its_code(clock, topic, manager):
    """An append that raises a KafkaError (or fails with one) answers its code, mapped."""
    group = stable_group(manager)
    manager._append = lambda partition, batch: defer.fail(errors.KafkaStorageError())
    assert result(manager.store_group(group)) == errors.NotCoordinatorError.code


def test_offsets_written_after_unload_are_not_cached(clock, topic, manager):
    """A commit whose append completes after the partition was unloaded does not resurrect the group."""
    group = stable_group(manager)
    topic.hold = True
    d = manager.store_offsets(group, {("t", 0): OffsetAndMetadata(5)})
    manager.remove_groups_for_partition(0, lambda group: None)
    topic.release()
    assert result(d) == {("t", 0): 0}
    assert group.offsets == {}


def test_empty_group_offsets_expire_after_retention(clock, topic, manager):
    """Offsets of an Empty group go offsets.retention.minutes after it emptied, with the group and tombstones."""
    group = stable_group(manager)
    commit(manager, group, {("t", 0): (10,)})
    group.remove("m-1")
    group.transition_to(PREPARING_REBALANCE, manager.now_ms())
    group.init_next_generation(manager.now_ms())
    assert group.state == EMPTY
    clock.advance(9 * MINUTE)
    result(manager.expire_offsets())
    assert manager.get_offsets("g") != []
    clock.advance(MINUTE)
    result(manager.expire_offsets())
    assert manager.get_group("g") is None and group.state == DEAD
    assert topic.records(0)[-2:] == [(offset_commit_key("g", "t", 0), None), (group_metadata_key("g"), None)]


def test_explicit_expire_timestamp_and_simple_consumers(clock, topic, manager):
    """An explicit expire timestamp (OffsetCommit v2-v4) wins; a memberless group's offsets count from their commit."""
    group = manager.add_group(GroupMetadata("solo", current_state_timestamp=0))
    now = manager.now_ms()
    commit(manager, group, {("t", 0): (1, -1, "", now, now + 5000), ("t", 1): (2, -1, "", now)})
    clock.advance(5)
    result(manager.expire_offsets())
    assert [p for _, p, _ in manager.get_offsets("solo")] == [1]
    clock.advance(10 * MINUTE)
    result(manager.expire_offsets())
    assert manager.get_group("solo") is None


def test_stable_consumer_group_expires_only_unsubscribed_topics(clock, topic, manager):
    """A Stable consumer group keeps offsets of subscribed topics; others expire after retention."""
    group = stable_group(manager, subscription=SUBSCRIPTION_T)
    commit(manager, group, {("t", 0): (1, -1, "", manager.now_ms()), ("old", 0): (2, -1, "", manager.now_ms())})
    clock.advance(11 * MINUTE)
    result(manager.expire_offsets())
    assert list(group.offsets) == [("t", 0)] and manager.get_group("g") is group


def test_expiry_runs_periodically_and_survives_a_broken_log(clock, topic):
    """startup() expires every offsets.retention.check.interval.ms; an append blowing up never stops it."""
    manager = new_manager(clock, topic, offsets_retention_check_interval_ms=60000)
    load(clock, manager)
    manager.startup()
    group = manager.add_group(GroupMetadata("solo"))
    commit(manager, group, {("t", 0): (1, -1, "", manager.now_ms())})

    def broken(partition, batch):
        raise RuntimeError("disk on fire")
    manager._append = broken
    clock.advance(11 * MINUTE)
    assert manager.get_group("solo") is None
    manager._append = topic.append
    solo = manager.add_group(GroupMetadata("solo"))
    commit(manager, solo, {("t", 0): (1, -1, "", manager.now_ms())})
    clock.advance(11 * MINUTE)
    assert manager.get_group("solo") is None
    manager.shutdown(lambda group: None)
    assert clock.getDelayedCalls() == []


def test_deleted_partitions_drop_offsets(clock, topic, manager):
    """Offsets of deleted partitions go with tombstones; an Empty group left without offsets goes too."""
    group = stable_group(manager)
    commit(manager, group, {("t", 0): (1,), ("u", 0): (2,)})
    solo = manager.add_group(GroupMetadata("solo"))
    commit(manager, solo, {("t", 0): (3,)})
    result(manager.handle_deleted_partitions([("t", 0), ("t", 1)]))
    assert list(group.offsets) == [("u", 0)] and manager.get_group("solo") is None
    assert topic.records(0)[-3:] == [(offset_commit_key("g", "t", 0), None), (offset_commit_key("solo", "t", 0), None),
                                     (group_metadata_key("solo"), None)]


def test_group_lag(clock, topic):
    """Lag per partition = high watermark - committed offset; unknown where this broker does not lead."""
    manager = new_manager(clock, topic, high_watermark=lambda t, p: {("t", 0): 100, ("t", 1): 40}.get((t, p)))
    load(clock, manager)
    solo = manager.add_group(GroupMetadata("solo"))
    commit(manager, solo, {("t", 0): (60,), ("t", 1): (40,), ("u", 0): (3,)})
    entries = manager.group_lag("solo")
    assert [(e.topic, e.partition, e.committed_offset, e.log_end_offset, e.lag) for e in entries] == [
        ("t", 0, 60, 100, 40), ("t", 1, 40, 40, 0), ("u", 0, 3, None, None)]
    assert manager.group_lag("nope") == []
    assert [e.group for e in new_manager(clock, topic).group_lag()] == []
