"""Handlers of the topic administration APIs: CreateTopics, CreatePartitions and DeleteTopics.

CreateTopics, CreatePartitions and DeleteTopics are the controller's (others answer
NOT_CONTROLLER): they write the topic's znodes through
:class:`~kafkalite.server.topic_admin.TopicAdmin` and, within the request's timeout, wait
for the outcome to reach this broker's metadata cache, which only the controller's
UpdateMetadata changes (Kafka's ``DelayedCreatePartitions``/``DelayedDeleteTopics``).
CreateTopics v5+ answers each new topic's effective configs, partition count and
replication factor (v7: its topic id). The config APIs are in
:mod:`kafkalite.server.config_apis`.
"""

from twisted.internet import defer

from kafkalite import zkdata
from kafkalite.config_dynamic import SOURCE_DEFAULT, SOURCE_DYNAMIC_TOPIC
from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.server.topic_admin import topic_id_as_uuid

__all__ = ["AdminApis", "ADMIN_API_VERSIONS"]

#: API key → (min, max) version served (Kafka 2.8's ranges).
ADMIN_API_VERSIONS = {
    ApiKey.CREATE_TOPICS: (0, 7),
    ApiKey.CREATE_PARTITIONS: (0, 3),
    ApiKey.DELETE_TOPICS: (0, 6),
}


