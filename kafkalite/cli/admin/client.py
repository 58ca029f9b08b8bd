"""A small blocking Kafka Admin API client for ``kafkalite-admin --bootstrap-server``.

One TCP connection per broker, opened on first use; each connection starts with
ApiVersions and every request then uses the highest version that both the broker
advertises and our codec declares (``kafkalite.protocol.apis.API_BY_KEY``). Requests are
routed as Kafka's AdminClient routes them: admin changes to the controller (found in
Metadata, retried on NOT_CONTROLLER), group requests to the group's coordinator
(FindCoordinator), ListOffsets to each partition's leader.

Every failure becomes an :class:`~kafkalite.cli.admin.output.AdminError`: an unreachable
cluster, a broker that does not serve an API, a protocol error.
"""

import socket
import struct
import time

from kafkalite.cli.admin.output import AdminError, kafka_error
from kafkalite.cli.perf.metadata import read_exactly
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.headers import decode_response_header, encode_request_message
from kafkalite.protocol.types import ProtocolDecodeError

__all__ = ["AdminClient", "Broker", "parse_bootstrap"]

_INT32 = struct.Struct(">i")
NOT_CONTROLLER = 41
COORDINATOR_NOT_AVAILABLE = 15
COORDINATOR_LOAD_IN_PROGRESS = 14
NOT_COORDINATOR = 16
#: Errors worth a short wait and a retry while the cluster settles (a new controller, a loading coordinator).
_SETTLING = {NOT_CONTROLLER, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR}


def parse_bootstrap(text):
    """``host:port[,host:port...]`` → ``[(host, port)]``.

    :raises AdminError: an empty list or an entry without a numeric port.
    """
    servers = []
    for item in (text or "").split(","):
        item = item.strip()
        host, sep, port = item.rpartition(":")
        if not item or not sep or not host or not port.isdigit():
            raise AdminError(f"--bootstrap-server: expected host:port[,host:port...], got {text!r}")
        servers.append((host.strip("[]"), int(port)))
    return servers


class Broker:
    """One broker connection: ApiVersions at connect, then request/response in order.

    :param host: the broker's host; ``port`` its port.
    :param timeout: seconds for connecting and for each response.
    """

    def __init__(self, host, port, timeout, client_id="kafkalite-admin"):
        self.address = f"{host}:{port}"
        self._client_id = client_id
        self._correlation = 0
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as error:
            raise AdminError(f"cannot connect to {self.address}: {error.strerror or error}") from None
        self.versions = {}
        response = self._roundtrip(ApiKey.API_VERSIONS, 0, {})
        if response["error_code"]:
            raise kafka_error(response["error_code"], context=f"ApiVersions to {self.address}")
        self.versions = {entry["api_key"]: (entry["min_version"], entry["max_version"])
                         for entry in response["api_keys"]}

    def close(self):
        self._sock.close()

    def version_for(self, api_key):
        """The highest version both sides speak, or ``None`` when there is none."""
        api = API_BY_KEY.get(api_key)
        advertised = self.versions.get(int(api_key))
        if api is None or advertised is None:
            return None
        high = min(api.max_version, advertised[1])
        low = max(api.min_version, advertised[0])
        return high if high >= low else None

    def request(self, api_key, body, max_version=None):
        """Send ``body`` as the best common version of ``api_key``; returns the decoded response.

        :raises AdminError: the API is not served, the connection broke or timed out.
        """
        version = self.version_for(api_key)
        if version is None:
            name = API_BY_KEY[api_key].name if api_key in API_BY_KEY else ApiKey(api_key).name
            raise AdminError(f"UNSUPPORTED_VERSION: broker {self.address} does not serve {name} "
                             f"(API key {int(api_key)})")
        if max_version is not None:
            version = min(version, max_version)
        return self._roundtrip(api_key, version, body)

    def _roundtrip(self, api_key, version, body):
        self._correlation += 1
        message = encode_request_message(self._correlation, api_key, version, body, self._client_id)
        try:
            self._sock.sendall(_INT32.pack(len(message)) + message)
            frame = read_exactly(self._sock, _INT32.unpack(read_exactly(self._sock, 4))[0])
            correlation_id, offset = decode_response_header(frame, api_key, version)
            if correlation_id != self._correlation:
                raise ProtocolDecodeError(f"correlation id {correlation_id}, expected {self._correlation}")
            return API_BY_KEY[api_key].decode_response(frame, version, offset)
        except TimeoutError:
            raise AdminError(f"timed out waiting for broker {self.address}") from None
        except OSError as error:
            raise AdminError(f"lost the connection to broker {self.address}: {error}") from None
        except ProtocolDecodeError as error:
            raise AdminError(f"broker {self.address} sent an answer that does not decode: {error}") from None


