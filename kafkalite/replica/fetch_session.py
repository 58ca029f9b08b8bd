"""Incremental fetch sessions (KIP-227): the leader's session cache and the fetcher's handler.

A follower that fetches thousands of partitions every ``replica.fetch.wait.max.ms``
would otherwise list every one of them in every request, and the leader every one of
them in every response, though almost none changed. With a session the leader keeps
the fetcher's partition list and what it last told it about each partition:

- a *full* fetch (``session_epoch`` 0) lists every partition; the response names a new
  session id (or 0 when none was created) and lists every partition too;
- an *incremental* fetch (the session's id and its next epoch) lists only the partitions
  whose fetch parameters changed, plus ``forgotten_topics_data``; the leader reads the
  session's whole partition list, and the response lists only the partitions with
  something new: records, an error, a diverging epoch, or a high watermark, last stable
  offset or log start offset that differs from the one last sent;
- a *sessionless* fetch (``session_epoch`` -1) is full and creates nothing; with a
  session id it also closes that session.

An unknown session id answers FETCH_SESSION_ID_NOT_FOUND (70), a wrong epoch
INVALID_FETCH_SESSION_EPOCH (71), at the top level with no partitions, as Kafka's
``FetchManager`` does; the fetcher then starts over with a full fetch.

The leader's side is :class:`FetchSessionCache` (Kafka's ``FetchSession.scala``). It holds
at most ``max_slots`` sessions (Kafka's ``max.incremental.fetch.session.cache.slots``,
1000). A session unused for ``eviction_ms`` (``min.incremental.fetch.session.eviction.ms``,
120 s) expires. When the cache is full, a new session takes the slot of the least
recently used session it may evict: a follower's may evict a consumer's, or any session
created more than ``eviction_ms`` ago; a consumer's only another consumer's that old.
Otherwise no session is created and the fetch is answered in full with session id 0, as
Kafka does. (Kafka ranks the evictable sessions by size; we take the least recently used.)

The fetcher's side is :class:`FetchSessionHandler` (Kafka's ``FetchSessionHandler.java``):
which partitions the next request lists, with which session id and epoch, and what a
response does to the session.

Nothing here touches a socket, a log or a clock: callers pass ``now_ms``, the fetch
results and the responses, so every rule is unit-tested directly.
"""

import random

from kafkalite.protocol import errors

__all__ = [
    "FINAL_EPOCH", "INITIAL_EPOCH", "INVALID_SESSION_ID",
    "CachedPartition", "FetchAnswer", "FetchSession", "FetchSessionCache", "FetchSessionHandler", "next_epoch",
]

INVALID_SESSION_ID = 0
#: A full fetch that asks for a new session.
INITIAL_EPOCH = 0
#: A full fetch that wants no session (and closes the one named).
FINAL_EPOCH = -1
_MAX_EPOCH = 0x7FFFFFFF

DEFAULT_MAX_SLOTS = 1000
DEFAULT_EVICTION_MS = 120_000


def next_epoch(epoch):
    """The session epoch after ``epoch``: -1 stays -1, and the largest int32 wraps to 1 (never 0)."""
    if epoch < 0:
        return FINAL_EPOCH
    if epoch == _MAX_EPOCH:
        return 1
    return epoch + 1


class CachedPartition:
    """One partition of a session: the fetcher's latest request for it and what it was last told.

    :ivar request: the partition's fetch parameters, as last sent by the fetcher (an object
        with ``topic``, ``partition``, ``fetch_offset`` ... as ``FetchRequestPartition``).
    """

    __slots__ = ("request", "high_watermark", "last_stable_offset", "log_start_offset")

    def __init__(self, request, result=None):
        self.request = request
        # -1 until a response carried the partition: a partition added to a session is always answered.
        self.high_watermark = -1
        self.last_stable_offset = -1
        self.log_start_offset = -1
        if result is not None:
            self.must_respond(result)

    def must_respond(self, result):
        """Whether ``result`` (a ``FetchResult``) tells the fetcher something new; remembers what it tells.

        After an error the cached high watermark is forgotten, so the partition is answered
        again once the error clears (Kafka's ``maybeUpdateResponseData``).
        """
        respond = result.records is not None or result.diverging_epoch is not None or \
            result.preferred_read_replica >= 0
        if result.error_code:
            self.high_watermark = -1
            return True
        if self.high_watermark != result.high_watermark:
            self.high_watermark = result.high_watermark
            respond = True
        if self.last_stable_offset != result.last_stable_offset:
            self.last_stable_offset = result.last_stable_offset
            respond = True
        if self.log_start_offset != result.log_start_offset:
            self.log_start_offset = result.log_start_offset
            respond = True
        return respond


