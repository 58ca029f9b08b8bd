"""Schemas of the group-coordination and offset APIs.

FindCoordinator, JoinGroup, Heartbeat, LeaveGroup, SyncGroup, OffsetCommit,
OffsetFetch, DescribeGroups, ListGroups, DeleteGroups and OffsetDelete, declared
once for Kafka 2.8's version ranges (checked against Kafka's message JSON).
"""

from kafkalite.protocol.apis.registry import ApiKey, register
from kafkalite.protocol.schema import arr, f, message

# Schemas keep a hand-laid, one-field-per-line layout that mirrors Kafka's JSON.
# fmt: off

__all__ = [
    "DELETE_GROUPS",
    "DESCRIBE_GROUPS",
    "FIND_COORDINATOR",
    "HEARTBEAT",
    "JOIN_GROUP",
    "LEAVE_GROUP",
    "LIST_GROUPS",
    "OFFSET_COMMIT",
    "OFFSET_DELETE",
    "OFFSET_FETCH",
    "SYNC_GROUP",
]

INT32_MIN = -(2**31)

FIND_COORDINATOR = register(
    ApiKey.FIND_COORDINATOR,
    "FindCoordinator",
    message(
        "FindCoordinatorRequest", "0-3", "3+",
        f("key", "string"),
        f("key_type", "int8", "1+"),
    ),
    message(
        "FindCoordinatorResponse", "0-3", "3+",
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
        f("error_message", "string", "1+", nullable="1+"),
        f("node_id", "int32"),
        f("host", "string"),
        f("port", "int32"),
    ),
)

JOIN_GROUP = register(
    ApiKey.JOIN_GROUP,
    "JoinGroup",
    message(
        "JoinGroupRequest", "0-7", "6+",
        f("group_id", "string"),
        f("session_timeout_ms", "int32"),
        f("rebalance_timeout_ms", "int32", "1+", default=-1),
        f("member_id", "string"),
        f("group_instance_id", "string", "5+", nullable="5+"),
        f("protocol_type", "string"),
        f("protocols", arr(
            f("name", "string"),
            f("metadata", "bytes"),
        )),
    ),
    message(
        "JoinGroupResponse", "0-7", "6+",
        f("throttle_time_ms", "int32", "2+"),
        f("error_code", "int16"),
        f("generation_id", "int32", default=-1),
        f("protocol_type", "string", "7+", nullable="7+"),
        f("protocol_name", "string", nullable="7+"),
        f("leader", "string"),
        f("member_id", "string"),
        f("members", arr(
            f("member_id", "string"),
            f("group_instance_id", "string", "5+", nullable="5+"),
            f("metadata", "bytes"),
        )),
    ),
)

HEARTBEAT = register(
    ApiKey.HEARTBEAT,
    "Heartbeat",
    message(
        "HeartbeatRequest", "0-4", "4+",
        f("group_id", "string"),
        f("generation_id", "int32"),
        f("member_id", "string"),
        f("group_instance_id", "string", "3+", nullable="3+"),
    ),
    message(
        "HeartbeatResponse", "0-4", "4+",
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
    ),
)

LEAVE_GROUP = register(
    ApiKey.LEAVE_GROUP,
    "LeaveGroup",
    message(
        "LeaveGroupRequest", "0-4", "4+",
        f("group_id", "string"),
        f("member_id", "string", "0-2"),
        f("members", arr(
            f("member_id", "string", "3+"),
            f("group_instance_id", "string", "3+", nullable="3+"),
        ), "3+"),
    ),
    message(
        "LeaveGroupResponse", "0-4", "4+",
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
        f("members", arr(
            f("member_id", "string", "3+"),
            f("group_instance_id", "string", "3+", nullable="3+"),
            f("error_code", "int16", "3+"),
        ), "3+"),
    ),
)

SYNC_GROUP = register(
    ApiKey.SYNC_GROUP,
    "SyncGroup",
    message(
        "SyncGroupRequest", "0-5", "4+",
        f("group_id", "string"),
        f("generation_id", "int32"),
        f("member_id", "string"),
        f("group_instance_id", "string", "3+", nullable="3+"),
        f("protocol_type", "string", "5+", nullable="5+"),
        f("protocol_name", "string", "5+", nullable="5+"),
        f("assignments", arr(
            f("member_id", "string"),
            f("assignment", "bytes"),
        )),
    ),
    message(
        "SyncGroupResponse", "0-5", "4+",
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
        f("protocol_type", "string", "5+", nullable="5+"),
        f("protocol_name", "string", "5+", nullable="5+"),
        f("assignment", "bytes"),
    ),
)

