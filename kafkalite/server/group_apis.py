"""Handlers of the group-coordination and offset APIs: requests in, coordinator calls, responses out.

FindCoordinator (creating ``__consumer_offsets`` on first use, as Kafka does),
JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
DescribeGroups, ListGroups, DeleteGroups and OffsetDelete. Every group and offset
request goes to :class:`kafkalite.coordinator.group_coordinator.GroupCoordinator`, as
Kafka's ``KafkaApis`` routes them: the coordinator admits it by the group's state and
its group metadata manager reads or writes the offsets. This module only maps each
API version's fields. OffsetCommit v0 and OffsetFetch v0 keep Kafka's legacy
behaviour: offsets in ZooKeeper under ``/consumers/<group>/offsets/<topic>/<partition>``.
"""

from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.coordinator.group import OffsetAndMetadata
from kafkalite.coordinator.group_metadata_manager import OFFSETS_TOPIC
from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.zkclient import NodeExistsError, NoNodeError

__all__ = ["GroupApis", "GROUP_API_VERSIONS", "offsets_topic_configs"]

#: Kafka 2.8's ranges (reference §1.1).
GROUP_API_VERSIONS = {
    ApiKey.OFFSET_COMMIT: (0, 8),
    ApiKey.OFFSET_FETCH: (0, 7),
    ApiKey.FIND_COORDINATOR: (0, 3),
    ApiKey.JOIN_GROUP: (0, 7),
    ApiKey.HEARTBEAT: (0, 4),
    ApiKey.LEAVE_GROUP: (0, 4),
    ApiKey.SYNC_GROUP: (0, 5),
    ApiKey.DESCRIBE_GROUPS: (0, 5),
    ApiKey.LIST_GROUPS: (0, 4),
    ApiKey.DELETE_GROUPS: (0, 2),
    ApiKey.OFFSET_DELETE: (0, 0),
}

GROUP_KEY_TYPE = 0
COORDINATOR_NOT_AVAILABLE = errors.CoordinatorNotAvailableError.code


def offsets_topic_configs(config):
    """Topic configs of ``__consumer_offsets`` (Kafka's GroupMetadataManager.offsetsTopicConfigs)."""
    return {"cleanup.policy": "compact", "segment.bytes": str(config.offsets_topic_segment_bytes),
            "compression.type": "producer"}


