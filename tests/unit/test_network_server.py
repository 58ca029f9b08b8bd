"""Unit tests of the broker's network layer: framing, the sans-I/O connection and the
Twisted adapter, with StringTransport and a Clock (no sockets, no real time). Requests
and responses are real ones (``kafkalite.protocol``), mostly the Metadata echo of
``tests.support.network``."""

import struct
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, LogLevel

from kafkalite.network.connection import NO_RESPONSE, CloseConnection, ProtocolViolation, ServerConnection
from kafkalite.network.framing import FrameDecoder, FrameTooLarge, InvalidFrameSize
from kafkalite.network.server import KafkaServerFactory
from kafkalite.protocol import errors
from kafkalite.protocol.apis import API_BY_KEY, ApiKey, pieces_to_bytes
from kafkalite.protocol.regions import FileRegion
from tests.support.network import (
    METADATA_VERSION,
    FakeMetrics,
    Recorder,
    decode_response,
    metadata_request,
    metadata_response,
    raw_request_frame,
    request_frame,
    split_frames,
)


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

METADATA = ApiKey.METADATA


def metadata_frame(correlation_id, name="t", client_id="test-client"):
    """A Metadata request frame naming ``name``."""
    return request_frame(METADATA, METADATA_VERSION, correlation_id, metadata_request(name), client_id)


def produce_frame(correlation_id, acks=0):
    """A Produce v3 request frame for one empty partition."""
    body = {"acks": acks, "timeout_ms": 100,
            "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": b""}]}]}
    return request_frame(ApiKey.PRODUCE, 3, correlation_id, body)


def metadata_answers(data):
    """Decode Metadata response frames: ``[(correlation_id, (topic name, topic error code)), ...]``."""
    out = []
    for frame in split_frames(data):
        correlation_id, body = decode_response(frame, METADATA, METADATA_VERSION)
        topic = body["topics"][0]
        out.append((correlation_id, (topic["name"], topic["error_code"])))
    return out


def test_connection_decodes_context_and_body():
    """A request yields a context with header fields, peer, listener and size, and its body."""
    conn = ServerConnection(1000, "10.0.0.1", 5555, "PLAINTEXT", "c-1")
    frame = metadata_frame(77, "hello", client_id="rdkafka")
    (request,) = conn.receive_data(frame, now=12.5)
    ctx = request.context
    assert (ctx.api_key, ctx.api_version, ctx.correlation_id, ctx.client_id) == (3, METADATA_VERSION, 77, "rdkafka")
    assert (ctx.client_host, ctx.client_port, ctx.listener_name, ctx.connection_id) == (
        "10.0.0.1", 5555, "PLAINTEXT", "c-1")
    assert ctx.received_at == 12.5
    assert ctx.frame_size == len(frame) - 4
    assert [t["name"] for t in request.body["topics"]] == ["hello"]
    assert request.api_name == "Metadata"


def test_connection_releases_responses_in_request_order():
    """A later request completing first waits for the earlier one; NO_RESPONSE is skipped."""
    conn = ServerConnection(1000)
    first, second, third = conn.receive_data(metadata_frame(1) + produce_frame(2) + metadata_frame(3), now=0)
    conn.complete(third, metadata_response("third"))
    assert conn.take_output() == []
    conn.complete(second, NO_RESPONSE)
    assert conn.take_output() == []
    conn.complete(first, metadata_response("first"))
    out = b"".join(bytes(p) for p in conn.take_output())
    assert metadata_answers(out) == [(1, ("first", 0)), (3, ("third", 0))]
    assert conn.in_flight == 0


@pytest.mark.parametrize(
    "frame",
    [
        raw_request_frame(99, 0, 1),  # unknown api key
        raw_request_frame(0, 10, 1),  # Produce above the declared maximum
        raw_request_frame(3, 12, 1),  # Metadata above the declared maximum
        raw_request_frame(3, 1, 1, b"\x00\x00\x00\x05"),  # body does not decode: 5 topics, none present
        struct.pack(">i", 5) + b"\x00\x03\x00\x00\x00",  # shorter than a header
        struct.pack(">i", 9) + b"\x00\x03\x00\x00\x00\x00\x00\x01\x00",  # truncated client id
    ],
)
def test_protocol_violations_raise(frame):
    """Unknown keys, unsupported versions and undecodable requests are violations."""
    conn = ServerConnection(1000)
    with pytest.raises(ProtocolViolation):
        conn.receive_data(frame, now=0)
    assert conn.receive_data(metadata_frame(2), now=0) == []


