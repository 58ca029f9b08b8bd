"""The broker-to-broker client: one Kafka connection, and a reconnecting channel.

Owns the client side of the protocol as the controller channel and the replica
fetchers use it: :class:`ClientConnection` (sans I/O: correlation ids, request
encoding, response matching and decoding), :class:`KafkaClientProtocol` (the Twisted
adapter: one Deferred per request, all failed when the connection is lost),
:func:`connect`, and :class:`BrokerChannel` (one connection to one broker, reconnected
with exponential backoff, requests queued while connecting).

Request and response headers are ``kafkalite.protocol.headers``' (v1 response headers
with tagged fields for flexible versions, v0 for ApiVersions whatever its version,
reference §0); bodies are encoded and decoded by ``kafkalite.protocol.apis``.
"""

import struct

from twisted.internet import defer, error
from twisted.internet.endpoints import HostnameEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from kafkalite.network.connection import pieces_size
from kafkalite.network.framing import FrameDecoder, FrameTooLarge, InvalidFrameSize, size_prefix
from kafkalite.network.writer import TransportWriter, set_no_delay
from kafkalite.protocol.apis import API_BY_KEY
from kafkalite.protocol.headers import decode_response_header, encode_request_header

__all__ = [
    "BrokerChannel",
    "ChannelClosedError",
    "ClientConnection",
    "KafkaClientProtocol",
    "ResponseError",
    "connect",
]

_INT32 = struct.Struct(">i")
DEFAULT_MAX_RESPONSE_SIZE = 1 << 30


class ResponseError(Exception):
    """A response could not be matched or decoded; the connection is unusable."""


class ChannelClosedError(Exception):
    """The :class:`BrokerChannel` was closed before the request completed."""


class ClientConnection:
    """Client-side protocol state of one connection, sans I/O.

    :param client_id: the client id put in every request header.
    :param max_response_size: the largest response frame accepted.
    """

    def __init__(self, client_id, max_response_size=DEFAULT_MAX_RESPONSE_SIZE):
        self.client_id = client_id
        self._frames = FrameDecoder(max_response_size)
        self._next_correlation_id = 0
        self._expected = {}  # correlation id -> (api_key, api_version)
        self._forgotten = set()

    @property
    def in_flight(self):
        """Requests sent whose responses have not arrived (forgotten ones excluded)."""
        return len(self._expected)

    def send_request(self, api_key, api_version, body, expect_response=True):
        """Encode a request; return ``(correlation_id, pieces)`` with the size prefix first.

        Exceptions from the encoder propagate (nothing is recorded then).
        """
        correlation_id = self._next_correlation_id
        self._next_correlation_id = (correlation_id + 1) & 0x7FFFFFFF
        header = encode_request_header(api_key, api_version, correlation_id, self.client_id)
        pieces = API_BY_KEY[api_key].encode_request(body, api_version)
        size = len(header) + pieces_size(pieces)
        if expect_response:
            self._expected[correlation_id] = (api_key, api_version)
        return correlation_id, [size_prefix(size), header, *pieces]

    def forget(self, correlation_id):
        """Stop waiting for ``correlation_id``; its response is dropped when it arrives."""
        if self._expected.pop(correlation_id, None) is not None:
            self._forgotten.add(correlation_id)

    def receive_data(self, data):
        """Consume bytes; return a list of ``(correlation_id, response dict or exception)``.

        A response that fails to decode is returned as its exception (the frame
        boundaries are intact, so the connection stays usable).

        :raises ResponseError: an oversized frame or an unknown correlation id.
        """
        try:
            frames = self._frames.feed(data)
        except (FrameTooLarge, InvalidFrameSize) as e:
            raise ResponseError(str(e)) from e
        results = []
        for frame in frames:
            if len(frame) < 4:
                raise ResponseError("response shorter than its header")
            # Every response header starts with the correlation id; which header version
            # the rest follows depends on the request it answers.
            (correlation_id,) = _INT32.unpack_from(frame, 0)
            expected = self._expected.pop(correlation_id, None)
            if expected is None:
                if correlation_id in self._forgotten:
                    self._forgotten.discard(correlation_id)
                    continue
                raise ResponseError(f"response with unknown correlation id {correlation_id}")
            api_key, api_version = expected
            try:
                _, offset = decode_response_header(frame, api_key, api_version)
                response = API_BY_KEY[api_key].decode_response(frame, api_version, offset)
            except Exception as e:  # noqa: BLE001 -- a bad response fails only its own request
                results.append((correlation_id, e))
            else:
                results.append((correlation_id, response))
        return results


