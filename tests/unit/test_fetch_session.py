"""Incremental fetch sessions (KIP-227): the leader's session cache and the fetcher's handler, as pure logic.

The leader's side is driven as ``KafkaApis.handle_fetch`` drives it: a request's partitions
go through :meth:`FetchSessionCache.new_context`, the context's ``partitions`` are "read"
(here: results made up by the test), and :meth:`respond` decides what the response lists.
No log, socket or clock: time is the ``now_ms`` each call passes.
"""

import random

import pytest

from kafkalite.protocol import errors
from kafkalite.replica.fetch_session import (
    FINAL_EPOCH,
    INITIAL_EPOCH,
    FetchSessionCache,
    FetchSessionHandler,
    next_epoch,
)
from kafkalite.replica.manager import FetchRequestPartition, FetchResult

FOLLOWER = True
CONSUMER = False
SESSION_NOT_FOUND = errors.FetchSessionIdNotFoundError.code
INVALID_EPOCH = errors.InvalidFetchSessionEpochError.code


def request(partition, fetch_offset=0, topic="t"):
    return FetchRequestPartition(topic, partition, fetch_offset, 1 << 20)


def result(high_watermark=0, records=None, error_code=0, log_start_offset=0, diverging_epoch=None):
    return FetchResult(error_code=error_code, high_watermark=high_watermark, last_stable_offset=high_watermark,
                       log_start_offset=log_start_offset, records=records, diverging_epoch=diverging_epoch)


def listed(answer):
    """``[(topic, partition), ...]`` of what a FetchAnswer lists."""
    return [(req.topic, req.partition) for req, _ in answer.entries]


@pytest.fixture
def cache():
    return FetchSessionCache(max_slots=3, eviction_ms=1000, rng=random.Random(7))


def open_session(cache, partitions=3, now=0, results=None):
    """A follower's full fetch of ``t-0 .. t-(partitions-1)``; the new session id."""
    context = cache.new_context(0, INITIAL_EPOCH, [request(p) for p in range(partitions)], [], FOLLOWER, now)
    answer = context.respond(results or [result() for _ in range(partitions)], now)
    assert answer.error_code == 0 and answer.session_id != 0
    return answer.session_id


def test_full_follower_fetch_creates_a_session_and_lists_every_partition(cache):
    """session_id 0 / epoch 0 from a follower: a new session holding every partition, all listed."""
    partitions = [request(0, 5), request(1, 7), request(0, 3, topic="u")]
    context = cache.new_context(0, INITIAL_EPOCH, partitions, [], FOLLOWER, 0)
    assert context.partitions == partitions
    answer = context.respond([result(5), result(7), result(3)], 0)
    assert (answer.error_code, listed(answer)) == (0, [("t", 0), ("t", 1), ("u", 0)])
    session = cache.get(answer.session_id)
    assert session is not None and len(cache) == 1 and cache.total_partitions == 3
    assert session.epoch == 1 and session.privileged


def test_incremental_fetch_lists_only_what_changed(cache):
    """Nothing new: nothing listed. Records, a new HW, a new log start offset or a diverging epoch: that partition."""
    session_id = open_session(cache, results=[result(5), result(5), result(5)])
    answers = []
    for epoch, changes in enumerate([
            {},                                                         # idle
            {1: result(5, records=b"x")},                               # records for t-1
            {0: result(6)},                                             # HW of t-0 moved
            {0: result(6), 2: result(5, log_start_offset=2)},           # log start of t-2 moved
            {0: result(6), 1: result(5, diverging_epoch=(1, 3)), 2: result(5, log_start_offset=2)},
    ], start=1):
        context = cache.new_context(session_id, epoch, [], [], FOLLOWER, epoch)
        assert sorted(p.partition for p in context.partitions) == [0, 1, 2]
        answer = context.respond([changes.get(p.partition, result(5)) for p in context.partitions], epoch)
        assert (answer.error_code, answer.session_id) == (0, session_id)
        answers.append(listed(answer))
    assert answers == [[], [("t", 1)], [("t", 0)], [("t", 2)], [("t", 1)]]


