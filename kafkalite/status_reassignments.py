"""The reassignments in progress, as the status page shows them, read from ZooKeeper.

Owns :class:`ZkReassignments`. Of the three places that know the reassignments in
progress — the active controller's context, ZooKeeper, and the LeaderAndIsr requests
a broker received for its own replicas — ZooKeeper is the one every broker can read
whole, and the one that is right on every broker: the controller records a started
reassignment's ``adding_replicas`` / ``removing_replicas`` in the topic's znode
(``/brokers/topics/<topic>``, as Kafka 2.8 does) before acting on it, and clears them
when it completes; ``/admin/reassign_partitions`` holds what the ZooKeeper tools asked
for and the controller has not finished. So every broker's page reads those, with one
``get_children`` and pipelined multi-reads (:meth:`ZkClient.get_many`); a read serves
every page view for :data:`MAX_AGE_S` seconds, and concurrent views share one read.
A failed read shows the error with the last good answer, dated.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.zkclient import NoNodeError, ZkError

__all__ = ["MAX_AGE_S", "READ_TIMEOUT_S", "ZkReassignments"]

#: A read of the reassignments serves the page views of this many seconds.
MAX_AGE_S = 5.0
#: The page waits this long for ZooKeeper, then shows the last answer (a ZooKeeper operation's own
#: timeout is the session timeout: too long for a page an operator opens when things go wrong).
READ_TIMEOUT_S = 3.0

SOURCE = "ZooKeeper: adding/removing replicas in /brokers/topics/<topic>, and /admin/reassign_partitions"


class ZkReassignments:
    """Reads the reassignments in progress from ZooKeeper, at most once per :data:`MAX_AGE_S`.

    :param zk: a :class:`kafkalite.zkclient.ZkClient` (``get``, ``get_children``, ``get_many``).
    :param clock: ``IReactorTime``.
    """

    log = Logger()

    def __init__(self, zk, clock, max_age_s=MAX_AGE_S, read_timeout_s=READ_TIMEOUT_S):
        self._zk = zk
        self._clock = clock
        self._max_age_s = max_age_s
        self._read_timeout_s = read_timeout_s
        self._last_good = None  # (read at, section)
        self._last_read_at = None
        self._last_error = None
        self._in_flight = []

    def current(self):
        """A Deferred firing with the reassignment section of the status document.

        The section is ``{"source", "as_of_ms", "error", "partitions", "legacy_request_partitions"}``;
        ``partitions`` holds ``{"topic", "partition", "replicas", "adding", "removing"}`` sorted by
        topic and partition. It never errbacks: a failed read is reported in ``error``.
        """
        now = self._clock.seconds()
        if self._last_read_at is not None and now - self._last_read_at < self._max_age_s:
            return defer.succeed(self._section())
        waiter = defer.Deferred()
        self._in_flight.append(waiter)
        if len(self._in_flight) == 1:
            d = defer.Deferred.fromCoroutine(self._read())
            d.addTimeout(self._read_timeout_s, self._clock)
            d.addBoth(self._answer)
        return waiter

    async def _read(self):
        try:
            topics = await self._zk.get_children(zkdata.BROKER_TOPICS)
        except NoNodeError:
            topics = []
        names = sorted(topics)
        results = await self._zk.get_many([zkdata.topic_path(topic) for topic in names])
        partitions = []
        for topic, result in zip(names, results, strict=True):
            if isinstance(result, ZkError):
                continue  # deleted between the two reads
            try:
                assignment = zkdata.decode_topic_assignment(result[0])
            except zkdata.ZnodeDataError as error:
                self.log.warn("status page: {topic}'s znode does not decode: {error}", topic=topic, error=error)
                continue
            moving = sorted(set(assignment.adding_replicas) | set(assignment.removing_replicas))
            for index in moving:
                partitions.append({
                    "topic": topic, "partition": index, "replicas": list(assignment.partitions.get(index, ())),
                    "adding": list(assignment.adding_replicas.get(index, ())),
                    "removing": list(assignment.removing_replicas.get(index, ()))})
        try:
            data, _ = await self._zk.get(zkdata.REASSIGN_PARTITIONS)
            legacy = len(zkdata.decode_reassign_partitions(data)) if data else 0
        except NoNodeError:
            legacy = 0
        return {"partitions": partitions, "legacy_request_partitions": legacy}

    def _answer(self, outcome):
        now = self._clock.seconds()
        self._last_read_at = now
        if isinstance(outcome, dict):
            self._last_good, self._last_error = (now, outcome), None
        else:
            error = outcome.value
            if isinstance(error, defer.TimeoutError):
                self._last_error = "no answer from ZooKeeper within %g s" % self._read_timeout_s
            elif isinstance(error, (ZkError, zkdata.ZnodeDataError)):
                self._last_error = "%s: %s" % (type(error).__name__, error)
            else:
                self.log.failure("status page: reading the reassignments failed", outcome)
                self._last_error = "unexpected error (see the broker log)"
        waiters, self._in_flight = self._in_flight, []
        section = self._section()
        for waiter in waiters:
            waiter.callback(section)

    def _section(self):
        section = {"source": SOURCE, "as_of_ms": None, "error": self._last_error, "partitions": [],
                   "legacy_request_partitions": 0}
        if self._last_good is not None:
            read_at, good = self._last_good
            section.update(good, as_of_ms=int(read_at * 1000))
        return section
