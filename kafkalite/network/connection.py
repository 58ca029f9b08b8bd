"""The server side of one Kafka connection, sans I/O.

Owns the request/response life cycle of a connection: bytes in → decoded requests
out (with their :class:`RequestContext`), responses in → byte pieces out, strictly in
request order. The Twisted protocol in ``server.py`` is a thin adapter around
:class:`ServerConnection`; nothing here does I/O or reads the clock. Headers, the API
table and error responses are ``kafkalite.protocol``'s: this module only applies them.

Rules (Kafka 2.8 ``SocketServer``/``KafkaApis``, reference §0):

- a frame larger than ``socket.request.max.bytes``, an unknown api key, a version
  outside the declared range, or a header/body that does not decode is a protocol
  violation: the connection is closed;
- except ApiVersions with a version above ours: it gets error 35 in a v0 body
  listing only our ApiVersions range, with response header v0 (KIP-511);
- a request whose handling failed is answered with the API's error response
  (:meth:`ServerConnection.fail`), unless the API has none for it (acks=0 produce);
- responses leave in the order their requests arrived, whatever order the handlers
  finish in; a request answered with :data:`NO_RESPONSE` (acks=0 produce) takes no
  place in the output.
"""

from collections import deque
from dataclasses import dataclass

from kafkalite.network.framing import FrameDecoder, FrameTooLarge, InvalidFrameSize, size_prefix
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.error_responses import error_response
from kafkalite.protocol.errors import UnsupportedVersionError
from kafkalite.protocol.headers import UnsupportedRequestError, decode_request_header, encode_response_header
from kafkalite.protocol.regions import FileRegion

__all__ = [
    "NO_RESPONSE",
    "CloseConnection",
    "ProtocolViolation",
    "Request",
    "RequestContext",
    "ServerConnection",
    "pieces_size",
]

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
    :ivar api: the request's :class:`~kafkalite.protocol.apis.Api`.
    :ivar handled_at: reactor time at which the handler returned a Deferred (None: answered at once).
    """

    __slots__ = ("api", "body", "context", "done", "handled_at", "pieces", "response_size")

    def __init__(self, context, body, api):
        self.context = context
        self.body = body
        self.api = api
        self.pieces = None
        self.response_size = 0
        self.done = False
        self.handled_at = None

    @property
    def api_name(self):
        """Kafka's name for the request's API (metric label)."""
        return self.api.name


class ProtocolViolation(Exception):
    """The peer broke the protocol; the connection must be closed."""


class CloseConnection(Exception):
    """Raised by a dispatch function when Kafka closes the connection instead of answering.

    For an API or version the broker does not serve, and for a failed acks=0 produce
    (the producer gets no response, so a closed connection is how it notices).
    """


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

    :param max_request_size: ``socket.request.max.bytes``.
    :param client_host: peer address, copied into every context.
    :param client_port: peer port.
    :param listener_name: listener name, copied into every context.
    :param connection_id: connection id, copied into every context.
    """

    def __init__(self, max_request_size, client_host="", client_port=0, listener_name="", connection_id=""):
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
        try:
            header = decode_request_header(frame)
        except UnsupportedRequestError as e:
            if e.api_key == ApiKey.API_VERSIONS and e.api_version > API_BY_KEY[ApiKey.API_VERSIONS].max_version:
                return self._unsupported_api_versions(e, now, len(frame))
            self.closed = True
            raise ProtocolViolation(str(e)) from e
        except Exception as e:
            self.closed = True
            raise ProtocolViolation(f"malformed request header: {e!r}") from e
        api = API_BY_KEY[header.api_key]
        try:
            body = api.decode_request(frame, header.api_version, header.body_offset)
        except Exception as e:
            self.closed = True
            raise ProtocolViolation(f"malformed request ({api.name} v{header.api_version}): {e!r}") from e
        context = self._context(header.api_key, header.api_version, header.correlation_id, header.client_id, now,
                                len(frame))
        return Request(context, body, api)

    def _unsupported_api_versions(self, error, now, frame_size):
        """Answer an ApiVersions version above ours at once: error 35 in a v0 body, header v0 (KIP-511)."""
        api = API_BY_KEY[ApiKey.API_VERSIONS]
        context = self._context(error.api_key, error.api_version, error.correlation_id, error.client_id, now,
                                frame_size)
        request = Request(context, None, api)
        body = error_response(ApiKey.API_VERSIONS, 0, None, UnsupportedVersionError.code)
        self._encode(request, body, 0)
        request.done = True
        return request

    def _context(self, api_key, api_version, correlation_id, client_id, now, frame_size):
        return RequestContext(
            api_key, api_version, correlation_id, client_id, self._client_host, self._client_port,
            self._listener_name, self._connection_id, now, frame_size,
        )

    def complete(self, request, response):
        """Record ``request``'s response: a response dict or :data:`NO_RESPONSE`.

        The response is encoded at once (the int32 size prefix, the response header
        and the api's body pieces). Exceptions from the encoder propagate.
        """
        if request.done:
            raise RuntimeError("request completed twice")
        if response is NO_RESPONSE:
            request.pieces = None
        else:
            self._encode(request, response, request.context.api_version)
        request.done = True

    def fail(self, request, error_code):
        """Answer ``request`` with its API's error response carrying ``error_code``.

        :return: False when the API has no error response for it (acks=0 produce):
            the caller must close the connection, as Kafka does.
        :raises: whatever the error-response builder or the encoder raises.
        """
        context = request.context
        response = error_response(context.api_key, context.api_version, request.body, error_code)
        if response is None:
            return False
        self.complete(request, response)
        return True

    def _encode(self, request, response, version):
        context = request.context
        header = encode_response_header(context.correlation_id, context.api_key, version)
        pieces = request.api.encode_response(response, version, prefix=header)
        size = pieces_size(pieces)
        request.pieces = [size_prefix(size), *pieces]
        request.response_size = size

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
