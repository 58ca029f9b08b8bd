"""Unit tests of the broker-to-broker client: correlation matching, response headers,
connection loss, timeouts with a Clock, and the reconnecting BrokerChannel driven by a
fake endpoint (no sockets, no real time)."""

import struct

import pytest
from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from kafkalite.network.client import BrokerChannel, ChannelClosedError, KafkaClientProtocol, connect
from tests.unit.test_network_fakes import fake_codec, request_frame


def response_frame(correlation_id, payload, tagged=b""):
    """A size-prefixed response: header v0, or v1 when ``tagged`` (the raw tag section) is given."""
    body = struct.pack(">i", correlation_id) + tagged + payload
    return struct.pack(">i", len(body)) + body


def make_protocol(clock=None):
    """A client protocol connected to a StringTransport."""
    protocol = KafkaClientProtocol(clock or Clock(), "kafkalite-test", codec=fake_codec())
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
    first = results(protocol.request(3, 1, {"payload": b"a"}))
    second = results(protocol.request(3, 1, {"payload": b"b"}))
    assert transport.value() == request_frame(3, 1, 0, b"a", "kafkalite-test") + request_frame(
        3, 1, 1, b"b", "kafkalite-test")
    protocol.dataReceived(response_frame(1, b"B"))
    assert first == [] and second == [{"payload": b"B"}]
    data = response_frame(0, b"A")
    for i in range(len(data)):  # byte at a time
        protocol.dataReceived(data[i : i + 1])
    assert first == [{"payload": b"A"}]


def test_flexible_versions_skip_header_tagged_fields_but_api_versions_does_not():
    """Fetch v12 responses carry header v1 (tagged fields); ApiVersions v3 keeps header v0."""
    protocol, _ = make_protocol()
    fetch = results(protocol.request(1, 12, {"payload": b""}))
    api_versions = results(protocol.request(18, 3, {"payload": b""}))
    # tagged section: 1 field, tag 0, size 2, two bytes
    protocol.dataReceived(response_frame(0, b"fetch", tagged=b"\x01\x00\x02zz"))
    protocol.dataReceived(response_frame(1, b"\x00versions"))
    assert fetch == [{"payload": b"fetch"}]
    assert api_versions == [{"payload": b"\x00versions"}]


def test_connection_lost_fails_every_pending_request():
    """Pending Deferreds errback with the loss reason; later requests fail at once."""
    protocol, _ = make_protocol()
    pending = [results(protocol.request(3, 1, {"payload": b""})) for _ in range(3)]
    closed = results(protocol.when_closed())
    protocol.connectionLost(Failure(error.ConnectionLost("gone")))
    assert all(isinstance(r[0], Failure) and r[0].check(error.ConnectionLost) for r in pending)
    assert isinstance(closed[0], error.ConnectionLost)
    late = results(protocol.request(3, 1, {"payload": b""}))
    assert late[0].check(error.ConnectionLost)


def test_timeout_fails_request_and_late_response_is_dropped():
    """A request times out on the Clock; its late response is ignored, later ones still match."""
    clock = Clock()
    protocol, transport = make_protocol(clock)
    slow = results(protocol.request(3, 1, {"payload": b""}, timeout=5))
    clock.advance(4.9)
    assert slow == []
    clock.advance(0.2)
    assert slow[0].check(defer.TimeoutError)
    fast = results(protocol.request(3, 1, {"payload": b""}, timeout=5))
    protocol.dataReceived(response_frame(0, b"late") + response_frame(1, b"ok"))
    assert fast == [{"payload": b"ok"}]
    assert not transport.disconnecting


def test_unknown_correlation_id_closes():
    """A response nobody asked for means the stream is out of sync: close."""
    protocol, transport = make_protocol()
    protocol.dataReceived(response_frame(7, b"?"))
    assert transport.disconnecting


def test_no_response_expected_fires_once_written():
    """expect_response=False (acks=0) fires with None right away and expects nothing back."""
    protocol, transport = make_protocol()
    assert results(protocol.request(0, 3, {"payload": b"x"}, expect_response=False)) == [None]
    assert transport.value() == request_frame(0, 3, 0, b"x", "kafkalite-test")
    assert protocol._connection.in_flight == 0


def test_undecodable_response_fails_only_its_request():
    """A response the codec rejects errbacks its own Deferred; the connection stays up."""
    protocol, transport = make_protocol()
    bad = results(protocol.request(3, 1, {"payload": b""}))
    good = results(protocol.request(3, 1, {"payload": b""}))
    protocol.dataReceived(response_frame(0, b"BAD") + response_frame(1, b"fine"))
    assert bad[0].check(ValueError)
    assert good == [{"payload": b"fine"}]
    assert not transport.disconnecting


# --- connect() and BrokerChannel ----------------------------------------------------------


