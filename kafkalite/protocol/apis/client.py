"""Schemas of the client data-path APIs: ApiVersions, Metadata, Produce, Fetch, ListOffsets.

Declared once for every version of Kafka 2.8's range in our notation (see
``kafkalite.protocol.schema``), checked field by field against Kafka's message JSON
(``clients/src/main/resources/common/message/<Name>{Request,Response}.json``).
"""

from kafkalite.protocol.apis.registry import ApiKey, register
from kafkalite.protocol.schema import arr, f, message, obj

# Schemas keep a hand-laid, one-field-per-line layout that mirrors Kafka's JSON.
# fmt: off

__all__ = ["API_VERSIONS", "FETCH", "LIST_OFFSETS", "METADATA", "PRODUCE"]

INT32_MIN = -(2**31)

API_VERSIONS = register(
    ApiKey.API_VERSIONS,
    "ApiVersions",
    message(
        "ApiVersionsRequest", "0-3", "3+",
        f("client_software_name", "string", "3+"),
        f("client_software_version", "string", "3+"),
    ),
    message(
        "ApiVersionsResponse", "0-3", "3+",
        f("error_code", "int16"),
        f("api_keys", arr(
            f("api_key", "int16"),
            f("min_version", "int16"),
            f("max_version", "int16"),
        )),
        f("throttle_time_ms", "int32", "1+"),
        f("supported_features", arr(
            f("name", "string", "3+"),
            f("min_version", "int16", "3+"),
            f("max_version", "int16", "3+"),
        ), "3+", tag=0),
        f("finalized_features_epoch", "int64", "3+", default=-1, tag=1),
        f("finalized_features", arr(
            f("name", "string", "3+"),
            f("max_version_level", "int16", "3+"),
            f("min_version_level", "int16", "3+"),
        ), "3+", tag=2),
    ),
)

METADATA = register(
    ApiKey.METADATA,
    "Metadata",
    message(
        "MetadataRequest", "0-11", "9+",
        # v0: an empty array means all topics; v1+: null means all, empty means none.
        f("topics", arr(
            f("topic_id", "uuid", "10+"),
            f("name", "string", "0+", nullable="10+"),
        ), "0+", nullable="1+"),
        f("allow_auto_topic_creation", "bool", "4+", default=True),
        f("include_cluster_authorized_operations", "bool", "8-10"),
        f("include_topic_authorized_operations", "bool", "8+"),
    ),
    message(
        "MetadataResponse", "0-11", "9+",
        f("throttle_time_ms", "int32", "3+"),
        f("brokers", arr(
            f("node_id", "int32"),
            f("host", "string"),
            f("port", "int32"),
            f("rack", "string", "1+", nullable="1+"),
        )),
        f("cluster_id", "string", "2+", nullable="2+"),
        f("controller_id", "int32", "1+", default=-1),
        f("topics", arr(
            f("error_code", "int16"),
            f("name", "string"),
            f("topic_id", "uuid", "10+"),
            f("is_internal", "bool", "1+"),
            f("partitions", arr(
                f("error_code", "int16"),
                f("partition_index", "int32"),
                f("leader_id", "int32"),
                f("leader_epoch", "int32", "7+", default=-1),
                f("replica_nodes", "[]int32"),
                f("isr_nodes", "[]int32"),
                f("offline_replicas", "[]int32", "5+"),
            )),
            f("topic_authorized_operations", "int32", "8+", default=INT32_MIN),
        )),
        f("cluster_authorized_operations", "int32", "8-10", default=INT32_MIN),
    ),
)

