"""The error response of every API at every version (Kafka's getErrorResponse).

Each sample request is encoded and decoded at the version under test, so the builder
sees exactly what a handler would; the built response must encode with the real codec,
decode back, carry the code where Kafka puts it (top level, or on every item the
request named, mirroring its structure) and carry no other code.
"""

from uuid import UUID

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.error_responses import ERROR_RESPONSE_KEYS, error_code_for, error_response
from kafkalite.protocol.types import ZERO_UUID

UNKNOWN = errors.UnknownServerError.code
TOPIC_ID = UUID(int=0x0102030405060708090A0B0C0D0E0F10)


def _topic_id(version, since):
    return TOPIC_ID if version >= since else ZERO_UUID


def _produce(version):
    request = {"acks": -1, "timeout_ms": 100, "topic_data": [
        {"name": "a", "partition_data": [{"index": 0, "records": b""}, {"index": 2, "records": None}]},
        {"name": "b", "partition_data": [{"index": 1, "records": b""}]}]}
    expected = {"responses": [
        {"name": "a", "partition_responses": [{"index": 0, "error_code": UNKNOWN, "base_offset": -1},
                                              {"index": 2, "error_code": UNKNOWN, "base_offset": -1}]},
        {"name": "b", "partition_responses": [{"index": 1, "error_code": UNKNOWN, "base_offset": -1}]}]}
    return request, expected


def _fetch(version):
    partitions = [{"partition": 0, "fetch_offset": 5, "partition_max_bytes": 9},
                  {"partition": 3, "fetch_offset": 0, "partition_max_bytes": 9}]
    request = {"replica_id": -1, "max_wait_ms": 500, "min_bytes": 1, "session_id": 7 if version >= 7 else 0,
               "topics": [{"topic": "a", "partitions": partitions}]}
    expected = {"responses": [{"topic": "a", "partitions": [
        {"partition_index": 0, "error_code": UNKNOWN, "high_watermark": -1},
        {"partition_index": 3, "error_code": UNKNOWN, "high_watermark": -1}]}]}
    if version >= 7:
        expected.update(error_code=UNKNOWN, session_id=7)
    return request, expected


def _list_offsets(version):
    request = {"replica_id": -1, "topics": [{"name": "a", "partitions": [{"partition_index": 4, "timestamp": -1}]}]}
    partition = {"partition_index": 4, "error_code": UNKNOWN}
    if version >= 1:
        partition.update(offset=-1, timestamp=-1)
    else:
        partition.update(old_style_offsets=[])
    return request, {"topics": [{"name": "a", "partitions": [partition]}]}


def _metadata(version):
    request = {"topics": [{"name": "a", "topic_id": _topic_id(version, 10)}, {"name": "b"}],
               "allow_auto_topic_creation": True}
    return request, {"brokers": [], "topics": [
        {"name": "a", "error_code": UNKNOWN, "partitions": [], "topic_id": _topic_id(version, 10)},
        {"name": "b", "error_code": UNKNOWN, "partitions": []}]}


def _leader_and_isr(version):
    state = {"controller_epoch": 1, "leader": 1, "leader_epoch": 2, "isr": [1], "zk_version": 0, "replicas": [1]}
    request = {"controller_id": 1, "controller_epoch": 1,
               "ungrouped_partition_states": [dict(state, topic_name="a", partition_index=0),
                                              dict(state, topic_name="b", partition_index=5)],
               "topic_states": [{"topic_name": "a", "topic_id": TOPIC_ID,
                                 "partition_states": [dict(state, partition_index=0)]},
                                {"topic_name": "b", "topic_id": TOPIC_ID,
                                 "partition_states": [dict(state, partition_index=5)]}],
               "live_leaders": []}
    if version >= 5:
        return request, {"error_code": UNKNOWN, "topics": [
            {"topic_id": TOPIC_ID, "partition_errors": [{"partition_index": 0, "error_code": UNKNOWN}]},
            {"topic_id": TOPIC_ID, "partition_errors": [{"partition_index": 5, "error_code": UNKNOWN}]}]}
    return request, {"error_code": UNKNOWN, "partition_errors": [
        {"topic_name": "a", "partition_index": 0, "error_code": UNKNOWN},
        {"topic_name": "b", "partition_index": 5, "error_code": UNKNOWN}]}


