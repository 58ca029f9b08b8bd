"""Replication throttles: Kafka 2.8's ``ReplicationQuotaManager``, one for each side of replication.

A reassignment copies a whole partition onto a new replica; unthrottled, that copy can
take all of a leader's disk and network and starve the producers. Kafka bounds it with
two broker rates and two topic lists (KIP-73):

- ``leader.replication.throttled.rate`` / ``follower.replication.throttled.rate``
  (dynamic broker configs, bytes/s; ``Long.MAX_VALUE``, the default, means no throttle);
- ``leader.replication.throttled.replicas`` / ``follower.replication.throttled.replicas``
  (topic configs): ``*`` for every replica of the topic, or ``partition:broker`` entries,
  of which a broker keeps the partitions listed with its own id.

The leader leaves a throttled partition's records out of a fetch from a follower that is
not in the ISR while its leader rate is over the bound; the follower leaves a throttled
partition out of its fetch requests while it has not caught up and its follower rate is
over the bound. Each side records the bytes it moved for throttled partitions, whether
or not the quota was exceeded, so the rate measures everything the throttle governs.

:class:`SampledRate` is Kafka's ``SimpleRate`` over ``replication.quota.window.num``
samples of ``replication.quota.window.size.seconds``: the bytes in the samples divided
by the time since the oldest sample started (at least one sample's length).
"""

from twisted.logger import Logger

__all__ = [
    "ALL_PARTITIONS", "FOLLOWER_RATE", "FOLLOWER_REPLICAS", "LEADER_RATE", "LEADER_REPLICAS", "UNTHROTTLED",
    "ReplicationQuota", "ReplicationQuotas", "SampledRate", "leader_throttles", "parse_throttled_replicas",
]

#: ``Long.MAX_VALUE``: the rate of an unthrottled broker.
UNTHROTTLED = 2**63 - 1
LEADER_RATE = "leader.replication.throttled.rate"
FOLLOWER_RATE = "follower.replication.throttled.rate"
LEADER_REPLICAS = "leader.replication.throttled.replicas"
FOLLOWER_REPLICAS = "follower.replication.throttled.replicas"


class _AllPartitions:
    """Every partition of a topic (the ``*`` list)."""

    def __contains__(self, partition):
        return True

    def __repr__(self):
        return "ALL_PARTITIONS"


ALL_PARTITIONS = _AllPartitions()


def parse_throttled_replicas(value, broker_id):
    """The partitions ``broker_id`` throttles from a ``*.replication.throttled.replicas`` value.

    :returns: :data:`ALL_PARTITIONS` for ``*``, else the frozenset of the partitions of the
        ``partition:broker`` entries naming ``broker_id`` (empty elements are skipped, as
        Kafka's validator allows them).
    :raises ValueError: when ``value`` is neither ``*`` nor such a list.
    """
    text = str(value).strip()
    if text == "*":
        return ALL_PARTITIONS
    partitions = set()
    for element in text.split(","):
        element = element.strip()
        if not element:
            continue
        partition, sep, broker = element.partition(":")
        if not sep or not partition.isascii() or not partition.isdigit() or not broker.isascii() \
                or not broker.isdigit():
            raise ValueError(f"{element!r} is not partitionId:brokerId")
        if int(broker) == broker_id:
            partitions.add(int(partition))
    return frozenset(partitions)


class SampledRate:
    """A byte rate over a ring of time samples, as Kafka's ``SimpleRate`` measures it.

    :param clock: ``IReactorTime``.
    :param samples: how many samples are kept (``replication.quota.window.num``).
    :param window_s: each sample's length in seconds (``replication.quota.window.size.seconds``).
    """

    def __init__(self, clock, samples=11, window_s=1.0):
        self._clock = clock
        self._count = samples
        self._window_ms = window_s * 1000.0
        #: ``[start_ms, bytes]`` per sample, in ring order from :attr:`_current`.
        self._samples = []
        self._current = 0

    def _now_ms(self):
        return self._clock.seconds() * 1000.0

    def record(self, value):
        """Add ``value`` bytes to the current sample (a new one starts once it is a window old)."""
        now = self._now_ms()
        samples = self._samples
        if not samples:
            samples.append([now, 0.0])
            self._current = 0
        sample = samples[self._current]
        if now - sample[0] >= self._window_ms:
            self._current = (self._current + 1) % self._count
            if self._current >= len(samples):
                sample = [now, 0.0]
                samples.append(sample)
            else:
                sample = samples[self._current]
                sample[0], sample[1] = now, 0.0
        sample[1] += value

    def rate(self):
        """Bytes per second: the samples' total over the time since the oldest one started (≥ one window)."""
        now = self._now_ms()
        samples = self._samples
        if not samples:
            return 0.0
        expire_ms = self._count * self._window_ms
        for sample in samples:
            if now - sample[0] >= expire_ms:
                sample[0], sample[1] = now, 0.0
        total = sum(sample[1] for sample in samples)
        elapsed = now - min(sample[0] for sample in samples)
        return total * 1000.0 / max(elapsed, self._window_ms)


