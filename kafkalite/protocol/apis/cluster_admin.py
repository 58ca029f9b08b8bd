"""Schemas of the cluster administration APIs: ElectLeaders, DescribeLogDirs and DescribeCluster.

Declared once for Kafka 2.8's version ranges (checked against Kafka's message JSON):
ElectLeaders v0–2 (flexible from v2), DescribeLogDirs v0–2 (flexible from v2; v1 is v0
answered with throttling), DescribeCluster v0 (always flexible).
"""

from kafkalite.protocol.apis.registry import ApiKey, register
from kafkalite.protocol.schema import arr, f, message

# Schemas keep a hand-laid, one-field-per-line layout that mirrors Kafka's JSON.
# fmt: off

__all__ = ["DESCRIBE_CLUSTER", "DESCRIBE_LOG_DIRS", "ELECT_LEADERS"]

ELECT_LEADERS = register(
    ApiKey.ELECT_LEADERS,
    "ElectLeaders",
    message(
        "ElectLeadersRequest", "0-2", "2+",
        f("election_type", "int8", "1+"),
        f("topic_partitions", arr(
            f("topic", "string"),
            f("partitions", "[]int32"),
        ), nullable="0+"),
        f("timeout_ms", "int32", default=60000),
    ),
    message(
        "ElectLeadersResponse", "0-2", "2+",
        f("throttle_time_ms", "int32"),
        f("error_code", "int16", "1+"),
        f("replica_election_results", arr(
            f("topic", "string"),
            f("partition_result", arr(
                f("partition_id", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+"),
            )),
        )),
    ),
)

DESCRIBE_LOG_DIRS = register(
    ApiKey.DESCRIBE_LOG_DIRS,
    "DescribeLogDirs",
    message(
        "DescribeLogDirsRequest", "0-2", "2+",
        f("topics", arr(
            f("topic", "string"),
            f("partitions", "[]int32"),
        ), nullable="0+"),
    ),
    message(
        "DescribeLogDirsResponse", "0-2", "2+",
        f("throttle_time_ms", "int32"),
        f("results", arr(
            f("error_code", "int16"),
            f("log_dir", "string"),
            f("topics", arr(
                f("name", "string"),
                f("partitions", arr(
                    f("partition_index", "int32"),
                    f("partition_size", "int64"),
                    f("offset_lag", "int64"),
                    f("is_future_key", "bool"),
                )),
            )),
        )),
    ),
)

DESCRIBE_CLUSTER = register(
    ApiKey.DESCRIBE_CLUSTER,
    "DescribeCluster",
    message(
        "DescribeClusterRequest", "0", "0+",
        f("include_cluster_authorized_operations", "bool"),
    ),
    message(
        "DescribeClusterResponse", "0", "0+",
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("cluster_id", "string"),
        f("controller_id", "int32", default=-1),
        f("brokers", arr(
            f("broker_id", "int32"),
            f("host", "string"),
            f("port", "int32"),
            f("rack", "string", nullable="0+"),
        )),
        f("cluster_authorized_operations", "int32", default=-2147483648),
    ),
)
