"""The response a request gets when handling it failed: Kafka's ``getErrorResponse``.

Owns :func:`error_response` (api key, version, decoded request, error code → the
response body) and :func:`error_code_for` (exception → error code). When a handler
fails unexpectedly Kafka does not drop the connection: ``KafkaApis.handleError``
answers with ``request.getErrorResponse(e)``. Each API's shape is Kafka's
(``clients/src/main/java/org/apache/kafka/common/requests/*Request.java``):

- where the response has a top-level ``error_code`` that the clients read, it carries
  the code, and the per-item lists are empty (UpdateMetadata, Heartbeat, OffsetFetch
  v2+, …);
- otherwise the code goes on every topic, partition, group or resource the request
  named, in the request's order and structure (Produce, ListOffsets, OffsetCommit,
  CreateTopics, DescribeGroups, …); Fetch, LeaderAndIsr and StopReplica do both;
- Produce with ``acks=0`` gets no response: :func:`error_response` returns None and
  the connection is closed, so the producer notices (``ProduceRequest`` returns null).

Fields left out take their schema defaults, which are Kafka's (``-1`` offsets,
``INT32_MIN`` authorized operations). ``error_message`` stays null: Kafka leaks no
exception text for UNKNOWN_SERVER_ERROR either (``ApiError.fromThrowable``).
"""

from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.errors import KafkaError, UnknownServerError, UnsupportedVersionError

__all__ = ["ERROR_RESPONSE_KEYS", "error_code_for", "error_response"]


def error_code_for(exception):
    """The error code Kafka answers ``exception`` with (``Errors.forException``).

    A :class:`~kafkalite.protocol.errors.KafkaError` keeps its own code; anything
    else is UNKNOWN_SERVER_ERROR (-1).
    """
    if isinstance(exception, KafkaError):
        return exception.code
    return UnknownServerError.code


def error_response(api_key, api_version, request, error_code=UnknownServerError.code):
    """Return the response body answering ``request`` with ``error_code``.

    :param api_key: the request's api key.
    :param api_version: the request's version (some shapes change with it).
    :param request: the decoded request body (a dict; None only for ApiVersions).
    :param error_code: the code to answer with; default UNKNOWN_SERVER_ERROR.
    :return: the response dict for ``API_BY_KEY[api_key].encode_response``, or None
        when Kafka sends no response (Produce with ``acks=0``).
    :raises KeyError: for an api key the codec does not declare.
    """
    return _BUILDERS[api_key](request or {}, api_version, error_code)


def _each(items):
    """Iterate a request array that may be null."""
    return items if items is not None else ()


# -- client data path ------------------------------------------------------------------


def _produce(request, version, code):
    if request.get("acks") == 0:
        return None
    return {"throttle_time_ms": 0, "responses": [
        {"name": topic["name"], "partition_responses": [
            {"index": p["index"], "error_code": code, "base_offset": -1, "log_append_time_ms": -1,
             "log_start_offset": -1, "record_errors": [], "error_message": None}
            for p in _each(topic["partition_data"])]}
        for topic in _each(request.get("topic_data"))]}


def _fetch(request, version, code):
    # Both the top-level code (v7+; sessions may list no partitions) and every
    # partition's (older versions have no top-level code).
    return {"throttle_time_ms": 0, "error_code": code, "session_id": request.get("session_id", 0), "responses": [
        {"topic": topic["topic"], "partitions": [
            {"partition_index": p["partition"], "error_code": code, "high_watermark": -1,
             "last_stable_offset": -1, "log_start_offset": -1, "aborted_transactions": None, "records": b""}
            for p in _each(topic["partitions"])]}
        for topic in _each(request.get("topics"))]}


def _list_offsets(request, version, code):
    return {"throttle_time_ms": 0, "topics": [
        {"name": topic["name"], "partitions": [
            {"partition_index": p["partition_index"], "error_code": code, "old_style_offsets": []}
            for p in _each(topic["partitions"])]}
        for topic in _each(request.get("topics"))]}


def _metadata(request, version, code):
    # All topics (null, or an empty v0 list) names nothing to answer for.
    return {"throttle_time_ms": 0, "brokers": [], "cluster_id": None, "controller_id": -1, "topics": [
        {"error_code": code, "name": topic.get("name") or "", "topic_id": topic.get("topic_id"),
         "is_internal": False, "partitions": []}
        for topic in _each(request.get("topics"))]}


# -- controller → broker ---------------------------------------------------------------


def _leader_and_isr_partitions(request, version):
    """``(topic_name, partition_index)`` of every partition state, v0-1 flat or v2+ grouped."""
    if version <= 1:
        return [(p["topic_name"], p["partition_index"]) for p in _each(request.get("ungrouped_partition_states"))]
    return [(topic["topic_name"], p["partition_index"])
            for topic in _each(request.get("topic_states")) for p in _each(topic["partition_states"])]


