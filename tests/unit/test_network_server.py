"""Unit tests of the broker's network layer: framing, the sans-I/O connection and the
Twisted adapter, with StringTransport and a Clock (no sockets, no real time)."""

import struct
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger

from kafkalite.network.connection import NO_RESPONSE, ProtocolViolation, ServerConnection
from kafkalite.network.framing import FrameDecoder, FrameTooLarge, InvalidFrameSize
from kafkalite.network.server import KafkaServerFactory
from kafkalite.protocol.regions import FileRegion
from tests.unit.test_network_fakes import fake_codec, request_frame, split_frames


def chunked(data, cuts):
    """Split ``data`` at the sorted, de-duplicated positions ``cuts``."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = []
    last = 0
    for point in points + [len(data)]:
        chunks.append(data[last:point])
        last = point
    return chunks


# --- FrameDecoder -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8), st.lists(st.integers(min_value=0), max_size=20))
def test_frames_survive_any_chunking(bodies, cuts):
    """Frames come out whole and in order however the stream is cut into chunks."""
    stream = b"".join(struct.pack(">i", len(b)) + b for b in bodies)
    decoder = FrameDecoder(1000)
    out = []
    for chunk in chunked(stream, cuts):
        out.extend(decoder.feed(chunk))
    assert [bytes(f) for f in out] == bodies
    assert all(type(f) is bytearray for f in out)
    assert decoder.buffered == 0


def test_large_frame_in_many_chunks_is_one_bytearray():
    """A multi-megabyte frame arriving in small chunks is reassembled exactly."""
    body = bytes(range(256)) * (3 * 4096)
    stream = struct.pack(">i", len(body)) + body
    decoder = FrameDecoder(len(body))
    frames = []
    for pos in range(0, len(stream), 1000):
        frames.extend(decoder.feed(stream[pos : pos + 1000]))
    assert len(frames) == 1
    assert frames[0] == body


def test_oversize_and_negative_frames_raise():
    """A declared size over the limit, or negative, is refused before the body arrives."""
    with pytest.raises(FrameTooLarge):
        FrameDecoder(10).feed(struct.pack(">i", 11))
    with pytest.raises(InvalidFrameSize):
        FrameDecoder(10).feed(struct.pack(">i", -1))
    assert FrameDecoder(10).feed(struct.pack(">i", 10)) == []


# --- ServerConnection (sans I/O) ---------------------------------------------------------


def test_connection_decodes_context_and_body():
    """A request yields a context with header fields, peer, listener and size, and its body."""
    conn = ServerConnection(fake_codec(), 1000, "10.0.0.1", 5555, "PLAINTEXT", "c-1")
    frame = request_frame(3, 4, 77, b"hello", client_id="rdkafka")
    (request,) = conn.receive_data(frame, now=12.5)
    ctx = request.context
    assert (ctx.api_key, ctx.api_version, ctx.correlation_id, ctx.client_id) == (3, 4, 77, "rdkafka")
    assert (ctx.client_host, ctx.client_port, ctx.listener_name, ctx.connection_id) == (
        "10.0.0.1", 5555, "PLAINTEXT", "c-1")
    assert ctx.received_at == 12.5
    assert ctx.frame_size == len(frame) - 4
    assert request.body == {"payload": b"hello"}
    assert request.api_name == "Metadata"


def test_connection_releases_responses_in_request_order():
    """A later request completing first waits for the earlier one; NO_RESPONSE is skipped."""
    conn = ServerConnection(fake_codec(), 1000)
    first, second, third = conn.receive_data(
        request_frame(1, 0, 1) + request_frame(0, 3, 2) + request_frame(1, 0, 3), now=0)
    conn.complete(third, {"pieces": [b"third"]})
    assert conn.take_output() == []
    conn.complete(second, NO_RESPONSE)
    assert conn.take_output() == []
    conn.complete(first, {"pieces": [b"first"]})
    out = b"".join(bytes(p) for p in conn.take_output())
    assert split_frames(out) == [struct.pack(">i", 1) + b"first", struct.pack(">i", 3) + b"third"]
    assert conn.in_flight == 0


@pytest.mark.parametrize(
    "frame",
    [
        request_frame(99, 0, 1),  # unknown api key
        request_frame(0, 2, 1),  # Produce below the codec's minimum
        request_frame(3, 12, 1),  # Metadata above the codec's maximum
        request_frame(3, 0, 1, b"BAD body"),  # body does not decode
        struct.pack(">i", 5) + b"\x00\x03\x00\x00\x00",  # shorter than a header
        struct.pack(">i", 9) + b"\x00\x03\x00\x00\x00\x00\x00\x01\x00",  # truncated client id
    ],
)
def test_protocol_violations_raise(frame):
    """Unknown keys, unsupported versions and undecodable requests are violations."""
    conn = ServerConnection(fake_codec(), 1000)
    with pytest.raises(ProtocolViolation):
        conn.receive_data(frame, now=0)
    assert conn.receive_data(request_frame(3, 0, 2), now=0) == []


def test_unknown_api_versions_version_gets_v0_error_body():
    """ApiVersions above our max: header v0 + v0 body, error 35, only the ApiVersions range."""
    conn = ServerConnection(fake_codec(), 1000)
    assert conn.receive_data(request_frame(18, 4, 42, b"\x00whatever"), now=0) == []
    out = b"".join(bytes(p) for p in conn.take_output())
    expected = (
        struct.pack(">i", 42)  # response header v0: correlation id
        + struct.pack(">h", 35)  # error_code UNSUPPORTED_VERSION
        + struct.pack(">i", 1)  # api_keys: int32 array length
        + struct.pack(">hhh", 18, 0, 3)  # api_key, min_version, max_version
    )
    assert out == struct.pack(">i", len(expected)) + expected


def test_api_versions_reply_keeps_its_place_in_order():
    """The connection's own ApiVersions reply waits behind an unanswered earlier request."""
    conn = ServerConnection(fake_codec(), 1000)
    (first,) = conn.receive_data(request_frame(3, 0, 1) + request_frame(18, 9, 2), now=0)
    assert conn.take_output() == []
    conn.complete(first, {"pieces": [b"m"]})
    frames = split_frames(b"".join(bytes(p) for p in conn.take_output()))
    assert [struct.unpack_from(">i", f)[0] for f in frames] == [1, 2]


