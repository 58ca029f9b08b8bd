"""ClusterApis' handlers on in-memory collaborators: ElectLeaders routing and timeout, DescribeLogDirs and -Cluster."""

from types import SimpleNamespace

from twisted.internet import defer
from twisted.internet.task import Clock

from kafkalite.protocol import errors
from kafkalite.replica.metadata_cache import MetadataCache
from kafkalite.server.cluster_apis import CLUSTER_OPERATIONS, ClusterApis


def _cache():
    cache = MetadataCache(1)
    broker = {"endpoints": [{"listener": "PLAINTEXT", "host": "h", "port": 9092, "security_protocol": 0}]}
    cache.update({"controller_id": 2, "controller_epoch": 1, "live_brokers": [
        {"id": 1, "rack": "a", **broker}, {"id": 2, "rack": None, **broker}],
        "ungrouped_partition_states": [
            {"topic_name": "t", "partition_index": p, "controller_epoch": 1, "leader": 1, "leader_epoch": 0,
             "isr": [1], "zk_version": 0, "replicas": [1]} for p in (0, 1)]})
    return cache


def _apis(controller=None, log_manager=None, replica_manager=None, reactor=None):
    config = SimpleNamespace(broker_id=1, broker_rack="a")
    return ClusterApis(config, "cid", replica_manager, log_manager, _cache(),
                       controller or SimpleNamespace(active_controller_id=2), reactor or Clock())


CONTEXT = SimpleNamespace(listener_name="PLAINTEXT", api_version=2)


def _codes(response):
    return {(t["topic"], p["partition_id"]): p["error_code"]
            for t in response["replica_election_results"] for p in t["partition_result"]}


def test_elect_leaders_on_a_broker_that_is_not_the_controller():
    """NOT_CONTROLLER for each named partition; with none named, for every partition the broker knows."""
    apis = _apis(controller=SimpleNamespace(elect_leaders=lambda kind, keys: defer.succeed(None)))
    named = defer.ensureDeferred(apis.handle_elect_leaders(CONTEXT, {
        "election_type": 0, "topic_partitions": [{"topic": "x", "partitions": [3]}], "timeout_ms": 1000})).result
    assert _codes(named) == {("x", 3): errors.NotControllerError.code}
    every = defer.ensureDeferred(apis.handle_elect_leaders(CONTEXT, {
        "election_type": 0, "topic_partitions": None, "timeout_ms": 1000})).result
    assert _codes(every) == {("t", 0): errors.NotControllerError.code, ("t", 1): errors.NotControllerError.code}


def test_elect_leaders_times_out_when_the_controller_does_not_answer():
    """A controller that never decides (resigning, busy): REQUEST_TIMED_OUT once the request's timeout passes."""
    clock = Clock()
    apis = _apis(controller=SimpleNamespace(elect_leaders=lambda kind, keys: defer.Deferred()), reactor=clock)
    pending = defer.ensureDeferred(apis.handle_elect_leaders(CONTEXT, {
        "election_type": 1, "topic_partitions": [{"topic": "t", "partitions": [0]}], "timeout_ms": 500}))
    assert not pending.called
    clock.advance(0.5)
    assert _codes(pending.result) == {("t", 0): errors.RequestTimedOutError.code}


def test_describe_log_dirs_lists_every_dir_and_the_requested_partitions():
    """Each log dir (an empty one too), its partitions' sizes; lag 0 for a hosted replica, -1 for a stray log."""
    logs = {("t", 0): SimpleNamespace(size_in_bytes=10, log_end_offset=5),
            ("t", 1): SimpleNamespace(size_in_bytes=20, log_end_offset=7),
            ("u", 0): SimpleNamespace(size_in_bytes=30, log_end_offset=0)}
    dirs = {("t", 0): "/a", ("t", 1): "/a", ("u", 0): "/a"}
    log_manager = SimpleNamespace(log_dirs=["/a", "/b"], logs=logs, log_dir_of=lambda t, p: dirs[(t, p)])
    replica_manager = SimpleNamespace(partitions={("t", 0): SimpleNamespace(high_watermark=5),
                                                  ("t", 1): SimpleNamespace(high_watermark=7)})
    apis = _apis(log_manager=log_manager, replica_manager=replica_manager)
    everything = apis.handle_describe_log_dirs(CONTEXT, {"topics": None})["results"]
    assert [(d["log_dir"], d["error_code"]) for d in everything] == [("/a", 0), ("/b", 0)]
    assert [(t["name"], [(p["partition_index"], p["partition_size"], p["offset_lag"]) for p in t["partitions"]])
            for t in everything[0]["topics"]] == [("t", [(0, 10, 0), (1, 20, 0)]), ("u", [(0, 30, -1)])]
    some = apis.handle_describe_log_dirs(CONTEXT, {"topics": [{"topic": "t", "partitions": [1]}]})["results"]
    assert [[(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in d["topics"]] for d in some] == \
        [[("t", [1])], []]


def test_describe_cluster():
    """The cache's brokers with racks, the controller, the cluster id; operations only when asked."""
    apis = _apis()
    response = apis.handle_describe_cluster(CONTEXT, {"include_cluster_authorized_operations": False})
    assert (response["cluster_id"], response["controller_id"]) == ("cid", 2)
    assert [(b["broker_id"], b["rack"]) for b in response["brokers"]] == [(1, "a"), (2, None)]
    assert response["cluster_authorized_operations"] == -2147483648
    asked = apis.handle_describe_cluster(CONTEXT, {"include_cluster_authorized_operations": True})
    assert asked["cluster_authorized_operations"] == CLUSTER_OPERATIONS == 8096


def test_metadata_answers_authorized_operations_when_asked():
    """Metadata v8+ (librdkafka's describe_cluster/describe_topics ask): no authorizer, so every cluster and
    topic operation is allowed; not asked, Kafka's INT32_MIN."""
    from kafkalite.server.apis import TOPIC_OPERATIONS, KafkaApis

    apis = KafkaApis(SimpleNamespace(broker_id=1, broker_rack="a"), "cid", replica_manager=None,
                     metadata_cache=_cache(), controller=SimpleNamespace(active_controller_id=2),
                     group_coordinator=None, topic_admin=None, producer_ids=None)
    context = SimpleNamespace(api_version=10, listener_name="PLAINTEXT")
    asked = defer.ensureDeferred(apis.handle_metadata(context, {
        "topics": [{"name": "t"}], "include_cluster_authorized_operations": True,
        "include_topic_authorized_operations": True})).result
    assert asked["cluster_authorized_operations"] == CLUSTER_OPERATIONS
    assert asked["topics"][0]["topic_authorized_operations"] == TOPIC_OPERATIONS == 3576
    plain = defer.ensureDeferred(apis.handle_metadata(context, {"topics": [{"name": "t"}]})).result
    assert plain["cluster_authorized_operations"] == plain["topics"][0]["topic_authorized_operations"] == -2**31