def test_the_session_list_is_read_and_changed_parameters_replace_the_cached_ones(cache):
    """An incremental fetch carries only changed partitions; the context reads the whole session with them."""
    session_id = open_session(cache)
    context = cache.new_context(session_id, 1, [request(1, 9)], [], FOLLOWER, 1)
    assert [(p.partition, p.fetch_offset) for p in context.partitions] == [(0, 0), (1, 9), (2, 0)]
    context.respond([result(), result(), result()], 1)
    context = cache.new_context(session_id, 2, [], [], FOLLOWER, 2)
    assert [(p.partition, p.fetch_offset) for p in context.partitions] == [(0, 0), (1, 9), (2, 0)]


def test_added_partitions_are_listed_and_forgotten_ones_leave_the_session(cache):
    """A partition added by an incremental fetch is answered at once; a forgotten one is neither read nor listed."""
    session_id = open_session(cache)
    context = cache.new_context(session_id, 1, [request(0, topic="new")], [("t", 1)], FOLLOWER, 1)
    assert [(p.topic, p.partition) for p in context.partitions] == [("t", 0), ("t", 2), ("new", 0)]
    answer = context.respond([result(), result(), result()], 1)
    assert listed(answer) == [("new", 0)]
    assert cache.total_partitions == 3


def test_forgetting_every_partition_closes_the_session(cache):
    """An incremental fetch leaving the session empty ends it and is answered sessionless."""
    session_id = open_session(cache, partitions=2)
    context = cache.new_context(session_id, 1, [], [("t", 0), ("t", 1)], FOLLOWER, 1)
    assert context.partitions == []
    answer = context.respond([], 1)
    assert (answer.error_code, answer.session_id, answer.entries) == (0, 0, [])
    assert session_id not in cache


def test_an_error_is_listed_every_time_and_once_more_when_it_clears(cache):
    """Errors are always listed; the cached HW is forgotten, so the partition is listed again once healthy."""
    session_id = open_session(cache, partitions=1, results=[result(5)])
    not_leader = errors.NotLeaderOrFollowerError.code
    answers = []
    for epoch, outcome in enumerate([result(-1, error_code=not_leader), result(-1, error_code=not_leader),
                                     result(5), result(5)], start=1):
        answer = cache.new_context(session_id, epoch, [], [], FOLLOWER, epoch).respond([outcome], epoch)
        answers.append([(req.partition, res.error_code) for req, res in answer.entries])
    assert answers == [[(0, not_leader)], [(0, not_leader)], [(0, 0)], []]


def test_answered_partitions_move_to_the_end_of_the_session(cache):
    """Partitions with something new go last next time, so that those a size limit starved come first."""
    session_id = open_session(cache)
    cache.new_context(session_id, 1, [], [], FOLLOWER, 1).respond([result(records=b"x"), result(), result()], 1)
    context = cache.new_context(session_id, 2, [], [], FOLLOWER, 2)
    assert [p.partition for p in context.partitions] == [1, 2, 0]


def test_unknown_session_id_is_fetch_session_id_not_found(cache):
    """An incremental fetch naming no session: error 70 at the top level, nothing read or listed."""
    context = cache.new_context(12345, 1, [request(0)], [], FOLLOWER, 0)
    assert (context.error_code, context.partitions) == (SESSION_NOT_FOUND, [])
    answer = context.respond([], 0)
    assert (answer.error_code, answer.session_id, answer.entries) == (SESSION_NOT_FOUND, 0, [])


def test_wrong_epoch_is_invalid_fetch_session_epoch_and_the_session_survives(cache):
    """A replayed or skipped epoch answers 71; the right epoch still works afterwards."""
    session_id = open_session(cache)
    cache.new_context(session_id, 1, [], [], FOLLOWER, 1).respond([result()] * 3, 1)
    for wrong in (1, 3, 7):
        assert cache.new_context(session_id, wrong, [], [], FOLLOWER, 2).error_code == INVALID_EPOCH
    assert cache.new_context(session_id, 2, [], [], FOLLOWER, 2).error_code == 0


