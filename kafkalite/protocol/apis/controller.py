"""Schemas of the controller <-> broker APIs (ZooKeeper mode).

LeaderAndIsr, UpdateMetadata, StopReplica, ControlledShutdown, AlterIsr and
OffsetForLeaderEpoch, declared once for Kafka 2.8's version ranges (checked against
Kafka's message JSON). Note the version-specific shapes: LeaderAndIsr v0-1 and
UpdateMetadata v0-4 carry flat ``ungrouped_partition_states`` (topic name on each
partition) where later versions group by topic; StopReplica v0 is flat, v1-2 group
partition indexes by topic, v3 carries per-partition states.
"""

from kafkalite.protocol.apis.registry import ApiKey, register
from kafkalite.protocol.schema import arr, f, message

# Schemas keep a hand-laid, one-field-per-line layout that mirrors Kafka's JSON.
# fmt: off

__all__ = [
    "ALTER_ISR",
    "CONTROLLED_SHUTDOWN",
    "LEADER_AND_ISR",
    "OFFSET_FOR_LEADER_EPOCH",
    "STOP_REPLICA",
    "UPDATE_METADATA",
]


def _leader_and_isr_partition_state():
    return arr(
        f("topic_name", "string", "0-1"),
        f("partition_index", "int32"),
        f("controller_epoch", "int32"),
        f("leader", "int32"),
        f("leader_epoch", "int32"),
        f("isr", "[]int32"),
        f("zk_version", "int32"),
        f("replicas", "[]int32"),
        f("adding_replicas", "[]int32", "3+"),
        f("removing_replicas", "[]int32", "3+"),
        f("is_new", "bool", "1+"),
    )


LEADER_AND_ISR = register(
    ApiKey.LEADER_AND_ISR,
    "LeaderAndIsr",
    message(
        "LeaderAndIsrRequest", "0-5", "4+",
        f("controller_id", "int32"),
        f("controller_epoch", "int32"),
        f("broker_epoch", "int64", "2+", default=-1),
        f("type", "int8", "5+"),
        f("ungrouped_partition_states", _leader_and_isr_partition_state(), "0-1"),
        f("topic_states", arr(
            f("topic_name", "string", "2+"),
            f("topic_id", "uuid", "5+"),
            f("partition_states", _leader_and_isr_partition_state(), "2+"),
        ), "2+"),
        f("live_leaders", arr(
            f("broker_id", "int32"),
            f("host_name", "string"),
            f("port", "int32"),
        )),
    ),
    message(
        "LeaderAndIsrResponse", "0-5", "4+",
        f("error_code", "int16"),
        f("partition_errors", arr(
            f("topic_name", "string", "0-4"),
            f("partition_index", "int32"),
            f("error_code", "int16"),
        ), "0-4"),
        f("topics", arr(
            f("topic_id", "uuid", "5+"),
            f("partition_errors", arr(
                f("partition_index", "int32"),
                f("error_code", "int16"),
            ), "5+"),
        ), "5+"),
    ),
)


def _update_metadata_partition_state():
    return arr(
        f("topic_name", "string", "0-4"),
        f("partition_index", "int32"),
        f("controller_epoch", "int32"),
        f("leader", "int32"),
        f("leader_epoch", "int32"),
        f("isr", "[]int32"),
        f("zk_version", "int32"),
        f("replicas", "[]int32"),
        f("offline_replicas", "[]int32", "4+"),
    )


UPDATE_METADATA = register(
    ApiKey.UPDATE_METADATA,
    "UpdateMetadata",
    message(
        "UpdateMetadataRequest", "0-7", "6+",
        f("controller_id", "int32"),
        f("controller_epoch", "int32"),
        f("broker_epoch", "int64", "5+", default=-1),
        f("ungrouped_partition_states", _update_metadata_partition_state(), "0-4"),
        f("topic_states", arr(
            f("topic_name", "string", "5+"),
            f("topic_id", "uuid", "7+"),
            f("partition_states", _update_metadata_partition_state(), "5+"),
        ), "5+"),
        f("live_brokers", arr(
            f("id", "int32"),
            f("v0_host", "string", "0"),
            f("v0_port", "int32", "0"),
            f("endpoints", arr(
                f("port", "int32", "1+"),
                f("host", "string", "1+"),
                f("listener", "string", "3+"),
                f("security_protocol", "int16", "1+"),
            ), "1+"),
            f("rack", "string", "2+", nullable="0+"),
        )),
    ),
    message(
        "UpdateMetadataResponse", "0-7", "6+",
        f("error_code", "int16"),
    ),
)

