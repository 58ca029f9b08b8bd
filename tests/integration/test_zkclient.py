"""Integration tests for kafkalite.zkclient against a real ZooKeeper, on a real reactor (pytest-twisted).

Each test works in its own chroot (the ``zookeeper`` fixture), so tests never see each
other's znodes. With pytest-twisted the reactor runs on the main thread, so "on the
reactor thread" means ``threading.main_thread()``.
"""

import itertools
import threading

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, threads

from kafkalite import zkdata
from kafkalite.zkclient import (
    CONNECTED,
    LOST,
    SUSPENDED,
    BadVersionError,
    Check,
    ConnectionLoss,
    Create,
    Delete,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    SessionExpired,
    SetData,
    ZkClient,
    ZkTimeoutError,
    split_chroot,
)
from tests.support.zookeeper import expire_session, free_port

WAIT_S = 20
_chroots = itertools.count(1)


def on_reactor_thread():
    return threading.current_thread() is threading.main_thread()


async def started_client(hosts, **kwargs):
    kwargs.setdefault("session_timeout_ms", 6000)
    kwargs.setdefault("connection_timeout_ms", 15000)
    client = ZkClient(hosts, reactor, **kwargs)
    await client.start()
    return client


@pytest_twisted.async_yield_fixture
async def zk(zookeeper):
    """A started ZkClient rooted in this test's chroot; stopped after the test."""
    client = await started_client(zookeeper.connect_string)
    yield client
    await client.stop()


def event_waiter():
    """A (Deferred, callback) pair: the callback fires the Deferred with its argument once."""
    d = defer.Deferred()

    def callback(value):
        if not d.called:
            d.callback((value, on_reactor_thread()))

    d.addTimeout(WAIT_S, reactor)
    return d, callback


async def wait_for_state(states, wanted, start=0):
    """Wait (with a deadline) until ``wanted`` is in ``states[start:]``; states may be (state, thread) pairs."""
    def seen():
        return [s[0] if isinstance(s, tuple) else s for s in states[start:]]

    for _ in range(WAIT_S * 20):
        if wanted in seen():
            return
        await deferred_sleep(0.05)
    raise AssertionError(f"state {wanted} not seen; saw {seen()}")


def deferred_sleep(seconds):
    d = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


def test_split_chroot():
    """Connect strings split into hosts and a normalised chroot."""
    assert split_chroot("h:1,h:2/kafka") == ("h:1,h:2", "/kafka")
    assert split_chroot("h:1/a/b/") == ("h:1", "/a/b")
    assert split_chroot("h:1") == ("h:1", "")
    assert split_chroot("h:1/") == ("h:1", "")


@pytest_twisted.ensureDeferred
async def test_start_creates_chroot_and_reports_connected(zookeeper_session_server):
    """start() creates a missing chroot, fires once connected, and the listener sees CONNECTED on the reactor."""
    chroot = f"/zkclient-chroot-{next(_chroots)}/nested"
    client = ZkClient(zookeeper_session_server.connect_string + chroot, reactor, session_timeout_ms=6000)
    states = []
    client.add_state_listener(lambda state: states.append((state, on_reactor_thread())))
    await client.start()
    try:
        assert client.connected
        assert isinstance(client.session_id, int) and client.session_id != 0
        await wait_for_state(states, CONNECTED)
        assert states[0] == (CONNECTED, True)
        await client.create("/inside", b"x")
    finally:
        await client.stop()
    outside = await started_client(zookeeper_session_server.connect_string)
    try:
        data, _ = await outside.get(chroot + "/inside")
        assert data == b"x"
        await outside.delete(chroot.rsplit("/", 1)[0], recursive=True)
    finally:
        await outside.stop()


@pytest_twisted.ensureDeferred
async def test_crud_operations_and_errors(zk):
    """create/get/set/exists/get_children/delete behave as ZooKeeper's and map errors to ours."""
    assert await zk.create("/a", b"one") == "/a"
    data, stat = await zk.get("/a")
    assert data == b"one"
    assert stat.version == 0
    assert stat.czxid > 0
    assert stat.ephemeral_owner == 0

    new_stat = await zk.set("/a", b"two", version=0)
    assert new_stat.version == 1
    with pytest.raises(BadVersionError):
        await zk.set("/a", b"three", version=0)
    assert (await zk.get("/a"))[0] == b"two"

    with pytest.raises(NodeExistsError):
        await zk.create("/a")
    with pytest.raises(NoNodeError) as info:
        await zk.get("/missing")
    assert info.value.path == "/missing"
    with pytest.raises(NoNodeError):
        await zk.create("/no/parent")
    assert await zk.exists("/missing") is None
    assert (await zk.exists("/a")).version == 1

    assert await zk.create("/deep/er/node", b"d", makepath=True) == "/deep/er/node"
    assert await zk.ensure_path("/deep/er") is True
    assert await zk.ensure_path("/p/q/r") is True
    assert await zk.exists("/p/q/r") is not None
    assert sorted(await zk.get_children("/")) == ["a", "deep", "p"]

    first = await zk.create("/seq/n_", b"", sequence=True, makepath=True)
    second = await zk.create("/seq/n_", b"", sequence=True)
    assert first.startswith("/seq/n_") and len(zkdata.sequence_number(first, "n_")) == 10
    assert int(zkdata.sequence_number(second, "n_")) == int(zkdata.sequence_number(first, "n_")) + 1

    with pytest.raises(NotEmptyError):
        await zk.delete("/deep")
    with pytest.raises(BadVersionError):
        await zk.delete("/a", version=7)
    assert await zk.delete("/a", version=1) is True
    assert await zk.delete("/deep", recursive=True) is True
    assert await zk.exists("/deep") is None
    with pytest.raises(NoNodeError):
        await zk.delete("/deep")


