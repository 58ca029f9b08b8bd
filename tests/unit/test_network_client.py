"""Unit tests of the broker-to-broker client: correlation matching, response headers,
connection loss, timeouts with a Clock, and the reconnecting BrokerChannel driven by a
fake endpoint (no sockets, no real time). Requests and responses are real Metadata v1
ones unless a test is about another API's header."""

import struct

import pytest
from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from kafkalite.network.client import BrokerChannel, ChannelClosedError, KafkaClientProtocol, connect
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.types import ProtocolDecodeError
from tests.support.network import FakeEndpoint, metadata_request, metadata_response, request_frame
from tests.support.network import response_frame as real_response_frame

METADATA_VERSION = 1


def send(name):
    """The Metadata v1 request body naming ``name``."""
    return metadata_request(name)


def response_frame(correlation_id, name):
    """A Metadata v1 response frame answering for topic ``name``."""
    return real_response_frame(correlation_id, ApiKey.METADATA, METADATA_VERSION, metadata_response(name))


def sent_frame(correlation_id, name, client_id="kafkalite-test"):
    """The bytes of the Metadata v1 request naming ``name``."""
    return request_frame(ApiKey.METADATA, METADATA_VERSION, correlation_id, send(name), client_id)


def topic(result):
    """The topic name a decoded Metadata response answers for (or the Failure itself)."""
    return [r if not isinstance(r, dict) else r["topics"][0]["name"] for r in result]


def make_protocol(clock=None):
    """A client protocol connected to a StringTransport."""
    protocol = KafkaClientProtocol(clock or Clock(), "kafkalite-test")
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def results(d):
    """Collect a Deferred's outcome (result or Failure) without leaving it unhandled."""
    out = []
    d.addBoth(out.append)
    return out


def test_requests_are_framed_and_responses_matched_by_correlation_id():
    """Two requests get ids 0 and 1; responses arriving reversed reach the right Deferreds."""
    protocol, transport = make_protocol()
    first = results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send("a")))
    second = results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send("b")))
    assert transport.value() == sent_frame(0, "a") + sent_frame(1, "b")
    protocol.dataReceived(response_frame(1, "B"))
    assert first == [] and topic(second) == ["B"]
    data = response_frame(0, "A")
    for i in range(len(data)):  # byte at a time
        protocol.dataReceived(data[i : i + 1])
    assert topic(first) == ["A"]


FETCH_V12_RESPONSE = {"throttle_time_ms": 0, "error_code": 0, "session_id": 0, "responses": [
    {"topic": "t", "partitions": [{"partition_index": 0, "high_watermark": 7, "records": b""}]}]}
API_VERSIONS_RESPONSE = {"error_code": 0, "api_keys": [{"api_key": 18, "min_version": 0, "max_version": 3}]}


def test_flexible_versions_skip_header_tagged_fields_but_api_versions_does_not():
    """Fetch v12 responses carry header v1 (tagged fields); ApiVersions v3 keeps header v0."""
    protocol, _ = make_protocol()
    fetch = results(protocol.request(ApiKey.FETCH, 12, {}))
    api_versions = results(protocol.request(ApiKey.API_VERSIONS, 3, {}))
    # tagged section: 1 field, tag 0, size 2, two bytes
    protocol.dataReceived(real_response_frame(0, ApiKey.FETCH, 12, FETCH_V12_RESPONSE, tagged=b"\x01\x00\x02zz"))
    protocol.dataReceived(real_response_frame(1, ApiKey.API_VERSIONS, 3, API_VERSIONS_RESPONSE))
    assert fetch[0]["responses"][0]["partitions"][0]["high_watermark"] == 7
    assert api_versions[0]["api_keys"] == API_VERSIONS_RESPONSE["api_keys"]


def test_connection_lost_fails_every_pending_request():
    """Pending Deferreds errback with the loss reason; later requests fail at once."""
    protocol, _ = make_protocol()
    pending = [results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send(""))) for _ in range(3)]
    closed = results(protocol.when_closed())
    protocol.connectionLost(Failure(error.ConnectionLost("gone")))
    assert all(isinstance(r[0], Failure) and r[0].check(error.ConnectionLost) for r in pending)
    assert isinstance(closed[0], error.ConnectionLost)
    late = results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send("")))
    assert late[0].check(error.ConnectionLost)


def test_timeout_fails_request_and_late_response_is_dropped():
    """A request times out on the Clock; its late response is ignored, later ones still match."""
    clock = Clock()
    protocol, transport = make_protocol(clock)
    slow = results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send(""), timeout=5))
    clock.advance(4.9)
    assert slow == []
    clock.advance(0.2)
    assert slow[0].check(defer.TimeoutError)
    fast = results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send(""), timeout=5))
    protocol.dataReceived(response_frame(0, "late") + response_frame(1, "ok"))
    assert topic(fast) == ["ok"]
    assert not transport.disconnecting


def test_unknown_correlation_id_closes():
    """A response nobody asked for means the stream is out of sync: close."""
    protocol, transport = make_protocol()
    protocol.dataReceived(response_frame(7, "?"))
    assert transport.disconnecting


def test_no_response_expected_fires_once_written():
    """expect_response=False (acks=0) fires with None right away and expects nothing back."""
    protocol, transport = make_protocol()
    body = {"acks": 0, "timeout_ms": 100, "topic_data": []}
    assert results(protocol.request(ApiKey.PRODUCE, 3, body, expect_response=False)) == [None]
    assert transport.value() == request_frame(ApiKey.PRODUCE, 3, 0, body, "kafkalite-test")
    assert protocol._connection.in_flight == 0


