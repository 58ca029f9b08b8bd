"""KafkaApis: one handler per API key, and the table of what we advertise.

A handler takes the request's :class:`RequestContext` and decoded body and returns
the response body, a Deferred firing with it, or ``NO_RESPONSE``. Protocol
errors a handler expects become error codes in its response. Anything it raises
instead reaches the network layer, which logs it and answers the request with the
API's error response (UNKNOWN_SERVER_ERROR, as Kafka's ``handleError``); a handler
raises ``CloseConnection`` where Kafka closes the connection instead.
"""

import inspect

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkalite import zkdata
from kafkalite.log.log import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP
from kafkalite.network.connection import NO_RESPONSE, CloseConnection
from kafkalite.protocol import errors
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.message_set_conversion import FIRST_BATCH_ONLY_PRODUCE_VERSION, upconvert_produce_entries
from kafkalite.replica.manager import FetchRequestPartition, ProduceResult
from kafkalite.replica.read_replica import ClientMetadata
from kafkalite.server.admin_apis import ADMIN_API_VERSIONS
from kafkalite.server.cluster_apis import AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_API_VERSIONS, CLUSTER_OPERATIONS
from kafkalite.server.config_apis import CONFIG_API_VERSIONS
from kafkalite.server.group_apis import GROUP_API_VERSIONS
from kafkalite.server.legacy_offsets import legacy_offsets_before
from kafkalite.server.old_fetch import OLDEST_UNCONVERTED_FETCH_VERSION, OldFetchConverter
from kafkalite.server.reassignment_apis import REASSIGNMENT_API_VERSIONS
from kafkalite.server.topic_admin import INTERNAL_TOPICS

__all__ = ["KafkaApis", "ADVERTISED_VERSIONS", "CloseConnection", "advertised_api_versions"]

#: API key → (min, max) version we serve (issue 2's ranges; DESIGN.md §7).
ADVERTISED_VERSIONS = {
    ApiKey.PRODUCE: (0, 9),
    ApiKey.FETCH: (0, 12),
    ApiKey.LIST_OFFSETS: (0, 6),
    ApiKey.METADATA: (0, 11),
    ApiKey.LEADER_AND_ISR: (0, 5),
    ApiKey.STOP_REPLICA: (0, 3),
    ApiKey.UPDATE_METADATA: (0, 7),
    ApiKey.API_VERSIONS: (0, 3),
    ApiKey.INIT_PRODUCER_ID: (0, 4),
    **ADMIN_API_VERSIONS,
    **CONFIG_API_VERSIONS,
    **CLUSTER_API_VERSIONS,
    **GROUP_API_VERSIONS,
    **REASSIGNMENT_API_VERSIONS,
    ApiKey.CONTROLLED_SHUTDOWN: (0, 3),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (0, 4),
}

#: Without an authorizer every TOPIC operation is allowed (Metadata v8+ asked for them): READ, WRITE,
#: CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS (``AclOperation`` codes) as bits.
TOPIC_OPERATIONS = sum(1 << code for code in (3, 4, 5, 6, 7, 8, 10, 11))

READ_COMMITTED = 1


def advertised_api_versions():
    """The ApiVersions ``api_keys`` array: our ranges clipped to what the codec declares."""
    entries = []
    for key, (low, high) in sorted(ADVERTISED_VERSIONS.items()):
        api = API_BY_KEY[key]
        entries.append({"api_key": int(key), "min_version": max(low, api.min_version),
                        "max_version": min(high, api.max_version)})
    return entries


#: Requests from the controller, applied strictly in order (see ``_in_controller_order``).
CONTROLLER_REQUESTS = frozenset({ApiKey.LEADER_AND_ISR, ApiKey.UPDATE_METADATA, ApiKey.STOP_REPLICA})


def _as_deferred_if_coroutine(result):
    if inspect.iscoroutine(result):
        return defer.Deferred.fromCoroutine(result)
    return result