class ReplicationQuota:
    """One side's throttle (Kafka's ``ReplicaQuota``): the bound, the throttled partitions, the rate.

    :ivar throttled: ``{topic: frozenset of partitions or ALL_PARTITIONS}``; empty when nothing
        is throttled, so the fetch paths test it first and do nothing more.
    :ivar bound: bytes/s (:data:`UNTHROTTLED`: never exceeded).
    """

    def __init__(self, clock, samples=11, window_s=1.0):
        self.throttled = {}
        self.bound = UNTHROTTLED
        self.rate = SampledRate(clock, samples, window_s)

    def is_throttled(self, topic, partition):
        partitions = self.throttled.get(topic)
        return partitions is not None and partition in partitions

    def is_exceeded(self):
        """Whether the throttled bytes moved lately are over the bound."""
        return self.bound < UNTHROTTLED and self.rate.rate() > self.bound

    def record(self, value):
        """Count ``value`` bytes moved for throttled partitions (quota exceeded or not)."""
        self.rate.record(value)


def leader_throttles(quota, partition, replica_id):
    """Kafka's ``shouldLeaderThrottle``: whether leader ``partition`` holds its records back from
    follower ``replica_id`` now (a throttled partition, a follower out of the ISR, the quota exceeded)."""
    return (replica_id >= 0 and quota is not None and bool(quota.throttled)
            and partition.partition in quota.throttled.get(partition.topic, ())
            and replica_id not in partition.isr and quota.is_exceeded())


class ReplicationQuotas:
    """This broker's leader and follower throttles, kept equal to the configs in force.

    :param broker_id: this broker (throttled replica lists name partitions per broker).
    :param samples: ``replication.quota.window.num``.
    :param window_s: ``replication.quota.window.size.seconds``.
    """

    log = Logger()

    def __init__(self, clock, broker_id, samples=11, window_s=1.0):
        self.broker_id = broker_id
        self.leader = ReplicationQuota(clock, samples, window_s)
        self.follower = ReplicationQuota(clock, samples, window_s)

    def apply(self, throttles):
        """Take the rates and lists of ``throttles`` (``rates``: ``{key: bytes/s}``; ``replicas``:
        ``{topic: {key: list}}``, as :class:`kafkalite.server.dynamic_config.ReplicationThrottles`
        keeps them). Listener of every change: rebuilt whole, which is cheap (few topics set them)."""
        rates = throttles.rates
        before = (self.leader.bound, self.follower.bound, self.leader.throttled, self.follower.throttled)
        leader, follower = {}, {}
        for topic, lists in throttles.replicas.items():
            for key, target in ((LEADER_REPLICAS, leader), (FOLLOWER_REPLICAS, follower)):
                value = lists.get(key)
                if not value:
                    continue
                try:
                    partitions = parse_throttled_replicas(value, self.broker_id)
                except ValueError as error:
                    self.log.warn("ignoring {key} of topic {topic}: {error}", key=key, topic=topic, error=error)
                    continue
                if partitions:
                    target[topic] = partitions
        self.leader.bound = rates.get(LEADER_RATE, UNTHROTTLED)
        self.follower.bound = rates.get(FOLLOWER_RATE, UNTHROTTLED)
        self.leader.throttled = leader
        self.follower.throttled = follower
        if before != (self.leader.bound, self.follower.bound, leader, follower):
            self.log.info("replication throttles: leader {leader} at {leader_rate} B/s, follower {follower} at "
                          "{follower_rate} B/s", leader=_describe(leader),
                          leader_rate=_describe_rate(self.leader.bound), follower=_describe(follower),
                          follower_rate=_describe_rate(self.follower.bound))


def _describe(throttled):
    return {topic: "*" if partitions is ALL_PARTITIONS else sorted(partitions)
            for topic, partitions in sorted(throttled.items())} or "none"


def _describe_rate(bound):
    return "unbounded" if bound >= UNTHROTTLED else bound