@pytest_twisted.ensureDeferred
async def test_watches_fire_once_on_the_reactor_thread(zk):
    """Data, child and existence watches fire once, on the reactor thread, with type and path."""
    await zk.create("/w", b"0")

    data_fired, data_watch = event_waiter()
    await zk.get("/w", watch=data_watch)
    await zk.set("/w", b"1")
    event, on_reactor = await data_fired
    assert (event.type, event.path, on_reactor) == ("CHANGED", "/w", True)

    # One-shot: a second change with no new watch registered fires nothing more.
    calls = []
    await zk.get("/w", watch=calls.append)
    await zk.set("/w", b"2")
    await zk.set("/w", b"3")
    await zk.sync("/w")
    await deferred_sleep(0.2)
    assert [e.type for e in calls] == ["CHANGED"]

    child_fired, child_watch = event_waiter()
    assert await zk.get_children("/w", watch=child_watch) == []
    await zk.create("/w/c")
    event, on_reactor = await child_fired
    assert (event.type, event.path, on_reactor) == ("CHILD", "/w", True)

    created_fired, created_watch = event_waiter()
    assert await zk.exists("/later", watch=created_watch) is None
    await zk.create("/later")
    event, _ = await created_fired
    assert (event.type, event.path) == ("CREATED", "/later")

    deleted_fired, deleted_watch = event_waiter()
    await zk.exists("/later", watch=deleted_watch)
    await zk.delete("/later")
    event, _ = await deleted_fired
    assert (event.type, event.path) == ("DELETED", "/later")


@pytest_twisted.ensureDeferred
async def test_transaction_commits_atomically(zk):
    """A multi returns one result per operation; a failing check applies nothing and names the failing op."""
    await zk.create("/epoch", b"1")
    results = await zk.transaction([
        Create("/ctl", b"me", ephemeral=True),
        SetData("/epoch", b"2", version=0),
        Check("/epoch", 1),
        ("create", "/other", b"x"),
    ])
    assert results[0] == "/ctl"
    assert results[1].version == 1
    assert results[2] is True
    assert results[3] == "/other"
    assert (await zk.exists("/ctl")).ephemeral_owner == zk.session_id

    with pytest.raises(BadVersionError) as info:
        await zk.transaction([
            ("check", "/epoch", 0),
            ("set", "/epoch", b"3", 1),
            Delete("/other"),
        ])
    assert info.value.op_index == 0
    assert (await zk.get("/epoch"))[0] == b"2"
    assert await zk.exists("/other") is not None

    with pytest.raises(NodeExistsError) as info:
        await zk.transaction([Delete("/other"), Create("/ctl")])
    assert info.value.op_index == 1
    assert await zk.exists("/other") is not None


@pytest_twisted.ensureDeferred
async def test_get_many_reads_in_batches_and_reports_missing_nodes_in_place(zk):
    """multiRead in batches of 7: every node's data and stat in order; a missing node is a NoNodeError in its slot."""
    await zk.ensure_path("/many")
    for i in range(20):
        await zk.create("/many/%d" % i, b"v%d" % i)
    await zk.set("/many/3", b"again")
    paths = ["/many/%d" % i for i in range(20)]
    paths.insert(5, "/many/missing")
    results = await zk.get_many(paths, batch=7)
    assert len(results) == 21
    assert isinstance(results[5], NoNodeError)
    found = [r for r in results if not isinstance(r, Exception)]
    assert [data for data, _ in found] == [b"v0", b"v1", b"v2", b"again"] + [b"v%d" % i for i in range(4, 20)]
    assert found[3][1].version == 1 and found[0][1].version == 0
    assert await zk.get_many([]) == []


@pytest_twisted.ensureDeferred
async def test_request_latency_observer_sees_each_answered_request_on_the_reactor_thread(zookeeper):
    """One latency per request on the wire, failed ones included: a create, a NoNode get, a 2-batch get_many."""
    latencies = []
    client = await started_client(zookeeper.connect_string,
                                  request_latency_observer=lambda s: latencies.append((s, on_reactor_thread())))
    try:
        del latencies[:]  # the chroot's creation at start
        await client.create("/timed", b"x")
        with pytest.raises(NoNodeError):
            await client.get("/timed/missing")
        await client.get_many(["/timed"] * 3, batch=2)
    finally:
        await client.stop()
    assert len(latencies) == 4
    assert all(0 < seconds < WAIT_S and on_thread for seconds, on_thread in latencies)