class KafkaApis:
    """Dispatches decoded requests to handlers, given the collaborators they use (as Kafka's ``KafkaApis``).

    :param config: the broker config.
    :param cluster_id: the cluster id (Metadata).
    :param replica_manager: the :class:`~kafkalite.replica.manager.ReplicaManager` (produce, fetch,
        offsets, the controller's LeaderAndIsr and StopReplica).
    :param metadata_cache: the :class:`~kafkalite.replica.metadata_cache.MetadataCache`.
    :param controller: this broker's :class:`~kafkalite.controller.controller.KafkaController`
        (``is_active``, ``controlled_shutdown``).
    :param group_coordinator: the group coordinator (``handle_deleted_partitions`` on UpdateMetadata).
    :param topic_admin: the :class:`~kafkalite.server.topic_admin.TopicAdmin` (auto-creation).
    :param producer_ids: the producer id manager (``generate``).
    :param extra_handlers: handler objects with ``handlers()`` (the group and admin APIs).
    :param run_blocking: ``(fn, *args) -> Deferred`` running CPU-heavy work off the reactor thread
        (Fetch v0–v3's down-conversion); None runs it inline.
    """

    log = Logger()

    def __init__(self, config, cluster_id, replica_manager, metadata_cache, controller, group_coordinator,
                 topic_admin, producer_ids, extra_handlers=(), run_blocking=None):
        self.config = config
        self.cluster_id = cluster_id
        self.replica_manager = replica_manager
        self.metadata_cache = metadata_cache
        self.controller = controller
        self.group_coordinator = group_coordinator
        self.topic_admin = topic_admin
        self.producer_ids = producer_ids
        self._old_fetch = OldFetchConverter(replica_manager, run_blocking)
        self._api_versions = advertised_api_versions()
        self._controller_tail = defer.succeed(None)
        self._handlers = {
            ApiKey.API_VERSIONS: self.handle_api_versions,
            ApiKey.METADATA: self.handle_metadata,
            ApiKey.PRODUCE: self.handle_produce,
            ApiKey.FETCH: self.handle_fetch,
            ApiKey.LIST_OFFSETS: self.handle_list_offsets,
            ApiKey.INIT_PRODUCER_ID: self.handle_init_producer_id,
            ApiKey.LEADER_AND_ISR: self.handle_leader_and_isr,
            ApiKey.UPDATE_METADATA: self.handle_update_metadata,
            ApiKey.STOP_REPLICA: self.handle_stop_replica,
            ApiKey.CONTROLLED_SHUTDOWN: self.handle_controlled_shutdown,
            ApiKey.OFFSET_FOR_LEADER_EPOCH: self.handle_offset_for_leader_epoch,
        }
        for extra in extra_handlers:
            self._handlers.update(extra.handlers())

    def supports(self, api_key, api_version):
        versions = ADVERTISED_VERSIONS.get(api_key)
        return versions is not None and versions[0] <= api_version <= versions[1]

    def dispatch(self, context, request):
        """Entry point for the network layer."""
        handler = self._handlers.get(context.api_key)
        if handler is None or not self.supports(context.api_key, context.api_version):
            raise CloseConnection("unsupported api %d v%d" % (context.api_key, context.api_version))
        if context.api_key in CONTROLLER_REQUESTS:
            return self._in_controller_order(handler, context, request)
        return _as_deferred_if_coroutine(handler(context, request))

    def _in_controller_order(self, handler, context, request):
        """Apply controller requests one after another, in arrival order.

        Kafka handles one request per connection at a time; we pipeline, so an
        UpdateMetadata must not overtake the LeaderAndIsr sent before it while that
        one still waits on ZooKeeper for topic configs.
        """
        result = defer.Deferred()

        def run(_):
            d = defer.maybeDeferred(lambda: _as_deferred_if_coroutine(handler(context, request)))
            d.addBoth(lambda outcome: result.callback(outcome) if not isinstance(outcome, Failure)
                      else result.errback(outcome))
            return d.addErrback(lambda _: None)

        self._controller_tail = self._controller_tail.addCallback(run)
        return result

    # -- ApiVersions ---------------------------------------------------------------------

    def handle_api_versions(self, context, request):
        return {"error_code": 0, "api_keys": self._api_versions, "throttle_time_ms": 0}

    # -- Metadata ------------------------------------------------------------------------

    async def handle_metadata(self, context, request):
        cache = self.metadata_cache
        version = context.api_version
        requested = request.get("topics")
        if requested is None or (version == 0 and not requested):
            names = sorted(cache.topic_names())
            explicit = False
        else:
            names = [t["name"] for t in requested]
            explicit = True
        allow_auto_create = request.get("allow_auto_topic_creation", True) if version >= 4 else True
        topics = []
        for name in names:
            partitions = cache.partitions(name)
            if partitions is None:
                topics.append(await self._unknown_topic_metadata(name, explicit and allow_auto_create))
                continue
            topics.append({
                "error_code": 0, "name": name, "topic_id": cache.topic_ids.get(name),
                "is_internal": name in INTERNAL_TOPICS,
                "partitions": [self._partition_metadata(p) for _, p in sorted(partitions.items())],
                "topic_authorized_operations": TOPIC_OPERATIONS if request.get("include_topic_authorized_operations")
                else AUTHORIZED_OPERATIONS_OMITTED,
            })
        brokers = [{"node_id": broker_id, "host": host, "port": port, "rack": rack}
                   for broker_id, host, port, rack in cache.broker_endpoints(context.listener_name,
                                                                             self.config.broker_rack)]
        controller_id = cache.controller_id
        if controller_id == -1 and any(b["node_id"] == self.controller.active_controller_id for b in brokers):
            # Before the first UpdateMetadata, what this broker's own controller component read in
            # /controller: an admin client told "no controller" may not ask again for minutes.
            controller_id = self.controller.active_controller_id
        return {
            "throttle_time_ms": 0, "brokers": brokers, "cluster_id": self.cluster_id,
            "controller_id": controller_id, "topics": topics,
            "cluster_authorized_operations": CLUSTER_OPERATIONS
            if request.get("include_cluster_authorized_operations") else AUTHORIZED_OPERATIONS_OMITTED,
        }

    def _partition_metadata(self, info):
        alive = self.metadata_cache.brokers
        leader_alive = info.leader >= 0 and info.leader in alive
        return {
            "error_code": 0 if leader_alive else errors.LeaderNotAvailableError.code,
            "partition_index": info.partition,
            "leader_id": info.leader if leader_alive else -1,
            "leader_epoch": info.leader_epoch,
            "replica_nodes": info.replicas,
            "isr_nodes": info.isr,
            "offline_replicas": [r for r in info.replicas if r not in alive],
        }

    async def _unknown_topic_metadata(self, name, auto_create):
        entry = {"name": name, "is_internal": False, "partitions": [],
                 "topic_authorized_operations": -2147483648}
        try:
            zkdata.validate_topic_name(name)
        except errors.KafkaError as error:
            entry["error_code"] = error.code
            return entry
        if not (auto_create and self.config.auto_create_topics_enable) or name in INTERNAL_TOPICS:
            entry["error_code"] = errors.UnknownTopicOrPartitionError.code
            return entry
        try:
            await self.topic_admin.create_topic(
                name, self.config.num_partitions, self.config.default_replication_factor)
            entry["error_code"] = errors.LeaderNotAvailableError.code
        except errors.TopicAlreadyExistsError:
            entry["error_code"] = errors.LeaderNotAvailableError.code
        except errors.RequestTimedOutError:
            entry["error_code"] = errors.LeaderNotAvailableError.code
        except errors.KafkaError as error:
            self.log.warn("auto-creation of {topic} failed: {error}", topic=name, error=error)
            entry["error_code"] = error.code
        return entry

    # -- Produce -------------------------------------------------------------------------

    def handle_produce(self, context, request):
        acks = request["acks"]
        if request.get("transactional_id") is not None:
            return self._produce_response(request, errors.TransactionalIdAuthorizationFailedError.code)
        if acks not in (0, 1, -1):
            return self._produce_response(request, errors.InvalidRequiredAcksError.code)
        entries = []
        for topic in request["topic_data"]:
            for partition in topic["partition_data"]:
                entries.append((topic["name"], partition["index"], partition["records"]))
        if context.api_version < FIRST_BATCH_ONLY_PRODUCE_VERSION:  # message sets, magic 0/1: up-convert
            entries = upconvert_produce_entries(entries)
        results = self.replica_manager.append_records(acks, request["timeout_ms"], entries, context.api_version)
        if acks == 0:
            if any(r.error_code for r in results.values()):
                # Kafka closes the connection so an acks=0 producer notices the failure.
                raise CloseConnection("acks=0 produce failed")
            return NO_RESPONSE
        if isinstance(results, defer.Deferred):
            return results.addCallback(self._produce_results_response, request)
        return self._produce_results_response(results, request)

    @staticmethod
    def _produce_results_response(results, request):
        responses = []
        for topic in request["topic_data"]:
            partitions = []
            for partition in topic["partition_data"]:
                result = results[(topic["name"], partition["index"])]
                partitions.append({
                    "index": partition["index"], "error_code": result.error_code,
                    "base_offset": result.base_offset, "log_append_time_ms": result.log_append_time_ms,
                    "log_start_offset": result.log_start_offset,
                    "record_errors": [{"batch_index": index, "batch_index_error_message": message}
                                      for index, message in result.record_errors],
                    "error_message": result.error_message if result.error_code else None,
                })
            responses.append({"name": topic["name"], "partition_responses": partitions})
        return {"responses": responses, "throttle_time_ms": 0}

    @classmethod
    def _produce_response(cls, request, code):
        """Every partition of the request failed with ``code``."""
        failed = ProduceResult(error_code=code)
        results = {(topic["name"], p["index"]): failed
                   for topic in request["topic_data"] for p in topic["partition_data"]}
        return cls._produce_results_response(results, request)

    # -- Fetch ---------------------------------------------------------------------------

    def handle_fetch(self, context, request):
        """Fetch, through the fetch session cache (KIP-227).

        The session's whole partition list is read and waited on; the response lists the
        request's partitions (a full fetch) or only the session's partitions with something
        new (an incremental one).
        """
        partitions = []
        for topic in request["topics"]:
            name = topic["topic"]
            for p in topic["partitions"]:
                partitions.append(FetchRequestPartition(
                    name, p["partition"], p["fetch_offset"], p["partition_max_bytes"],
                    p.get("current_leader_epoch", -1), p.get("log_start_offset", -1),
                    p.get("last_fetched_epoch", -1)))
        forgotten = [(topic["topic"], index)
                     for topic in request.get("forgotten_topics_data") or () for index in topic["partitions"]]
        replica_id = request["replica_id"]
        manager = self.replica_manager
        fetch_context = manager.fetch_sessions.new_context(
            request.get("session_id", 0), request.get("session_epoch", -1), partitions, forgotten, replica_id >= 0,
            manager.now_ms())
        if fetch_context.error_code:
            return self._fetch_response(fetch_context.respond([], manager.now_ms()))
        max_bytes = request.get("max_bytes") or 0x7FFFFFFF
        # Kafka 2.8: a consumer's Fetch v11+ may be served by a follower, or sent to one (KIP-392).
        client_metadata = ClientMetadata(request.get("rack_id")) if replica_id < 0 and context.api_version >= 11 \
            else None
        results = manager.fetch(replica_id, request["max_wait_ms"], request["min_bytes"], max_bytes,
                                fetch_context.partitions, fetch_context.keys, client_metadata)
        if context.api_version < OLDEST_UNCONVERTED_FETCH_VERSION:
            # Old fetchers read message format v0/v1: their records are converted, never sent as stored.
            return defer.maybeDeferred(lambda: results).addCallback(
                lambda done: self._old_fetch.convert(fetch_context.respond(done, manager.now_ms()),
                                                     context.api_version, max_bytes)).addCallback(self._fetch_response)
        if isinstance(results, defer.Deferred):
            return results.addCallback(lambda done: self._fetch_response(fetch_context.respond(done, manager.now_ms())))
        return self._fetch_response(fetch_context.respond(results, manager.now_ms()))

    @staticmethod
    def _fetch_response(answer):
        """The response body of a :class:`~kafkalite.replica.fetch_session.FetchAnswer`.

        Consecutive partitions of one topic share a topic entry, as Kafka groups them.
        """
        responses = []
        partitions = None
        current = None
        for request, result in answer.entries:
            if request.topic != current:
                current = request.topic
                partitions = []
                responses.append({"topic": current, "partitions": partitions})
            entry = {
                "partition_index": request.partition, "error_code": result.error_code,
                "high_watermark": result.high_watermark, "last_stable_offset": result.last_stable_offset,
                "log_start_offset": result.log_start_offset, "aborted_transactions": None,
                "preferred_read_replica": result.preferred_read_replica,
                "records": result.records if result.records is not None else b"",
            }
            if result.diverging_epoch is not None:
                entry["diverging_epoch"] = {"epoch": result.diverging_epoch[0],
                                            "end_offset": result.diverging_epoch[1]}
            partitions.append(entry)
        return {"throttle_time_ms": 0, "error_code": answer.error_code, "session_id": answer.session_id,
                "responses": responses}

    # -- ListOffsets ---------------------------------------------------------------------

    def handle_list_offsets(self, context, request):
        version = context.api_version
        is_consumer = request["replica_id"] < 0
        read_committed = request.get("isolation_level", 0) == READ_COMMITTED
        topics = []
        for topic in request["topics"]:
            partitions = []
            for p in topic["partitions"]:
                entry = {"partition_index": p["partition_index"], "error_code": 0, "old_style_offsets": [],
                         "timestamp": -1, "offset": -1, "leader_epoch": -1}
                try:
                    partition = self.replica_manager.leader_partition(
                        topic["name"], p["partition_index"], p.get("current_leader_epoch", -1))
                    log = partition.log
                    target = p["timestamp"]
                    if version == 0:
                        entry["old_style_offsets"] = legacy_offsets_before(
                            log, target, p.get("max_num_offsets", 1), self.replica_manager.now_ms(), is_consumer)
                        partitions.append(entry)
                        continue
                    if target == LATEST_TIMESTAMP:
                        if not is_consumer:
                            offset = log.log_end_offset
                        else:
                            offset = log.last_stable_offset if read_committed else log.high_watermark
                        found = (-1, offset, -1)
                    elif target == EARLIEST_TIMESTAMP:
                        found = (-1, log.log_start_offset, -1)
                    else:
                        found = log.fetch_offset_by_timestamp(target)
                        if found is not None and is_consumer and found[1] >= log.high_watermark:
                            found = None
                    if found is None:
                        found = (-1, -1, -1)
                    entry["timestamp"], entry["offset"], found_epoch = found
                    # a record's own batch epoch, as Kafka answers a timestamp lookup; else the current one
                    entry["leader_epoch"] = found_epoch if found_epoch >= 0 else partition.leader_epoch
                except errors.KafkaError as error:
                    entry["error_code"] = error.code
                partitions.append(entry)
            topics.append({"name": topic["name"], "partitions": partitions})
        return {"throttle_time_ms": 0, "topics": topics}

    # -- InitProducerId ------------------------------------------------------------------

    async def handle_init_producer_id(self, context, request):
        if request.get("transactional_id") is not None:
            # Transactions do not exist yet: no broker coordinates transactional ids.
            return {"throttle_time_ms": 0, "error_code": errors.CoordinatorNotAvailableError.code,
                    "producer_id": -1, "producer_epoch": -1}
        producer_id = await self.producer_ids.generate()
        return {"throttle_time_ms": 0, "error_code": 0, "producer_id": producer_id, "producer_epoch": 0}

    # -- controller → broker -------------------------------------------------------------

    def _fenced(self, request):
        """The error code for a request from a stale controller or for a past broker epoch."""
        if request["controller_epoch"] < self.replica_manager.controller_epoch:
            return errors.StaleControllerEpochError.code
        broker_epoch = request.get("broker_epoch", -1)
        if broker_epoch not in (-1, None) and broker_epoch < self.replica_manager.broker_epoch:
            return errors.StaleBrokerEpochError.code
        return 0

    def handle_leader_and_isr(self, context, request):
        return self.replica_manager.become_leader_or_follower(request, context.correlation_id)

    def handle_update_metadata(self, context, request):
        code = self._fenced(request)
        if code:
            return {"error_code": code}
        self.replica_manager.controller_epoch = request["controller_epoch"]
        deleted = self.metadata_cache.update(request)
        coordinator = self.group_coordinator
        if deleted and coordinator is not None:
            # Kafka drops the committed offsets of deleted partitions here (handleDeletedPartitions).
            coordinator.handle_deleted_partitions(deleted).addErrback(
                lambda f: self.log.failure("dropping offsets of deleted partitions failed", f))
        return {"error_code": 0}

    def handle_stop_replica(self, context, request):
        code = self._fenced(request)
        if code:
            return {"error_code": code, "partition_errors": []}
        return self.replica_manager.stop_replicas(request, context.correlation_id)

    # -- ControlledShutdown / OffsetForLeaderEpoch ----------------------------------------

    async def handle_controlled_shutdown(self, context, request):
        """A broker asks the controller (us, or NOT_CONTROLLER) to move its leaderships away."""
        if not self.controller.is_active:
            return {"error_code": errors.NotControllerError.code, "remaining_partitions": []}
        code, remaining = await self.controller.controlled_shutdown(
            request["broker_id"], request.get("broker_epoch", -1))
        return {"error_code": code, "remaining_partitions": [
            {"topic_name": topic, "partition_index": partition} for topic, partition in remaining]}

    def handle_offset_for_leader_epoch(self, context, request):
        """The end offset of a leader epoch in the leader's log (KIP-101/KIP-320), with epoch fencing."""
        topics = []
        for topic in request["topics"]:
            partitions = []
            for p in topic["partitions"]:
                entry = {"error_code": 0, "partition": p["partition"], "leader_epoch": -1, "end_offset": -1}
                try:
                    partition = self.replica_manager.leader_partition(
                        topic["topic"], p["partition"], p.get("current_leader_epoch", -1))
                    entry["leader_epoch"], entry["end_offset"] = partition.log.end_offset_for_epoch(p["leader_epoch"])
                except errors.KafkaError as error:
                    entry["error_code"] = error.code
                partitions.append(entry)
            topics.append({"topic": topic["topic"], "partitions": partitions})
        return {"throttle_time_ms": 0, "topics": topics}
