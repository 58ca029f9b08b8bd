"""ReplicaFetcher with an incremental fetch session, against a real leader in memory.

Broker 1 leads, broker 2 follows: two :class:`tests.support.replica.ReplicaBroker` (real
replica managers over real logs) sharing one ``task.Clock``. The fetcher's channel is a
:class:`tests.support.replica.LoopbackChannel` into the leader's real Fetch handler, every
request and response through the real codec. Long polls park in the leader's purgatory
until an append or the clock (``replica.fetch.wait.max.ms``) answers them.
"""

import pytest
from twisted.internet import error
from twisted.internet.task import Clock

from kafkalite.config import parse_config
from kafkalite.protocol import errors
from kafkalite.replica.fetch_session import FetchSessionCache
from kafkalite.replica.fetcher import ReplicaFetcher
from tests.support.replica import LoopbackChannel, ReplicaBroker, partition_state

PARTITIONS = 3
WAIT_S = 0.5  # replica.fetch.wait.max.ms's default


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def leader(tmp_path, clock):
    (tmp_path / "leader").mkdir()
    broker = ReplicaBroker(tmp_path / "leader", broker_id=1, clock=clock)
    for p in range(PARTITIONS):
        broker.lead("t", p, isr=(1, 2), replicas=(1, 2))
    yield broker
    broker.close()


@pytest.fixture
def follower(tmp_path, clock):
    (tmp_path / "follower").mkdir()
    broker = ReplicaBroker(tmp_path / "follower", broker_id=2, clock=clock)
    broker.leader_and_isr(*[partition_state("t", p, leader=1, isr=(1, 2), replicas=(1, 2))
                            for p in range(PARTITIONS)])
    yield broker
    broker.close()


@pytest.fixture
def channel(leader):
    return LoopbackChannel(leader)


@pytest.fixture
def fetcher(follower, channel, clock):
    config = parse_config({"zookeeper.connect": "127.0.0.1:2181", "broker.id": "2"})
    fetcher = ReplicaFetcher(clock, follower.manager, config, 1, ("broker1", 9092), channel=channel)
    for partition in follower.manager.partitions.values():
        fetcher.add(partition)
    fetcher.start()
    clock.advance(0)  # its first round runs on the next reactor turn
    yield fetcher
    fetcher.stop()
    clock.advance(WAIT_S)  # lets the parked fetch answer into a stopped fetcher


def listed(body, field="topics", key="partition"):
    """``[(topic, partition), ...]`` a request lists."""
    return [(t["topic"], p[key]) for t in body[field] for p in t["partitions"]]


def session_of(request):
    return request["session_id"], request["session_epoch"]


def produce(leader, partition, values):
    result = leader.produce(values, acks=1, partition=partition)
    assert result.error_code == 0, result
    return result


def test_follower_opens_a_session_then_sends_and_receives_only_changes(leader, follower, channel, fetcher, clock):
    """Full fetch first; then incremental fetches name only the partition whose offset moved, and responses list
    only partitions with something new — records or a new high watermark."""
    first = channel.fetches()[0]
    assert session_of(first) == (0, 0)
    assert sorted(listed(first)) == [("t", p) for p in range(PARTITIONS)]
    clock.advance(WAIT_S)  # nothing to read: the full fetch is answered when its wait runs out
    session_id = channel.responses[0]["session_id"]
    assert session_id != 0 and session_id in leader.manager.fetch_sessions
    assert sorted(listed(channel.responses[0], "responses", "partition_index")) == [("t", p)
                                                                                    for p in range(PARTITIONS)]
    assert fetcher.session.session_id == session_id

    # An idle round: an empty incremental fetch, parked, answered empty.
    idle = channel.fetches()[1]
    assert (session_of(idle), listed(idle), idle["forgotten_topics_data"]) == ((session_id, 1), [], [])
    clock.advance(WAIT_S)
    assert listed(channel.responses[1], "responses", "partition_index") == []

    # An append to t-1 wakes the parked fetch, though it lists no partition: only t-1 comes back, with records.
    parked = len(channel.responses)
    produce(leader, 1, [b"a", b"b"])
    assert len(channel.responses) == parked + 1
    assert listed(channel.responses[-1], "responses", "partition_index") == [("t", 1)]
    assert follower.manager.partitions[("t", 1)].log.log_end_offset == 2

    # The follower tells the leader its new offset for t-1 alone; the leader's HW moves, and the next answer
    # lists t-1 again, for that HW only.
    moved = channel.fetches()[-1]
    assert (session_of(moved), listed(moved)) == ((session_id, 3), [("t", 1)])
    assert [p["fetch_offset"] for t in moved["topics"] for p in t["partitions"]] == [2]
    clock.advance(0)
    assert leader.manager.partitions[("t", 1)].high_watermark == 2
    clock.advance(WAIT_S)
    hw_only = channel.responses[-1]
    assert [(p["partition_index"], p["high_watermark"], len(p["records"] or b""))
            for t in hw_only["responses"] for p in t["partitions"]] == [(1, 2, 0)]
    assert follower.manager.partitions[("t", 1)].log.high_watermark == 2
    assert len(leader.manager.fetch_sessions) == 1


