"""How long the ZooKeeper client gives each server: ZooKeeper's Java client's timeouts on kazoo.

Owns the per-server connect budget and the order servers are tried in after a failure.
ZooKeeper's own client (``ClientCnxn``) gives each server ``session timeout ÷ number of
servers`` to accept the TCP connection *and* answer the session handshake, and tries the
servers of its shuffled list in turn, so the one it just left is tried last. Once connected
it declares a server dead after ``session timeout × 2/3`` without hearing from it (pings go
out at half that), leaving a third of the session to reach another server.

kazoo 2.x computes the same timeouts but does not keep to them: it opens the TCP connection
with the *whole* session timeout (a server cut off by the network, whose SYNs go unanswered,
then costs the session); it leaves a server only when a ping goes unanswered, and sends pings
only when idle, so a client that keeps sending requests to a frozen server never leaves it;
and it reshuffles the servers at every pass, so the server that just died or froze may be
tried first again. :class:`ServerShareConnectionHandler` closes these gaps; the waiting
itself is done by :class:`kafkalite.zkclient.handler.PollingHandler`, which asks it how long
it may wait (:meth:`~ServerShareConnectionHandler.connect_budget_s`,
:meth:`~ServerShareConnectionHandler.read_budget_s`) and whether the server is still heard
(:meth:`~ServerShareConnectionHandler.check_heard`).
"""

import time

from kazoo.exceptions import ConnectionDropped
from kazoo.protocol.connection import ConnectionHandler

__all__ = ["ServerShareConnectionHandler", "connect_timeout_ms", "install", "read_timeout_ms", "server_last"]


def connect_timeout_ms(session_timeout_ms, server_count):
    """A server's share of the session for connecting and the handshake (Java's ``connectTimeout``)."""
    return session_timeout_ms / max(1, server_count)


def read_timeout_ms(session_timeout_ms):
    """Silence after which a connected server is left (Java's ``readTimeout``; kazoo's too)."""
    return session_timeout_ms * 2.0 / 3.0


def server_last(host_ports, server):
    """``host_ports`` (``(host, ip, port)`` triples) with the entries of ``server`` (``(ip, port)``) moved last.

    The relative order of the others is kept (they were shuffled already, if asked).
    """
    others = [entry for entry in host_ports if (entry[1], entry[2]) != server]
    return others + [entry for entry in host_ports if (entry[1], entry[2]) == server]


class ServerShareConnectionHandler(ConnectionHandler):
    """kazoo's connection loop with Java's per-server connect budget, read timeout and server rotation.

    Every attempt on a server — TCP connect, session handshake, authentication — must be done
    within :func:`connect_timeout_ms` of its start (the requested session timeout's share
    until a session is negotiated, then the negotiated one's, as Java does); once connected,
    the server is left when nothing was received from it for :func:`read_timeout_ms` of the
    negotiated session, whatever was sent; and the server last attempted is tried last in the
    next pass over the servers.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last_server = None
        self._server_count = None
        self._negotiated_timeout_ms = None
        #: monotonic deadline of the attempt in progress (read by :meth:`connect_budget_s`).
        self._attempt_deadline = None
        self._read_timeout_s = None
        #: monotonic time by which the connected server must have been heard from again.
        self._heard_deadline = None

    # -- the budget ----------------------------------------------------------------------------

    def attempt_timeout_s(self):
        """Seconds one server gets to connect and complete the handshake: its share of the session,
        at most the read timeout. With one or two servers the share alone would let one attempt on
        a server that accepts but never answers (ZooKeeper 3.8 does that to a client connecting
        while it starts) use up the session; capped, the client tries again with a third left."""
        session_ms = self._negotiated_timeout_ms or self.client._session_timeout
        count = self._server_count or len(self.client.hosts)
        return min(connect_timeout_ms(session_ms, count), read_timeout_ms(session_ms)) / 1000.0

    def connect_budget_s(self, timeout):
        """``timeout`` (seconds, or None) capped by what is left of the current attempt's budget."""
        deadline = self._attempt_deadline
        if deadline is None:
            return timeout
        left = max(deadline - time.monotonic(), 0.001)
        return left if timeout is None else min(timeout, left)

    def read_budget_s(self, timeout, sockets):
        """``timeout`` capped by the time left to hear from the server, when waiting on its socket."""
        deadline = self._heard_deadline
        if deadline is None or self._socket is None or self._socket not in sockets:
            return timeout
        left = max(deadline - time.monotonic(), 0.0)
        return left if timeout is None else min(timeout, left)

    def check_heard(self, readable=()):
        """:raises ConnectionDropped: the connected server has been silent for the read timeout
        (and its socket is not among ``readable``, the sockets just found with data to read)."""
        deadline = self._heard_deadline
        if deadline is None or (self._socket is not None and self._socket in readable):
            return
        if time.monotonic() >= deadline:
            self._heard_deadline = None
            raise ConnectionDropped(f"nothing received from the server in {self._read_timeout_s * 1000:.0f} ms")

    # -- kazoo's hooks -------------------------------------------------------------------------

    def _expand_client_hosts(self):
        host_ports = super()._expand_client_hosts()
        self._server_count = len(host_ports) or None
        if self._last_server is None:
            return host_ports
        return server_last(host_ports, self._last_server)

    def _connect_attempt(self, host, hostip, port, retry):
        self._last_server = (hostip, port)
        try:
            return super()._connect_attempt(host, hostip, port, retry)
        finally:
            self._heard_deadline = None

    def _connect(self, host, hostip, port):
        self._attempt_deadline = time.monotonic() + self.attempt_timeout_s()
        try:
            read_timeout, connect_timeout = super()._connect(host, hostip, port)
        finally:
            self._attempt_deadline = None
        # kazoo returns the negotiated session timeout's shares (ms): keep it for the next attempts
        self._negotiated_timeout_ms = read_timeout * 3.0 / 2.0
        self._read_timeout_s = read_timeout / 1000.0
        self._heard_deadline = time.monotonic() + self._read_timeout_s
        return read_timeout, connect_timeout

    def _read_socket(self, read_timeout):
        result = super()._read_socket(read_timeout)
        self._heard_deadline = time.monotonic() + self._read_timeout_s
        return result

    def _invoke(self, timeout, request, xid=None):
        return super()._invoke(self.connect_budget_s(timeout), request, xid)


def install(kazoo_client):
    """Replace ``kazoo_client``'s connection handler (before ``start``) with a :class:`ServerShareConnectionHandler`.

    The client's handler must cap its TCP connect timeout with the connection's budget
    (:class:`kafkalite.zkclient.handler.PollingHandler` does). The hooks overridden are
    kazoo's private methods (2.9 to 2.11): ``tests/unit/test_zkclient_connection.py`` drives
    each of them, so a kazoo that changes them fails there first.
    """
    old = kazoo_client._connection
    connection = ServerShareConnectionHandler(
        kazoo_client, old.retry_sleeper, logger=old.logger, sasl_options=old.sasl_options)
    kazoo_client._connection = connection
    kazoo_client.handler.connection = connection
    return connection
