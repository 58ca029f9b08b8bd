"""Schemas of the partition reassignment APIs (KIP-455).

AlterPartitionReassignments and ListPartitionReassignments, declared once for Kafka
2.8's version ranges (both v0 only, flexible from v0; checked against Kafka's message
JSON). A null ``replicas`` list in AlterPartitionReassignments cancels a reassignment.
"""

from kafkalite.protocol.apis.registry import ApiKey, register
from kafkalite.protocol.schema import arr, f, message

# Schemas keep a hand-laid, one-field-per-line layout that mirrors Kafka's JSON.
# fmt: off

__all__ = ["ALTER_PARTITION_REASSIGNMENTS", "LIST_PARTITION_REASSIGNMENTS"]

ALTER_PARTITION_REASSIGNMENTS = register(
    ApiKey.ALTER_PARTITION_REASSIGNMENTS,
    "AlterPartitionReassignments",
    message(
        "AlterPartitionReassignmentsRequest", "0", "0+",
        f("timeout_ms", "int32", default=60000),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("replicas", "[]int32", nullable="0+", default=None),
            )),
        )),
    ),
    message(
        "AlterPartitionReassignmentsResponse", "0", "0+",
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("responses", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("error_message", "string", nullable="0+"),
            )),
        )),
    ),
)

LIST_PARTITION_REASSIGNMENTS = register(
    ApiKey.LIST_PARTITION_REASSIGNMENTS,
    "ListPartitionReassignments",
    message(
        "ListPartitionReassignmentsRequest", "0", "0+",
        f("timeout_ms", "int32", default=60000),
        f("topics", arr(
            f("name", "string"),
            f("partition_indexes", "[]int32"),
        ), nullable="0+", default=None),
    ),
    message(
        "ListPartitionReassignmentsResponse", "0", "0+",
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("error_message", "string", nullable="0+"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("replicas", "[]int32"),
                f("adding_replicas", "[]int32"),
                f("removing_replicas", "[]int32"),
            )),
        )),
    ),
)
