"""Replication throttles: the sampled rate, the throttled replica lists, the leader's and the follower's decisions.

The rate and the lists are pure (a ``task.Clock`` for time). The leader's decision runs
in a real :class:`ReplicaManager` over real logs (:class:`tests.support.replica.ReplicaBroker`);
the follower's in a real :class:`ReplicaFetcher` whose channel is the leader's real Fetch
handler (:class:`tests.support.replica.LoopbackChannel`), all on one clock.
"""

from types import SimpleNamespace

import pytest
from twisted.internet.task import Clock

from kafkalite.config import ConfigError, parse_config
from kafkalite.log.config import LogConfig
from kafkalite.protocol import errors
from kafkalite.replica.fetcher import ReplicaFetcher
from kafkalite.replica.quota import (
    ALL_PARTITIONS,
    FOLLOWER_RATE,
    FOLLOWER_REPLICAS,
    LEADER_RATE,
    LEADER_REPLICAS,
    UNTHROTTLED,
    ReplicationQuota,
    ReplicationQuotas,
    SampledRate,
    parse_throttled_replicas,
)
from kafkalite.server.dynamic_config import ReplicationThrottles
from tests.support.replica import LoopbackChannel, ReplicaBroker, fetched_values, fired, partition_state

WAIT_S = 0.5  # replica.fetch.wait.max.ms's default


# -- the sampled rate ---------------------------------------------------------------------------


def test_rate_divides_by_at_least_one_window_then_by_the_time_since_the_oldest_sample():
    clock = Clock()
    rate = SampledRate(clock, samples=11, window_s=1)
    assert rate.rate() == 0
    rate.record(500)
    assert rate.rate() == 500  # a burst in the first second counts over one whole second
    clock.advance(0.5)
    rate.record(500)
    assert rate.rate() == 1000
    clock.advance(1.5)  # 2 s since the first sample started; the second record opened no new sample
    assert rate.rate() == 500
    rate.record(1000)  # a second sample
    assert rate.rate() == 1000


def test_samples_older_than_the_whole_window_are_forgotten():
    clock = Clock()
    rate = SampledRate(clock, samples=3, window_s=1)
    rate.record(3000)
    clock.advance(1)
    rate.record(300)
    clock.advance(1)
    rate.record(300)
    assert rate.rate() == pytest.approx(3600 / 2)
    clock.advance(1)  # the first sample is 3 windows old: gone
    assert rate.rate() == pytest.approx(600 / 2)
    clock.advance(10)  # everything old: nothing moved lately
    assert rate.rate() == 0


def test_the_ring_reuses_its_samples():
    clock = Clock()
    rate = SampledRate(clock, samples=2, window_s=1)
    for _ in range(5):
        rate.record(100)
        clock.advance(1)
    rate.record(100)
    # two samples kept: the one started 1 s ago and the one started now
    assert rate.rate() == pytest.approx(200)


def test_quota_is_exceeded_only_over_its_bound():
    clock = Clock()
    quota = ReplicationQuota(clock)
    quota.record(10**12)
    assert not quota.is_exceeded()  # Long.MAX_VALUE: unthrottled
    quota.bound = 10**12
    assert not quota.is_exceeded()  # at the bound is still within it
    quota.record(1)
    assert quota.is_exceeded()
    clock.advance(2)  # the same bytes over two seconds
    assert not quota.is_exceeded()


# -- throttled replica lists --------------------------------------------------------------------


@pytest.mark.parametrize("value, broker_id, expected", [
    ("*", 1, ALL_PARTITIONS),
    (" * ", 7, ALL_PARTITIONS),
    ("0:1,1:2,2:1", 1, frozenset({0, 2})),
    ("0:1,1:2,2:1", 2, frozenset({1})),
    ("0:1,1:2", 3, frozenset()),
    ("0:1,,1:1,", 1, frozenset({0, 1})),
    ("0:1, 1:1", 1, frozenset({0, 1})),
    ("", 1, frozenset()),
])
def test_throttled_replicas_keep_this_brokers_partitions(value, broker_id, expected):
    assert parse_throttled_replicas(value, broker_id) == expected