def test_unknown_api_versions_version_gets_v0_error_body():
    """ApiVersions above our max: header v0 + v0 body, error 35, only the ApiVersions range."""
    conn = ServerConnection(1000)
    assert conn.receive_data(raw_request_frame(18, 4, 42, b"\x00whatever"), now=0) == []
    out = b"".join(bytes(p) for p in conn.take_output())
    api = API_BY_KEY[ApiKey.API_VERSIONS]
    expected = (
        struct.pack(">i", 42)  # response header v0: correlation id
        + struct.pack(">h", 35)  # error_code UNSUPPORTED_VERSION
        + struct.pack(">i", 1)  # api_keys: int32 array length
        + struct.pack(">hhh", 18, api.min_version, api.max_version)  # api_key, min_version, max_version
    )
    assert out == struct.pack(">i", len(expected)) + expected


def test_api_versions_reply_keeps_its_place_in_order():
    """The connection's own ApiVersions reply waits behind an unanswered earlier request."""
    conn = ServerConnection(1000)
    (first,) = conn.receive_data(metadata_frame(1) + raw_request_frame(18, 9, 2), now=0)
    assert conn.take_output() == []
    conn.complete(first, metadata_response("m"))
    frames = split_frames(b"".join(bytes(p) for p in conn.take_output()))
    assert [struct.unpack_from(">i", f)[0] for f in frames] == [1, 2]


def test_fail_answers_with_the_api_error_response():
    """fail() encodes the API's error response in the request's place; acks=0 produce has none."""
    conn = ServerConnection(1000)
    metadata, produce = conn.receive_data(metadata_frame(1, "broken") + produce_frame(2, acks=0), now=0)
    assert conn.fail(metadata, errors.UnknownServerError.code)
    assert not conn.fail(produce, errors.UnknownServerError.code)
    assert metadata_answers(b"".join(bytes(p) for p in conn.take_output())) == [(1, ("broken", -1))]


# --- KafkaServerProtocol with StringTransport ---------------------------------------------


def connect(dispatch, max_bytes=1000, metrics=None, max_in_flight=100):
    """Build a server protocol on a StringTransport; return (protocol, transport, clock, events)."""
    clock = Clock()
    factory = KafkaServerFactory(clock, dispatch, "PLAINTEXT", max_bytes, metrics=metrics,
                                 max_in_flight=max_in_flight)
    protocol = factory.buildProtocol(None)
    events = []
    protocol.log = Logger(observer=events.append)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport, clock, events


def above_debug(events):
    """The events logged above debug (connections opening and closing are logged at debug)."""
    return [e for e in events if e["log_level"] is not LogLevel.debug]


def failures(events):
    """The exceptions logged with log.failure."""
    return [e["log_failure"].value for e in events if "log_failure" in e]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=6), st.lists(st.integers(min_value=0), max_size=15))
def test_pipelined_requests_across_chunks_are_answered_in_order(names, cuts):
    """Requests cut at arbitrary points are dispatched once each and answered in order."""
    dispatch = Recorder()
    protocol, transport, _, _ = connect(dispatch)
    stream = b"".join(metadata_frame(i, name) for i, name in enumerate(names))
    for chunk in chunked(stream, cuts):
        protocol.dataReceived(chunk)
    assert [r["topics"][0]["name"] for _, r in dispatch.calls] == names
    assert metadata_answers(transport.value()) == [(i, (name, 0)) for i, name in enumerate(names)]
    assert not transport.disconnecting


def test_out_of_order_deferreds_are_written_in_order():
    """Deferreds firing in reverse order still produce responses in request order."""
    deferreds = []
    protocol, transport, _, _ = connect(Recorder(lambda c, r: deferreds.append(defer.Deferred()) or deferreds[-1]))
    protocol.dataReceived(b"".join(metadata_frame(i) for i in range(3)))
    deferreds[2].callback(metadata_response("two"))
    deferreds[1].callback(metadata_response("one"))
    assert transport.value() == b""
    deferreds[0].callback(metadata_response("zero"))
    assert metadata_answers(transport.value()) == [(0, ("zero", 0)), (1, ("one", 0)), (2, ("two", 0))]