@pytest_twisted.ensureDeferred
async def test_transactions_apply_groups_atomically_and_isolate_a_failing_group(zk):
    """Groups packed into few multis: a conflicting group fails alone, the rest apply; a failed guard fails all."""
    await zk.create("/guard", b"g")
    await zk.ensure_path("/tx")
    for i in range(10):
        await zk.create("/tx/%d" % i, b"0")
    groups = [[SetData("/tx/%d" % i, b"1", 0), Create("/tx/%d-new" % i, b"n")] for i in range(10)]
    groups[6] = [SetData("/tx/6", b"1", 5), Create("/tx/6-new", b"n")]  # wrong version: this group alone fails
    results = await zk.transactions(groups, guard=Check("/guard", 0), batch=6)
    assert isinstance(results[6], BadVersionError)
    assert await zk.exists("/tx/6-new") is None and (await zk.get("/tx/6"))[0] == b"0"
    for i in (0, 1, 2, 3, 4, 5, 7, 8, 9):
        assert results[i][0].version == 1 and results[i][1] == "/tx/%d-new" % i
        assert (await zk.get("/tx/%d" % i))[0] == b"1"

    await zk.set("/guard", b"moved")
    with pytest.raises(BadVersionError) as info:
        await zk.transactions([[SetData("/tx/0", b"2", -1)]], guard=Check("/guard", 0))
    assert info.value.op_index == 0
    assert (await zk.get("/tx/0"))[0] == b"1"


@pytest_twisted.ensureDeferred
async def test_ephemeral_node_goes_when_its_session_closes(zookeeper):
    """An ephemeral node disappears when its owner stops; another session's watch sees DELETED."""
    owner = await started_client(zookeeper.connect_string)
    observer = await started_client(zookeeper.connect_string)
    try:
        await owner.create("/brokers/ids/1", b"{}", ephemeral=True, makepath=True)
        deleted, watch = event_waiter()
        stat = await observer.exists("/brokers/ids/1", watch=watch)
        assert stat.ephemeral_owner == owner.session_id
        await owner.stop()
        event, on_reactor = await deleted
        assert (event.type, event.path, on_reactor) == ("DELETED", "/brokers/ids/1", True)
        assert await observer.exists("/brokers/ids/1") is None
    finally:
        await observer.stop()
        await owner.stop()


@pytest_twisted.ensureDeferred
async def test_session_expiry_reports_lost_then_reconnects_with_new_session(zookeeper):
    """Expiring the session delivers LOST (ephemerals gone, watches fire NONE), then CONNECTED with a new session."""
    client = await started_client(zookeeper.connect_string, session_timeout_ms=4000)
    states = []
    client.add_state_listener(lambda state: states.append((state, on_reactor_thread())))
    try:
        await client.create("/eph", b"", ephemeral=True)
        watch_fired, watch = event_waiter()
        await client.get("/eph", watch=watch)
        old_session = client.session_id

        await threads.deferToThread(expire_session, zookeeper.connect_string, old_session, client.session_password)
        await wait_for_state(states, LOST)
        event, on_reactor = await watch_fired
        assert on_reactor
        assert event.type in ("NONE", "DELETED")

        lost_at = [s for s, _ in states].index(LOST)
        await wait_for_state(states, CONNECTED, start=lost_at)
        assert all(on_reactor for _, on_reactor in states)
        assert client.session_id not in (None, old_session)
        assert await client.exists("/eph") is None
    finally:
        await client.stop()


@pytest_twisted.ensureDeferred
async def test_server_restart_suspends_then_resumes_the_same_session(zookeeper_server):
    """While ZooKeeper is down ops fail with ConnectionLoss and state is SUSPENDED; the session survives a restart."""
    client = await started_client(zookeeper_server.connect_string, session_timeout_ms=20000)
    states = []
    client.add_state_listener(states.append)
    try:
        await client.create("/eph", b"", ephemeral=True)
        session = client.session_id
        zookeeper_server.stop()
        await wait_for_state(states, SUSPENDED)
        with pytest.raises(ConnectionLoss):
            await client.get("/eph")
        zookeeper_server.start()
        await wait_for_state(states, CONNECTED, start=states.index(SUSPENDED))
        assert client.session_id == session
        assert (await client.exists("/eph")).ephemeral_owner == session
        assert LOST not in states
    finally:
        await client.stop()


@pytest_twisted.ensureDeferred
async def test_start_times_out_without_a_server():
    """start() errbacks with ZkTimeoutError when nothing answers within connection_timeout_ms."""
    client = ZkClient(f"127.0.0.1:{free_port()}", reactor, session_timeout_ms=4000, connection_timeout_ms=500)
    with pytest.raises(ZkTimeoutError):
        await client.start()
    await client.stop()


@pytest_twisted.ensureDeferred
async def test_operations_after_stop_fail_cleanly(zookeeper):
    """Operations on a stopped client errback (session gone) instead of hanging."""
    client = await started_client(zookeeper.connect_string)
    await client.stop()
    with pytest.raises((SessionExpired, ConnectionLoss)):
        await client.get("/")