class FetchSession:
    """A fetcher's session on this leader.

    :ivar id: the session id (positive, unique in its cache).
    :ivar privileged: True for a follower's session (consumers' sessions yield to them).
    :ivar partitions: ``{(topic, partition): CachedPartition}``, in the order the leader
        reads them; a partition answered moves to the end, so that partitions a response
        size limit left out come first next time.
    :ivar epoch: the epoch the next incremental fetch must carry.
    """

    __slots__ = ("id", "privileged", "partitions", "creation_ms", "last_used_ms", "epoch")

    def __init__(self, session_id, privileged, partitions, now_ms):
        self.id = session_id
        self.privileged = privileged
        self.partitions = partitions
        self.creation_ms = now_ms
        self.last_used_ms = now_ms
        self.epoch = next_epoch(INITIAL_EPOCH)

    def update(self, requests, forgotten):
        """Apply an incremental fetch: new or changed ``requests``, then the ``forgotten`` keys."""
        partitions = self.partitions
        for request in requests:
            key = (request.topic, request.partition)
            cached = partitions.get(key)
            if cached is None:
                partitions[key] = CachedPartition(request)
            else:
                cached.request = request
        for key in forgotten:
            partitions.pop(key, None)


class FetchAnswer:
    """What to put in a Fetch response.

    :ivar error_code: the top-level error (0, 70 or 71).
    :ivar session_id: the response's ``session_id``.
    :ivar entries: ``[(request, result), ...]``: the partitions to list, in order.
    """

    __slots__ = ("error_code", "session_id", "entries")

    def __init__(self, error_code, session_id, entries):
        self.error_code = error_code
        self.session_id = session_id
        self.entries = entries


class FetchContext:
    """One Fetch request seen through the session cache (Kafka's ``FetchContext``).

    :ivar error_code: non-zero when the request is answered with that error alone, unread.
    :ivar partitions: what to read: the request's partitions, or the whole session's.
    """

    error_code = 0

    def __init__(self, partitions, keys=None):
        self.partitions = partitions
        #: the ``(topic, partition)`` of each of :attr:`partitions` when known (a session's), else None.
        self.keys = keys

    def respond(self, results, now_ms):
        """The :class:`FetchAnswer` for ``results`` (one per entry of :attr:`partitions`, in order)."""
        return FetchAnswer(0, INVALID_SESSION_ID, list(zip(self.partitions, results, strict=True)))


class _SessionError(FetchContext):
    def __init__(self, error_code):
        super().__init__([])
        self.error_code = error_code

    def respond(self, results, now_ms):
        return FetchAnswer(self.error_code, INVALID_SESSION_ID, [])


class _Full(FetchContext):
    """A full fetch asking for a session: created, if the cache allows, once the results are known."""

    def __init__(self, cache, partitions, privileged):
        super().__init__(partitions)
        self._cache = cache
        self._privileged = privileged

    def respond(self, results, now_ms):
        entries = list(zip(self.partitions, results, strict=True))
        session_id = self._cache.create(now_ms, self._privileged, entries)
        return FetchAnswer(0, session_id, entries)


class _Incremental(FetchContext):
    def __init__(self, session):
        super().__init__([cached.request for cached in session.partitions.values()], list(session.partitions))
        self._session = session
        self._epoch = session.epoch

    def respond(self, results, now_ms):
        session = self._session
        if session.epoch != self._epoch:
            # Another fetch of this session came in while this one was parked: only one can go on.
            return FetchAnswer(errors.InvalidFetchSessionEpochError.code, session.id, [])
        partitions = session.partitions
        entries = []
        for request, result in zip(self.partitions, results, strict=True):
            key = (request.topic, request.partition)
            cached = partitions.get(key)
            if cached is not None and cached.must_respond(result):
                entries.append((request, result))
                del partitions[key]
                partitions[key] = cached
        return FetchAnswer(0, session.id, entries)