def _leader_and_isr(request, version, code):
    if version >= 5:
        return {"error_code": code, "topics": [
            {"topic_id": topic["topic_id"], "partition_errors": [
                {"partition_index": p["partition_index"], "error_code": code}
                for p in _each(topic["partition_states"])]}
            for topic in _each(request.get("topic_states"))]}
    return {"error_code": code, "partition_errors": [
        {"topic_name": name, "partition_index": index, "error_code": code}
        for name, index in _leader_and_isr_partitions(request, version)]}


def _stop_replica_partitions(request, version):
    """``(topic_name, partition_index)`` of every partition: v0 flat, v1-2 indexes, v3 states."""
    if version == 0:
        return [(p["topic_name"], p["partition_index"]) for p in _each(request.get("ungrouped_partitions"))]
    if version <= 2:
        return [(topic["name"], index)
                for topic in _each(request.get("topics")) for index in _each(topic["partition_indexes"])]
    return [(topic["topic_name"], p["partition_index"])
            for topic in _each(request.get("topic_states")) for p in _each(topic["partition_states"])]


def _stop_replica(request, version, code):
    return {"error_code": code, "partition_errors": [
        {"topic_name": name, "partition_index": index, "error_code": code}
        for name, index in _stop_replica_partitions(request, version)]}


def _update_metadata(request, version, code):
    return {"error_code": code}


def _controlled_shutdown(request, version, code):
    return {"error_code": code, "remaining_partitions": []}


def _alter_isr(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "topics": []}


def _offset_for_leader_epoch(request, version, code):
    return {"throttle_time_ms": 0, "topics": [
        {"topic": topic["topic"], "partitions": [
            {"error_code": code, "partition": p["partition"], "leader_epoch": -1, "end_offset": -1}
            for p in _each(topic["partitions"])]}
        for topic in _each(request.get("topics"))]}


# -- groups and offsets ----------------------------------------------------------------


def _find_coordinator(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "error_message": None, "node_id": -1, "host": "",
            "port": -1}


def _join_group(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "generation_id": -1, "protocol_type": None,
            "protocol_name": None if version >= 7 else "", "leader": "", "member_id": "", "members": []}


def _heartbeat(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code}


def _leave_group(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "members": []}


def _sync_group(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "protocol_type": None, "protocol_name": None,
            "assignment": b""}


def _offset_commit(request, version, code):
    return {"throttle_time_ms": 0, "topics": [
        {"name": topic["name"], "partitions": [
            {"partition_index": p["partition_index"], "error_code": code} for p in _each(topic["partitions"])]}
        for topic in _each(request.get("topics"))]}


def _offset_fetch(request, version, code):
    if version >= 2:
        return {"throttle_time_ms": 0, "error_code": code, "topics": []}
    # v0-1 have no top-level code: every partition asked for carries it.
    return {"topics": [
        {"name": topic["name"], "partitions": [
            {"partition_index": index, "committed_offset": -1, "committed_leader_epoch": -1, "metadata": "",
             "error_code": code}
            for index in _each(topic["partition_indexes"])]}
        for topic in _each(request.get("topics"))]}


def _describe_groups(request, version, code):
    return {"throttle_time_ms": 0, "groups": [
        {"error_code": code, "group_id": group_id, "group_state": "", "protocol_type": "", "protocol_data": "",
         "members": []}
        for group_id in _each(request.get("groups"))]}


def _list_groups(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "groups": []}


def _delete_groups(request, version, code):
    return {"throttle_time_ms": 0, "results": [
        {"group_id": group_id, "error_code": code} for group_id in _each(request.get("groups_names"))]}


def _offset_delete(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "topics": []}


# -- ApiVersions, admin, producer ids --------------------------------------------------


def _api_versions(request, version, code):
    # KIP-511: with UNSUPPORTED_VERSION the reply lists our ApiVersions range, so the
    # client can retry with a version we know.
    api_keys = []
    if code == UnsupportedVersionError.code:
        api = API_BY_KEY[ApiKey.API_VERSIONS]
        api_keys.append({"api_key": int(ApiKey.API_VERSIONS), "min_version": api.min_version,
                         "max_version": api.max_version})
    return {"error_code": code, "api_keys": api_keys, "throttle_time_ms": 0}


def _create_topics(request, version, code):
    return {"throttle_time_ms": 0, "topics": [
        {"name": topic["name"], "error_code": code, "error_message": None}
        for topic in _each(request.get("topics"))]}


def _delete_topics(request, version, code):
    if version >= 6:
        named = [(topic["name"], topic["topic_id"]) for topic in _each(request.get("topics"))]
    else:
        named = [(name, None) for name in _each(request.get("topic_names"))]
    results = []
    for name, topic_id in named:
        entry = {"name": name, "error_code": code, "error_message": None}
        if topic_id is not None:
            entry["topic_id"] = topic_id
        results.append(entry)
    return {"throttle_time_ms": 0, "responses": results}


def _create_partitions(request, version, code):
    return {"throttle_time_ms": 0, "results": [
        {"name": topic["name"], "error_code": code, "error_message": None} for topic in _each(request.get("topics"))]}


