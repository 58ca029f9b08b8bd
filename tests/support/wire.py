"""A blocking Kafka-protocol client for tests that need exact bytes on the wire.

Real clients cover the happy paths; this one sends what real clients never
would (garbage, truncated frames, bad CRCs, unknown versions) and reads the
broker's raw answers with our own codec.
"""

import socket
import struct
import time

from kafkalite.cli.perf.metadata import read_exactly
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.headers import decode_response_header, encode_request_message

_INT32 = struct.Struct(">i")
NOT_CONTROLLER = 41


class WireClient:
    """One TCP connection to a broker.

    :param address: ``"host:port"``.
    """

    def __init__(self, address, timeout=10.0):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self._correlation = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, api_key, version, body, client_id="wire-test"):
        """Send a request; returns its correlation id."""
        self._correlation += 1
        message = encode_request_message(self._correlation, api_key, version, body, client_id)
        self.sock.sendall(_INT32.pack(len(message)) + message)
        return self._correlation

    def read_frame(self):
        """Read one response frame; raises ConnectionError when the broker closed the connection."""
        size = _INT32.unpack(read_exactly(self.sock, 4))[0]
        return read_exactly(self.sock, size)

    def receive(self, api_key, version, correlation_id=None):
        frame = self.read_frame()
        got, offset = decode_response_header(frame, api_key, version)
        if correlation_id is not None:
            assert got == correlation_id, "response out of order: %d != %d" % (got, correlation_id)
        return API_BY_KEY[api_key].decode_response(frame, version, offset)

    def request(self, api_key, version, body):
        correlation_id = self.send(api_key, version, body)
        return self.receive(api_key, version, correlation_id)

    def is_closed_by_peer(self, timeout=10.0):
        """True once the broker has closed this connection (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        try:
            while time.monotonic() < deadline:
                try:
                    data = self.sock.recv(65536)
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    return True
                if not data:
                    return True
            return False
        finally:
            self.sock.settimeout(10.0)


def create_topic(address, topic, partitions=1, configs=None, retry_not_controller_s=30.0):
    """CreateTopics v4 to ``address``; retries NOT_CONTROLLER (41) like a client does while the
    broker is still winning the controller election. Returns the topic's result entry."""
    deadline = time.monotonic() + retry_not_controller_s
    while True:
        with WireClient(address) as client:
            response = client.request(ApiKey.CREATE_TOPICS, 4, {"topics": [{
                "name": topic, "num_partitions": partitions, "replication_factor": 1, "assignments": [],
                "configs": [{"name": k, "value": v} for k, v in (configs or {}).items()]}],
                "timeout_ms": 30000, "validate_only": False})
        result = response["topics"][0]
        if result["error_code"] != NOT_CONTROLLER or time.monotonic() >= deadline:
            return result
        time.sleep(0.1)


def produce(address, topic, partition, records, version=8, acks=1):
    with WireClient(address) as client:
        response = client.request(ApiKey.PRODUCE, version, {
            "transactional_id": None, "acks": acks, "timeout_ms": 10000,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}]})
    return response["responses"][0]["partition_responses"][0]


def list_offset(address, topic, partition=0, timestamp=-1, current_leader_epoch=-1):
    """The ListOffsets v5 result for one partition: ``{"error_code", "offset", "timestamp", ...}``."""
    with WireClient(address) as client:
        response = client.request(ApiKey.LIST_OFFSETS, 5, {"replica_id": -1, "isolation_level": 0, "topics": [
            {"name": topic, "partitions": [{"partition_index": partition, "current_leader_epoch": current_leader_epoch,
                                            "timestamp": timestamp}]}]})
    return response["topics"][0]["partitions"][0]


def latest_offset(address, topic, partition=0, timestamp=-1):
    result = list_offset(address, topic, partition, timestamp)
    assert result["error_code"] == 0, result
    return result["offset"]


def is_led_by(address, topic, partition=0):
    """True once the broker at ``address`` serves ``topic``-``partition`` as its leader.

    CreateTopics answers once the metadata names leaders; the leaders themselves may
    still be applying their LeaderAndIsr for a moment.
    """
    return list_offset(address, topic, partition)["error_code"] == 0
