"""FakeKafkaCluster: brokers as in-memory sockets speaking the real wire protocol, for Admin API client tests.

``kafkalite-admin``'s client opens sockets with ``socket.create_connection``; :meth:`FakeKafkaCluster.install`
replaces that (via ``monkeypatch``) so each connection goes to a :class:`FakeBrokerSocket`. A socket
decodes every request frame with our codec (header and body), checks that every key of the body is
a field the API's schema declares (a misspelt field would otherwise be silently encoded as its
default), passes the decoded request to the test's handler for that API key, and frames the
handler's answer with our codec for the client to read. ApiVersions is answered from the handlers
present (``versions`` may cap a key), so "the broker does not serve X" is a handler left out.

APIs our protocol package does not declare yet can be given as ``extra_apis`` (``Api`` objects built
in the test from Kafka's JSON); they are put into ``API_BY_KEY`` for the test only.
"""

import struct

from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.headers import decode_request_header, encode_response_frame
from kafkalite.protocol.schema import StructType

__all__ = ["FakeBrokerSocket", "FakeKafkaCluster"]

_INT32 = struct.Struct(">i")


def unknown_fields(struct_type, value, where="body"):
    """Keys of ``value`` (recursively) that ``struct_type`` does not declare, as dotted paths."""
    names = {fld.name: fld for fld in struct_type.fields}
    problems = []
    for key, item in value.items():
        fld = names.get(key)
        if fld is None:
            problems.append(f"{where}.{key}")
        elif isinstance(fld.type, StructType) and item is not None:
            for element in (item if fld.type.is_array else [item]):
                problems += unknown_fields(fld.type, element, f"{where}.{key}")
    return problems


class FakeBrokerSocket:
    """One connection to a fake broker: ``sendall`` handles whole request frames, ``recv`` returns answers."""

    def __init__(self, cluster, node_id):
        self._cluster = cluster
        self.node_id = node_id
        self._out = bytearray()

    def sendall(self, data):
        size = _INT32.unpack_from(data, 0)[0]
        frame = memoryview(bytes(data[4:4 + size]))
        header = decode_request_header(frame)
        api = API_BY_KEY[header.api_key]
        self._cluster.sent.append((self.node_id, ApiKey(header.api_key), self._cluster.last_body))
        body = api.decode_request(frame, header.api_version, header.body_offset)
        if header.api_key == ApiKey.API_VERSIONS:
            response = {"error_code": 0, "api_keys": self._cluster.api_versions()}
        else:
            response = self._cluster.handlers[header.api_key](self.node_id, body)
        pieces, _ = encode_response_frame(header.correlation_id, header.api_key, header.api_version, response)
        self._out += b"".join(bytes(p) for p in pieces)

    def recv(self, count):
        chunk = bytes(self._out[:count])
        del self._out[:count]
        return chunk

    def close(self):
        pass


class FakeKafkaCluster:
    """Brokers ``1..n`` at ``fake:<9090+id>``; ``handlers[api_key](node_id, request) -> response``.

    :ivar sent: ``(node_id, ApiKey, request body as the client built it)`` of every request.
    """

    def __init__(self, handlers, brokers=3, versions=None, extra_apis=()):
        self.handlers = dict(handlers)
        self.brokers = list(range(1, brokers + 1))
        self.versions = dict(versions or {})
        self.extra_apis = list(extra_apis)
        self.sent = []
        self.last_body = None

    def api_versions(self):
        keys = set(self.handlers) | {ApiKey.API_VERSIONS}
        entries = []
        for key in sorted(keys):
            api = API_BY_KEY[key]
            low, high = self.versions.get(key, (api.min_version, api.max_version))
            entries.append({"api_key": int(key), "min_version": low, "max_version": high})
        return entries

    def install(self, monkeypatch):
        """Route ``kafkalite.cli.admin.client``'s connections here; add ``extra_apis`` to the registry."""
        import kafkalite.cli.admin.client as client_module
        from kafkalite.protocol import headers

        for api in self.extra_apis:
            monkeypatch.setitem(API_BY_KEY, api.key, api)

        def connect(address, timeout=None):
            host, port = address
            node_id = port - 9090
            if host != "fake" or node_id not in self.brokers:
                raise ConnectionRefusedError(111, "Connection refused")
            return FakeBrokerSocket(self, node_id)

        original = headers.encode_request_message

        def encode_and_check(correlation_id, api_key, api_version, body, client_id=None):
            problems = unknown_fields(API_BY_KEY[api_key].request.struct, body)
            assert not problems, f"{ApiKey(api_key).name} request with undeclared fields {problems}"
            self.last_body = body
            return original(correlation_id, api_key, api_version, body, client_id)

        monkeypatch.setattr(client_module.socket, "create_connection", connect)
        monkeypatch.setattr(client_module, "encode_request_message", encode_and_check)
        return self

    @property
    def bootstrap(self):
        return "fake:9091"

    def requests(self, api_key):
        """The request bodies of ``api_key`` sent so far, with the broker each went to."""
        return [(node, body) for node, key, body in self.sent if key == api_key]