class KafkaClientProtocol(Protocol):
    """A connection to a Kafka broker that sends requests and matches responses.

    :param reactor: provides ``IReactorTime`` (request timeouts).
    :param client_id: the client id put in every request header.
    :param max_response_size: the largest response frame accepted.
    """

    log = Logger()

    def __init__(self, reactor, client_id, max_response_size=DEFAULT_MAX_RESPONSE_SIZE):
        self._reactor = reactor
        self._connection = ClientConnection(client_id, max_response_size)
        self._pending = {}  # correlation id -> Deferred
        self._writer = None
        self._lost_reason = None
        self._closed_waiters = []

    @property
    def connected_and_open(self):
        """Whether requests can be sent."""
        return self.connected and self._lost_reason is None

    def connectionMade(self):
        set_no_delay(self.transport)
        self._writer = TransportWriter(self.transport)

    def request(self, api_key, api_version, body, expect_response=True, timeout=None):
        """Send a request.

        :param timeout: seconds to wait for the response, or None for no limit.
        :return: a Deferred firing with the decoded response dict (None when
            ``expect_response`` is false, once written). It errbacks with the
            connection's loss reason if the connection goes away first,
            ``twisted.internet.defer.TimeoutError`` on timeout, the codec's error if
            the response does not decode, or ``CancelledError`` when cancelled.
        """
        if self._lost_reason is not None:
            return defer.fail(self._lost_reason)
        if not self.connected:
            return defer.fail(error.NotConnectingError("not connected"))
        try:
            correlation_id, pieces = self._connection.send_request(api_key, api_version, body, expect_response)
        except Exception:  # noqa: BLE001 -- an unencodable request fails only that request
            return defer.fail()
        self._writer.write(pieces)
        if not expect_response:
            return defer.succeed(None)

        def cancel(d):
            if self._pending.pop(correlation_id, None) is not None:
                self._connection.forget(correlation_id)

        d = defer.Deferred(cancel)
        self._pending[correlation_id] = d
        if timeout is not None:
            d.addTimeout(timeout, self._reactor)
        return d

    def dataReceived(self, data):
        if self._lost_reason is not None:
            return
        try:
            results = self._connection.receive_data(data)
        except ResponseError as e:
            self.log.warn(  # noqa: G010 -- twisted.logger spells it warn
                "closing connection to {peer}: {reason}", peer=self.transport.getPeer(), reason=str(e))
            self.transport.loseConnection()
            return
        for correlation_id, result in results:
            d = self._pending.pop(correlation_id, None)
            if d is None:
                continue
            if isinstance(result, Exception):
                d.errback(result)
            else:
                d.callback(result)

    def connectionLost(self, reason):
        self._lost_reason = reason
        if self._writer is not None:
            self._writer.close()
        pending, self._pending = self._pending, {}
        for d in pending.values():
            d.errback(reason)
        waiters, self._closed_waiters = self._closed_waiters, []
        for d in waiters:
            d.callback(reason.value)

    def when_closed(self):
        """Return a Deferred firing with the loss reason's exception once the connection is gone."""
        if self._lost_reason is not None:
            return defer.succeed(self._lost_reason.value)
        d = defer.Deferred()
        self._closed_waiters.append(d)
        return d

    def close(self):
        """Close the connection; return :meth:`when_closed`."""
        d = self.when_closed()
        if self._lost_reason is None and self.transport is not None:
            self.transport.loseConnection()
        return d


def _default_endpoint(reactor, host, port, timeout):
    return HostnameEndpoint(reactor, host, port, timeout=timeout)


def connect(reactor, host, port, client_id, timeout=10.0, endpoint_factory=None):
    """Connect to a broker.

    :param endpoint_factory: ``(reactor, host, port, timeout) -> IStreamClientEndpoint``;
        default ``HostnameEndpoint`` (tests pass a fake).
    :return: a Deferred firing with a connected :class:`KafkaClientProtocol`, or
        errbacking with the connection error (``TimeoutError`` after ``timeout`` seconds).
    """
    endpoint = (endpoint_factory or _default_endpoint)(reactor, host, port, timeout)
    d = connectProtocol(endpoint, KafkaClientProtocol(reactor, client_id))
    d.addTimeout(timeout, reactor)
    return d


class _Outstanding:
    """A request given to a :class:`BrokerChannel`, queued or in flight."""

    __slots__ = ("api_key", "api_version", "body", "deferred", "expect_response", "inner")

    def __init__(self, api_key, api_version, body, expect_response):
        self.api_key = api_key
        self.api_version = api_version
        self.body = body
        self.expect_response = expect_response
        self.deferred = None
        self.inner = None