def test_no_response_is_skipped():
    """An acks=0 produce (NO_RESPONSE) takes no place in the output."""
    def answer(context, request):
        return NO_RESPONSE if context.api_key == ApiKey.PRODUCE else metadata_response("ok")

    protocol, transport, _, _ = connect(Recorder(answer))
    protocol.dataReceived(produce_frame(1) + metadata_frame(2) + produce_frame(3))
    assert metadata_answers(transport.value()) == [(2, ("ok", 0))]


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">i", 1001),  # over socket.request.max.bytes
        raw_request_frame(99, 0, 1),  # unknown api key
        raw_request_frame(3, 99, 1),  # unsupported version
        raw_request_frame(3, 1, 1, b"\xff\xff"),  # garbage body
    ],
)
def test_violations_close_the_connection(data):
    """Oversize frames, unknown keys/versions and garbage close without dispatching."""
    dispatch = Recorder()
    protocol, transport, _, events = connect(dispatch)
    protocol.dataReceived(data + metadata_frame(2))
    assert transport.disconnecting
    assert dispatch.calls == []
    assert transport.value() == b""
    assert any("closing connection" in e["log_format"] for e in events)


def test_unknown_api_versions_version_is_answered_not_closed():
    """ApiVersions v4 gets the v0 error reply through the protocol and the connection stays open."""
    protocol, transport, _, _ = connect(Recorder())
    protocol.dataReceived(raw_request_frame(18, 4, 9))
    api = API_BY_KEY[ApiKey.API_VERSIONS]
    assert split_frames(transport.value()) == [struct.pack(">ihihhh", 9, 35, 1, 18, api.min_version,
                                                           api.max_version)]
    assert not transport.disconnecting


def raise_for(name, exception):
    """An answer that raises ``exception`` for the topic ``name`` and echoes the others."""
    def answer(context, request):
        topic = request["topics"][0]["name"]
        if topic == name:
            raise exception
        return metadata_response(topic)

    return answer


def test_handler_exception_is_answered_with_unknown_server_error_and_the_connection_kept():
    """A handler raising is logged once with log.failure; its request gets -1, the next one its answer."""
    protocol, transport, _, events = connect(Recorder(raise_for("boom", RuntimeError("boom"))))
    protocol.dataReceived(metadata_frame(1, "boom") + metadata_frame(2, "fine"))
    assert not transport.disconnecting
    assert metadata_answers(transport.value()) == [(1, ("boom", -1)), (2, ("fine", 0))]
    assert [e.args for e in failures(events)] == [("boom",)]


def test_failed_deferred_is_answered_with_unknown_server_error():
    """A handler's Deferred failing later is answered in its place, in order, and logged once."""
    d = defer.Deferred()
    protocol, transport, _, events = connect(Recorder(lambda c, r: d if r["topics"][0]["name"] == "late"
                                                      else metadata_response("next")))
    protocol.dataReceived(metadata_frame(1, "late") + metadata_frame(2, "next"))
    assert transport.value() == b""
    d.errback(RuntimeError("late boom"))
    assert not transport.disconnecting
    assert metadata_answers(transport.value()) == [(1, ("late", -1)), (2, ("next", 0))]
    assert [e.args for e in failures(events)] == [("late boom",)]


def test_kafka_error_raised_by_a_handler_keeps_its_code():
    """Errors.forException: a KafkaError escaping a handler is answered with its own code."""
    protocol, transport, _, _ = connect(Recorder(raise_for("t", errors.NotControllerError("elsewhere"))))
    protocol.dataReceived(metadata_frame(1, "t"))
    assert metadata_answers(transport.value()) == [(1, ("t", errors.NotControllerError.code))]


def test_close_connection_closes_without_a_traceback():
    """CloseConnection (unsupported api, failed acks=0 produce) closes; it is logged as a line, not a failure."""
    protocol, transport, _, events = connect(Recorder(raise_for("t", CloseConnection("unsupported api"))))
    protocol.dataReceived(metadata_frame(1, "t") + metadata_frame(2, "u"))
    assert transport.disconnecting
    assert transport.value() == b""
    assert failures(events) == []
    assert any("closing connection" in e["log_format"] for e in events)


def test_close_connection_from_a_deferred_closes():
    """A Deferred failing with CloseConnection closes as well."""
    d = defer.Deferred()
    protocol, transport, _, _ = connect(Recorder(lambda c, r: d))
    protocol.dataReceived(metadata_frame(1))
    d.errback(CloseConnection("acks=0 produce failed"))
    assert transport.disconnecting


def test_acks_0_produce_failure_closes():
    """An acks=0 produce has no error response (Kafka's getErrorResponse is null): the connection closes."""
    def answer(context, request):
        raise RuntimeError("append failed")

    protocol, transport, _, events = connect(Recorder(answer))
    protocol.dataReceived(produce_frame(1, acks=0))
    assert transport.disconnecting
    assert transport.value() == b""
    assert [e.args for e in failures(events)] == [("append failed",)]