class AdminClient:
    """The cluster as seen through its brokers.

    :param bootstrap: ``host:port[,...]``.
    :param timeout: seconds for each connection and response, and for waiting out a
        controller or coordinator that is moving.
    """

    def __init__(self, bootstrap, timeout=30.0, client_id="kafkalite-admin"):
        self._bootstrap = parse_bootstrap(bootstrap)
        self.timeout = timeout
        self._client_id = client_id
        self._by_address = {}
        self._nodes = {}
        self._metadata = None

    def close(self):
        for broker in self._by_address.values():
            broker.close()
        self._by_address.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # -- connections ---------------------------------------------------------------------

    def _connect(self, host, port):
        key = f"{host}:{port}"
        broker = self._by_address.get(key)
        if broker is None:
            broker = self._by_address[key] = Broker(host, port, self.timeout, self._client_id)
        return broker

    def any_broker(self):
        """A connection to the first bootstrap server that answers.

        :raises AdminError: none of them answers.
        """
        errors = []
        for host, port in self._bootstrap:
            try:
                return self._connect(host, port)
            except AdminError as error:
                errors.append(str(error))
        raise AdminError("cannot reach the cluster: " + "; ".join(errors))

    def node(self, node_id):
        """The connection to broker ``node_id`` (as named in Metadata)."""
        if node_id not in self._nodes:
            self.metadata()
        if node_id not in self._nodes:
            raise AdminError(f"broker {node_id} is not in the cluster's metadata")
        host, port = self._nodes[node_id]
        return self._connect(host, port)

    def supports(self, api_key):
        """Whether the cluster (the bootstrap broker) and this tool both speak ``api_key``."""
        return self.any_broker().version_for(api_key) is not None

    # -- metadata ------------------------------------------------------------------------

    def metadata(self, topics=None):
        """Metadata for ``topics`` (``None``: all); also refreshes the broker address book."""
        response = self.any_broker().request(ApiKey.METADATA, {
            "topics": None if topics is None else [{"name": t} for t in topics],
            "allow_auto_topic_creation": False})
        self._nodes = {b["node_id"]: (b["host"], b["port"]) for b in response["brokers"]}
        self._metadata = response
        return response

    def controller(self):
        """The connection to the controller, waiting (up to the timeout) while there is none."""
        deadline = time.monotonic() + self.timeout
        while True:
            controller_id = self.metadata()["controller_id"]
            if controller_id >= 0:
                return self.node(controller_id)
            if time.monotonic() >= deadline:
                raise AdminError("the cluster has no controller")
            time.sleep(0.2)

    def to_controller(self, api_key, body, error_of=None):
        """Send to the controller; retry on NOT_CONTROLLER until the timeout.

        :param error_of: ``response → error code`` to look for NOT_CONTROLLER (default: every
            ``error_code`` found one level down in the response's lists).
        """
        deadline = time.monotonic() + self.timeout
        while True:
            response = self.controller().request(api_key, body)
            codes = error_of(response) if error_of else _nested_error_codes(response)
            if NOT_CONTROLLER not in codes or time.monotonic() >= deadline:
                return response
            time.sleep(0.2)

    def coordinator(self, group):
        """The connection to ``group``'s coordinator (FindCoordinator, retried while it loads)."""
        deadline = time.monotonic() + self.timeout
        while True:
            response = self.any_broker().request(ApiKey.FIND_COORDINATOR, {"key": group, "key_type": 0})
            code = response["error_code"]
            if code == 0:
                self._nodes[response["node_id"]] = (response["host"], response["port"])
                return self.node(response["node_id"])
            if code not in _SETTLING or time.monotonic() >= deadline:
                raise kafka_error(code, response.get("error_message"), f"finding the coordinator of group {group!r}")
            time.sleep(0.2)

    def to_coordinator(self, group, api_key, body, error_of):
        """Send to ``group``'s coordinator; retry while it moves or loads (``error_of(response)``)."""
        deadline = time.monotonic() + self.timeout
        while True:
            response = self.coordinator(group).request(api_key, body)
            if error_of(response) not in _SETTLING or time.monotonic() >= deadline:
                return response
            time.sleep(0.2)

    def all_brokers(self):
        """Connections to every broker in Metadata, by node id."""
        self.metadata()
        return {node_id: self.node(node_id) for node_id in sorted(self._nodes)}

    # -- offsets ---------------------------------------------------------------------------

    def list_offsets(self, partitions, timestamp):
        """Offsets at ``timestamp`` (-1 latest, -2 earliest, else ms) from each partition's leader.

        :param partitions: iterable of ``(topic, partition)``.
        :returns: ``{(topic, partition): offset}`` (-1 when no record is that late).
        :raises AdminError: a partition has no leader or its leader answers an error.
        """
        partitions = list(partitions)
        metadata = self.metadata(sorted({t for t, _ in partitions}))
        leaders = {(t["name"], p["partition_index"]): p["leader_id"] for t in metadata["topics"]
                   for p in t["partitions"]}
        by_leader = {}
        for tp in partitions:
            leader = leaders.get(tp, -1)
            if leader < 0:
                raise AdminError(f"LEADER_NOT_AVAILABLE: partition {tp[0]}-{tp[1]} has no leader")
            by_leader.setdefault(leader, []).append(tp)
        result = {}
        for leader, tps in by_leader.items():
            topics = {}
            for topic, partition in tps:
                topics.setdefault(topic, []).append({"partition_index": partition, "timestamp": timestamp,
                                                     "current_leader_epoch": -1})
            response = self.node(leader).request(ApiKey.LIST_OFFSETS, {
                "replica_id": -1, "isolation_level": 0,
                "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]})
            for topic in response["topics"]:
                for p in topic["partitions"]:
                    if p["error_code"]:
                        where = f"ListOffsets {topic['name']}-{p['partition_index']}"
                        raise kafka_error(p["error_code"], context=where)
                    result[(topic["name"], p["partition_index"])] = p["offset"]
        return result


def _nested_error_codes(response):
    codes = {response.get("error_code", 0)}
    for value in response.values():
        if isinstance(value, list):
            codes.update(item.get("error_code", 0) for item in value if isinstance(item, dict))
    return codes
