"""Handlers of the cluster administration APIs: DeleteRecords, ElectLeaders, DescribeLogDirs, DescribeCluster.

Routed as Kafka routes them: DeleteRecords to each partition's leader (others answer
NOT_LEADER_OR_FOLLOWER), ElectLeaders to the controller (others answer NOT_CONTROLLER
per partition), DescribeLogDirs to every broker about its own ``log.dirs``, and
DescribeCluster to any broker, from its metadata cache.
"""

from twisted.internet import defer

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.replica.delete_records import delete_records

__all__ = ["CLUSTER_API_VERSIONS", "ClusterApis"]

#: API key → (min, max) version served (Kafka 2.8's ranges, each used by a real client in a test).
CLUSTER_API_VERSIONS = {
    ApiKey.DELETE_RECORDS: (0, 2),
    ApiKey.DESCRIBE_LOG_DIRS: (0, 2),
    ApiKey.ELECT_LEADERS: (0, 2),
    ApiKey.DESCRIBE_CLUSTER: (0, 0),
}

#: No authorized operations computed (the client did not ask): Kafka's ``Integer.MIN_VALUE``.
AUTHORIZED_OPERATIONS_OMITTED = -2147483648
#: Without an authorizer every CLUSTER operation is allowed: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
#: DESCRIBE_CONFIGS, ALTER_CONFIGS and IDEMPOTENT_WRITE (``AclOperation`` codes 5, 7-12) as bits.
CLUSTER_OPERATIONS = sum(1 << code for code in (5, 7, 8, 9, 10, 11, 12))
#: DescribeLogDirs' offset lag of a log no partition of this broker hosts (Kafka's INVALID_OFFSET_LAG).
INVALID_OFFSET_LAG = -1