@pytest.mark.parametrize("value", ["0", "a:1", "0:b", "0-1", "*,0:1", "0:1:2", "٣:1"])
def test_a_malformed_list_is_refused(value):
    with pytest.raises(ValueError):
        parse_throttled_replicas(value, 1)


@pytest.mark.parametrize("value, valid", [
    ("*", True), ("0:1,1:2", True), ("0:1,,1:2", True), ("0:1,", True), (" 0:1 , 1:2 ", True), ("", True),
    ("0 : 1", False), ("0:x", False), ("*,0:1", False), ("1", False),
])
def test_the_topic_config_accepts_exactly_kafkas_syntax(value, valid):
    """Kafka's ThrottledReplicaListValidator: ``*`` or trimmed ``p:b`` entries, empty ones allowed."""
    try:
        LogConfig().with_overrides({LEADER_REPLICAS: value, FOLLOWER_REPLICAS: value})
    except errors.InvalidConfigError:
        assert not valid
    else:
        assert valid


def test_quotas_follow_the_throttles_in_force():
    """Rates and this broker's partitions are taken at once from every change; deleting them unthrottles."""
    clock = Clock()
    throttles = ReplicationThrottles()
    quotas = ReplicationQuotas(clock, broker_id=2)
    quotas.apply(throttles)
    throttles.add_listener(quotas.apply)
    assert (quotas.leader.bound, quotas.follower.bound, quotas.leader.throttled) == (UNTHROTTLED, UNTHROTTLED, {})

    throttles._set(rates={LEADER_RATE: 1000, FOLLOWER_RATE: 2000})
    throttles._set(topic="a", replicas={LEADER_REPLICAS: "0:1,0:2,1:1", FOLLOWER_REPLICAS: "1:2"})
    throttles._set(topic="b", replicas={LEADER_REPLICAS: "*"})
    throttles._set(topic="c", replicas={LEADER_REPLICAS: "0:1"})  # nothing on broker 2
    assert (quotas.leader.bound, quotas.follower.bound) == (1000, 2000)
    assert quotas.leader.throttled == {"a": frozenset({0}), "b": ALL_PARTITIONS}
    assert quotas.follower.throttled == {"a": frozenset({1})}
    assert quotas.leader.is_throttled("b", 5) and quotas.leader.is_throttled("a", 0)
    assert not quotas.leader.is_throttled("a", 1) and not quotas.leader.is_throttled("c", 0)

    throttles._set(topic="a", replicas={})
    throttles._set(rates={LEADER_RATE: UNTHROTTLED, FOLLOWER_RATE: UNTHROTTLED})
    assert quotas.leader.throttled == {"b": ALL_PARTITIONS} and quotas.follower.throttled == {}
    assert (quotas.leader.bound, quotas.follower.bound) == (UNTHROTTLED, UNTHROTTLED)


def test_a_malformed_list_written_by_hand_throttles_nothing():
    quotas = ReplicationQuotas(Clock(), broker_id=1)
    quotas.apply(SimpleNamespace(rates={}, replicas={"t": {LEADER_REPLICAS: "0:1,zz", FOLLOWER_REPLICAS: "*"}}))
    assert quotas.leader.throttled == {} and quotas.follower.throttled == {"t": ALL_PARTITIONS}


# -- the leader ---------------------------------------------------------------------------------


@pytest.fixture
def leader(tmp_path):
    broker = ReplicaBroker(tmp_path, broker_id=1)
    broker.manager.leader_quota = ReplicationQuota(broker.clock)
    yield broker
    broker.close()


def produce(broker, count, size=100, topic="t", partition=0):
    result = broker.produce([b"x" * size] * count, acks=1, topic=topic, partition=partition)
    assert result.error_code == 0, result