# --- KafkaServerProtocol with StringTransport ---------------------------------------------


class Recorder:
    """A dispatch function that records requests and answers from a script."""

    def __init__(self, answer=None):
        self.calls = []
        self.answer = answer or (lambda context, request: {"pieces": [request["payload"]]})

    def __call__(self, context, request):
        self.calls.append((context, request))
        return self.answer(context, request)


class FakeMetrics:
    """Records metrics hook calls."""

    def __init__(self):
        self.requests = []
        self.connections = 0

    def observe_request(self, api_name, seconds, request_bytes, response_bytes):
        self.requests.append((api_name, seconds, request_bytes, response_bytes))

    def connection_opened(self, listener):
        self.connections += 1

    def connection_closed(self, listener):
        self.connections -= 1


def connect(dispatch, max_bytes=1000, metrics=None, max_in_flight=100):
    """Build a server protocol on a StringTransport; return (protocol, transport, clock, events)."""
    clock = Clock()
    factory = KafkaServerFactory(clock, dispatch, "PLAINTEXT", max_bytes, metrics=metrics, codec=fake_codec(),
                                 max_in_flight=max_in_flight)
    protocol = factory.buildProtocol(None)
    events = []
    protocol.log = Logger(observer=events.append)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport, clock, events


def responses(transport):
    """The response frames written so far, as (correlation_id, body) pairs."""
    return [(struct.unpack_from(">i", f)[0], f[4:]) for f in split_frames(transport.value())]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=50), min_size=1, max_size=6), st.lists(st.integers(min_value=0), max_size=15))