class FetchSessionCache:
    """The fetch sessions of one broker, bounded and least-recently-used first.

    :param max_slots: how many sessions may exist at once.
    :param eviction_ms: how long a session may go unused before it expires, and how old
        it must be before another fetcher's new session may evict it.
    :param rng: a ``random.Random`` for session ids (inject a seeded one in tests).
    """

    def __init__(self, max_slots=DEFAULT_MAX_SLOTS, eviction_ms=DEFAULT_EVICTION_MS, rng=None):
        self.max_slots = max_slots
        self.eviction_ms = eviction_ms
        self._rng = rng if rng is not None else random.Random()
        #: id -> FetchSession, least recently used first (a use moves a session to the end).
        self._sessions = {}
        #: sessions removed to make room for new ones (Kafka's IncrementalFetchSessionEvictionsPerSec).
        self.evictions = 0

    def __len__(self):
        return len(self._sessions)

    def __contains__(self, session_id):
        return session_id in self._sessions

    def get(self, session_id):
        """The session with this id, or None."""
        return self._sessions.get(session_id)

    @property
    def total_partitions(self):
        """Partitions cached over all sessions (Kafka's NumIncrementalFetchPartitionsCached)."""
        return sum(len(session.partitions) for session in self._sessions.values())

    def new_context(self, session_id, session_epoch, partitions, forgotten, is_follower, now_ms):
        """The :class:`FetchContext` of one Fetch request (Kafka's ``FetchManager.newContext``).

        :param session_id: the request's ``session_id`` (0 before v7).
        :param session_epoch: the request's ``session_epoch`` (-1 before v7).
        :param partitions: the partitions the request lists (``FetchRequestPartition``-like).
        :param forgotten: the ``(topic, partition)`` keys of ``forgotten_topics_data``.
        :param is_follower: True for a replica's fetch (``replica_id >= 0``).
        """
        self.expire(now_ms)
        if session_epoch in (INITIAL_EPOCH, FINAL_EPOCH):
            if session_id != INVALID_SESSION_ID:
                self.remove(session_id)
            # Sessions are only created for followers for now: a consumer asking for one gets
            # session id 0 in a full response, as from a Kafka broker whose cache is full, and
            # keeps fetching sessionless (every client handles that; reference §1.3).
            if session_epoch == FINAL_EPOCH or not is_follower:
                return FetchContext(partitions)
            return _Full(self, partitions, privileged=True)
        session = self._sessions.get(session_id)
        if session is None:
            return _SessionError(errors.FetchSessionIdNotFoundError.code)
        if session.epoch != session_epoch:
            return _SessionError(errors.InvalidFetchSessionEpochError.code)
        session.update(partitions, forgotten)
        if not session.partitions:
            # Everything forgotten: the session ends, and this fetch is answered sessionless.
            self.remove(session_id)
            return FetchContext(partitions)
        self.touch(session, now_ms)
        session.epoch = next_epoch(session.epoch)
        return _Incremental(session)

    def create(self, now_ms, privileged, entries):
        """A new session of ``entries`` (``[(request, result)]`` of a full fetch); its id, or 0 when none.

        No session is created for an empty fetch, nor when the cache is full of sessions
        this one may not evict.
        """
        if not entries:
            return INVALID_SESSION_ID
        if len(self._sessions) >= self.max_slots and not self._evict_for(privileged, now_ms):
            return INVALID_SESSION_ID
        partitions = {}
        for request, result in entries:
            partitions[(request.topic, request.partition)] = CachedPartition(request, result)
        session_id = self._new_session_id()
        self._sessions[session_id] = FetchSession(session_id, privileged, partitions, now_ms)
        return session_id

    def remove(self, session_id):
        """Remove a session; the removed session, or None."""
        return self._sessions.pop(session_id, None)

    def touch(self, session, now_ms):
        """Mark ``session`` used now (most recently used)."""
        session.last_used_ms = now_ms
        self._sessions[session.id] = self._sessions.pop(session.id)

    def expire(self, now_ms):
        """Remove the sessions unused for more than ``eviction_ms``; how many."""
        expired = 0
        sessions = self._sessions
        while sessions:
            session = next(iter(sessions.values()))
            if now_ms - session.last_used_ms <= self.eviction_ms:
                break  # the others were used later still
            del sessions[session.id]
            expired += 1
        return expired

    def _evict_for(self, privileged, now_ms):
        for session in self._sessions.values():
            old = now_ms - session.creation_ms > self.eviction_ms
            if (not session.privileged and (privileged or old)) or (privileged and old):
                del self._sessions[session.id]
                self.evictions += 1
                return True
        return False

    def _new_session_id(self):
        while True:
            session_id = self._rng.randint(1, _MAX_EPOCH)
            if session_id not in self._sessions:
                return session_id