def test_a_parked_fetch_overtaken_by_the_next_epoch_answers_invalid_epoch(cache):
    """Two fetches of one session in flight: the first to be answered after the second arrived gets 71."""
    session_id = open_session(cache)
    first = cache.new_context(session_id, 1, [], [], FOLLOWER, 1)
    second = cache.new_context(session_id, 2, [], [], FOLLOWER, 1)
    assert first.respond([result()] * 3, 2).error_code == INVALID_EPOCH
    assert second.respond([result()] * 3, 2).error_code == 0


def test_sessionless_fetch_closes_the_named_session_and_creates_none(cache):
    """session_epoch -1: a full fetch answered with session id 0; the session it names is closed."""
    session_id = open_session(cache)
    context = cache.new_context(session_id, FINAL_EPOCH, [request(0)], [], FOLLOWER, 1)
    answer = context.respond([result()], 1)
    assert (answer.session_id, listed(answer)) == (0, [("t", 0)])
    assert len(cache) == 0
    assert cache.new_context(session_id, 1, [], [], FOLLOWER, 1).error_code == SESSION_NOT_FOUND


def test_full_fetch_naming_a_session_replaces_it(cache):
    """session_epoch 0 with an id (the fetcher starting over): the old session closes, a new one opens."""
    old = open_session(cache)
    new = open_session(cache, partitions=2)
    assert len(cache) == 2
    context = cache.new_context(old, INITIAL_EPOCH, [request(0)], [], FOLLOWER, 1)
    replacement = context.respond([result()], 1).session_id
    assert old not in cache and replacement not in (0, old) and {new, replacement} == set(cache._sessions)


@pytest.mark.parametrize("epoch", [INITIAL_EPOCH, FINAL_EPOCH])
def test_consumers_get_no_session(cache, epoch):
    """A consumer asking for a session is answered in full with session id 0 (as from a full cache)."""
    context = cache.new_context(0, epoch, [request(0), request(1)], [], CONSUMER, 0)
    answer = context.respond([result(), result()], 0)
    assert (answer.error_code, answer.session_id, listed(answer)) == (0, 0, [("t", 0), ("t", 1)])
    assert len(cache) == 0


def test_an_empty_full_fetch_creates_no_session(cache):
    """Nothing to hold: no session."""
    assert cache.new_context(0, INITIAL_EPOCH, [], [], FOLLOWER, 0).respond([], 0).session_id == 0


def test_unused_sessions_expire(cache):
    """A session unused for longer than eviction_ms is gone; one used in time stays."""
    idle = open_session(cache, now=0)
    busy = open_session(cache, now=0)
    cache.new_context(busy, 1, [], [], FOLLOWER, 900).respond([result()] * 3, 900)
    assert cache.new_context(idle, 1, [], [], FOLLOWER, 1001).error_code == SESSION_NOT_FOUND
    assert idle not in cache and busy in cache


def test_a_full_cache_evicts_the_least_recently_used_old_session(cache):
    """Full of sessions younger than eviction_ms: no new session. Once they are older, the least recently used
    one makes room."""
    first, second, third = (open_session(cache, now=0) for _ in range(3))
    assert cache.new_context(0, INITIAL_EPOCH, [request(0)], [], FOLLOWER, 500).respond([result()], 500) \
        .session_id == 0
    for session_id, epoch, now in ((first, 1, 800), (third, 1, 900), (second, 1, 1000), (first, 2, 1001)):
        assert cache.new_context(session_id, epoch, [], [], FOLLOWER, now).error_code == 0
    fourth = open_session(cache, now=1001)
    assert third not in cache and {first, second, fourth} == set(cache._sessions)
    assert cache.evictions == 1


def test_session_ids_are_positive_and_unique(cache):
    """Ids never collide with a live session or with 0."""
    cache.max_slots = 1000
    ids = [open_session(cache, partitions=1) for _ in range(200)]
    assert len(set(ids)) == 200 and min(ids) > 0