def test_undecodable_response_fails_only_its_request():
    """A response the codec rejects errbacks its own Deferred; the connection stays up."""
    protocol, transport = make_protocol()
    bad = results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send("")))
    good = results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send("")))
    truncated = struct.pack(">ii", 0, 5)  # correlation id 0, then 5 brokers that never come
    protocol.dataReceived(struct.pack(">i", len(truncated)) + truncated + response_frame(1, "fine"))
    assert bad[0].check(ProtocolDecodeError)
    assert topic(good) == ["fine"]
    assert not transport.disconnecting


def test_truncated_header_tag_section_fails_only_its_request():
    """A flexible response whose header tag section runs past the frame fails that request only."""
    protocol, transport = make_protocol()
    bad = results(protocol.request(ApiKey.FETCH, 12, {}))
    good = results(protocol.request(ApiKey.METADATA, METADATA_VERSION, send("")))
    broken = struct.pack(">i", 0) + b"\x01\x00\x09z"  # one tagged field claiming 9 bytes, 1 present
    protocol.dataReceived(struct.pack(">i", len(broken)) + broken + response_frame(1, "fine"))
    assert bad[0].check(ProtocolDecodeError)
    assert topic(good) == ["fine"]
    assert not transport.disconnecting


# --- connect() and BrokerChannel ----------------------------------------------------------


def test_connect_times_out_on_the_clock():
    """connect() errbacks with TimeoutError when the endpoint never answers."""
    clock = Clock()
    endpoint = FakeEndpoint()
    d = results(connect(clock, "b1", 9092, "c", timeout=3, endpoint_factory=endpoint.factory))
    assert endpoint.target == ("b1", 9092, 3)
    clock.advance(3)
    assert d[0].check(defer.TimeoutError)


def channel_with(clock, endpoint, **kwargs):
    """A BrokerChannel on the fake endpoint."""
    return BrokerChannel(clock, "b1", 9092, "controller", endpoint_factory=endpoint.factory, **kwargs)


def channel_send(channel, name=""):
    """Send the Metadata v1 request naming ``name`` on ``channel``; return its results list."""
    return results(channel.send(ApiKey.METADATA, METADATA_VERSION, send(name)))


def test_channel_queues_until_connected_then_sends_in_order():
    """Requests sent before the connection is up go out in order once it is."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint)
    first = channel_send(channel, "1")
    second = channel_send(channel, "2")
    assert len(endpoint.attempts) == 1 and not channel.connected
    protocol, transport = endpoint.succeed()
    assert channel.connected
    assert transport.value() == sent_frame(0, "1", "controller") + sent_frame(1, "2", "controller")
    protocol.dataReceived(response_frame(0, "r1") + response_frame(1, "r2"))
    assert (topic(first), topic(second)) == (["r1"], ["r2"])
    third = channel_send(channel, "3")
    protocol.dataReceived(response_frame(2, "r3"))
    assert topic(third) == ["r3"]


def test_channel_retries_failed_connects_with_growing_backoff():
    """Refused connections are retried after 0.1, 0.2, 0.4 s (capped), then succeed."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint, reconnect_backoff=0.1, reconnect_backoff_max=0.4)
    pending = channel_send(channel, "x")
    for delay in (0.1, 0.2, 0.4, 0.4):
        endpoint.fail()
        clock.advance(delay - 0.01)
        assert endpoint.attempts == []
        clock.advance(0.01)
        assert len(endpoint.attempts) == 1
    protocol, _ = endpoint.succeed()
    protocol.dataReceived(response_frame(0, "ok"))
    assert topic(pending) == ["ok"]


def test_channel_connection_loss_fails_in_flight_and_next_send_reconnects():
    """In-flight requests fail with the loss reason; the next send opens a new connection."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint)
    in_flight = channel_send(channel)
    protocol, _ = endpoint.succeed()
    protocol.connectionLost(Failure(error.ConnectionLost()))
    assert in_flight[0].check(error.ConnectionLost)
    assert not channel.connected and endpoint.attempts == []
    again = channel_send(channel)
    new_protocol, _ = endpoint.succeed()
    new_protocol.dataReceived(response_frame(0, "back"))
    assert topic(again) == ["back"]


def test_channel_request_timeout_covers_queueing():
    """A request queued behind a connection that never comes up times out."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint, request_timeout=2.0, connect_timeout=60.0)
    queued = channel_send(channel)
    clock.advance(2.0)
    assert queued[0].check(defer.TimeoutError)
    _, transport = endpoint.succeed()
    assert transport.value() == b""


def test_channel_close_fails_queued_and_closes_connection():
    """close() fails queued requests with ChannelClosedError and refuses new ones."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint)
    queued = channel_send(channel)
    closed = results(channel.close())
    assert queued[0].check(ChannelClosedError)
    assert closed == [None]
    assert channel_send(channel)[0].check(ChannelClosedError)

    assert endpoint.attempts[0][1].called  # the connection attempt was cancelled

    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint)
    channel.send(ApiKey.METADATA, METADATA_VERSION, send("")).addErrback(lambda f: None)
    protocol, transport = endpoint.succeed()
    closed = results(channel.close())
    assert transport.disconnecting and closed == []
    protocol.connectionLost(Failure(error.ConnectionDone()))
    assert closed == [None]


@pytest.mark.parametrize("version", [0, 3])
def test_api_versions_header_is_v0(version):
    """ApiVersions responses are parsed with header v0 at every version, flexible v3 included."""
    protocol, _ = make_protocol()
    out = results(protocol.request(ApiKey.API_VERSIONS, version, {}))
    frame = real_response_frame(0, ApiKey.API_VERSIONS, version, API_VERSIONS_RESPONSE)
    protocol.dataReceived(frame)
    assert out[0]["api_keys"] == API_VERSIONS_RESPONSE["api_keys"]