def _delete_records(request, version, code):
    return {"throttle_time_ms": 0, "topics": [
        {"name": topic["name"], "partitions": [
            {"partition_index": p["partition_index"], "low_watermark": -1, "error_code": code}
            for p in _each(topic["partitions"])]}
        for topic in _each(request.get("topics"))]}


def _init_producer_id(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "producer_id": -1, "producer_epoch": -1}


def _describe_configs(request, version, code):
    return {"throttle_time_ms": 0, "results": [
        {"error_code": code, "error_message": None, "resource_type": resource["resource_type"],
         "resource_name": resource["resource_name"], "configs": []}
        for resource in _each(request.get("resources"))]}


def _alter_partition_reassignments(request, version, code):
    # Kafka answers the code at the top and for every partition asked for.
    return {"throttle_time_ms": 0, "error_code": code, "error_message": None, "responses": [
        {"name": topic["name"], "partitions": [
            {"partition_index": p["partition_index"], "error_code": code, "error_message": None}
            for p in _each(topic["partitions"])]}
        for topic in _each(request.get("topics"))]}


def _list_partition_reassignments(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "error_message": None, "topics": []}
def _alter_configs(request, version, code):
    """AlterConfigs and IncrementalAlterConfigs: the code on every resource named."""
    return {"throttle_time_ms": 0, "responses": [
        {"error_code": code, "error_message": None, "resource_type": resource["resource_type"],
         "resource_name": resource["resource_name"]}
        for resource in _each(request.get("resources"))]}


def _elect_leaders(request, version, code):
    # Kafka's ElectLeadersRequest.getErrorResponse: every named partition, and the top-level code from v1.
    return {"throttle_time_ms": 0, "error_code": code, "replica_election_results": [
        {"topic": topic["topic"], "partition_result": [
            {"partition_id": partition, "error_code": code, "error_message": None}
            for partition in _each(topic["partitions"])]}
        for topic in _each(request.get("topic_partitions"))]}


def _describe_log_dirs(request, version, code):
    # Kafka 2.8's DescribeLogDirsRequest.getErrorResponse carries no code at all (v0-2 have none).
    return {"throttle_time_ms": 0, "results": []}


def _describe_cluster(request, version, code):
    return {"throttle_time_ms": 0, "error_code": code, "error_message": None, "cluster_id": "",
            "controller_id": -1, "brokers": []}


_BUILDERS = {
    ApiKey.PRODUCE: _produce,
    ApiKey.FETCH: _fetch,
    ApiKey.LIST_OFFSETS: _list_offsets,
    ApiKey.METADATA: _metadata,
    ApiKey.LEADER_AND_ISR: _leader_and_isr,
    ApiKey.STOP_REPLICA: _stop_replica,
    ApiKey.UPDATE_METADATA: _update_metadata,
    ApiKey.CONTROLLED_SHUTDOWN: _controlled_shutdown,
    ApiKey.OFFSET_COMMIT: _offset_commit,
    ApiKey.OFFSET_FETCH: _offset_fetch,
    ApiKey.FIND_COORDINATOR: _find_coordinator,
    ApiKey.JOIN_GROUP: _join_group,
    ApiKey.HEARTBEAT: _heartbeat,
    ApiKey.LEAVE_GROUP: _leave_group,
    ApiKey.SYNC_GROUP: _sync_group,
    ApiKey.DESCRIBE_GROUPS: _describe_groups,
    ApiKey.LIST_GROUPS: _list_groups,
    ApiKey.API_VERSIONS: _api_versions,
    ApiKey.CREATE_TOPICS: _create_topics,
    ApiKey.DELETE_TOPICS: _delete_topics,
    ApiKey.DELETE_RECORDS: _delete_records,
    ApiKey.INIT_PRODUCER_ID: _init_producer_id,
    ApiKey.OFFSET_FOR_LEADER_EPOCH: _offset_for_leader_epoch,
    ApiKey.DESCRIBE_CONFIGS: _describe_configs,
    ApiKey.ALTER_CONFIGS: _alter_configs,
    ApiKey.INCREMENTAL_ALTER_CONFIGS: _alter_configs,
    ApiKey.CREATE_PARTITIONS: _create_partitions,
    ApiKey.DELETE_GROUPS: _delete_groups,
    ApiKey.OFFSET_DELETE: _offset_delete,
    ApiKey.ALTER_ISR: _alter_isr,
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: _alter_partition_reassignments,
    ApiKey.LIST_PARTITION_REASSIGNMENTS: _list_partition_reassignments,
    ApiKey.ELECT_LEADERS: _elect_leaders,
    ApiKey.DESCRIBE_LOG_DIRS: _describe_log_dirs,
    ApiKey.DESCRIBE_CLUSTER: _describe_cluster,
}

#: The api keys :func:`error_response` knows (every API the codec declares).
ERROR_RESPONSE_KEYS = frozenset(_BUILDERS)