def test_epochs_wrap_to_one():
    """The epoch after the largest int32 is 1 (0 and -1 mean full fetches); -1 stays -1."""
    assert next_epoch(0) == 1 and next_epoch(41) == 42
    assert next_epoch(0x7FFFFFFF) == 1 and next_epoch(-1) == -1


# -- the fetcher's side -------------------------------------------------------------------------------------


def params(offset, epoch=1):
    """A fetcher's parameters for one partition: fetch offset, log start offset, epochs, max bytes."""
    return (offset, 0, epoch, epoch, 1 << 20)


def test_handler_sends_everything_first_then_only_changes():
    """Full request first; once the leader made a session, only altered, added and removed partitions."""
    handler = FetchSessionHandler()
    wanted = {("t", 0): params(0), ("t", 1): params(0), ("t", 2): params(0)}
    assert (handler.session_id, handler.epoch) == (0, 0)
    assert handler.build(wanted) == (list(wanted), [])
    assert handler.handle_response(0, 77, list(wanted))
    assert (handler.session_id, handler.epoch) == (77, 1)
    assert handler.build(wanted) == ([], [])
    assert handler.handle_response(0, 77, [])
    assert handler.epoch == 2
    wanted = {("t", 0): params(0), ("t", 1): params(4), ("u", 0): params(0)}
    assert handler.build(wanted) == ([("t", 1), ("u", 0)], [("t", 2)])
    assert handler.handle_response(0, 77, [("t", 1)])
    assert (handler.epoch, len(handler)) == (3, 3)


def test_handler_without_a_session_keeps_sending_full_requests():
    """A full response with session id 0 (the leader made no session): the next request is full again."""
    handler = FetchSessionHandler()
    wanted = {("t", 0): params(0)}
    handler.build(wanted)
    assert handler.handle_response(0, 0, [("t", 0)])
    assert (handler.session_id, handler.epoch, handler.is_full) == (0, 0, True)
    assert handler.build(wanted) == ([("t", 0)], [])


def established(session_id=77):
    handler = FetchSessionHandler()
    wanted = {("t", 0): params(0), ("t", 1): params(0)}
    handler.build(wanted)
    handler.handle_response(0, session_id, list(wanted))
    handler.build(wanted)
    return handler, wanted


def test_handler_starts_over_after_a_session_error():
    """70: a new session from scratch; 71: a full request that also closes the old session."""
    handler, wanted = established()
    assert not handler.handle_response(SESSION_NOT_FOUND, 0, [])
    assert (handler.session_id, handler.epoch) == (0, 0)
    assert handler.build(wanted) == (list(wanted), [])

    handler, wanted = established()
    assert not handler.handle_response(INVALID_EPOCH, 77, [])
    assert (handler.session_id, handler.epoch) == (77, 0)
    assert handler.build(wanted) == (list(wanted), [])


def test_handler_starts_over_after_a_failed_request():
    """No response (a lost connection, a timeout): the next request is full and closes the session."""
    handler, wanted = established()
    handler.handle_error()
    assert (handler.session_id, handler.epoch) == (77, 0)
    assert handler.build(wanted) == (list(wanted), [])


def test_handler_refuses_responses_that_do_not_match_the_session():
    """An incremental response listing a partition outside the session, or a full one omitting one: ignored,
    and the next request is full."""
    handler, _ = established()
    assert not handler.handle_response(0, 77, [("other", 0)])
    assert handler.is_full
    handler = FetchSessionHandler()
    handler.build({("t", 0): params(0), ("t", 1): params(0)})
    assert not handler.handle_response(0, 77, [("t", 0)])
    assert (handler.session_id, handler.epoch) == (0, 0)


def test_handler_follows_the_leader_closing_the_session():
    """An incremental response with session id 0: applied, and the next request is a full one."""
    handler, wanted = established()
    assert handler.handle_response(0, 0, [("t", 0)])
    assert (handler.session_id, handler.epoch) == (0, 0)