def _stop_replica(version):
    request = {"controller_id": 1, "controller_epoch": 1,
               "ungrouped_partitions": [{"topic_name": "a", "partition_index": 0},
                                        {"topic_name": "a", "partition_index": 1}],
               "topics": [{"name": "a", "partition_indexes": [0, 1]}],
               "topic_states": [{"topic_name": "a", "partition_states": [{"partition_index": 0},
                                                                         {"partition_index": 1}]}]}
    return request, {"error_code": UNKNOWN, "partition_errors": [
        {"topic_name": "a", "partition_index": 0, "error_code": UNKNOWN},
        {"topic_name": "a", "partition_index": 1, "error_code": UNKNOWN}]}


def _offset_commit(version):
    request = {"group_id": "g", "topics": [{"name": "a", "partitions": [
        {"partition_index": 0, "committed_offset": 3, "committed_metadata": None},
        {"partition_index": 1, "committed_offset": 4, "committed_metadata": ""}]}]}
    return request, {"topics": [{"name": "a", "partitions": [{"partition_index": 0, "error_code": UNKNOWN},
                                                             {"partition_index": 1, "error_code": UNKNOWN}]}]}


def _offset_fetch(version):
    request = {"group_id": "g", "topics": [{"name": "a", "partition_indexes": [0, 2]}]}
    if version >= 2:
        return request, {"error_code": UNKNOWN, "topics": []}
    return request, {"topics": [{"name": "a", "partitions": [
        {"partition_index": 0, "committed_offset": -1, "error_code": UNKNOWN},
        {"partition_index": 2, "committed_offset": -1, "error_code": UNKNOWN}]}]}


def _join_group(version):
    request = {"group_id": "g", "session_timeout_ms": 10_000, "member_id": "", "protocol_type": "consumer",
               "protocols": [{"name": "range", "metadata": b""}]}
    return request, {"error_code": UNKNOWN, "generation_id": -1, "member_id": "", "leader": "", "members": [],
                     "protocol_name": None if version >= 7 else ""}


def _describe_groups(version):
    return {"groups": ["g", "h"]}, {"groups": [
        {"group_id": "g", "error_code": UNKNOWN, "members": [], "group_state": ""},
        {"group_id": "h", "error_code": UNKNOWN, "members": [], "group_state": ""}]}


def _create_topics(version):
    request = {"topics": [{"name": "a", "num_partitions": 3, "replication_factor": 1},
                          {"name": "b", "num_partitions": -1, "replication_factor": -1}], "timeout_ms": 10}
    return request, {"topics": [{"name": "a", "error_code": UNKNOWN}, {"name": "b", "error_code": UNKNOWN}]}


def _delete_topics(version):
    request = {"topic_names": ["a", "b"], "topics": [{"name": "a", "topic_id": TOPIC_ID},
                                                    {"name": "b", "topic_id": TOPIC_ID}], "timeout_ms": 10}
    return request, {"responses": [{"name": "a", "error_code": UNKNOWN, "topic_id": _topic_id(version, 6)},
                                   {"name": "b", "error_code": UNKNOWN, "topic_id": _topic_id(version, 6)}]}


def _describe_configs(version):
    request = {"resources": [{"resource_type": 2, "resource_name": "a", "configuration_keys": None},
                             {"resource_type": 4, "resource_name": "1", "configuration_keys": ["x"]}]}
    return request, {"results": [
        {"resource_type": 2, "resource_name": "a", "error_code": UNKNOWN, "configs": []},
        {"resource_type": 4, "resource_name": "1", "error_code": UNKNOWN, "configs": []}]}


def _alter_configs(version):
    request = {"resources": [{"resource_type": 2, "resource_name": "a", "configs": [{"name": "x", "value": "1"}]},
                             {"resource_type": 4, "resource_name": "", "configs": []}], "validate_only": False}
    return request, {"responses": [{"resource_type": 2, "resource_name": "a", "error_code": UNKNOWN},
                                   {"resource_type": 4, "resource_name": "", "error_code": UNKNOWN}]}


def _incremental_alter_configs(version):
    request = {"resources": [{"resource_type": 2, "resource_name": "a", "configs": [
        {"name": "x", "config_operation": 1, "value": None}]}], "validate_only": True}
    return request, {"responses": [{"resource_type": 2, "resource_name": "a", "error_code": UNKNOWN}]}


def _offset_for_leader_epoch(version):
    request = {"topics": [{"topic": "a", "partitions": [{"partition": 0, "leader_epoch": 3},
                                                        {"partition": 1, "leader_epoch": 3}]}]}
    return request, {"topics": [{"topic": "a", "partitions": [
        {"partition": 0, "error_code": UNKNOWN, "end_offset": -1},
        {"partition": 1, "error_code": UNKNOWN, "end_offset": -1}]}]}