def test_pipelined_requests_across_chunks_are_answered_in_order(payloads, cuts):
    """Requests cut at arbitrary points are dispatched once each and answered in order."""
    dispatch = Recorder()
    protocol, transport, _, _ = connect(dispatch)
    stream = b"".join(request_frame(1, 0, i, p) for i, p in enumerate(payloads))
    for chunk in chunked(stream, cuts):
        protocol.dataReceived(chunk)
    assert [r["payload"] for _, r in dispatch.calls] == payloads
    assert responses(transport) == list(enumerate(payloads))
    assert not transport.disconnecting


def test_out_of_order_deferreds_are_written_in_order():
    """Deferreds firing in reverse order still produce responses in request order."""
    deferreds = []
    protocol, transport, _, _ = connect(Recorder(lambda c, r: deferreds.append(defer.Deferred()) or deferreds[-1]))
    protocol.dataReceived(b"".join(request_frame(1, 0, i, b"x") for i in range(3)))
    deferreds[2].callback({"pieces": [b"two"]})
    deferreds[1].callback({"pieces": [b"one"]})
    assert transport.value() == b""
    deferreds[0].callback({"pieces": [b"zero"]})
    assert responses(transport) == [(0, b"zero"), (1, b"one"), (2, b"two")]


def test_no_response_is_skipped():
    """An acks=0 produce (NO_RESPONSE) takes no place in the output."""
    def answer(context, request):
        return NO_RESPONSE if context.api_key == 0 else {"pieces": [b"ok"]}

    protocol, transport, _, _ = connect(Recorder(answer))
    protocol.dataReceived(request_frame(0, 3, 1) + request_frame(3, 0, 2) + request_frame(0, 7, 3))
    assert responses(transport) == [(2, b"ok")]


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">i", 1001),  # over socket.request.max.bytes
        request_frame(99, 0, 1),  # unknown api key
        request_frame(3, 99, 1),  # unsupported version
        request_frame(3, 0, 1, b"BAD"),  # garbage body
    ],
)
def test_violations_close_the_connection(data):
    """Oversize frames, unknown keys/versions and garbage close without dispatching."""
    dispatch = Recorder()
    protocol, transport, _, events = connect(dispatch)
    protocol.dataReceived(data + request_frame(3, 0, 2))
    assert transport.disconnecting
    assert dispatch.calls == []
    assert transport.value() == b""
    assert any("closing connection" in e["log_format"] for e in events)


def test_unknown_api_versions_version_is_answered_not_closed():
    """ApiVersions v4 gets the v0 error reply through the protocol and the connection stays open."""
    protocol, transport, _, _ = connect(Recorder())
    protocol.dataReceived(request_frame(18, 4, 9))
    assert responses(transport) == [(9, struct.pack(">hihhh", 35, 1, 18, 0, 3))]
    assert not transport.disconnecting


def test_dispatch_exception_logs_failure_and_closes():
    """A handler raising is logged with log.failure and closes the connection."""
    def answer(context, request):
        raise RuntimeError("boom")

    protocol, transport, _, events = connect(Recorder(answer))
    protocol.dataReceived(request_frame(3, 0, 1) + request_frame(3, 0, 2))
    assert transport.disconnecting
    assert [e["log_failure"].value.args for e in events if "log_failure" in e] == [("boom",)]


def test_failed_deferred_logs_failure_and_closes():
    """A handler's Deferred failing is logged and closes the connection."""
    d = defer.Deferred()
    protocol, transport, _, events = connect(Recorder(lambda c, r: d))
    protocol.dataReceived(request_frame(3, 0, 1))
    d.errback(RuntimeError("late boom"))
    assert transport.disconnecting
    assert [e["log_failure"].value.args for e in events if "log_failure" in e] == [("late boom",)]


def test_unencodable_response_closes():
    """A response the codec cannot encode is logged and closes the connection."""
    protocol, transport, _, events = connect(Recorder(lambda c, r: {"fail": True}))
    protocol.dataReceived(request_frame(3, 0, 1))
    assert transport.disconnecting
    assert any("log_failure" in e for e in events)


