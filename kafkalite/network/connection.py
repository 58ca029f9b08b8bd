"""The server side of one Kafka connection, sans I/O.

Owns the request/response life cycle of a connection: bytes in → decoded requests
out (with their :class:`RequestContext`), responses in → byte pieces out, strictly in
request order. The Twisted protocol in ``server.py`` is a thin adapter around
:class:`ServerConnection`; nothing here does I/O or reads the clock.

Rules (Kafka 2.8 ``SocketServer``/``KafkaApis``, reference §0):

- a frame larger than ``socket.request.max.bytes``, an unknown api key, a version
  outside the codec's range, or a header/body that does not decode is a protocol
  violation: the connection is closed;
- except ApiVersions with a version above ours: it gets error 35 in a v0 body
  listing only our ApiVersions range, with response header v0 (KIP-511);
- responses leave in the order their requests arrived, whatever order the handlers
  finish in; a request answered with :data:`NO_RESPONSE` (acks=0 produce) takes no
  place in the output.
"""

import struct
from collections import deque
from dataclasses import dataclass

from kafkalite.network.codec import API_VERSIONS_KEY, api_name, unsupported_api_versions_response
from kafkalite.network.framing import FrameDecoder, FrameTooLarge, InvalidFrameSize, size_prefix
from kafkalite.protocol.regions import FileRegion

__all__ = [
    "NO_RESPONSE",
    "ProtocolViolation",
    "Request",
    "RequestContext",
    "ServerConnection",
    "pieces_size",
]

_HEADER_PREFIX = struct.Struct(">hhi")


class _NoResponse:
    """The type of :data:`NO_RESPONSE`."""

    __slots__ = ()

    def __repr__(self):
        return "NO_RESPONSE"

    def __reduce__(self):
        return "NO_RESPONSE"