def _delete_groups(version):
    return {"groups_names": ["g", "h"]}, {"results": [{"group_id": "g", "error_code": UNKNOWN},
                                                      {"group_id": "h", "error_code": UNKNOWN}]}


def _create_partitions(version):
    request = {"topics": [{"name": "a", "count": 4, "assignments": None}], "timeout_ms": 10}
    return request, {"results": [{"name": "a", "error_code": UNKNOWN}]}


def _delete_records(version):
    request = {"topics": [{"name": "a", "partitions": [{"partition_index": 2, "offset": 5}]}], "timeout_ms": 10}
    return request, {"topics": [{"name": "a", "partitions": [
        {"partition_index": 2, "error_code": UNKNOWN, "low_watermark": -1}]}]}


def _elect_leaders(version):
    request = {"election_type": 0, "topic_partitions": [{"topic": "a", "partitions": [0, 3]}], "timeout_ms": 10}
    top = {"error_code": UNKNOWN} if version >= 1 else {}
    return request, {**top, "replica_election_results": [{"topic": "a", "partition_result": [
        {"partition_id": 0, "error_code": UNKNOWN}, {"partition_id": 3, "error_code": UNKNOWN}]}]}


def _top_level(request, **expected):
    """An API answered with a top-level code only."""
    return lambda version: (request, {"error_code": UNKNOWN, **expected})


CASES = {
    ApiKey.PRODUCE: _produce,
    ApiKey.FETCH: _fetch,
    ApiKey.LIST_OFFSETS: _list_offsets,
    ApiKey.METADATA: _metadata,
    ApiKey.LEADER_AND_ISR: _leader_and_isr,
    ApiKey.STOP_REPLICA: _stop_replica,
    ApiKey.UPDATE_METADATA: _top_level({"controller_id": 1, "controller_epoch": 1, "live_brokers": []}),
    ApiKey.CONTROLLED_SHUTDOWN: _top_level({"broker_id": 2}, remaining_partitions=[]),
    ApiKey.OFFSET_COMMIT: _offset_commit,
    ApiKey.OFFSET_FETCH: _offset_fetch,
    ApiKey.FIND_COORDINATOR: _top_level({"key": "g"}, node_id=-1, host="", port=-1),
    ApiKey.JOIN_GROUP: _join_group,
    ApiKey.HEARTBEAT: _top_level({"group_id": "g", "generation_id": 1, "member_id": "m"}),
    ApiKey.LEAVE_GROUP: _top_level({"group_id": "g", "member_id": "m", "members": [{"member_id": "m"}]}, members=[]),
    ApiKey.SYNC_GROUP: _top_level({"group_id": "g", "generation_id": 1, "member_id": "m", "assignments": []},
                                  assignment=b""),
    ApiKey.DESCRIBE_GROUPS: _describe_groups,
    ApiKey.LIST_GROUPS: _top_level({}, groups=[]),
    ApiKey.API_VERSIONS: _top_level({"client_software_name": "x", "client_software_version": "1"}, api_keys=[]),
    ApiKey.CREATE_TOPICS: _create_topics,
    ApiKey.DELETE_TOPICS: _delete_topics,
    ApiKey.DELETE_RECORDS: _delete_records,
    ApiKey.INIT_PRODUCER_ID: _top_level({"transactional_id": None, "transaction_timeout_ms": 1},
                                        producer_id=-1, producer_epoch=-1),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: _offset_for_leader_epoch,
    ApiKey.DESCRIBE_CONFIGS: _describe_configs,
    ApiKey.ALTER_CONFIGS: _alter_configs,
    ApiKey.INCREMENTAL_ALTER_CONFIGS: _incremental_alter_configs,
    ApiKey.CREATE_PARTITIONS: _create_partitions,
    ApiKey.DELETE_GROUPS: _delete_groups,
    ApiKey.OFFSET_DELETE: _top_level({"group_id": "g", "topics": [{"name": "a", "partitions": [
        {"partition_index": 0}]}]}, topics=[]),
    ApiKey.ALTER_ISR: _top_level({"broker_id": 1, "topics": [{"name": "a", "partitions": [
        {"partition_index": 0, "leader_epoch": 1, "new_isr": [1], "current_isr_version": 0}]}]}, topics=[]),
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: _top_level(
        {"timeout_ms": 1, "topics": [{"name": "a", "partitions": [{"partition_index": 0, "replicas": [1]}]}]},
        responses=[{"name": "a", "partitions": [{"partition_index": 0, "error_code": UNKNOWN}]}]),
    ApiKey.LIST_PARTITION_REASSIGNMENTS: _top_level({"timeout_ms": 1, "topics": None}, topics=[]),
    ApiKey.ELECT_LEADERS: _elect_leaders,
    # Kafka 2.8 answers a failed DescribeLogDirs with no results and, before v3, nowhere to put a code.
    ApiKey.DESCRIBE_LOG_DIRS: lambda version: ({"topics": None}, {"results": []}),
    ApiKey.DESCRIBE_CLUSTER: _top_level({"include_cluster_authorized_operations": False}, brokers=[],
                                        controller_id=-1),
}