OFFSET_COMMIT = register(
    ApiKey.OFFSET_COMMIT,
    "OffsetCommit",
    message(
        "OffsetCommitRequest", "0-8", "8+",
        f("group_id", "string"),
        f("generation_id", "int32", "1+", default=-1),
        f("member_id", "string", "1+"),
        f("group_instance_id", "string", "7+", nullable="7+"),
        f("retention_time_ms", "int64", "2-4", default=-1),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("committed_offset", "int64"),
                f("committed_leader_epoch", "int32", "6+", default=-1),
                f("commit_timestamp", "int64", "1", default=-1),
                f("committed_metadata", "string", nullable="0+"),
            )),
        )),
    ),
    message(
        "OffsetCommitResponse", "0-8", "8+",
        f("throttle_time_ms", "int32", "3+"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("error_code", "int16"),
            )),
        )),
    ),
)

OFFSET_FETCH = register(
    ApiKey.OFFSET_FETCH,
    "OffsetFetch",
    message(
        "OffsetFetchRequest", "0-7", "6+",
        f("group_id", "string"),
        # v2+: null topics means all topics of the group.
        f("topics", arr(
            f("name", "string"),
            f("partition_indexes", "[]int32"),
        ), nullable="2+"),
        f("require_stable", "bool", "7+"),
    ),
    message(
        "OffsetFetchResponse", "0-7", "6+",
        f("throttle_time_ms", "int32", "3+"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("committed_offset", "int64"),
                f("committed_leader_epoch", "int32", "5+", default=-1),
                f("metadata", "string", nullable="0+"),
                f("error_code", "int16"),
            )),
        )),
        f("error_code", "int16", "2+"),
    ),
)

DESCRIBE_GROUPS = register(
    ApiKey.DESCRIBE_GROUPS,
    "DescribeGroups",
    message(
        "DescribeGroupsRequest", "0-5", "5+",
        f("groups", "[]string"),
        f("include_authorized_operations", "bool", "3+"),
    ),
    message(
        "DescribeGroupsResponse", "0-5", "5+",
        f("throttle_time_ms", "int32", "1+"),
        f("groups", arr(
            f("error_code", "int16"),
            f("group_id", "string"),
            f("group_state", "string"),
            f("protocol_type", "string"),
            f("protocol_data", "string"),
            f("members", arr(
                f("member_id", "string"),
                f("group_instance_id", "string", "4+", nullable="4+"),
                f("client_id", "string"),
                f("client_host", "string"),
                f("member_metadata", "bytes"),
                f("member_assignment", "bytes"),
            )),
            f("authorized_operations", "int32", "3+", default=INT32_MIN),
        )),
    ),
)

LIST_GROUPS = register(
    ApiKey.LIST_GROUPS,
    "ListGroups",
    message(
        "ListGroupsRequest", "0-4", "3+",
        f("states_filter", "[]string", "4+"),
    ),
    message(
        "ListGroupsResponse", "0-4", "3+",
        f("throttle_time_ms", "int32", "1+"),
        f("error_code", "int16"),
        f("groups", arr(
            f("group_id", "string"),
            f("protocol_type", "string"),
            f("group_state", "string", "4+"),
        )),
    ),
)

DELETE_GROUPS = register(
    ApiKey.DELETE_GROUPS,
    "DeleteGroups",
    message(
        "DeleteGroupsRequest", "0-2", "2+",
        f("groups_names", "[]string"),
    ),
    message(
        "DeleteGroupsResponse", "0-2", "2+",
        f("throttle_time_ms", "int32"),
        f("results", arr(
            f("group_id", "string"),
            f("error_code", "int16"),
        )),
    ),
)

OFFSET_DELETE = register(
    ApiKey.OFFSET_DELETE,
    "OffsetDelete",
    message(
        "OffsetDeleteRequest", "0", "none",
        f("group_id", "string"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
            )),
        )),
    ),
    message(
        "OffsetDeleteResponse", "0", "none",
        f("error_code", "int16"),
        f("throttle_time_ms", "int32"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("error_code", "int16"),
            )),
        )),
    ),
)