def test_removed_partitions_are_forgotten_and_added_ones_sent(leader, follower, channel, fetcher, clock):
    """Partitions leaving the fetcher go out as forgotten; coming back, they are sent again in full."""
    clock.advance(WAIT_S)
    session_id = fetcher.session.session_id
    partition = follower.manager.partitions[("t", 2)]
    fetcher.remove(("t", 2))
    clock.advance(WAIT_S)  # the parked fetch (sent before) answers; the next one forgets t-2
    request = channel.fetches()[-1]
    assert (session_of(request)[0], listed(request)) == (session_id, [])
    assert request["forgotten_topics_data"] == [{"topic": "t", "partitions": [2]}]
    assert sorted(leader.manager.fetch_sessions.get(session_id).partitions) == [("t", 0), ("t", 1)]

    fetcher.add(partition)
    produce(leader, 2, [b"x"])
    clock.advance(WAIT_S)
    request = channel.fetches()[-1]
    assert ("t", 2) in listed(request) or ("t", 2) in listed(channel.fetches()[-2])
    assert follower.manager.partitions[("t", 2)].log.log_end_offset == 1
    assert len(leader.manager.fetch_sessions) == 1


def test_a_session_the_leader_lost_starts_over_in_full(leader, follower, channel, fetcher, clock):
    """FETCH_SESSION_ID_NOT_FOUND (the leader restarted): the next fetch is full, and a new session replicates."""
    clock.advance(WAIT_S)
    old = fetcher.session.session_id
    leader.manager.fetch_sessions = FetchSessionCache()
    clock.advance(WAIT_S)  # the parked fetch answers; the next one names a session the leader no longer has
    assert channel.responses[-1]["error_code"] == errors.FetchSessionIdNotFoundError.code
    restart = channel.fetches()[-1]
    assert session_of(restart) == (0, 0) and len(listed(restart)) == PARTITIONS
    clock.advance(WAIT_S)
    assert fetcher.session.session_id not in (0, old)
    produce(leader, 0, [b"after"])
    assert follower.manager.partitions[("t", 0)].log.log_end_offset == 1


def test_a_failed_request_starts_over_with_a_full_fetch_closing_the_session(leader, channel, fetcher, clock):
    """A lost connection: the next fetch is full, names the old session (closing it), and gets a new one."""
    clock.advance(WAIT_S)
    old = fetcher.session.session_id
    channel.fail_next = error.ConnectionLost("gone")
    clock.advance(WAIT_S)  # answers the parked fetch; the next send fails
    clock.advance(fetcher._config.replica_fetch_backoff_ms / 1000.0)
    restart = channel.fetches()[-1]
    assert session_of(restart) == (old, 0) and len(listed(restart)) == PARTITIONS
    clock.advance(WAIT_S)
    assert old not in leader.manager.fetch_sessions and len(leader.manager.fetch_sessions) == 1


def test_records_reach_the_follower_through_incremental_fetches_only(leader, follower, channel, fetcher, clock):
    """Appends to every partition after the session opened: all replicated, every fetch after the first
    incremental, and the leader's high watermarks reach the follower."""
    clock.advance(WAIT_S)
    for round_ in range(3):
        for p in range(PARTITIONS):
            produce(leader, p, [b"r%d-%d" % (round_, p)])
        clock.advance(WAIT_S)
    clock.advance(0)
    clock.advance(WAIT_S)
    for p in range(PARTITIONS):
        assert follower.manager.partitions[("t", p)].log.log_end_offset == 3
        assert leader.manager.partitions[("t", p)].high_watermark == 3
        assert follower.manager.partitions[("t", p)].log.high_watermark == 3
    assert [session_of(r)[1] for r in channel.fetches()] == list(range(len(channel.fetches())))


def test_the_first_request_lists_every_partition_added_in_the_same_turn(follower, channel, clock):
    """A LeaderAndIsr starts the fetcher and then adds its partitions one by one: the session's
    first (full) request waits for the next reactor turn and lists them all, not just the first."""
    config = parse_config({"zookeeper.connect": "127.0.0.1:2181", "broker.id": "2"})
    fetcher = ReplicaFetcher(clock, follower.manager, config, 1, ("broker1", 9092), channel=channel)
    fetcher.start()
    for partition in follower.manager.partitions.values():
        fetcher.add(partition)
    assert channel.fetches() == []
    clock.advance(0)
    try:
        assert sorted(listed(channel.fetches()[0])) == [("t", p) for p in range(PARTITIONS)]
    finally:
        fetcher.stop()
        clock.advance(WAIT_S)