def test_disconnect_with_pending_requests_is_clean():
    """Deferreds firing after the client left are ignored: no writes, nothing logged."""
    pending = []
    protocol, transport, _, events = connect(Recorder(lambda c, r: pending.append(defer.Deferred()) or pending[-1]))
    protocol.dataReceived(request_frame(1, 0, 1) + request_frame(1, 0, 2))
    protocol.connectionLost(None)
    transport.clear()
    pending[1].callback({"pieces": [b"late"]})
    pending[0].errback(RuntimeError("also late"))
    assert transport.value() == b""
    assert events == []


def test_fileregion_fallback_writes_the_same_bytes():
    """Without sendfile, a FileRegion response is read and written in place, in order."""
    with tempfile.TemporaryFile() as f:
        data = bytes(range(256)) * 8192
        f.write(data)
        f.flush()
        region = FileRegion(f, 1000, 1_500_000)
        protocol, transport, _, _ = connect(Recorder(lambda c, r: {"pieces": [b"head", region, b"tail"]}))
        protocol.dataReceived(request_frame(1, 11, 5))
        assert responses(transport) == [(5, b"head" + data[1000:1_501_000] + b"tail")]


def test_metrics_hook_called_per_request():
    """observe_request gets the api name, latency from the clock and frame sizes."""
    metrics = FakeMetrics()
    d = defer.Deferred()
    protocol, _, clock, _ = connect(Recorder(lambda c, r: d), metrics=metrics)
    frame = request_frame(3, 0, 1, b"abc")
    protocol.dataReceived(frame)
    clock.advance(0.25)
    d.callback({"pieces": [b"xyz"]})
    assert metrics.requests == [("Metadata", 0.25, len(frame), 4 + 4 + 3)]
    assert metrics.connections == 1
    protocol.connectionLost(None)
    assert metrics.connections == 0


def test_reading_pauses_when_too_many_requests_in_flight():
    """Reading stops at max_in_flight unanswered requests and resumes when they drain."""
    pending = []
    protocol, transport, _, _ = connect(Recorder(lambda c, r: pending.append(defer.Deferred()) or pending[-1]),
                                        max_in_flight=4)
    protocol.dataReceived(b"".join(request_frame(1, 0, i) for i in range(4)))
    assert transport.producerState == "paused"
    for d in pending[:2]:
        d.callback({"pieces": [b""]})
    assert transport.producerState == "producing"


def test_factory_connection_ids_and_close_connections():
    """Connection ids follow Kafka's local-peer-index form; close_connections closes all."""
    clock = Clock()
    factory = KafkaServerFactory(clock, Recorder(), codec=fake_codec())
    transports = []
    for _ in range(2):
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        transports.append(transport)
    ids = sorted(p.connection_id for p in factory.connections)
    assert ids == ["10.0.0.1:12345-192.168.1.1:54321-0", "10.0.0.1:12345-192.168.1.1:54321-1"]
    factory.close_connections()
    assert all(t.disconnecting for t in transports)


def test_non_tcp_transports_get_the_copying_writer():
    """StringTransport (like TLS) is not sendfile-capable: the pread fallback is chosen."""
    from kafkalite.network.writer import TransportWriter, make_writer, sendfile_capable

    transport = StringTransport()
    assert not sendfile_capable(transport)
    assert isinstance(make_writer(transport), TransportWriter)


def test_disconnect_mid_request_drops_the_partial_frame():
    """A client leaving halfway through a request causes no dispatch, write or error."""
    dispatch = Recorder()
    protocol, transport, _, events = connect(dispatch)
    frame = request_frame(3, 0, 1, b"x" * 100)
    protocol.dataReceived(frame[:50])
    protocol.connectionLost(None)
    protocol.dataReceived(frame[50:])
    assert dispatch.calls == [] and transport.value() == b"" and events == []
