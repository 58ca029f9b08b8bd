"""Test doubles and wire helpers for the network layer's unit tests.

The network layer speaks the real protocol (``kafkalite.protocol``) in these tests
too, so frames are built and read with the real headers and schemas:

- :func:`request_frame` / :func:`raw_request_frame`: a size-prefixed request, encoded
  from a body dict or hand-made after a v1 header (for malformed bodies);
- :func:`response_frame`, :func:`split_frames`, :func:`decode_response`: responses
  as a broker writes them and as a test reads them back;
- :func:`metadata_request` / :func:`metadata_response`: a small echo vocabulary
  (Metadata v4, classic encoding) whose topic name tells requests apart.

The doubles, each standing for one interface:

- :class:`Recorder` is the broker's ``dispatch(context, request)`` callable
  (``KafkaApis.dispatch``): it records every call and answers from a script;
- :class:`FakeMetrics` is the metrics hook of ``KafkaServerFactory``
  (:class:`kafkalite.metrics.BrokerMetrics`: ``observe_request``,
  ``connection_opened``, ``connection_closed``);
- :class:`FakeEndpoint` is the ``endpoint_factory`` of ``connect``/``BrokerChannel``
  and the ``IStreamClientEndpoint`` it returns: connection attempts wait until the
  test completes or refuses them.
"""

import struct

from twisted.internet import defer, error
from twisted.internet.testing import StringTransport

from kafkalite.protocol.apis import API_BY_KEY, pieces_to_bytes
from kafkalite.protocol.headers import decode_response_header, encode_request_message, encode_response_header

__all__ = [
    "METADATA_VERSION",
    "FakeEndpoint",
    "FakeMetrics",
    "Recorder",
    "decode_response",
    "metadata_request",
    "metadata_response",
    "raw_request_frame",
    "request_frame",
    "response_frame",
    "split_frames",
]

_INT32 = struct.Struct(">i")

#: The Metadata version of the echo vocabulary: classic encoding, response header v0.
METADATA_VERSION = 4


def request_frame(api_key, api_version, correlation_id, body=None, client_id="test-client"):
    """A whole size-prefixed request: the header the version uses, then ``body`` (a dict) encoded."""
    message = encode_request_message(correlation_id, api_key, api_version, body or {}, client_id)
    return _INT32.pack(len(message)) + message


def raw_request_frame(api_key, api_version, correlation_id, payload=b"", client_id="test-client"):
    """A size-prefixed request with a v1 header (int16 key, int16 version, int32 id, client id) and raw ``payload``."""
    raw = client_id.encode()
    body = struct.pack(">hhih", api_key, api_version, correlation_id, len(raw)) + raw + payload
    return _INT32.pack(len(body)) + body


def response_frame(correlation_id, api_key, api_version, body, tagged=None):
    """A size-prefixed response; ``tagged`` replaces a v1 header's empty tag section with raw bytes."""
    header = encode_response_header(correlation_id, api_key, api_version)
    if tagged is not None:
        assert header.endswith(b"\x00"), "only a v1 response header has a tagged-field section"
        header = header[:-1] + tagged
    payload = header + pieces_to_bytes(API_BY_KEY[api_key].encode_response(body, api_version))
    return _INT32.pack(len(payload)) + payload


def split_frames(data):
    """Split size-prefixed frames from ``data`` into a list of bodies (all of ``data`` must be frames)."""
    frames = []
    pos = 0
    while pos < len(data):
        (size,) = _INT32.unpack_from(data, pos)
        frames.append(bytes(data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    assert pos == len(data)
    return frames


def decode_response(frame, api_key, api_version):
    """Decode one response frame (without its size prefix); return ``(correlation_id, body dict)``."""
    correlation_id, offset = decode_response_header(frame, api_key, api_version)
    return correlation_id, API_BY_KEY[api_key].decode_response(frame, api_version, offset)


def metadata_request(name):
    """A Metadata request body naming one topic."""
    return {"topics": [{"name": name}], "allow_auto_topic_creation": False}


def metadata_response(name, error_code=0):
    """A Metadata response body answering for one topic."""
    return {"brokers": [], "controller_id": 1, "cluster_id": "test",
            "topics": [{"error_code": error_code, "name": name, "is_internal": False, "partitions": []}]}


class Recorder:
    """A dispatch function that records ``(context, request)`` and answers with ``answer(context, request)``.

    The default answer echoes a Metadata request's first topic name in a Metadata response.
    """

    def __init__(self, answer=None):
        self.calls = []
        self.answer = answer or (lambda context, request: metadata_response(request["topics"][0]["name"]))

    def __call__(self, context, request):
        self.calls.append((context, request))
        return self.answer(context, request)


class FakeMetrics:
    """Records the metrics hook calls: ``requests`` as tuples, ``connections`` as a count of open ones."""

    def __init__(self):
        self.requests = []
        self.connections = 0

    def observe_request(self, listener, api_name, api_version, seconds, request_bytes, response_bytes):
        self.requests.append((listener, api_name, api_version, seconds, request_bytes, response_bytes))

    def connection_opened(self, listener):
        self.connections += 1

    def connection_closed(self, listener):
        self.connections -= 1


class FakeEndpoint:
    """An endpoint whose connection attempts the test completes (:meth:`succeed`) or refuses (:meth:`fail`).

    Pass :meth:`factory` as ``endpoint_factory``; ``target`` records its last arguments.
    """

    def __init__(self):
        self.attempts = []
        self.transports = []
        self.target = None

    def factory(self, reactor, host, port, timeout):
        """The ``endpoint_factory`` to pass to ``connect``/``BrokerChannel``."""
        self.target = (host, port, timeout)
        return self

    def connect(self, protocol_factory):
        """Record the attempt; return its Deferred."""
        d = defer.Deferred()
        self.attempts.append((protocol_factory, d))
        return d

    def succeed(self):
        """Complete the oldest attempt over a StringTransport; return ``(protocol, transport)``."""
        protocol_factory, d = self.attempts.pop(0)
        protocol = protocol_factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.transports.append(transport)
        d.callback(protocol)
        return protocol, transport

    def fail(self):
        """Refuse the oldest attempt (``ConnectionRefusedError``)."""
        _, d = self.attempts.pop(0)
        d.errback(error.ConnectionRefusedError())
