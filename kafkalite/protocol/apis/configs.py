"""Schemas of the config-changing APIs: AlterConfigs and IncrementalAlterConfigs.

Declared once for Kafka 2.8's version ranges (checked against Kafka's
``AlterConfigsRequest.json``/``IncrementalAlterConfigsRequest.json`` and their responses).
DescribeConfigs stays with the other admin schemas in :mod:`kafkalite.protocol.apis.admin`.
"""

from kafkalite.protocol.apis.registry import ApiKey, register
from kafkalite.protocol.schema import arr, f, message

# Schemas keep a hand-laid, one-field-per-line layout that mirrors Kafka's JSON.
# fmt: off

__all__ = ["ALTER_CONFIGS", "CONFIG_OPERATIONS", "INCREMENTAL_ALTER_CONFIGS"]

#: IncrementalAlterConfigs' ``config_operation`` values (``AlterConfigOp.OpType``).
CONFIG_OPERATIONS = {0: "SET", 1: "DELETE", 2: "APPEND", 3: "SUBTRACT"}

ALTER_CONFIGS = register(
    ApiKey.ALTER_CONFIGS,
    "AlterConfigs",
    message(
        "AlterConfigsRequest", "0-2", "2+",
        f("resources", arr(
            f("resource_type", "int8"),
            f("resource_name", "string"),
            f("configs", arr(
                f("name", "string"),
                f("value", "string", nullable="0+"),
            )),
        )),
        f("validate_only", "bool"),
    ),
    message(
        "AlterConfigsResponse", "0-2", "2+",
        f("throttle_time_ms", "int32"),
        f("responses", arr(
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
            f("resource_type", "int8"),
            f("resource_name", "string"),
        )),
    ),
)

INCREMENTAL_ALTER_CONFIGS = register(
    ApiKey.INCREMENTAL_ALTER_CONFIGS,
    "IncrementalAlterConfigs",
    message(
        "IncrementalAlterConfigsRequest", "0-1", "1+",
        f("resources", arr(
            f("resource_type", "int8"),
            f("resource_name", "string"),
            f("configs", arr(
                f("name", "string"),
                f("config_operation", "int8"),
                f("value", "string", nullable="0+"),
            )),
        )),
        f("validate_only", "bool"),
    ),
    message(
        "IncrementalAlterConfigsResponse", "0-1", "1+",
        f("throttle_time_ms", "int32"),
        f("responses", arr(
            f("error_code", "int16"),
            f("error_message", "string", nullable="0+"),
            f("resource_type", "int8"),
            f("resource_name", "string"),
        )),
    ),
)
