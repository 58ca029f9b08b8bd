"""The network layer's view of the wire codec.

Owns the small interface the connection objects need from ``kafkalite.protocol``
(header encode/decode, the API table) so that tests can substitute a fake codec and
the network layer does not care how the codec is organised. ``default_codec()``
binds it to the real ``kafkalite.protocol.headers`` and ``kafkalite.protocol.apis``.
"""

import struct

__all__ = ["API_VERSIONS_KEY", "PRODUCE_KEY", "WireCodec", "api_name", "default_codec"]

API_VERSIONS_KEY = 18
PRODUCE_KEY = 0

# Kafka's API names (org.apache.kafka.common.protocol.ApiKeys), used as metric labels
# when the codec's Api objects carry no name of their own.
_API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr", 5: "StopReplica",
    6: "UpdateMetadata", 7: "ControlledShutdown", 8: "OffsetCommit", 9: "OffsetFetch",
    10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
    15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
    20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs",
    33: "AlterConfigs", 34: "AlterReplicaLogDirs", 35: "DescribeLogDirs", 36: "SaslAuthenticate",
    37: "CreatePartitions", 38: "CreateDelegationToken", 39: "RenewDelegationToken",
    40: "ExpireDelegationToken", 41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments", 46: "ListPartitionReassignments",
    47: "OffsetDelete", 48: "DescribeClientQuotas", 49: "AlterClientQuotas",
    50: "DescribeUserScramCredentials", 51: "AlterUserScramCredentials", 56: "AlterIsr",
    57: "UpdateFeatures", 60: "DescribeCluster", 61: "DescribeProducers",
}


def api_name(api_key, api=None):
    """Return Kafka's name for ``api_key`` (``"Produce"``), preferring ``api.name``."""
    name = getattr(api, "name", None)
    if isinstance(name, str) and name:
        return name
    return _API_NAMES.get(api_key, str(api_key))


class WireCodec:
    """The codec functions and API table the network layer uses.

    :param decode_request_header: ``buf -> header`` with ``api_key``, ``api_version``,
        ``correlation_id``, ``client_id`` and ``body_offset``.
    :param encode_response_header: ``(correlation_id, api_key, api_version) -> bytes``.
    :param encode_request_header: ``(api_key, api_version, correlation_id, client_id) -> bytes``.
    :param apis: mapping api key → Api (``decode_request``, ``encode_response``,
        ``decode_response``, ``encode_request``, ``min_version``, ``max_version``).
    """

    __slots__ = ("apis", "decode_request_header", "encode_request_header", "encode_response_header")

    def __init__(self, decode_request_header, encode_response_header, encode_request_header, apis):
        self.decode_request_header = decode_request_header
        self.encode_response_header = encode_response_header
        self.encode_request_header = encode_request_header
        self.apis = apis

    def supports(self, api_key, api_version):
        """Whether the codec knows ``api_key`` at ``api_version``."""
        api = self.apis.get(api_key)
        return api is not None and api.min_version <= api_version <= api.max_version

    def response_header_version(self, api_key, api_version):
        """Return 0 or 1: the response header version for this request.

        ApiVersions always answers with header v0 (reference §0); other APIs use v1
        from their first flexible version on.
        """
        if api_key == API_VERSIONS_KEY:
            return 0
        api = self.apis[api_key]
        is_flexible = getattr(api, "is_flexible", None)
        if callable(is_flexible):
            return 1 if is_flexible(api_version) else 0
        first = getattr(api, "first_flexible_version", None)
        if first is None:
            first = getattr(api, "flexible_version", None)
        return 1 if first is not None and first >= 0 and api_version >= first else 0


def default_codec():
    """Return a :class:`WireCodec` bound to ``kafkalite.protocol``."""
    from kafkalite.protocol import apis, headers

    return WireCodec(
        headers.decode_request_header,
        headers.encode_response_header,
        headers.encode_request_header,
        apis.API_BY_KEY,
    )


_UNSUPPORTED_API_VERSIONS = struct.Struct(">ihihhh")


def unsupported_api_versions_response(correlation_id, min_version, max_version):
    """Build the whole reply to an ApiVersions request of a version we do not know.

    Response header v0 (correlation id) and a v0 body: ``error_code`` 35
    (UNSUPPORTED_VERSION) and ``api_keys`` holding only the ApiVersions entry,
    as Kafka does since KIP-511 (reference §0). Returned without the size prefix.
    """
    return _UNSUPPORTED_API_VERSIONS.pack(correlation_id, 35, 1, API_VERSIONS_KEY, min_version, max_version)