#: APIs whose error response has no error code field in any version Kafka 2.8 knows.
CODELESS_ERROR_RESPONSES = {ApiKey.DESCRIBE_LOG_DIRS}


def assert_contains(actual, expected, path="response"):
    """``actual`` has every key of ``expected`` with a matching value; lists match item by item."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing"
            assert_contains(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_contains(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def error_codes(fields, value, version):
    """Every ``error_code`` the version carries in a decoded response (absent fields decode as defaults)."""
    found = []
    for field in fields:
        if version not in field.versions:
            continue
        item = value[field.name]
        if field.name == "error_code":
            found.append(item)
        elif field.is_struct() and item is not None:
            for element in item if field.type.is_array else [item]:
                found.extend(error_codes(field.type.fields, element, version))
    return found


def as_decoded(api, request, version):
    """The request as a handler sees it at ``version``: encoded, then decoded."""
    return api.decode_request(api.encode_request_bytes(request, version), version)


ALL_VERSIONS = [(key, version) for key, api in sorted(API_BY_KEY.items())
                for version in range(api.min_version, api.max_version + 1)]


@pytest.mark.parametrize(("api_key", "version"), ALL_VERSIONS,
                         ids=[f"{API_BY_KEY[k].name}-v{v}" for k, v in ALL_VERSIONS])
def test_error_response_encodes_and_carries_the_code_where_kafka_puts_it(api_key, version):
    """Built from the decoded request, encoded and decoded again: Kafka's shape, code -1 and only -1."""
    api = API_BY_KEY[api_key]
    request, expected = CASES[api_key](version)
    response = error_response(api_key, version, as_decoded(api, request, version))
    decoded = api.decode_response(api.encode_response_bytes(response, version), version)
    assert_contains(decoded, expected)
    codes = error_codes(api.response.fields, decoded, version)
    if api_key in CODELESS_ERROR_RESPONSES:
        assert codes == []
        return
    assert codes and set(codes) == {UNKNOWN}


def test_every_served_api_at_every_served_version_is_covered():
    """Every API the broker advertises, at every advertised version, has a builder and a case above."""
    from kafkalite.server.apis import ADVERTISED_VERSIONS

    assert set(ERROR_RESPONSE_KEYS) == set(API_BY_KEY) == set(CASES)
    for key, (low, high) in ADVERTISED_VERSIONS.items():
        assert API_BY_KEY[key].min_version <= low and high <= API_BY_KEY[key].max_version


def test_acks_0_produce_gets_no_response():
    """Kafka's ProduceRequest.getErrorResponse is null for acks=0: the caller closes instead."""
    request, _ = _produce(9)
    request["acks"] = 0
    assert error_response(ApiKey.PRODUCE, 9, request) is None


def test_unsupported_version_api_versions_lists_our_range():
    """KIP-511: UNSUPPORTED_VERSION from ApiVersions names the ApiVersions range we serve, in a v0 body."""
    api = API_BY_KEY[ApiKey.API_VERSIONS]
    response = error_response(ApiKey.API_VERSIONS, 0, None, errors.UnsupportedVersionError.code)
    decoded = api.decode_response(api.encode_response_bytes(response, 0), 0)
    assert_contains(decoded, {"error_code": 35, "api_keys": [
        {"api_key": 18, "min_version": api.min_version, "max_version": api.max_version}]})


def test_other_codes_go_where_the_unknown_server_error_goes():
    """The code is a parameter: NOT_CONTROLLER lands on every CreateTopics topic."""
    request, _ = _create_topics(7)
    response = error_response(ApiKey.CREATE_TOPICS, 7, request, errors.NotControllerError.code)
    assert [t["error_code"] for t in response["topics"]] == [41, 41]


def test_error_code_for_maps_kafka_errors_to_their_code_and_the_rest_to_unknown():
    """Errors.forException: a KafkaError keeps its code; any other exception is UNKNOWN_SERVER_ERROR."""
    assert error_code_for(errors.NotLeaderOrFollowerError("moved")) == 6
    assert error_code_for(errors.UnknownServerError()) == -1
    assert error_code_for(RuntimeError("boom")) == -1
    assert error_code_for(KeyError("x")) == -1