NO_RESPONSE = _NoResponse()
"""Returned by a dispatch function for a request that gets no response (acks=0 produce)."""


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Everything about a request except its body.

    :ivar api_key: the request's api key.
    :ivar api_version: the request's api version.
    :ivar correlation_id: the client's correlation id.
    :ivar client_id: the client id from the request header (may be ``None``).
    :ivar client_host: the peer's address.
    :ivar client_port: the peer's port.
    :ivar listener_name: the listener the connection arrived on (``"PLAINTEXT"``).
    :ivar connection_id: Kafka-style ``local_host:local_port-peer_host:peer_port-index``.
    :ivar received_at: reactor time at which the request's last byte was read.
    :ivar frame_size: the request's size in bytes, without the size prefix.
    """

    api_key: int
    api_version: int
    correlation_id: int
    client_id: object
    client_host: str
    client_port: int
    listener_name: str
    connection_id: str
    received_at: float
    frame_size: int


class Request:
    """A decoded request waiting for its response; also its place in the output order.

    :ivar context: the :class:`RequestContext`.
    :ivar body: the decoded request dict (``None`` for the unsupported-ApiVersions reply).
    """

    __slots__ = ("api", "body", "context", "done", "pieces", "response_size")

    def __init__(self, context, body, api):
        self.context = context
        self.body = body
        self.api = api
        self.pieces = None
        self.response_size = 0
        self.done = False

    @property
    def api_name(self):
        """Kafka's name for the request's API (metric label)."""
        return api_name(self.context.api_key, self.api)


class ProtocolViolation(Exception):
    """The peer broke the protocol; the connection must be closed."""


def pieces_size(pieces):
    """Total size in bytes of a list of bytes-like and :class:`FileRegion` pieces."""
    total = 0
    for piece in pieces:
        if type(piece) is FileRegion:
            total += piece.length
        else:
            total += len(piece) if not isinstance(piece, memoryview) else piece.nbytes
    return total


class ServerConnection:
    """One client connection's protocol state.

    :param codec: a :class:`kafkalite.network.codec.WireCodec`.
    :param max_request_size: ``socket.request.max.bytes``.
    :param client_host: peer address, copied into every context.
    :param client_port: peer port.
    :param listener_name: listener name, copied into every context.
    :param connection_id: connection id, copied into every context.
    """

    def __init__(self, codec, max_request_size, client_host="", client_port=0, listener_name="",
                 connection_id=""):
        self._codec = codec
        self._frames = FrameDecoder(max_request_size)
        self._client_host = client_host
        self._client_port = client_port
        self._listener_name = listener_name
        self._connection_id = connection_id
        self._pending = deque()
        self.closed = False

    @property
    def in_flight(self):
        """Requests received whose responses have not been released yet."""
        return len(self._pending)

    def receive_data(self, data, now):
        """Consume bytes from the peer and return the list of :class:`Request` to handle.

        Requests the connection answers itself (unsupported ApiVersions versions) are
        not returned; their responses come out of :meth:`take_output` in order.

        :param now: the reactor time to stamp on the requests.
        :raises ProtocolViolation: the connection must be closed; nothing more is accepted.
        """
        if self.closed:
            return []
        try:
            frames = self._frames.feed(data)
        except (FrameTooLarge, InvalidFrameSize) as e:
            self.closed = True
            raise ProtocolViolation(str(e)) from e
        requests = []
        for frame in frames:
            request = self._decode(frame, now)
            self._pending.append(request)
            if not request.done:
                requests.append(request)
        return requests

    def _decode(self, frame, now):
        codec = self._codec
        if len(frame) < 8:
            self.closed = True
            raise ProtocolViolation(f"request of {len(frame)} bytes is shorter than a request header")
        api_key, api_version, correlation_id = _HEADER_PREFIX.unpack_from(frame, 0)
        api = codec.apis.get(api_key)
        if api is None:
            self.closed = True
            raise ProtocolViolation(f"unknown api key {api_key}")
        if not api.min_version <= api_version <= api.max_version:
            if api_key == API_VERSIONS_KEY and api_version > api.max_version:
                context = self._context(api_key, api_version, correlation_id, None, now, len(frame))
                request = Request(context, None, api)
                body = unsupported_api_versions_response(correlation_id, api.min_version, api.max_version)
                request.pieces = [size_prefix(len(body)), body]
                request.response_size = len(body)
                request.done = True
                return request
            self.closed = True
            raise ProtocolViolation(f"unsupported version {api_version} of api key {api_key}")
        try:
            header = codec.decode_request_header(frame)
            body = api.decode_request(frame, api_version, header.body_offset)
        except Exception as e:
            self.closed = True
            raise ProtocolViolation(f"malformed request (api key {api_key} v{api_version}): {e!r}") from e
        context = self._context(api_key, api_version, correlation_id, header.client_id, now, len(frame))
        return Request(context, body, api)

    def _context(self, api_key, api_version, correlation_id, client_id, now, frame_size):
        return RequestContext(
            api_key, api_version, correlation_id, client_id, self._client_host, self._client_port,
            self._listener_name, self._connection_id, now, frame_size,
        )

    def complete(self, request, response):
        """Record ``request``'s response: a response dict or :data:`NO_RESPONSE`.

        The response is encoded at once (the response header, the api's body pieces,
        and the int32 size prefix in front). Exceptions from the encoder propagate.
        """
        if request.done:
            raise RuntimeError("request completed twice")
        if response is NO_RESPONSE:
            request.pieces = None
        else:
            context = request.context
            header = self._codec.encode_response_header(context.correlation_id, context.api_key, context.api_version)
            body = request.api.encode_response(response, context.api_version)
            size = len(header) + pieces_size(body)
            pieces = [size_prefix(size), header]
            pieces.extend(body)
            request.pieces = pieces
            request.response_size = size
        request.done = True

    def take_output(self):
        """Return the pieces of every response that may be written now, in order.

        A response is released once it and every response before it are done.
        """
        pending = self._pending
        if not pending or not pending[0].done:
            return []
        out = []
        while pending and pending[0].done:
            pieces = pending.popleft().pieces
            if pieces:
                out.extend(pieces)
        return out

    def close(self):
        """Forget every pending request; later completions are the caller's to ignore."""
        self.closed = True
        self._pending.clear()
