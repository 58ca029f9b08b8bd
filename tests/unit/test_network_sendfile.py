"""Loopback test of the zero-copy write path: file regions leave with os.sendfile.

A network-layer test with a real socket (the only way to check sendfile): a
KafkaServerFactory listens on 127.0.0.1, a Twisted client pipelines requests whose
responses carry multi-megabyte FileRegions, and the bytes received must equal the
expected stream exactly, including while the client stops reading (the server's socket
fills, the writer waits for writability, then resumes)."""

import os
import random
import struct
import tempfile

import pytest
import pytest_twisted
from twisted.internet import defer, task
from twisted.internet.protocol import ClientFactory, Protocol

from kafkalite.network.server import KafkaServerFactory
from kafkalite.network.writer import SocketWriter
from kafkalite.protocol.apis import API_BY_KEY, ApiKey, pieces_to_bytes
from kafkalite.protocol.headers import encode_response_header
from kafkalite.protocol.regions import FileRegion
from tests.support.network import request_frame

FETCH_VERSION = 11


def fetch_frame(correlation_id):
    """A Fetch v11 request frame (its body does not matter to these dispatchers)."""
    return request_frame(ApiKey.FETCH, FETCH_VERSION, correlation_id)


def fetch_response(*regions):
    """A Fetch response with one partition per region (or bytes) of records."""
    return {"responses": [{"topic": "t", "partitions": [
        {"partition_index": i, "high_watermark": 1, "records": region} for i, region in enumerate(regions)]}]}


def expected_frame(correlation_id, response):
    """The bytes a client must receive for ``response`` (regions read from their file)."""
    body = encode_response_header(correlation_id, ApiKey.FETCH, FETCH_VERSION) + pieces_to_bytes(
        API_BY_KEY[ApiKey.FETCH].encode_response(response, FETCH_VERSION))
    return struct.pack(">i", len(body)) + body


class Collector(Protocol):
    """Collects every byte received until ``expected`` bytes have arrived."""

    def __init__(self, expected):
        self.expected = expected
        self.chunks = []
        self.received = 0
        self.done = defer.Deferred()

    def dataReceived(self, data):
        self.chunks.append(data)
        self.received += len(data)
        if self.received >= self.expected and not self.done.called:
            self.done.callback(b"".join(self.chunks))


async def wait_for(reactor, condition, timeout=10.0):
    """Wait until ``condition()`` is true, failing after ``timeout`` seconds."""
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise AssertionError("condition not met before the deadline")
        await task.deferLater(reactor, 0.005, lambda: None)


@pytest.fixture
def data_file():
    """A 9 MiB temporary file of seeded random bytes."""
    rng = random.Random(1234)
    data = rng.randbytes(9 * 1024 * 1024)
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        yield f, data


@pytest_twisted.ensureDeferred
async def test_sendfile_moves_regions_exactly_over_loopback(data_file, monkeypatch):
    """≥ 8 MB of pipelined FileRegion responses arrive byte-exact and in order via sendfile."""
    from twisted.internet import reactor

    f, data = data_file
    sendfile_calls = []
    real_sendfile = os.sendfile

    def counting_sendfile(*args):
        sent = real_sendfile(*args)
        sendfile_calls.append(sent)
        return sent

    monkeypatch.setattr(os, "sendfile", counting_sendfile)

    def response_for(correlation_id):
        if correlation_id == 0:
            return fetch_response(FileRegion(f, 0, len(data)))
        return fetch_response(FileRegion(f, 1000 * correlation_id, 300_000), b"", b"t")

    def dispatch(context, request):
        return response_for(context.correlation_id)

    expected = b"".join(expected_frame(cid, response_for(cid)) for cid in range(4))

    factory = KafkaServerFactory(reactor, dispatch, "PLAINTEXT", 1000)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client_transport = None
    try:
        collector = Collector(len(expected))
        client_factory = ClientFactory.forProtocol(lambda: collector)
        connected = defer.Deferred()
        collector.connectionMade = lambda: connected.callback(None)
        reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)
        await connected
        client_transport = collector.transport
        # Stop reading so the server's socket fills and its writer has to wait.
        client_transport.pauseProducing()
        client_transport.write(b"".join(fetch_frame(cid) for cid in range(4)))
        await wait_for(reactor, lambda: any(p._writer.pending > 0 for p in factory.connections))
        (server_protocol,) = factory.connections
        assert isinstance(server_protocol._writer, SocketWriter)
        client_transport.resumeProducing()
        started = reactor.seconds()
        received = await collector.done
        elapsed = reactor.seconds() - started
        assert len(received) == len(expected)
        assert received == expected
        assert len(sendfile_calls) > 1  # the socket filled at least once
        assert sum(sendfile_calls) == len(data) + 3 * 300_000
        assert server_protocol._writer.pending == 0
        print(f"sendfile path: {len(received) / 1e6:.1f} MB in {elapsed:.3f} s")
    finally:
        if client_transport is not None:
            client_transport.loseConnection()
        factory.close_connections()
        await port.stopListening()


async def _blocked_connection(reactor, factory, request_count):
    """Connect a paused client, send requests and wait until the server's writer is blocked."""
    closed = defer.Deferred()
    collector = Collector(1 << 40)
    collector.connectionLost = lambda reason: closed.callback(None)
    connected = defer.Deferred()
    collector.connectionMade = lambda: connected.callback(None)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(lambda: collector))
    await connected
    collector.transport.pauseProducing()
    collector.transport.write(b"".join(fetch_frame(cid) for cid in range(request_count)))
    await wait_for(reactor, lambda: any(p._writer.pending > 0 for p in factory.connections))
    return port, collector, closed


@pytest_twisted.ensureDeferred
async def test_server_close_while_writer_blocked_really_closes(data_file):
    """Closing a connection whose sendfile writer waits for writability drops it at once."""
    from twisted.internet import reactor

    f, data = data_file
    factory = KafkaServerFactory(reactor, lambda c, r: fetch_response(FileRegion(f, 0, len(data))), "PLAINTEXT",
                                 1000)
    port, collector, closed = await _blocked_connection(reactor, factory, 2)
    try:
        factory.close_connections()
        collector.transport.resumeProducing()
        await closed
        await wait_for(reactor, lambda: not factory.connections)
        assert collector.received < 2 * len(data)
    finally:
        collector.transport.abortConnection()
        await port.stopListening()


@pytest_twisted.ensureDeferred
async def test_client_abort_while_writer_blocked_is_clean(data_file):
    """A client vanishing while the writer waits leaves no connection and logs no failure."""
    from twisted.internet import reactor
    from twisted.logger import Logger

    from kafkalite.network.server import KafkaServerProtocol

    f, data = data_file
    events = []
    factory = KafkaServerFactory(reactor, lambda c, r: fetch_response(FileRegion(f, 0, len(data))), "PLAINTEXT",
                                 1000)
    factory.protocol = type("Logged", (KafkaServerProtocol,), {"log": Logger(observer=events.append)})
    port, collector, closed = await _blocked_connection(reactor, factory, 3)
    try:
        collector.transport.abortConnection()
        await closed
        await wait_for(reactor, lambda: not factory.connections)
        assert [e for e in events if "log_failure" in e] == []
    finally:
        await port.stopListening()
