"""The API registry: ``ApiKey``, ``Api`` (one per API key) and ``API_BY_KEY``.

Owns the binding between an API key, its request/response ``schema.Message``
declarations (in the sibling modules) and the compiled codecs. Every version in
the declared range is compiled once, at import, into list-indexed closures, so
``decode_request(buf, version)`` costs one list lookup before decoding.
"""

from enum import IntEnum

from kafkalite.protocol.codec import compile_decoder, compile_encoder
from kafkalite.protocol.errors import UnsupportedVersionError
from kafkalite.protocol.regions import FileRegion

__all__ = ["API_BY_KEY", "Api", "ApiKey", "pieces_size", "pieces_to_bytes", "register"]


class ApiKey(IntEnum):
    """Kafka API keys (org.apache.kafka.common.protocol.ApiKeys)."""

    PRODUCE = 0
    FETCH = 1
    LIST_OFFSETS = 2
    METADATA = 3
    LEADER_AND_ISR = 4
    STOP_REPLICA = 5
    UPDATE_METADATA = 6
    CONTROLLED_SHUTDOWN = 7
    OFFSET_COMMIT = 8
    OFFSET_FETCH = 9
    FIND_COORDINATOR = 10
    JOIN_GROUP = 11
    HEARTBEAT = 12
    LEAVE_GROUP = 13
    SYNC_GROUP = 14
    DESCRIBE_GROUPS = 15
    LIST_GROUPS = 16
    SASL_HANDSHAKE = 17
    API_VERSIONS = 18
    CREATE_TOPICS = 19
    DELETE_TOPICS = 20
    DELETE_RECORDS = 21
    INIT_PRODUCER_ID = 22
    OFFSET_FOR_LEADER_EPOCH = 23
    ADD_PARTITIONS_TO_TXN = 24
    ADD_OFFSETS_TO_TXN = 25
    END_TXN = 26
    WRITE_TXN_MARKERS = 27
    TXN_OFFSET_COMMIT = 28
    DESCRIBE_ACLS = 29
    CREATE_ACLS = 30
    DELETE_ACLS = 31
    DESCRIBE_CONFIGS = 32
    ALTER_CONFIGS = 33
    ALTER_REPLICA_LOG_DIRS = 34
    DESCRIBE_LOG_DIRS = 35
    SASL_AUTHENTICATE = 36
    CREATE_PARTITIONS = 37
    CREATE_DELEGATION_TOKEN = 38
    RENEW_DELEGATION_TOKEN = 39
    EXPIRE_DELEGATION_TOKEN = 40
    DESCRIBE_DELEGATION_TOKEN = 41
    DELETE_GROUPS = 42
    ELECT_LEADERS = 43
    INCREMENTAL_ALTER_CONFIGS = 44
    ALTER_PARTITION_REASSIGNMENTS = 45
    LIST_PARTITION_REASSIGNMENTS = 46
    OFFSET_DELETE = 47
    DESCRIBE_CLIENT_QUOTAS = 48
    ALTER_CLIENT_QUOTAS = 49
    DESCRIBE_USER_SCRAM_CREDENTIALS = 50
    ALTER_USER_SCRAM_CREDENTIALS = 51
    ALTER_ISR = 56
    UPDATE_FEATURES = 57
    DESCRIBE_CLUSTER = 60
    DESCRIBE_PRODUCERS = 61


class Api:
    """One API: its key, version range and compiled codecs.

    :ivar key: the ``ApiKey``.
    :ivar name: Kafka's name, e.g. ``"Fetch"``.
    :ivar min_version: lowest declared version (0 for every API, as in Kafka 2.8).
    :ivar max_version: highest declared version.
    :ivar first_flexible_version: first flexible version, or None if never flexible.
    :ivar request: the request ``schema.Message``; ``response`` likewise.
    """

    def __init__(self, key, name, request, response):
        if (request.valid.low, request.valid.high) != (response.valid.low, response.valid.high):
            raise ValueError(f"{name}: request and response version ranges differ")
        if request.first_flexible_version != response.first_flexible_version:
            raise ValueError(f"{name}: request and response flexible versions differ")
        self.key = ApiKey(key)
        self.name = name
        self.request = request
        self.response = response
        self.min_version = request.valid.low
        self.max_version = request.valid.high
        self.first_flexible_version = request.first_flexible_version
        versions = range(self.max_version + 1)
        self._req_dec = [compile_decoder(request, v) if v >= self.min_version else None for v in versions]
        self._req_enc = [compile_encoder(request, v) if v >= self.min_version else None for v in versions]
        self._resp_dec = [compile_decoder(response, v) if v >= self.min_version else None for v in versions]
        self._resp_enc = [compile_encoder(response, v) if v >= self.min_version else None for v in versions]

    def __repr__(self):
        return f"Api({self.name}, {self.min_version}-{self.max_version})"

    def supports(self, version):
        """Whether ``version`` is in the declared range."""
        return self.min_version <= version <= self.max_version

    def is_flexible(self, version):
        """Whether ``version`` uses the flexible (compact + tagged fields) encoding."""
        return self.first_flexible_version is not None and version >= self.first_flexible_version

    def _check(self, version):
        if not self.min_version <= version <= self.max_version:
            raise UnsupportedVersionError(f"{self.name} v{version} is outside {self.min_version}-{self.max_version}")

    def decode_request(self, buf, version, offset=0):
        """Decode a request body starting at ``offset`` of ``buf``; returns a dict.

        :raises ProtocolDecodeError: on truncated or malformed input.
        :raises UnsupportedVersionError: for a version outside the range.
        """
        self._check(version)
        return self._req_dec[version](buf, offset)

    def encode_request(self, msg, version):
        """Encode a request body; returns a list of pieces (bytes-like / FileRegion)."""
        self._check(version)
        return self._req_enc[version](msg)

    def decode_response(self, buf, version, offset=0):
        """Decode a response body starting at ``offset`` of ``buf``; returns a dict."""
        self._check(version)
        return self._resp_dec[version](buf, offset)

    def encode_response(self, msg, version, prefix=None):
        """Encode a response body; returns a list of pieces (bytes-like / FileRegion).

        ``prefix`` (e.g. an encoded response header) is placed in front of the body
        in the same first piece, avoiding a separate small write.
        """
        self._check(version)
        out = bytearray(prefix) if prefix else None
        return self._resp_enc[version](msg, out)

    def encode_request_bytes(self, msg, version):
        """Encode a request body to ``bytes`` (reads any FileRegion; for tests/tools)."""
        return pieces_to_bytes(self.encode_request(msg, version))

    def encode_response_bytes(self, msg, version):
        """Encode a response body to ``bytes`` (reads any FileRegion; for tests/tools)."""
        return pieces_to_bytes(self.encode_response(msg, version))


def pieces_size(pieces):
    """Total byte size of a list of pieces (FileRegions count their length)."""
    return sum(len(p) for p in pieces)


def pieces_to_bytes(pieces):
    """Join pieces into ``bytes``, reading FileRegions from their files."""
    return b"".join(p.read() if isinstance(p, FileRegion) else bytes(p) for p in pieces)


API_BY_KEY = {}


def register(key, name, request, response):
    """Create the ``Api`` for ``key`` and add it to ``API_BY_KEY``; returns it."""
    api = Api(key, name, request, response)
    if api.key in API_BY_KEY:
        raise ValueError(f"API {api.key.name} registered twice")
    API_BY_KEY[api.key] = api
    return api