class GroupApis:
    """The group APIs' handlers, given the collaborators they use.

    :param coordinator: the :class:`~kafkalite.coordinator.group_coordinator.GroupCoordinator`.
    :param metadata_cache: the broker's metadata cache (``partition``, ``partitions``, ``brokers``).
    :param topic_admin: creates ``__consumer_offsets`` (``create_topic``).
    :param zk: the ZooKeeper client, for OffsetCommit/OffsetFetch v0's legacy offsets.
    :param config: the broker config (``offsets_topic_*``, ``offset_metadata_max_bytes``).
    """

    log = Logger()

    def __init__(self, coordinator, metadata_cache, topic_admin, zk, config):
        self.coordinator = coordinator
        self.metadata_cache = metadata_cache
        self.topic_admin = topic_admin
        self.zk = zk
        self.config = config

    def handlers(self):
        return {
            ApiKey.FIND_COORDINATOR: self.handle_find_coordinator,
            ApiKey.JOIN_GROUP: self.handle_join_group,
            ApiKey.SYNC_GROUP: self.handle_sync_group,
            ApiKey.HEARTBEAT: self.handle_heartbeat,
            ApiKey.LEAVE_GROUP: self.handle_leave_group,
            ApiKey.OFFSET_COMMIT: self.handle_offset_commit,
            ApiKey.OFFSET_FETCH: self.handle_offset_fetch,
            ApiKey.DESCRIBE_GROUPS: self.handle_describe_groups,
            ApiKey.LIST_GROUPS: self.handle_list_groups,
            ApiKey.DELETE_GROUPS: self.handle_delete_groups,
            ApiKey.OFFSET_DELETE: self.handle_offset_delete,
        }

    # -- FindCoordinator -----------------------------------------------------------------

    async def handle_find_coordinator(self, context, request):
        def answer(code, node_id=-1, host="", port=-1):
            return {"throttle_time_ms": 0, "error_code": code, "error_message": None if not code else
                    errors.error_for_code(code).__name__, "node_id": node_id, "host": host, "port": port}

        if request.get("key_type", GROUP_KEY_TYPE) != GROUP_KEY_TYPE:
            # No transaction coordinator exists yet.
            return answer(COORDINATOR_NOT_AVAILABLE)
        cache = self.metadata_cache
        partition = self.coordinator.partition_for(request["key"])
        info = cache.partition(OFFSETS_TOPIC, partition)
        if info is None:
            if cache.partitions(OFFSETS_TOPIC) is None:
                await self._create_offsets_topic()
            return answer(COORDINATOR_NOT_AVAILABLE)
        broker = cache.brokers.get(info.leader) if info.leader >= 0 else None
        endpoint = broker.endpoint(context.listener_name) if broker is not None else None
        if endpoint is None:
            return answer(COORDINATOR_NOT_AVAILABLE)
        return answer(0, info.leader, endpoint.host, endpoint.port)

    async def _create_offsets_topic(self):
        config = self.config
        try:
            await self.topic_admin.create_topic(
                OFFSETS_TOPIC, config.offsets_topic_num_partitions, config.offsets_topic_replication_factor,
                configs=offsets_topic_configs(config))
        except errors.TopicAlreadyExistsError:
            pass
        except errors.KafkaError as error:
            # Kafka answers COORDINATOR_NOT_AVAILABLE until enough brokers are alive.
            self.log.warn("cannot create {topic} yet: {error}", topic=OFFSETS_TOPIC, error=error)

    # -- membership ----------------------------------------------------------------------

    def handle_join_group(self, context, request):
        version = context.api_version
        protocols = [(p["name"], p["metadata"]) for p in request["protocols"]]
        rebalance_timeout_ms = request.get("rebalance_timeout_ms", -1) if version >= 1 else -1
        d = self.coordinator.join_group(
            request["group_id"], request["member_id"], request.get("group_instance_id"), version >= 4,
            context.client_id or "", context.client_host, rebalance_timeout_ms, request["session_timeout_ms"],
            request["protocol_type"], protocols)

        def respond(result):
            response = dict(result, throttle_time_ms=0)
            if version < 7:
                response["protocol_name"] = response["protocol_name"] or ""
            return response
        return d.addCallback(respond)

    def handle_sync_group(self, context, request):
        assignments = {a["member_id"]: a["assignment"] for a in request.get("assignments") or ()}
        d = self.coordinator.sync_group(
            request["group_id"], request["generation_id"], request["member_id"], request.get("group_instance_id"),
            request.get("protocol_type"), request.get("protocol_name"), assignments)
        return d.addCallback(lambda result: dict(result, throttle_time_ms=0))

    def handle_heartbeat(self, context, request):
        code = self.coordinator.heartbeat(request["group_id"], request["member_id"], request.get("group_instance_id"),
                                          request["generation_id"])
        return {"throttle_time_ms": 0, "error_code": code}

    def handle_leave_group(self, context, request):
        if context.api_version < 3:
            members = [(request["member_id"], None)]
        else:
            members = [(m["member_id"], m.get("group_instance_id")) for m in request["members"]]
        code, results = self.coordinator.leave_group(request["group_id"], members)
        if context.api_version < 3:
            return {"throttle_time_ms": 0, "error_code": code or results[0], "members": []}
        return {"throttle_time_ms": 0, "error_code": code, "members": [
            {"member_id": member_id, "group_instance_id": instance_id, "error_code": result}
            for (member_id, instance_id), result in zip(members, results)]}

    # -- offsets -------------------------------------------------------------------------

    async def handle_offset_commit(self, context, request):
        version = context.api_version
        if version == 0:
            results = await self._commit_to_zookeeper(request)
        else:
            offsets = {}
            results = {}
            for key, p in self._known_partitions(request, results):
                offsets[key] = (p["committed_offset"], p.get("committed_leader_epoch", -1),
                                p.get("committed_metadata"))
            retention_ms = request.get("retention_time_ms", -1) if 2 <= version <= 4 else -1
            if offsets:
                results.update(await self.coordinator.commit_offsets(
                    request["group_id"], request["member_id"], request.get("group_instance_id"),
                    request["generation_id"], offsets, retention_ms))
        return {"throttle_time_ms": 0, "topics": [
            {"name": topic["name"], "partitions": [
                {"partition_index": p["partition_index"], "error_code": results[(topic["name"], p["partition_index"])]}
                for p in topic["partitions"]]}
            for topic in request["topics"]]}

    async def _commit_to_zookeeper(self, request):
        """OffsetCommit v0: Kafka wrote these to ZooKeeper, for the old Scala consumer's tools."""
        results = {}
        group = request["group_id"]
        max_metadata = self.config.offset_metadata_max_bytes
        for key, p in self._known_partitions(request, results):
            if len((p.get("committed_metadata") or "").encode("utf-8")) > max_metadata:
                results[key] = errors.OffsetMetadataTooLargeError.code
                continue
            path = zkdata.consumer_offset_path(group, *key)
            data = zkdata.encode_consumer_offset(p["committed_offset"])
            try:
                try:
                    await self.zk.set(path, data)
                except NoNodeError:
                    try:
                        await self.zk.create(path, data, makepath=True)
                    except NodeExistsError:
                        await self.zk.set(path, data)
                results[key] = 0
            except Exception as error:  # noqa: BLE001 -- any ZooKeeper failure is an unknown error to the client
                self.log.warn("committing {path} to ZooKeeper failed: {error}", path=path, error=error)
                results[key] = errors.UnknownServerError.code
        return results

    def _known_partitions(self, request, results):
        """Yield ``(key, partition)`` for each requested partition the metadata cache knows.

        The others get UNKNOWN_TOPIC_OR_PARTITION in ``results`` (keyed by ``(topic, partition)``).
        """
        for topic in request["topics"]:
            for p in topic["partitions"]:
                key = (topic["name"], p["partition_index"])
                if self.metadata_cache.partition(*key) is None:
                    results[key] = errors.UnknownTopicOrPartitionError.code
                    continue
                yield key, p

    async def handle_offset_fetch(self, context, request):
        version = context.api_version
        group = request["group_id"]
        requested = request.get("topics")
        wanted = None if requested is None else [(t["name"], p) for t in requested for p in t["partition_indexes"]]
        if version == 0:
            code, found = 0, await self._fetch_from_zookeeper(group, wanted)
        else:
            code, found = self.coordinator.fetch_offsets(group, wanted)
            if code:
                found = [(t, p, None) for t, p in wanted or ()]
        by_topic = {}
        for topic, partition, value in found:
            partition_code = code if version < 2 or requested is not None else 0
            if isinstance(value, int):  # an error for this partition alone
                value, partition_code = None, value
            by_topic.setdefault(topic, []).append({
                "partition_index": partition,
                "committed_offset": value.offset if value is not None else -1,
                "committed_leader_epoch": value.leader_epoch if value is not None else -1,
                "metadata": value.metadata if value is not None else "",
                "error_code": partition_code,
            })
        response = {"throttle_time_ms": 0, "error_code": code,
                    "topics": [{"name": name, "partitions": parts} for name, parts in by_topic.items()]}
        return response

    async def _fetch_from_zookeeper(self, group, wanted):
        found = []
        for topic, partition in wanted or ():
            if self.metadata_cache.partition(topic, partition) is None:
                found.append((topic, partition, errors.UnknownTopicOrPartitionError.code))
                continue
            try:
                data, _ = await self.zk.get(zkdata.consumer_offset_path(group, topic, partition))
                found.append((topic, partition, OffsetAndMetadata(zkdata.decode_consumer_offset(data))))
            except NoNodeError:
                found.append((topic, partition, None))
        return found

    async def handle_offset_delete(self, context, request):
        partitions = [(t["name"], p["partition_index"]) for t in request["topics"] for p in t["partitions"]]
        code, results = await self.coordinator.delete_offsets(request["group_id"], partitions)
        return {"error_code": code, "throttle_time_ms": 0, "topics": [] if code else [
            {"name": t["name"], "partitions": [
                {"partition_index": p["partition_index"], "error_code": results[(t["name"], p["partition_index"])]}
                for p in t["partitions"]]}
            for t in request["topics"]]}

    # -- admin ---------------------------------------------------------------------------

    def handle_describe_groups(self, context, request):
        groups = []
        for group_id in request["groups"]:
            entry = self.coordinator.describe_group(group_id)
            entry["authorized_operations"] = -2147483648
            groups.append(entry)
        return {"throttle_time_ms": 0, "groups": groups}

    def handle_list_groups(self, context, request):
        code, groups = self.coordinator.list_groups(request.get("states_filter"))
        return {"throttle_time_ms": 0, "error_code": code, "groups": [
            {"group_id": group_id, "protocol_type": protocol_type, "group_state": state}
            for group_id, protocol_type, state in groups]}

    async def handle_delete_groups(self, context, request):
        results = await self.coordinator.delete_groups(request["groups_names"])
        return {"throttle_time_ms": 0, "results": [
            {"group_id": group_id, "error_code": code} for group_id, code in results.items()]}
