"""Schemas of the admin and producer-id APIs.

CreateTopics, DeleteTopics, DescribeConfigs, CreatePartitions, DeleteRecords and
InitProducerId, declared once for Kafka 2.8's version ranges (checked against
Kafka's message JSON).
"""

from kafkalite.protocol.apis.registry import ApiKey, register
from kafkalite.protocol.schema import arr, f, message

# Schemas keep a hand-laid, one-field-per-line layout that mirrors Kafka's JSON.
# fmt: off

__all__ = [
    "CREATE_PARTITIONS", "CREATE_TOPICS", "DELETE_RECORDS", "DELETE_TOPICS", "DESCRIBE_CONFIGS", "INIT_PRODUCER_ID",
]

CREATE_TOPICS = register(
    ApiKey.CREATE_TOPICS,
    "CreateTopics",
    message(
        "CreateTopicsRequest", "0-7", "5+",
        f("topics", arr(
            f("name", "string"),
            f("num_partitions", "int32"),
            f("replication_factor", "int16"),
            f("assignments", arr(
                f("partition_index", "int32"),
                f("broker_ids", "[]int32"),
            )),
            f("configs", arr(
                f("name", "string"),
                f("value", "string", nullable="0+"),
            )),
        )),
        f("timeout_ms", "int32", default=60000),
        f("validate_only", "bool", "1+"),
    ),
    message(
        "CreateTopicsResponse", "0-7", "5+",
        f("throttle_time_ms", "int32", "2+"),
        f("topics", arr(
            f("name", "string"),
            f("topic_id", "uuid", "7+"),
            f("error_code", "int16"),
            f("error_message", "string", "1+", nullable="0+"),
            f("topic_config_error_code", "int16", "5+", tag=0),
            f("num_partitions", "int32", "5+", default=-1),
            f("replication_factor", "int16", "5+", default=-1),
            f("configs", arr(
                f("name", "string", "5+"),
                f("value", "string", "5+", nullable="5+"),
                f("read_only", "bool", "5+"),
                f("config_source", "int8", "5+", default=-1),
                f("is_sensitive", "bool", "5+"),
            ), "5+", nullable="5+"),
        )),
    ),
)

DELETE_TOPICS = register(
    ApiKey.DELETE_TOPICS,
    "DeleteTopics",
    message(
        "DeleteTopicsRequest", "0-6", "4+",
        f("topics", arr(
            f("name", "string", "6+", nullable="6+"),
            f("topic_id", "uuid", "6+"),
        ), "6+"),
        f("topic_names", "[]string", "0-5"),
        f("timeout_ms", "int32"),
    ),
    message(
        "DeleteTopicsResponse", "0-6", "4+",
        f("throttle_time_ms", "int32", "1+"),
        f("responses", arr(
            f("name", "string", nullable="6+"),
            f("topic_id", "uuid", "6+"),
            f("error_code", "int16"),
            f("error_message", "string", "5+", nullable="5+"),
        )),
    ),
)

DESCRIBE_CONFIGS = register(
    ApiKey.DESCRIBE_CONFIGS,
    "DescribeConfigs",
    message(
        "DescribeConfigsRequest", "0-4", "4+",
        f("resources", arr(
            f("resource_type", "int8"),
            f("resource_name", "string"),
            f("configuration_keys", "[]string", nullable="0+"),
        )),
        f("include_synonyms", "bool", "1+"),
        f("include_documentation", "bool", "3+"),
    ),
    message(
        "DescribeConfigsResponse", "0-4", "4+",
        f("throttle_time_ms", "int32"),
        f("results", arr(
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
            f("resource_type", "int8"),
            f("resource_name", "string"),
            f("configs", arr(
                f("name", "string"),
                f("value", "string", nullable="0+"),
                f("read_only", "bool"),
                f("is_default", "bool", "0"),
                f("config_source", "int8", "1+", default=-1),
                f("is_sensitive", "bool"),
                f("synonyms", arr(
                    f("name", "string", "1+"),
                    f("value", "string", "1+", nullable="0+"),
                    f("source", "int8", "1+"),
                ), "1+"),
                f("config_type", "int8", "3+"),
                f("documentation", "string", "3+", nullable="0+"),
            )),
        )),
    ),
)

CREATE_PARTITIONS = register(
    ApiKey.CREATE_PARTITIONS,
    "CreatePartitions",
    message(
        "CreatePartitionsRequest", "0-3", "2+",
        f("topics", arr(
            f("name", "string"),
            f("count", "int32"),
            f("assignments", arr(
                f("broker_ids", "[]int32"),
            ), nullable="0+"),
        )),
        f("timeout_ms", "int32"),
        f("validate_only", "bool"),
    ),
    message(
        "CreatePartitionsResponse", "0-3", "2+",
        f("throttle_time_ms", "int32"),
        f("results", arr(
            f("name", "string"),
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
        )),
    ),
)

DELETE_RECORDS = register(
    ApiKey.DELETE_RECORDS,
    "DeleteRecords",
    message(
        "DeleteRecordsRequest", "0-2", "2+",
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("offset", "int64"),
            )),
        )),
        f("timeout_ms", "int32"),
    ),
    message(
        "DeleteRecordsResponse", "0-2", "2+",
        f("throttle_time_ms", "int32"),
        f("topics", arr(
            f("name", "string"),
            f("partitions", arr(
                f("partition_index", "int32"),
                f("low_watermark", "int64"),
                f("error_code", "int16"),
            )),
        )),
    ),
)

INIT_PRODUCER_ID = register(
    ApiKey.INIT_PRODUCER_ID,
    "InitProducerId",
    message(
        "InitProducerIdRequest", "0-4", "2+",
        f("transactional_id", "string", nullable="0+"),
        f("transaction_timeout_ms", "int32"),
        f("producer_id", "int64", "3+", default=-1),
        f("producer_epoch", "int16", "3+", default=-1),
    ),
    message(
        "InitProducerIdResponse", "0-4", "2+",
        f("throttle_time_ms", "int32"),
        f("error_code", "int16"),
        f("producer_id", "int64", default=-1),
        f("producer_epoch", "int16"),
    ),
)
