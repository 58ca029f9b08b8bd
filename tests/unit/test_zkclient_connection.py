"""Each ZooKeeper server gets a share of the session (``kafkalite.zkclient.connection``), without a server.

The "servers" here are local sockets: one that is listening but never answers (a frozen
ZooKeeper: the kernel accepts the TCP connection, nobody reads), one whose accept queue is
full (SYNs are dropped, as for a server cut off by the network), and closed ports.
"""

import socket
import struct
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionDropped
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry

from kafkalite.zkclient.connection import (
    ServerShareConnectionHandler,
    connect_timeout_ms,
    install,
    read_timeout_ms,
    server_last,
)
from kafkalite.zkclient.handler import PollingHandler


def test_timeouts_are_the_java_clients():
    """connectTimeout = session ÷ servers, readTimeout = session × 2/3 (ZooKeeper's ClientCnxn)."""
    assert connect_timeout_ms(6000, 3) == 2000
    assert connect_timeout_ms(18000, 5) == 3600
    assert connect_timeout_ms(6000, 1) == 6000
    assert connect_timeout_ms(6000, 0) == 6000
    assert read_timeout_ms(6000) == 4000
    assert read_timeout_ms(18000) == 12000


def test_the_server_last_tried_goes_last_and_the_others_keep_their_order():
    hosts = [("a", "10.0.0.1", 2181), ("b", "10.0.0.2", 2181), ("c", "10.0.0.3", 2181)]
    assert server_last(hosts, ("10.0.0.1", 2181)) == [hosts[1], hosts[2], hosts[0]]
    assert server_last(hosts, ("10.0.0.2", 2181)) == [hosts[0], hosts[2], hosts[1]]
    assert server_last(hosts, ("10.0.0.9", 2181)) == hosts


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def frozen_server():
    """A listening socket nobody reads: TCP connects succeed, the handshake is never answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def unreachable_server():
    """A listener whose accept queue is full: further SYNs are dropped and a connect hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.2)  # let the kernel finish the fillers' handshakes so the queue is really full
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.1", port))
        pytest.skip("this kernel completed a connect to a full accept queue")
    except TimeoutError:
        pass
    finally:
        probe.close()
    yield port
    for s in fillers:
        s.close()
    listener.close()


def _client(ports, session_timeout_s):
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    kazoo = KazooClient(hosts=hosts, timeout=session_timeout_s, handler=PollingHandler(),
                        connection_retry=KazooRetry(max_tries=0))
    return kazoo, install(kazoo)


def test_install_replaces_the_connection_and_links_the_handler():
    kazoo, connection = _client([_closed_port()] * 3, 6.0)
    assert isinstance(kazoo._connection, ServerShareConnectionHandler)
    assert kazoo.handler.connection is connection
    assert connection.attempt_timeout_s() == pytest.approx(2.0)
    assert connection.connect_budget_s(6.0) == 6.0  # no attempt in progress: nothing capped


def test_a_frozen_server_costs_its_share_of_the_session(frozen_server):
    """3 servers, 3 s session: the handshake with a server that never answers is abandoned after 1 s."""
    kazoo, connection = _client([frozen_server, _closed_port(), _closed_port()], 3.0)
    started = time.monotonic()
    with pytest.raises(kazoo.handler.timeout_exception):
        connection._connect("127.0.0.1", "127.0.0.1", frozen_server)
    elapsed = time.monotonic() - started
    if connection._socket is not None:
        connection._socket.close()
    assert 0.8 <= elapsed <= 1.8, elapsed


def test_an_unreachable_server_costs_its_share_not_the_whole_session(unreachable_server):
    """kazoo alone waits the whole session timeout for a TCP connect; here it is the server's share."""
    kazoo, connection = _client([unreachable_server, _closed_port(), _closed_port()], 3.0)
    started = time.monotonic()
    with pytest.raises(ConnectionDropped):  # kazoo's name for the connect's socket.timeout
        connection._connect("127.0.0.1", "127.0.0.1", unreachable_server)
    elapsed = time.monotonic() - started
    assert 0.8 <= elapsed <= 1.8, elapsed


def test_the_server_just_tried_is_tried_last_in_the_next_pass():
    ports = [_closed_port(), _closed_port(), _closed_port()]
    kazoo, connection = _client(ports, 3.0)
    retry = KazooRetry(max_tries=0)
    for _ in range(5):
        order = [port for _, _, port in connection._expand_client_hosts()]
        assert sorted(order) == sorted(ports)
        connection._connect_attempt("127.0.0.1", "127.0.0.1", order[0], retry)  # refused
        assert [port for _, _, port in connection._expand_client_hosts()][-1] == order[0]
    assert connection.attempt_timeout_s() == pytest.approx(1.0)


class SilentServer(threading.Thread):
    """Answers the first session handshake like ZooKeeper, then never again (reads and drops everything)."""

    def __init__(self, session_timeout_ms):
        super().__init__(daemon=True)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.session_timeout_ms = session_timeout_ms
        self.connections = []

    def run(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.connections.append(conn)
        (length,) = struct.unpack(">i", _read_exactly(conn, 4))
        _read_exactly(conn, length)  # the ConnectRequest
        body = struct.pack(">iiqi", 0, self.session_timeout_ms, 0x1234, 16) + b"p" * 16 + b"\x00"
        conn.sendall(struct.pack(">i", len(body)) + body)
        while conn.recv(65536):
            pass

    def close(self):
        self.listener.close()
        for conn in self.connections:
            conn.close()


def _read_exactly(conn, count):
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


@pytest.mark.parametrize("interval", [0.2, 0.002])
def test_a_server_silent_for_the_read_timeout_is_left_although_requests_keep_going(interval):
    """kazoo leaves a server only for an unanswered ping, and pings only when idle: a client sending
    requests to a frozen server stayed on it. Java leaves it after readTimeout (2/3 of the session)
    without hearing from it, and so do we."""
    server = SilentServer(session_timeout_ms=3000)
    server.start()
    kazoo, _ = _client([server.port], 3.0)
    suspended = threading.Event()
    kazoo.add_listener(lambda state: state == KazooState.SUSPENDED and suspended.set())
    try:
        kazoo.start(timeout=5)
        connected_at = time.monotonic()
        while not suspended.is_set() and time.monotonic() - connected_at < 6.0:
            kazoo.exists_async("/anything")  # never idle, so kazoo never pings
            suspended.wait(interval)
        elapsed = time.monotonic() - connected_at
        assert suspended.is_set(), "still connected to a server silent for 6 s"
        assert 1.8 <= elapsed <= 2.8, elapsed  # read timeout: 3000 ms × 2/3
    finally:
        kazoo.stop()
        kazoo.close()
        server.close()