PRODUCE = register(
    ApiKey.PRODUCE,
    "Produce",
    message(
        "ProduceRequest", "0-9", "9+",
        f("transactional_id", "string", "3+", nullable="3+"),
        f("acks", "int16"),
        f("timeout_ms", "int32"),
        f("topic_data", arr(
            f("name", "string"),
            f("partition_data", arr(
                f("index", "int32"),
                f("records", "records", nullable="0+"),
            )),
        )),
    ),
    message(
        "ProduceResponse", "0-9", "9+",
        f("responses", arr(
            f("name", "string"),
            f("partition_responses", arr(
                f("index", "int32"),
                f("error_code", "int16"),
                f("base_offset", "int64"),
                f("log_append_time_ms", "int64", "2+", default=-1),
                f("log_start_offset", "int64", "5+", default=-1),
                f("record_errors", arr(
                    f("batch_index", "int32", "8+"),
                    f("batch_index_error_message", "string", "8+", nullable="8+"),
                ), "8+"),
                f("error_message", "string", "8+", nullable="8+"),
            )),
        )),
        f("throttle_time_ms", "int32", "1+"),
    ),
)

FETCH = register(
    ApiKey.FETCH,
    "Fetch",
    message(
        "FetchRequest", "0-12", "12+",
        f("cluster_id", "string", "12+", nullable="12+", tag=0),
        # No default in 2.8's JSON (later Kafka uses -1): -1 lets consumers omit it.
        f("replica_id", "int32", default=-1),
        f("max_wait_ms", "int32"),
        f("min_bytes", "int32"),
        f("max_bytes", "int32", "3+", default=0x7FFFFFFF),
        f("isolation_level", "int8", "4+"),
        f("session_id", "int32", "7+"),
        f("session_epoch", "int32", "7+", default=-1),
        f("topics", arr(
            f("topic", "string"),
            f("partitions", arr(
                f("partition", "int32"),
                f("current_leader_epoch", "int32", "9+", default=-1),
                f("fetch_offset", "int64"),
                f("last_fetched_epoch", "int32", "12+", default=-1),
                f("log_start_offset", "int64", "5+", default=-1),
                f("partition_max_bytes", "int32"),
            )),
        )),
        f("forgotten_topics_data", arr(
            f("topic", "string", "7+"),
            f("partitions", "[]int32", "7+"),
        ), "7+"),
        f("rack_id", "string", "11+"),
    ),
    message(
        "FetchResponse", "0-12", "12+",
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16", "7+"),
        f("session_id", "int32", "7+"),
        f("responses", arr(
            f("topic", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("high_watermark", "int64"),
                f("last_stable_offset", "int64", "4+", default=-1),
                f("log_start_offset", "int64", "5+", default=-1),
                f("diverging_epoch", obj(
                    f("epoch", "int32", "12+", default=-1),
                    f("end_offset", "int64", "12+", default=-1),
                ), "12+", tag=0),
                f("current_leader", obj(
                    f("leader_id", "int32", "12+", default=-1),
                    f("leader_epoch", "int32", "12+", default=-1),
                ), "12+", tag=1),
                f("snapshot_id", obj(
                    f("end_offset", "int64", "12+", default=-1),
                    f("epoch", "int32", "12+", default=-1),
                ), "12+", tag=2),
                f("aborted_transactions", arr(
                    f("producer_id", "int64", "4+"),
                    f("first_offset", "int64", "4+"),
                ), "4+", nullable="4+"),
                f("preferred_read_replica", "int32", "11+", default=-1),
                f("records", "records", nullable="0+"),
            )),
        )),
    ),
)

LIST_OFFSETS = register(
    ApiKey.LIST_OFFSETS,
    "ListOffsets",
    message(
        "ListOffsetsRequest", "0-6", "6+",
        f("replica_id", "int32"),
        f("isolation_level", "int8", "2+"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("current_leader_epoch", "int32", "4+", default=-1),
                f("timestamp", "int64"),
                f("max_num_offsets", "int32", "0", default=1),
            )),
        )),
    ),
    message(
        "ListOffsetsResponse", "0-6", "6+",
        f("throttle_time_ms", "int32", "2+"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("old_style_offsets", "[]int64", "0"),
                f("timestamp", "int64", "1+", default=-1),
                f("offset", "int64", "1+", default=-1),
                f("leader_epoch", "int32", "4+", default=-1),
            )),
        )),
    ),
)