class BrokerChannel:
    """One connection to one broker, reconnected on demand with exponential backoff.

    Requests sent while no connection is up are queued and go out, in order, as soon
    as one is. A lost connection fails the requests that were in flight on it (the
    caller decides whether to retry); the next :meth:`send` reconnects. A failed
    connection attempt is retried after ``reconnect_backoff`` seconds, doubling up to
    ``reconnect_backoff_max``, while requests are queued.

    :param reactor: provides ``IReactorTime`` and what the endpoint factory needs.
    :param host: the broker's host.
    :param port: the broker's port.
    :param client_id: the client id of every request.
    :param request_timeout: default seconds a request may take, queueing included.
    :param connect_timeout: seconds one connection attempt may take.
    :param endpoint_factory: see :func:`connect`.
    """

    log = Logger()

    def __init__(self, reactor, host, port, client_id, *, request_timeout=30.0, connect_timeout=10.0,
                 reconnect_backoff=0.05, reconnect_backoff_max=1.0, endpoint_factory=None):
        self._reactor = reactor
        self.host = host
        self.port = port
        self.client_id = client_id
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.reconnect_backoff = reconnect_backoff
        self.reconnect_backoff_max = reconnect_backoff_max
        self._endpoint_factory = endpoint_factory
        self._protocol = None
        self._connecting = None
        self._retry_call = None
        self._backoff = reconnect_backoff
        self._next_attempt_at = 0.0
        self._queue = []
        self._closed = False

    @property
    def connected(self):
        """Whether a connection is up now."""
        return self._protocol is not None

    def send(self, api_key, api_version, body, expect_response=True, timeout=None):
        """Send a request on the channel, connecting first if needed.

        :param timeout: seconds for this request (default ``request_timeout``).
        :return: a Deferred firing with the response dict (None without
            ``expect_response``); errbacks with ``defer.TimeoutError``, the
            connection's loss reason, :class:`ChannelClosedError`, or a decode error.
        """
        if self._closed:
            return defer.fail(ChannelClosedError(f"channel to {self.host}:{self.port} is closed"))
        entry = _Outstanding(api_key, api_version, body, expect_response)
        entry.deferred = defer.Deferred(lambda d: self._cancel(entry))
        entry.deferred.addTimeout(self.request_timeout if timeout is None else timeout, self._reactor)
        if self._protocol is not None:
            self._start(entry)
        else:
            self._queue.append(entry)
            self._ensure_connecting()
        return entry.deferred

    def _cancel(self, entry):
        if entry.inner is not None:
            entry.inner.cancel()
        elif entry in self._queue:
            self._queue.remove(entry)

    def _start(self, entry):
        entry.inner = self._protocol.request(entry.api_key, entry.api_version, entry.body, entry.expect_response)

        def finish(result):
            if not entry.deferred.called:
                if isinstance(result, defer.Failure):
                    entry.deferred.errback(result)
                else:
                    entry.deferred.callback(result)

        entry.inner.addBoth(finish)

    def _ensure_connecting(self):
        if self._closed or self._protocol is not None or self._connecting is not None or self._retry_call:
            return
        delay = self._next_attempt_at - self._reactor.seconds()
        if delay > 0:
            self._retry_call = self._reactor.callLater(delay, self._retry)
            return
        self._connecting = connect(self._reactor, self.host, self.port, self.client_id, self.connect_timeout,
                                   self._endpoint_factory)
        self._connecting.addCallbacks(self._connected, self._connect_failed)

    def _retry(self):
        self._retry_call = None
        if self._queue:
            self._ensure_connecting()

    def _connected(self, protocol):
        self._connecting = None
        if self._closed:
            protocol.close()
            return
        self._protocol = protocol
        self._backoff = self.reconnect_backoff
        self._next_attempt_at = 0.0
        protocol.when_closed().addCallback(self._lost, protocol)
        queue, self._queue = self._queue, []
        for entry in queue:
            if not entry.deferred.called:
                self._start(entry)

    def _connect_failed(self, failure):
        self._connecting = None
        if self._closed:
            return
        self.log.info("connecting to {host}:{port} failed: {error}; retrying in {backoff}s",
                      host=self.host, port=self.port, error=failure.value, backoff=self._backoff)
        self._next_attempt_at = self._reactor.seconds() + self._backoff
        self._backoff = min(self._backoff * 2, self.reconnect_backoff_max)
        if self._queue:
            self._ensure_connecting()

    def _lost(self, reason, protocol):
        if self._protocol is protocol:
            self._protocol = None
        if self._queue and not self._closed:
            self._ensure_connecting()

    def close(self):
        """Close the channel: queued requests fail with :class:`ChannelClosedError`.

        :return: a Deferred firing when the connection (if any) is closed.
        """
        self._closed = True
        if self._retry_call is not None:
            self._retry_call.cancel()
            self._retry_call = None
        if self._connecting is not None:
            self._connecting.cancel()
        queue, self._queue = self._queue, []
        for entry in queue:
            if not entry.deferred.called:
                entry.deferred.errback(ChannelClosedError(f"channel to {self.host}:{self.port} closed"))
        if self._protocol is not None:
            return self._protocol.close().addCallback(lambda _: None)
        return defer.succeed(None)