STOP_REPLICA = register(
    ApiKey.STOP_REPLICA,
    "StopReplica",
    message(
        "StopReplicaRequest", "0-3", "2+",
        f("controller_id", "int32"),
        f("controller_epoch", "int32"),
        f("broker_epoch", "int64", "1+", default=-1),
        f("delete_partitions", "bool", "0-2"),
        f("ungrouped_partitions", arr(
            f("topic_name", "string", "0"),
            f("partition_index", "int32", "0"),
        ), "0"),
        f("topics", arr(
            f("name", "string", "1-2"),
            f("partition_indexes", "[]int32", "1-2"),
        ), "1-2"),
        f("topic_states", arr(
            f("topic_name", "string", "3+"),
            f("partition_states", arr(
                f("partition_index", "int32", "3+"),
                f("leader_epoch", "int32", "3+", default=-1),
                f("delete_partition", "bool", "3+"),
            ), "3+"),
        ), "3+"),
    ),
    message(
        "StopReplicaResponse", "0-3", "2+",
        f("error_code", "int16"),
        f("partition_errors", arr(
            f("topic_name", "string"),
            f("partition_index", "int32"),
            f("error_code", "int16"),
        )),
    ),
)

CONTROLLED_SHUTDOWN = register(
    ApiKey.CONTROLLED_SHUTDOWN,
    "ControlledShutdown",
    message(
        "ControlledShutdownRequest", "0-3", "3+",
        f("broker_id", "int32"),
        f("broker_epoch", "int64", "2+", default=-1),
    ),
    message(
        "ControlledShutdownResponse", "0-3", "3+",
        f("error_code", "int16"),
        f("remaining_partitions", arr(
            f("topic_name", "string"),
            f("partition_index", "int32"),
        )),
    ),
)

ALTER_ISR = register(
    ApiKey.ALTER_ISR,
    "AlterIsr",
    message(
        "AlterIsrRequest", "0", "0+",
        f("broker_id", "int32"),
        f("broker_epoch", "int64", default=-1),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("leader_epoch", "int32"),
                f("new_isr", "[]int32"),
                f("current_isr_version", "int32"),
            )),
        )),
    ),
    message(
        "AlterIsrResponse", "0", "0+",
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("error_code", "int16"),
                f("leader_id", "int32"),
                f("leader_epoch", "int32"),
                f("isr", "[]int32"),
                f("current_isr_version", "int32"),
            )),
        )),
    ),
)

OFFSET_FOR_LEADER_EPOCH = register(
    ApiKey.OFFSET_FOR_LEADER_EPOCH,
    "OffsetForLeaderEpoch",
    message(
        "OffsetForLeaderEpochRequest", "0-4", "4+",
        f("replica_id", "int32", "3+", default=-2),
        f("topics", arr(
            f("topic", "string"),
            f("partitions", arr(
                f("partition", "int32"),
                f("current_leader_epoch", "int32", "2+", default=-1),
                f("leader_epoch", "int32"),
            )),
        )),
    ),
    message(
        "OffsetForLeaderEpochResponse", "0-4", "4+",
        f("throttle_time_ms", "int32", "2+"),
        f("topics", arr(
            f("topic", "string"),
            f("partitions", arr(
                f("error_code", "int16"),
                f("partition", "int32"),
                f("leader_epoch", "int32", "1+", default=-1),
                f("end_offset", "int64", default=-1),
            )),
        )),
    ),
)