class FetchSessionHandler:
    """A fetcher's session with one leader: what each request lists, and what each response means.

    The fetcher gives :meth:`build` every partition it wants with its fetch parameters
    (anything comparable: the fetch offset, log start offset, epochs, max bytes). A full
    request lists them all; an incremental one only those whose parameters differ from
    what the leader was last sent, and forgets the ones no longer wanted. Then exactly one
    of :meth:`handle_response` or :meth:`handle_error` tells the handler how it went.

    :ivar session_id: the session the next request names (0: none).
    :ivar epoch: the next request's session epoch (0: full, asking for a session).
    """

    def __init__(self):
        self.session_id = INVALID_SESSION_ID
        self.epoch = INITIAL_EPOCH
        #: {key: parameters} as the leader has them once the request in flight is applied.
        self._sent = {}

    @property
    def is_full(self):
        """Whether the next request is a full one."""
        return self.epoch in (INITIAL_EPOCH, FINAL_EPOCH)

    def __len__(self):
        """The partitions in the session (as of the last request built)."""
        return len(self._sent)

    def build(self, wanted):
        """The next request's ``(to_send, forgotten)`` key lists for ``wanted`` (``{key: parameters}``)."""
        if self.is_full:
            self._sent = dict(wanted)
            return list(wanted), []
        sent = self._sent
        forgotten = [key for key in sent if key not in wanted]
        for key in forgotten:
            del sent[key]
        to_send = []
        for key, parameters in wanted.items():
            if sent.get(key) != parameters:
                sent[key] = parameters
                to_send.append(key)
        return to_send, forgotten

    def handle_response(self, error_code, session_id, keys):
        """Apply a response's top-level ``error_code``, ``session_id`` and listed partition ``keys``.

        :returns: True when the response's partitions may be applied; False when it must be
            ignored (an error, or partitions the session does not hold), and the next request
            starts over with a full one.
        """
        if error_code:
            if error_code == errors.FetchSessionIdNotFoundError.code:
                self.session_id = INVALID_SESSION_ID
            self.epoch = INITIAL_EPOCH
            return False
        if self.is_full:
            if set(keys) != self._sent.keys():
                self.session_id, self.epoch = INVALID_SESSION_ID, INITIAL_EPOCH
                return False
            # session id 0: the leader made no session; the next request is full again.
            self.session_id = session_id
            self.epoch = next_epoch(INITIAL_EPOCH) if session_id != INVALID_SESSION_ID else INITIAL_EPOCH
            return True
        if any(key not in self._sent for key in keys):
            self.epoch = INITIAL_EPOCH
            return False
        if session_id == INVALID_SESSION_ID:
            # The leader closed the session; its answer still holds.
            self.session_id, self.epoch = INVALID_SESSION_ID, INITIAL_EPOCH
        else:
            self.epoch = next_epoch(self.epoch)
        return True

    def handle_error(self):
        """The request failed (no response, a lost connection, a response that could not be applied):
        the next is full, closing the current session (the leader may have moved it on unseen)."""
        self.epoch = INITIAL_EPOCH