class ClusterApis:
    """The cluster administration handlers, given the collaborators they use.

    :param config: the broker config (``broker_id``, ``broker_rack``).
    :param cluster_id: the cluster id.
    :param replica_manager: the :class:`~kafkalite.replica.manager.ReplicaManager` (DeleteRecords,
        the hosted partitions' high watermarks).
    :param log_manager: the :class:`~kafkalite.log.manager.LogManager` (log dirs and their logs).
    :param metadata_cache: the :class:`~kafkalite.replica.metadata_cache.MetadataCache`.
    :param controller: this broker's controller (``is_active``, ``active_controller_id``,
        ``elect_leaders(election_type, keys)``).
    :param reactor: ``IReactorTime`` for the requests' timeouts.
    """

    def __init__(self, config, cluster_id, replica_manager, log_manager, metadata_cache, controller, reactor):
        self.config = config
        self.cluster_id = cluster_id
        self.replica_manager = replica_manager
        self.log_manager = log_manager
        self.metadata_cache = metadata_cache
        self.controller = controller
        self.reactor = reactor

    def handlers(self):
        return {
            ApiKey.DELETE_RECORDS: self.handle_delete_records,
            ApiKey.ELECT_LEADERS: self.handle_elect_leaders,
            ApiKey.DESCRIBE_LOG_DIRS: self.handle_describe_log_dirs,
            ApiKey.DESCRIBE_CLUSTER: self.handle_describe_cluster,
        }

    # -- DeleteRecords -------------------------------------------------------------------

    async def handle_delete_records(self, context, request):
        offsets = {(topic["name"], p["partition_index"]): p["offset"]
                   for topic in request["topics"] for p in topic["partitions"]}
        results = await delete_records(self.replica_manager, request["timeout_ms"], offsets)
        return {"throttle_time_ms": 0, "topics": [
            {"name": topic["name"], "partitions": [
                {"partition_index": p["partition_index"],
                 "low_watermark": results[(topic["name"], p["partition_index"])].low_watermark,
                 "error_code": results[(topic["name"], p["partition_index"])].error_code}
                for p in topic["partitions"]]}
            for topic in request["topics"]]}

    # -- ElectLeaders --------------------------------------------------------------------

    async def handle_elect_leaders(self, context, request):
        """Kafka's ``handleElectReplicaLeader``: the controller elects, then we wait (within the
        timeout) until our metadata cache shows the new leaders (``DelayedElectLeader``)."""
        requested = request.get("topic_partitions")
        keys = None if requested is None else [(t["topic"], p) for t in requested for p in t["partitions"]]
        election = self.controller.elect_leaders(request.get("election_type", 0), keys)
        try:
            results = await election.addTimeout(max(request["timeout_ms"], 0) / 1000.0, self.reactor)
        except defer.TimeoutError:
            # The controller did not get to it in time (it is resigning, or busy): Kafka's purgatory expiry.
            return _elect_leaders_response({key: _Result(errors.RequestTimedOutError.code, "Leader election timed out.")
                                            for key in keys or ()})
        if results is None:
            if keys is None:  # Kafka names every partition it knows (its metadata cache's)
                keys = [(topic, p) for topic in self.metadata_cache.topic_names()
                        for p in self.metadata_cache.partitions(topic) or ()]
            results = {key: _Result(errors.NotControllerError.code) for key in keys}
        elected = {key: result.leader for key, result in results.items() if result.error_code == 0}

        def applied():
            return all(self._leader_of(key) == leader for key, leader in elected.items())
        if elected and not await self.metadata_cache.wait_for(applied, request["timeout_ms"], self.reactor):
            for key, leader in elected.items():
                if self._leader_of(key) != leader:
                    results[key] = _Result(errors.RequestTimedOutError.code, "Leader election timed out.")
        return _elect_leaders_response(results)

    def _leader_of(self, key):
        info = self.metadata_cache.partition(*key)
        return None if info is None else info.leader

    # -- DescribeLogDirs -----------------------------------------------------------------

    def handle_describe_log_dirs(self, context, request):
        """Every log dir of this broker with its partitions' sizes and lags (Kafka's ``describeLogDirs``)."""
        wanted = None
        if request.get("topics") is not None:
            wanted = {(t["topic"], p) for t in request["topics"] for p in t["partitions"]}
        by_dir = {log_dir: {} for log_dir in self.log_manager.log_dirs}
        for key, log in sorted(self.log_manager.logs.items()):
            if wanted is not None and key not in wanted:
                continue
            log_dir = self.log_manager.log_dir_of(*key)
            partition = self.replica_manager.partitions.get(key)
            # Kafka's getLogEndOffsetLag: the high watermark's lead over the log end offset, never
            # negative; a leader's (and, its high watermark being capped, a follower's) is 0.
            lag = INVALID_OFFSET_LAG if partition is None else max(partition.high_watermark - log.log_end_offset, 0)
            by_dir.setdefault(log_dir, {}).setdefault(key[0], []).append(
                {"partition_index": key[1], "partition_size": log.size_in_bytes, "offset_lag": lag,
                 "is_future_key": False})
        return {"throttle_time_ms": 0, "results": [
            {"error_code": 0, "log_dir": log_dir, "topics": [
                {"name": topic, "partitions": partitions} for topic, partitions in sorted(topics.items())]}
            for log_dir, topics in by_dir.items()]}

    # -- DescribeCluster -----------------------------------------------------------------

    def handle_describe_cluster(self, context, request):
        cache = self.metadata_cache
        brokers = [{"broker_id": broker_id, "host": host, "port": port, "rack": rack} for broker_id, host, port, rack
                   in sorted(cache.broker_endpoints(context.listener_name, self.config.broker_rack))]
        controller_id = cache.controller_id
        if controller_id == -1:
            controller_id = self.controller.active_controller_id
        return {"throttle_time_ms": 0, "error_code": 0, "error_message": None, "cluster_id": self.cluster_id,
                "controller_id": controller_id, "brokers": brokers,
                "cluster_authorized_operations": CLUSTER_OPERATIONS if request["include_cluster_authorized_operations"]
                else AUTHORIZED_OPERATIONS_OMITTED}


def _elect_leaders_response(results):
    by_topic = {}
    for (topic, partition), result in sorted(results.items()):
        by_topic.setdefault(topic, []).append(
            {"partition_id": partition, "error_code": result.error_code, "error_message": result.error_message})
    return {"throttle_time_ms": 0, "error_code": 0, "replica_election_results": [
        {"topic": topic, "partition_result": partitions} for topic, partitions in by_topic.items()]}


class _Result:
    __slots__ = ("error_code", "error_message", "leader")

    def __init__(self, error_code, error_message=None):
        self.error_code = error_code
        self.error_message = error_message
        self.leader = -1