def test_leader_holds_back_a_throttled_partition_from_a_follower_out_of_the_isr(leader):
    """Over the rate, a moving replica gets no records (no error, the high watermark as usual); the
    bytes sent are counted; after the window moves on it gets records again."""
    leader.lead("t", 0, isr=(1,), replicas=(1, 2))
    quota = leader.manager.leader_quota
    quota.throttled = {"t": ALL_PARTITIONS}
    quota.bound = 1000
    produce(leader, 1, size=3000)
    produce(leader, 1, size=3000)
    first = leader.replicate(2, 0, partition_max_bytes=3500)
    assert [offset for offset, _ in fetched_values(first)] == [0]
    size = first.records.length
    assert quota.rate.rate() == size
    held = leader.replicate(2, 1)
    assert (held.error_code, held.records, held.high_watermark) == (0, None, 2)
    assert quota.rate.rate() == size  # nothing sent, nothing counted
    assert leader.manager.partitions[("t", 0)].followers[2].log_end_offset == 1  # its position still taken
    leader.clock.advance(size / 1000.0)  # the bytes sent now average the bound: not over it
    assert [offset for offset, _ in fetched_values(leader.replicate(2, 1))] == [1]
    assert quota.rate.rate() == pytest.approx(2 * size / (size / 1000.0))  # counted


def test_leader_never_throttles_in_sync_followers_consumers_or_other_partitions(leader):
    leader.lead("t", 0, isr=(1, 2), replicas=(1, 2))
    leader.lead("t", 1, isr=(1,), replicas=(1, 2))
    leader.lead("u", 0, isr=(1,), replicas=(1, 2))
    quota = leader.manager.leader_quota
    quota.throttled = {"t": frozenset({0, 1})}
    quota.bound = 10
    quota.record(10**6)
    for topic, partition in (("t", 0), ("t", 1), ("u", 0)):
        produce(leader, 3, topic=topic, partition=partition)
    assert fetched_values(leader.replicate(2, 0, topic="t", partition=0))  # in the ISR
    assert fetched_values(leader.replicate(2, 0, topic="u", partition=0))  # not throttled
    assert fetched_values(leader.replicate(2, 0, topic="t", partition=1)) == []  # out of the ISR: held
    assert len(fetched_values(leader.fetch(0, replica_id=-1, topic="t", partition=1))) == 3  # a consumer


def test_a_held_partition_does_not_complete_a_long_poll(leader):
    """As Kafka's DelayedFetch: a throttled partition's new records add no bytes; the poll waits out its time."""
    leader.lead("t", 0, isr=(1,), replicas=(1, 2))
    quota = leader.manager.leader_quota
    quota.throttled = {"t": ALL_PARTITIONS}
    quota.bound = 10
    quota.record(10**6)
    parked = leader.fetch(0, replica_id=2, max_wait_ms=500)
    produce(leader, 2)
    assert not parked.called
    leader.clock.advance(WAIT_S)
    assert fetched_values(fired(parked)) == []

    quota.throttled = {}
    parked = leader.fetch(2, replica_id=2, max_wait_ms=500)
    produce(leader, 1)
    assert [offset for offset, _ in fetched_values(fired(parked))] == [2]


def test_unthrottled_leader_reads_as_before(leader):
    """No throttle: nothing is recorded, even with a quota object wired in."""
    leader.lead("t", 0, isr=(1,), replicas=(1, 2))
    produce(leader, 3)
    assert len(fetched_values(leader.replicate(2, 0))) == 3
    assert leader.manager.leader_quota.rate.rate() == 0


# -- the follower -------------------------------------------------------------------------------


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def pair(tmp_path, clock):
    (tmp_path / "leader").mkdir()
    (tmp_path / "follower").mkdir()
    leader = ReplicaBroker(tmp_path / "leader", broker_id=1, clock=clock)
    follower = ReplicaBroker(tmp_path / "follower", broker_id=2, clock=clock)
    for p in range(2):
        leader.lead("t", p, isr=(1,), replicas=(1, 2))
    follower.leader_and_isr(*[partition_state("t", p, leader=1, isr=(1,), replicas=(1, 2)) for p in range(2)])
    yield leader, follower
    follower.close()
    leader.close()


@pytest.fixture
def follower_quota(clock):
    quota = ReplicationQuota(clock)
    quota.throttled = {"t": frozenset({0})}
    quota.bound = 1000
    return quota


@pytest.fixture
def channel(pair):
    return LoopbackChannel(pair[0])