class AdminApis:
    """The topic administration handlers, given the collaborators they use.

    :param config: the broker config (``broker_id``, ``num_partitions``,
        ``default_replication_factor``, ``delete_topic_enable``, ``raw``).
    :param controller: this broker's controller (``is_active``).
    :param topic_admin: the :class:`~kafkalite.server.topic_admin.TopicAdmin`.
    :param metadata_cache: the broker's :class:`~kafkalite.replica.metadata_cache.MetadataCache`.
    :param reactor: ``IReactorTime`` for the requests' timeouts.
    :param describe_topic_configs: ``(overrides) -> [(name, value, source, read_only, sensitive, type,
        synonyms)]``, a new topic's configs as DescribeConfigs reports them (CreateTopics v5+); without it,
        the defaults and the overrides only.
    """

    def __init__(self, config, controller, topic_admin, metadata_cache, reactor, describe_topic_configs=None):
        self.config = config
        self._describe_topic_configs = describe_topic_configs
        self.controller = controller
        self.topic_admin = topic_admin
        self.metadata_cache = metadata_cache
        self.reactor = reactor

    def handlers(self):
        return {
            ApiKey.CREATE_TOPICS: self.handle_create_topics,
            ApiKey.CREATE_PARTITIONS: self.handle_create_partitions,
            ApiKey.DELETE_TOPICS: self.handle_delete_topics,
        }

    # -- CreateTopics / DeleteTopics -----------------------------------------------------

    async def handle_create_topics(self, context, request):
        is_controller = self.controller.is_active
        validate_only = request.get("validate_only", False)
        names = [topic["name"] for topic in request["topics"]]
        duplicates = {name for name in names if names.count(name) > 1}
        results = []
        created = []

        async def create(topic, entry):
            try:
                num_partitions = topic["num_partitions"]
                replication_factor = topic["replication_factor"]
                assignment = {a["partition_index"]: list(a["broker_ids"]) for a in topic.get("assignments") or ()}
                if assignment and (num_partitions != -1 or replication_factor != -1):
                    raise errors.InvalidRequestError(
                        "Both numPartitions or replicationFactor and replicasAssignments were set.")
                if num_partitions == -1:
                    num_partitions = self.config.num_partitions
                if replication_factor == -1:
                    replication_factor = self.config.default_replication_factor
                configs = {c["name"]: c["value"] for c in topic.get("configs") or ()}
                topic_id = zkdata.new_topic_id()
                written = await self.topic_admin.create_topic(
                    entry["name"], num_partitions, replication_factor, assignment or None, configs,
                    validate_only=validate_only, topic_id=topic_id)
                if context.api_version >= 5:
                    entry["num_partitions"] = len(written)
                    entry["replication_factor"] = len(next(iter(written.values())))
                    entry["configs"] = self._created_topic_configs(configs)
                if not validate_only:
                    entry["topic_id"] = topic_id_as_uuid(topic_id)
                if not validate_only:
                    created.append(entry["name"])
            except errors.KafkaError as error:
                entry["error_code"] = error.code
                entry["error_message"] = error.message

        creations = []
        for topic in request["topics"]:
            entry = {"name": topic["name"], "topic_id": None, "error_code": 0, "error_message": None,
                     "num_partitions": -1, "replication_factor": -1, "configs": None}
            results.append(entry)
            if not is_controller:
                entry["error_code"] = errors.NotControllerError.code
            elif topic["name"] in duplicates:
                entry["error_code"] = errors.InvalidRequestError.code
                entry["error_message"] = "Found multiple entries for topic %s in the request." % topic["name"]
            else:
                creations.append(defer.ensureDeferred(create(topic, entry)))
        # The topics are independent: their ZooKeeper round trips overlap instead of adding up.
        await defer.gatherResults(creations, consumeErrors=True)
        if created and request["timeout_ms"] > 0:
            ready = await self.metadata_cache.wait_for(
                lambda: all(self.metadata_cache.has_leaders(t) for t in created), request["timeout_ms"], self.reactor)
            if not ready:
                for entry in results:
                    if entry["name"] in created and not self.metadata_cache.has_leaders(entry["name"]):
                        entry["error_code"] = errors.RequestTimedOutError.code
                        entry["error_message"] = "Topic creation is still in progress."
        return {"throttle_time_ms": 0, "topics": results}

    def _created_topic_configs(self, overrides):
        """CreateTopics v5+'s ``configs``: every topic config in effect, with its source (KIP-525)."""
        if self._describe_topic_configs is not None:
            return [{"name": name, "value": value, "read_only": read_only, "is_sensitive": sensitive,
                     "config_source": source}
                    for name, value, source, read_only, sensitive, _, _ in self._describe_topic_configs(overrides)]
        config = self.topic_admin.default_log_config.with_overrides(overrides)
        return [{"name": name, "value": value, "read_only": False, "is_sensitive": False,
                 "config_source": SOURCE_DYNAMIC_TOPIC if name in overrides else SOURCE_DEFAULT}
                for name, value in sorted(config.to_topic_properties().items())]

    # -- CreatePartitions ----------------------------------------------------------------

    async def handle_create_partitions(self, context, request):
        """Kafka's ``handleCreatePartitionsRequest``: the controller adds partitions to topics."""
        names = [topic["name"] for topic in request["topics"]]
        results = []
        added = {}
        is_controller = self.controller.is_active
        for topic in request["topics"]:
            entry = {"name": topic["name"], "error_code": 0, "error_message": None}
            results.append(entry)
            try:
                if not is_controller:
                    raise errors.NotControllerError("This is not the correct controller for this cluster.")
                if names.count(topic["name"]) > 1:
                    raise errors.InvalidRequestError("Duplicate topic in request.")
                assignments = topic.get("assignments")
                if assignments is not None:
                    assignments = [a["broker_ids"] for a in assignments]
                new = await self.topic_admin.create_partitions(
                    topic["name"], topic["count"], assignments, validate_only=request["validate_only"])
                if not request["validate_only"]:
                    added[topic["name"]] = sorted(new)
            except errors.KafkaError as error:
                entry["error_code"] = error.code
                entry["error_message"] = error.message
        if added and request["timeout_ms"] > 0:
            def led():
                return all(self._has_leader(topic, p) for topic, partitions in added.items() for p in partitions)
            if not await self.metadata_cache.wait_for(led, request["timeout_ms"], self.reactor):
                for entry in results:
                    if entry["name"] in added and not all(self._has_leader(entry["name"], p)
                                                          for p in added[entry["name"]]):
                        entry["error_code"] = errors.RequestTimedOutError.code
                        entry["error_message"] = "Partition creation is still in progress."
        return {"throttle_time_ms": 0, "results": results}

    def _has_leader(self, topic, partition):
        info = self.metadata_cache.partition(topic, partition)
        return info is not None and info.leader >= 0

    async def handle_delete_topics(self, context, request):
        names = request.get("topic_names") or [t["name"] for t in request.get("topics") or ()]
        is_controller = self.controller.is_active
        responses = []
        pending = []
        for name in names:
            entry = {"name": name, "topic_id": None, "error_code": 0, "error_message": None}
            responses.append(entry)
            if not is_controller:
                entry["error_code"] = errors.NotControllerError.code
                continue
            if not self.config.delete_topic_enable:
                entry["error_code"] = errors.TopicDeletionDisabledError.code
                continue
            try:
                await self.topic_admin.delete_topic(name)
                pending.append(name)
            except errors.KafkaError as error:
                entry["error_code"] = error.code
                entry["error_message"] = error.message
        if pending and request["timeout_ms"] > 0:
            gone = await self.metadata_cache.wait_for(
                lambda: all(self.metadata_cache.partitions(t) is None for t in pending), request["timeout_ms"],
                self.reactor)
            if not gone:
                for entry in responses:
                    if entry["name"] in pending and self.metadata_cache.partitions(entry["name"]) is not None:
                        entry["error_code"] = errors.RequestTimedOutError.code
        return {"throttle_time_ms": 0, "responses": responses}