def test_unencodable_response_closes():
    """A response the codec cannot encode is logged and closes the connection."""
    protocol, transport, _, events = connect(Recorder(lambda c, r: {"controller_id": "not an int"}))
    protocol.dataReceived(metadata_frame(1))
    assert transport.disconnecting
    assert failures(events)


def test_disconnect_with_pending_requests_is_clean():
    """Deferreds firing after the client left are ignored: no writes, nothing logged."""
    pending = []
    protocol, transport, _, events = connect(Recorder(lambda c, r: pending.append(defer.Deferred()) or pending[-1]))
    protocol.dataReceived(metadata_frame(1) + metadata_frame(2))
    protocol.connectionLost(None)
    transport.clear()
    pending[1].callback(metadata_response("late"))
    pending[0].errback(RuntimeError("also late"))
    assert transport.value() == b""
    assert above_debug(events) == []


def fetch_response(records):
    """A Fetch response carrying ``records`` (bytes or a FileRegion) for one partition."""
    return {"responses": [{"topic": "t", "partitions": [{"partition_index": 0, "high_watermark": 9,
                                                         "records": records}]}]}


def test_fileregion_fallback_writes_the_same_bytes():
    """Without sendfile, a FileRegion in a Fetch response is read and written in place, in order."""
    with tempfile.TemporaryFile() as f:
        data = bytes(range(256)) * 8192
        f.write(data)
        f.flush()
        region = FileRegion(f, 1000, 1_500_000)
        protocol, transport, _, _ = connect(Recorder(lambda c, r: fetch_response(region)))
        protocol.dataReceived(request_frame(ApiKey.FETCH, 11, 5))
        (frame,) = split_frames(transport.value())
        correlation_id, body = decode_response(frame, ApiKey.FETCH, 11)
        assert correlation_id == 5
        assert bytes(body["responses"][0]["partitions"][0]["records"]) == data[1000:1_501_000]
        assert frame[4:] == pieces_to_bytes(API_BY_KEY[ApiKey.FETCH].encode_response(fetch_response(region), 11))


def test_metrics_hook_called_per_request():
    """observe_request gets the listener, api name and version, latency from the clock and frame sizes."""
    metrics = FakeMetrics()
    d = defer.Deferred()
    protocol, transport, clock, _ = connect(Recorder(lambda c, r: d), metrics=metrics)
    frame = metadata_frame(1, "abc")
    protocol.dataReceived(frame)
    clock.advance(0.25)
    d.callback(metadata_response("xyz"))
    [(listener, api, version, seconds, request_bytes, response_bytes)] = metrics.requests
    assert (api, seconds, request_bytes, response_bytes) == ("Metadata", 0.25, len(frame), len(transport.value()))
    assert listener == protocol.factory.listener_name
    assert version == METADATA_VERSION
    assert metrics.connections == 1
    protocol.connectionLost(None)
    assert metrics.connections == 0


def test_metrics_count_error_responses():
    """A request answered with its error response is observed like any other."""
    metrics = FakeMetrics()
    protocol, transport, _, _ = connect(Recorder(raise_for("t", RuntimeError("boom"))), metrics=metrics)
    protocol.dataReceived(metadata_frame(1, "t"))
    assert [(name, size) for _, name, _, _, _, size in metrics.requests] == [("Metadata", len(transport.value()))]


def test_reading_pauses_when_too_many_requests_in_flight():
    """Reading stops at max_in_flight unanswered requests and resumes when they drain."""
    pending = []
    protocol, transport, _, _ = connect(Recorder(lambda c, r: pending.append(defer.Deferred()) or pending[-1]),
                                        max_in_flight=4)
    protocol.dataReceived(b"".join(metadata_frame(i) for i in range(4)))
    assert transport.producerState == "paused"
    for d in pending[:2]:
        d.callback(metadata_response(""))
    assert transport.producerState == "producing"


def test_factory_connection_ids_and_close_connections():
    """Connection ids follow Kafka's local-peer-index form; close_connections closes all."""
    clock = Clock()
    factory = KafkaServerFactory(clock, Recorder())
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
    frame = metadata_frame(1, "x" * 100)
    protocol.dataReceived(frame[:50])
    protocol.connectionLost(None)
    protocol.dataReceived(frame[50:])
    assert dispatch.calls == [] and transport.value() == b"" and above_debug(events) == []