@pytest.fixture
def fetcher(pair, channel, clock, follower_quota):
    _, follower = pair
    config = parse_config({"zookeeper.connect": "127.0.0.1:2181", "broker.id": "2",
                           "replica.fetch.max.bytes": "3500"})
    fetcher = ReplicaFetcher(clock, follower.manager, config, 1, ("broker1", 9092), channel=channel,
                             quota=follower_quota)
    for partition in follower.manager.partitions.values():
        fetcher.add(partition)
    yield fetcher
    fetcher.stop()
    clock.advance(WAIT_S)


def listed(body):
    return sorted((t["topic"], p["partition"]) for t in body["topics"] for p in t["partitions"])


def test_follower_leaves_a_throttled_partition_out_while_over_its_rate(pair, channel, clock, fetcher,
                                                                       follower_quota):
    """The follower records what it fetched for t-0 and, over its rate, leaves t-0 out of its requests (the
    session forgets it; t-1 stays): at every moment it has fetched at most the bound's worth plus one fetch."""
    leader, follower = pair
    for _ in range(3):
        produce(leader, 1, size=3000, partition=0)
    produce(leader, 1, partition=1)
    fetcher.start()
    clock.advance(0)
    log0 = follower.manager.partitions[("t", 0)].log
    assert listed(channel.fetches()[0]) == [("t", 0), ("t", 1)]
    assert log0.log_end_offset == 1  # one ~3 kB batch: one fetch's worth
    batch = follower_quota.rate.rate()
    assert batch > follower_quota.bound

    clock.advance(0)
    second = channel.fetches()[-1]
    assert ("t", 0) not in listed(second)
    assert second["forgotten_topics_data"] == [{"topic": "t", "partitions": [0]}]
    # the unthrottled partition of the same fetcher is served as its records arrive
    produce(leader, 1, partition=1)
    clock.advance(0)
    assert follower.manager.partitions[("t", 1)].log.log_end_offset == 2
    assert log0.log_end_offset == 1

    caught_up_at = {}
    for tick in range(1, 100):
        clock.advance(0.1)
        elapsed = tick * 0.1
        assert log0.size_in_bytes <= follower_quota.bound * max(elapsed, 1) + batch + 1, elapsed
        caught_up_at.setdefault(log0.log_end_offset, elapsed)
    assert log0.log_end_offset == 3
    # the second batch waits until the first's bytes average under the bound (~3 s), the third ~3 s more
    assert 3.0 <= caught_up_at[2] <= 3.6 and 6.0 <= caught_up_at[3] <= 6.8
    assert fetcher.lag[("t", 0)] == 0


def test_a_caught_up_follower_is_never_throttled(pair, channel, clock, fetcher, follower_quota):
    """Lag 0 after its last append (it reached the leader's high watermark): fetched whatever the rate."""
    leader, follower = pair
    produce(leader, 1, partition=0)
    fetcher.start()
    clock.advance(0)
    log0 = follower.manager.partitions[("t", 0)].log
    assert log0.log_end_offset == 1 and fetcher.lag[("t", 0)] == 0
    follower_quota.record(10**6)
    assert follower_quota.is_exceeded()
    for expected in (2, 3):
        produce(leader, 1, partition=0)
        clock.advance(0)
        assert log0.log_end_offset == expected
    assert all(not request["forgotten_topics_data"] for request in channel.fetches())


def test_the_quota_window_is_configured_as_kafkas():
    """``replication.quota.window.num`` (11) × ``replication.quota.window.size.seconds`` (1), both ≥ 1."""
    base = {"zookeeper.connect": "127.0.0.1:2181", "broker.id": "1"}
    config = parse_config(base)
    assert (config.replication_quota_window_num, config.replication_quota_window_size_seconds) == (11, 1)
    config = parse_config({**base, "replication.quota.window.num": "5", "replication.quota.window.size.seconds": "2"})
    assert (config.replication_quota_window_num, config.replication_quota_window_size_seconds) == (5, 2)
    with pytest.raises(ConfigError, match="replication.quota.window.num"):
        parse_config({**base, "replication.quota.window.num": "0"})
