"""Our client against our server: a KafkaClientProtocol talking to a KafkaServerProtocol
over an in-memory pump (twisted.test.iosim) and, for handler failures, over a loopback
socket; and the KIP-511 reply to an ApiVersions version we do not know, decoded as a
client would."""

import struct

import pytest_twisted
from twisted.internet import defer, task
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from twisted.test.iosim import connectedServerAndClient

from kafkalite.network.client import KafkaClientProtocol, connect
from kafkalite.network.server import KafkaServerFactory, KafkaServerProtocol
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from tests.support.network import metadata_request, metadata_response

API_VERSIONS_RESPONSE = {
    "error_code": 0,
    "api_keys": [{"api_key": 3, "min_version": 0, "max_version": 11},
                 {"api_key": 18, "min_version": 0, "max_version": 3}],
    "throttle_time_ms": 0,
}

METADATA_RESPONSE = {
    "throttle_time_ms": 0,
    "brokers": [{"node_id": 1, "host": "localhost", "port": 9092, "rack": None}],
    "cluster_id": "abc",
    "controller_id": 1,
    "topics": [{
        "error_code": 0, "name": "orders", "is_internal": False, "topic_authorized_operations": -2147483648,
        "partitions": [{"error_code": 0, "partition_index": 0, "leader_id": 1, "leader_epoch": 3,
                        "replica_nodes": [1], "isr_nodes": [1], "offline_replicas": []}],
    }],
}


def dispatch(context, request):
    """Answer ApiVersions and Metadata with fixed responses, recording the requests."""
    dispatch.seen.append((context.api_key, context.api_version, context.client_id, request))
    return API_VERSIONS_RESPONSE if context.api_key == 18 else METADATA_RESPONSE


def pair():
    """A real-codec client and server joined by an iosim pump."""
    dispatch.seen = []
    clock = Clock()
    factory = KafkaServerFactory(clock, dispatch)
    client, server, pump = connectedServerAndClient(
        lambda: factory.buildProtocol(None), lambda: KafkaClientProtocol(clock, "replica-fetcher-1"))
    return client, server, pump


def test_round_trip_flexible_and_classic_versions():
    """ApiVersions v3 (header v0 reply), Metadata v9 (flexible, header v1) and v1 all decode."""
    client, _, pump = pair()
    got = []
    client.request(18, 3, {"client_software_name": "kafkalite", "client_software_version": "0.1"}).addBoth(
        got.append)
    client.request(3, 9, {"topics": None, "allow_auto_topic_creation": False,
                          "include_topic_authorized_operations": False}).addBoth(got.append)
    client.request(3, 1, {"topics": [{"name": "orders"}]}).addBoth(got.append)
    pump.flush()
    assert [s[:3] for s in dispatch.seen] == [(18, 3, "replica-fetcher-1"), (3, 9, "replica-fetcher-1"),
                                              (3, 1, "replica-fetcher-1")]
    assert dispatch.seen[0][3]["client_software_name"] == "kafkalite"
    assert got[0]["api_keys"] == API_VERSIONS_RESPONSE["api_keys"]
    for response in got[1:]:
        assert response["brokers"][0]["host"] == "localhost"
        assert response["topics"][0]["partitions"][0]["isr_nodes"] == [1]
    assert got[1]["topics"][0]["partitions"][0]["leader_epoch"] == 3


def test_api_versions_v4_gets_kip511_reply_decodable_as_v0():
    """ApiVersions v4 (above our max) is answered with error 35 and our ApiVersions range."""
    factory = KafkaServerFactory(Clock(), dispatch)
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    header = struct.pack(">hhih", 18, 4, 1234, 4) + b"kcat"
    protocol.dataReceived(struct.pack(">i", len(header) + 3) + header + b"\x01\x01\x00")
    reply = transport.value()
    (size, correlation_id) = struct.unpack_from(">ii", reply)
    assert size == len(reply) - 4 and correlation_id == 1234
    body = API_BY_KEY[18].decode_response(reply, 0, 8)
    api = API_BY_KEY[18]
    assert body["error_code"] == 35
    assert body["api_keys"] == [{"api_key": 18, "min_version": api.min_version, "max_version": api.max_version}]
    assert not transport.disconnecting


@pytest_twisted.ensureDeferred
async def test_handler_failure_is_answered_over_a_socket_and_the_connection_serves_on():
    """A handler raising (at once, or later through its Deferred) gets UNKNOWN_SERVER_ERROR (-1)
    on the wire; the next request on the same TCP connection is answered normally."""
    from twisted.internet import reactor

    def fail_later():
        raise RuntimeError("handler bug, later")

    def dispatch(context, request):
        name = request["topics"][0]["name"]
        if name == "boom":
            raise RuntimeError("handler bug")
        if name == "late-boom":
            return task.deferLater(reactor, 0, fail_later)
        return metadata_response(name)

    events = []
    factory = KafkaServerFactory(reactor, dispatch)
    factory.protocol = type("Logged", (KafkaServerProtocol,), {"log": Logger(observer=events.append)})
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = None
    try:
        client = await connect(reactor, "127.0.0.1", port.getHost().port, "e2e-test")
        answers = []
        for name in ("boom", "fine", "late-boom", "still-fine"):
            response = await client.request(ApiKey.METADATA, 9, metadata_request(name), timeout=10)
            topic = response["topics"][0]
            answers.append((topic["name"], topic["error_code"]))
        assert answers == [("boom", -1), ("fine", 0), ("late-boom", -1), ("still-fine", 0)]
        assert client.connected_and_open
        assert len(factory.connections) == 1
        assert [e["log_failure"].value.args[0] for e in events if "log_failure" in e] == [
            "handler bug", "handler bug, later"]
    finally:
        if client is not None:
            await client.close()
        factory.close_connections()
        await port.stopListening()


def test_pipelined_failure_and_success_keep_their_order():
    """A failed request answered later still leaves before the request behind it."""
    late = defer.Deferred()

    def dispatch_with_late_failure(context, request):
        name = request["topics"][0]["name"]
        return late if name == "late" else metadata_response(name)

    factory = KafkaServerFactory(Clock(), dispatch_with_late_failure)
    factory.protocol = type("Quiet", (KafkaServerProtocol,), {"log": Logger(observer=lambda event: None)})
    client, _, pump = connectedServerAndClient(
        lambda: factory.buildProtocol(None), lambda: KafkaClientProtocol(Clock(), "pipeline"))
    got = []
    for name in ("late", "next"):
        client.request(ApiKey.METADATA, 1, metadata_request(name)).addCallback(
            lambda r: got.append((r["topics"][0]["name"], r["topics"][0]["error_code"])))
    pump.flush()
    assert got == []
    late.errback(RuntimeError("slow failure"))
    pump.flush()
    assert got == [("late", -1), ("next", 0)]