class FakeEndpoint:
    """An endpoint whose connection attempts the test completes or fails by hand."""

    def __init__(self):
        self.attempts = []
        self.transports = []

    def factory(self, reactor, host, port, timeout):
        """The endpoint_factory to pass to connect/BrokerChannel."""
        self.target = (host, port, timeout)
        return self

    def connect(self, protocol_factory):
        """Record the attempt; return its Deferred."""
        d = defer.Deferred()
        self.attempts.append((protocol_factory, d))
        return d

    def succeed(self):
        """Complete the oldest attempt over a StringTransport; return (protocol, transport)."""
        protocol_factory, d = self.attempts.pop(0)
        protocol = protocol_factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.transports.append(transport)
        d.callback(protocol)
        return protocol, transport

    def fail(self):
        """Fail the oldest attempt with ConnectionRefused."""
        _, d = self.attempts.pop(0)
        d.errback(error.ConnectionRefusedError())


def test_connect_times_out_on_the_clock():
    """connect() errbacks with TimeoutError when the endpoint never answers."""
    clock = Clock()
    endpoint = FakeEndpoint()
    d = results(connect(clock, "b1", 9092, "c", timeout=3, codec=fake_codec(), endpoint_factory=endpoint.factory))
    assert endpoint.target == ("b1", 9092, 3)
    clock.advance(3)
    assert d[0].check(defer.TimeoutError)


def channel_with(clock, endpoint, **kwargs):
    """A BrokerChannel on the fake endpoint."""
    return BrokerChannel(clock, "b1", 9092, "controller", codec=fake_codec(), endpoint_factory=endpoint.factory,
                         **kwargs)


def test_channel_queues_until_connected_then_sends_in_order():
    """Requests sent before the connection is up go out in order once it is."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint)
    first = results(channel.send(3, 1, {"payload": b"1"}))
    second = results(channel.send(3, 1, {"payload": b"2"}))
    assert len(endpoint.attempts) == 1 and not channel.connected
    protocol, transport = endpoint.succeed()
    assert channel.connected
    assert transport.value() == request_frame(3, 1, 0, b"1", "controller") + request_frame(3, 1, 1, b"2", "controller")
    protocol.dataReceived(response_frame(0, b"r1") + response_frame(1, b"r2"))
    assert (first, second) == ([{"payload": b"r1"}], [{"payload": b"r2"}])
    third = results(channel.send(3, 1, {"payload": b"3"}))
    protocol.dataReceived(response_frame(2, b"r3"))
    assert third == [{"payload": b"r3"}]


def test_channel_retries_failed_connects_with_growing_backoff():
    """Refused connections are retried after 0.1, 0.2, 0.4 s (capped), then succeed."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint, reconnect_backoff=0.1, reconnect_backoff_max=0.4)
    pending = results(channel.send(3, 1, {"payload": b"x"}))
    for delay in (0.1, 0.2, 0.4, 0.4):
        endpoint.fail()
        clock.advance(delay - 0.01)
        assert endpoint.attempts == []
        clock.advance(0.01)
        assert len(endpoint.attempts) == 1
    protocol, _ = endpoint.succeed()
    protocol.dataReceived(response_frame(0, b"ok"))
    assert pending == [{"payload": b"ok"}]


def test_channel_connection_loss_fails_in_flight_and_next_send_reconnects():
    """In-flight requests fail with the loss reason; the next send opens a new connection."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint)
    in_flight = results(channel.send(3, 1, {"payload": b""}))
    protocol, _ = endpoint.succeed()
    protocol.connectionLost(Failure(error.ConnectionLost()))
    assert in_flight[0].check(error.ConnectionLost)
    assert not channel.connected and endpoint.attempts == []
    again = results(channel.send(3, 1, {"payload": b""}))
    new_protocol, _ = endpoint.succeed()
    new_protocol.dataReceived(response_frame(0, b"back"))
    assert again == [{"payload": b"back"}]


def test_channel_request_timeout_covers_queueing():
    """A request queued behind a connection that never comes up times out."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint, request_timeout=2.0, connect_timeout=60.0)
    queued = results(channel.send(3, 1, {"payload": b""}))
    clock.advance(2.0)
    assert queued[0].check(defer.TimeoutError)
    _, transport = endpoint.succeed()
    assert transport.value() == b""


def test_channel_close_fails_queued_and_closes_connection():
    """close() fails queued requests with ChannelClosedError and refuses new ones."""
    clock = Clock()
    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint)
    queued = results(channel.send(3, 1, {"payload": b""}))
    closed = results(channel.close())
    assert queued[0].check(ChannelClosedError)
    assert closed == [None]
    assert results(channel.send(3, 1, {"payload": b""}))[0].check(ChannelClosedError)

    assert endpoint.attempts[0][1].called  # the connection attempt was cancelled

    endpoint = FakeEndpoint()
    channel = channel_with(clock, endpoint)
    channel.send(3, 1, {"payload": b""}).addErrback(lambda f: None)
    protocol, transport = endpoint.succeed()
    closed = results(channel.close())
    assert transport.disconnecting and closed == []
    protocol.connectionLost(Failure(error.ConnectionDone()))
    assert closed == [None]


@pytest.mark.parametrize("version", [0, 3])
def test_api_versions_header_is_v0(version):
    """ApiVersions responses are parsed with header v0 at every version."""
    protocol, _ = make_protocol()
    out = results(protocol.request(18, version, {"payload": b""}))
    protocol.dataReceived(response_frame(0, b"\x00\x00"))
    assert out == [{"payload": b"\x00\x00"}]
