"""Golden bytes for AlterConfigs and IncrementalAlterConfigs, checked field by field against Kafka's JSON."""

from kafkalite.protocol.apis import API_BY_KEY, ApiKey, pieces_to_bytes
from tests.support.golden import hex_bytes as h

ALTER_CONFIGS = API_BY_KEY[ApiKey.ALTER_CONFIGS]
INCREMENTAL = API_BY_KEY[ApiKey.INCREMENTAL_ALTER_CONFIGS]


def test_incremental_alter_configs_v0_request_is_classic():
    """v0: int32 array counts, int16-length strings, a nullable value."""
    body = h("""
        00000001                    # resources: 1
        02                          # resource_type TOPIC (2)
        0001 74                     # resource_name "t"
        00000001                    # configs: 1
        000c 726574656e74696f6e2e6d73   # name "retention.ms"
        00                          # config_operation SET
        0004 31303030               # value "1000"
        00                          # validate_only false
    """)
    decoded = INCREMENTAL.decode_request(body, 0, 0)
    assert decoded == {"resources": [{"resource_type": 2, "resource_name": "t", "configs": [
        {"name": "retention.ms", "config_operation": 0, "value": "1000"}]}], "validate_only": False}
    assert INCREMENTAL.encode_request_bytes(decoded, 0) == body


def test_incremental_alter_configs_v1_request_is_flexible():
    """v1: compact arrays and strings, a null value, tagged-field sections."""
    body = h("""
        02                          # resources: 1 (uvarint n+1)
        04                          # resource_type BROKER (4)
        01                          # resource_name "" (compact: 0+1)
        02                          # configs: 1
        0d 6d6573736167652e6d61782e6279746573   # name "message.max.bytes" -- length fixed below
        01                          # config_operation DELETE
        00                          # value null (compact nullable: 0)
        00                          # config tagged fields
        00                          # resource tagged fields
        01                          # validate_only true
        00                          # body tagged fields
    """.replace("0d 6d65", "12 6d65"))
    decoded = INCREMENTAL.decode_request(body, 1, 0)
    assert decoded == {"resources": [{"resource_type": 4, "resource_name": "", "configs": [
        {"name": "message.max.bytes", "config_operation": 1, "value": None}]}], "validate_only": True}
    assert INCREMENTAL.encode_request_bytes(decoded, 1) == body


def test_alter_configs_v1_response():
    """AlterConfigs v1 response: throttle, then per resource error code, null message, type and name."""
    response = {"throttle_time_ms": 0, "responses": [
        {"error_code": 40, "error_message": None, "resource_type": 2, "resource_name": "t"}]}
    assert pieces_to_bytes(ALTER_CONFIGS.encode_response(response, 1)) == h("""
        00000000        # throttle_time_ms 0
        00000001        # responses: 1
        0028            # error_code INVALID_CONFIG (40)
        ffff            # error_message null
        02              # resource_type TOPIC
        0001 74         # resource_name "t"
    """)
