"""``kafkalite-admin topics``: Kafka's ``kafka-topics`` (create, list, describe, alter, delete).

Through ZooKeeper it writes what Kafka 2.8's ``kafka-topics --zookeeper`` (``AdminZkClient``)
writes: ``/config/topics/<t>`` then ``/brokers/topics/<t>`` (with a topic id) to create; the
topic znode rewritten with the added partitions, version-checked, to grow a topic;
``/admin/delete_topics/<t>`` to delete. Through the Admin API it sends CreateTopics,
CreatePartitions and DeleteTopics to the controller, and reads Metadata and DescribeConfigs.
"""

import base64
import re

from kafkalite import zkdata
from kafkalite.cli.admin.adminzk import PartitionInfo
from kafkalite.cli.admin.client import AdminClient
from kafkalite.cli.admin.options import add_actions
from kafkalite.cli.admin.output import AdminError, raise_for_code
from kafkalite.health import is_under_replicated
from kafkalite.log.config import LogConfig
from kafkalite.protocol.apis import ApiKey
from kafkalite.server.replica_assignment import assign_replicas
from kafkalite.server.topic_admin import INTERNAL_TOPICS
from kafkalite.zkclient import BadVersionError, NodeExistsError

__all__ = ["add_parser", "parse_configs", "parse_replica_assignment", "run"]

TOPIC_RESOURCE = 2
DYNAMIC_TOPIC_CONFIG = 1


def add_parser(subparsers, common):
    p = subparsers.add_parser("topics", parents=[common], help="create, list, describe, alter or delete topics",
                              description="Kafka's kafka-topics: create, list, describe, alter or delete topics.")
    add_actions(p, ("create", "list", "describe", "alter", "delete"))
    p.add_argument("--topic", help="topic name; a regular expression for --describe, --list, --alter and --delete")
    p.add_argument("--partitions", type=int, help="partition count (create, or the new count for --alter)")
    p.add_argument("--replication-factor", type=int, help="replicas of each partition (create)")
    p.add_argument("--replica-assignment", metavar="B:B,B:B",
                   help="explicit assignment: partitions separated by ',', their replicas by ':'")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE", help="a topic config (create)")
    p.add_argument("--if-exists", action="store_true", help="alter/delete: do nothing when no topic matches")
    p.add_argument("--if-not-exists", action="store_true", help="create: do nothing when the topic exists")
    p.add_argument("--under-replicated-partitions", action="store_true",
                   help="describe only partitions whose ISR is smaller than their replica set")
    p.add_argument("--unavailable-partitions", action="store_true",
                   help="describe only partitions whose leader is not available")
    p.add_argument("--exclude-internal", action="store_true", help="leave out internal topics")
    p.set_defaults(run=run)


def parse_configs(items):
    """``["k=v", ...]`` → ``{k: v}``; raises :class:`AdminError` for an item without ``=``."""
    configs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AdminError(f"--config: expected KEY=VALUE, got {item!r}")
        configs[key.strip()] = value.strip()
    return configs


def parse_replica_assignment(text):
    """Kafka's ``--replica-assignment`` (``1:2,2:3``) → ``{partition: [brokers]}``.

    :raises AdminError: a non-integer broker, a duplicate broker in a partition, or
        partitions of different sizes (Kafka's rules).
    """
    assignment = {}
    for partition, replicas in enumerate(text.split(",")):
        try:
            brokers = [int(b) for b in replicas.split(":")]
        except ValueError:
            raise AdminError(f"--replica-assignment: {replicas!r} is not a ':'-separated list of broker ids") from None
        if len(set(brokers)) != len(brokers):
            raise AdminError(f"--replica-assignment: partition {partition} lists a broker twice: {replicas}")
        assignment[partition] = brokers
    if len({len(r) for r in assignment.values()}) != 1:
        raise AdminError("--replica-assignment: every partition must have the same number of replicas")
    return assignment


def run(args, out):
    from kafkalite.cli.admin.main import connection

    if args.action in ("create", "alter", "delete") and not args.topic:
        raise AdminError(f"--{args.action} needs --topic")
    configs = parse_configs(args.config)
    assignment = parse_replica_assignment(args.replica_assignment) if args.replica_assignment else None
    if args.action == "create":
        zkdata.validate_topic_name(args.topic)
        LogConfig().with_overrides(configs)
        if assignment and (args.partitions is not None or args.replication_factor is not None):
            raise AdminError("--replica-assignment cannot be combined with --partitions or --replication-factor")
    if args.action == "alter" and args.partitions is None:
        raise AdminError("--alter needs --partitions (the new partition count)")
    with connection(args) as cluster:
        zk_mode = not isinstance(cluster, AdminClient)
        if args.action == "list":
            _list(cluster, args, out, zk_mode)
        elif args.action == "describe":
            _describe(cluster, args, out, zk_mode)
        elif args.action == "create":
            _create(cluster, args, out, zk_mode, configs, assignment)
        elif args.action == "alter":
            _alter(cluster, args, out, zk_mode, assignment)
        else:
            _delete(cluster, args, out, zk_mode)


def _matching(names, args):
    pattern = re.compile(args.topic) if args.topic else None
    return sorted(n for n in names if (pattern is None or pattern.fullmatch(n))
                  and not (args.exclude_internal and n in INTERNAL_TOPICS))


def _existing_matches(cluster, args, zk_mode):
    """The topics ``--topic`` matches; none is an error unless ``--if-exists``."""
    names = cluster.topics() if zk_mode else [t["name"] for t in cluster.metadata()["topics"]]
    matched = _matching(names, args)
    if not matched and not args.if_exists:
        raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: Topic '{args.topic}' does not exist.")
    return matched


# -- list / describe ---------------------------------------------------------------------------


def _list(cluster, args, out, zk_mode):
    if zk_mode:
        names, deleting = cluster.topics(), cluster.marked_for_deletion()
    else:
        names, deleting = [t["name"] for t in cluster.metadata()["topics"]], set()
    names = _matching(names, args)
    out.data = {"topics": [{"name": n, "marked_for_deletion": n in deleting} for n in names]}
    for name in names:
        out.line(f"{name} - marked for deletion" if name in deleting else name)


def _describe(cluster, args, out, zk_mode):
    if zk_mode:
        topics = _describe_zk(cluster, args)
    else:
        topics = _describe_admin(cluster, args)
    if args.topic and not topics and not args.if_exists:
        raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: no topic matches {args.topic!r}")
    filtered = args.under_replicated_partitions or args.unavailable_partitions
    for topic in topics:
        keep = [p for p in topic["partitions"]
                if (not args.under_replicated_partitions or is_under_replicated(p["isr"], p["replicas"]))
                and (not args.unavailable_partitions or not p["available"])]
        topic["partitions"] = keep
        if not filtered:
            configs = ",".join(f"{k}={v}" for k, v in sorted(topic["configs"].items()))
            header = (f"Topic: {topic['name']}\tTopicId: {topic['topic_id'] or 'none'}\t"
                      f"PartitionCount: {topic['partition_count']}\tReplicationFactor: {topic['replication_factor']}"
                      f"\tConfigs: {configs}")
            out.line(header + ("\tMarkedForDeletion: true" if topic["marked_for_deletion"] else ""))
        for p in keep:
            leader = p["leader"] if p["leader"] >= 0 else "none"
            line = (f"\tTopic: {topic['name']}\tPartition: {p['partition']}\tLeader: {leader}\t"
                    f"Replicas: {_ids(p['replicas'])}\tIsr: {_ids(p['isr'])}")
            if p["adding_replicas"]:
                line += f"\tAdding Replicas: {_ids(p['adding_replicas'])}"
            if p["removing_replicas"]:
                line += f"\tRemoving Replicas: {_ids(p['removing_replicas'])}"
            if p.get("offline_replicas"):
                line += f"\tOffline: {_ids(p['offline_replicas'])}"
            out.line(line)
    out.data = {"topics": [t for t in topics if t["partitions"] or not filtered]}


def _ids(ids):
    return ",".join(str(i) for i in ids)


def _describe_zk(cluster, args):
    names = _matching(cluster.topics(), args)
    view = cluster.view(names)
    by_topic = {}
    for p in view.partitions:
        by_topic.setdefault(p.topic, []).append(p)
    topics = []
    for name in names:
        assignment = view.assignments.get(name)
        if assignment is None:
            continue
        parts = by_topic.get(name, [])
        topics.append({
            "name": name, "topic_id": assignment.topic_id, "partition_count": len(parts),
            "replication_factor": _replication_factor(parts),
            "configs": cluster.entity_config("topics", name), "marked_for_deletion": name in view.marked_for_deletion,
            "partitions": [_partition_json(p, p.leader in view.brokers) for p in parts],
        })
    return topics


def _replication_factor(parts):
    # During a reassignment the replica set is old + new; Kafka reports the target's size.
    if not parts:
        return 0
    first = parts[0]
    return len(first.replicas) - len(first.removing)


def _partition_json(p, available):
    return {"partition": p.partition, "leader": p.leader, "replicas": list(p.replicas), "isr": list(p.isr),
            "adding_replicas": list(p.adding), "removing_replicas": list(p.removing), "available": available}


def _describe_admin(cluster, args):
    metadata = cluster.metadata()
    live = {b["node_id"] for b in metadata["brokers"]}
    names = _matching([t["name"] for t in metadata["topics"]], args)
    configs = _topic_configs(cluster, names)
    reassigning = _reassignments(cluster, names)
    topics = []
    for topic in sorted((t for t in metadata["topics"] if t["name"] in names), key=lambda t: t["name"]):
        raise_for_code(topic["error_code"], context=f"topic {topic['name']}")
        parts = []
        for p in sorted(topic["partitions"], key=lambda p: p["partition_index"]):
            adding, removing = reassigning.get((topic["name"], p["partition_index"]), ((), ()))
            info = PartitionInfo(topic["name"], p["partition_index"], tuple(p["replica_nodes"]), p["leader_id"],
                                 tuple(p["isr_nodes"]), adding=tuple(adding), removing=tuple(removing))
            entry = _partition_json(info, p["leader_id"] in live)
            entry["offline_replicas"] = list(p.get("offline_replicas") or [])
            parts.append((info, entry))
        topics.append({
            "name": topic["name"], "topic_id": _base64_topic_id(topic.get("topic_id")), "partition_count": len(parts),
            "replication_factor": _replication_factor([i for i, _ in parts]),
            "configs": configs.get(topic["name"], {}), "marked_for_deletion": False,
            "partitions": [e for _, e in parts],
        })
    return topics


def _base64_topic_id(topic_id):
    """A Metadata topic id (a UUID) as Kafka prints it (url-safe base64, 22 characters); None for zero."""
    if topic_id is None or not topic_id.int:
        return None
    return base64.urlsafe_b64encode(topic_id.bytes).rstrip(b"=").decode()


def _topic_configs(cluster, names):
    if not names:
        return {}
    response = cluster.any_broker().request(ApiKey.DESCRIBE_CONFIGS, {"resources": [
        {"resource_type": TOPIC_RESOURCE, "resource_name": n, "configuration_keys": None} for n in names],
        "include_synonyms": False})
    result = {}
    for r in response["results"]:
        result[r["resource_name"]] = {
            c["name"]: (c["value"] if not c["is_sensitive"] else "[hidden]")
            for c in r["configs"] if c.get("config_source") == DYNAMIC_TOPIC_CONFIG or
            (c.get("config_source", -1) == -1 and not c.get("is_default", True))}
    return result


def _reassignments(cluster, names):
    """``{(topic, partition): (adding, removing)}`` from ListPartitionReassignments when served."""
    if not names or not cluster.supports(ApiKey.LIST_PARTITION_REASSIGNMENTS):
        return {}
    response = cluster.to_controller(ApiKey.LIST_PARTITION_REASSIGNMENTS, {"timeout_ms": 30000, "topics": None})
    return {(t["name"], p["partition_index"]): (p["adding_replicas"], p["removing_replicas"])
            for t in response.get("topics") or [] for p in t["partitions"]}


# -- create ----------------------------------------------------------------------------------


def _create(cluster, args, out, zk_mode, configs, assignment):
    if zk_mode:
        _create_zk(cluster, args, configs, assignment)
    else:
        response = cluster.to_controller(ApiKey.CREATE_TOPICS, {
            "topics": [{"name": args.topic,
                        "num_partitions": -1 if assignment else (args.partitions or -1),
                        "replication_factor": -1 if assignment else (args.replication_factor or -1),
                        "assignments": [{"partition_index": p, "broker_ids": r} for p, r in (assignment or {}).items()],
                        "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
            "timeout_ms": int(cluster.timeout * 1000), "validate_only": False})
        result = response["topics"][0]
        if result["error_code"] == 36 and args.if_not_exists:  # TOPIC_ALREADY_EXISTS
            return
        raise_for_code(result["error_code"], result.get("error_message"))
    out.data = {"created": args.topic}
    out.line(f"Created topic {args.topic}.")


def _create_zk(cluster, args, configs, assignment):
    brokers = cluster.brokers()
    if assignment is None:
        if args.partitions is None or args.replication_factor is None:
            raise AdminError("--create through --zookeeper needs --partitions and --replication-factor "
                             "(or --replica-assignment)")
        assignment = assign_replicas(_racks(brokers), args.partitions, args.replication_factor)
    else:
        unknown = sorted({b for r in assignment.values() for b in r} - set(brokers))
        if unknown:
            raise AdminError(f"INVALID_REPLICA_ASSIGNMENT: unknown brokers {unknown} in --replica-assignment")
    existing = cluster.topics()
    if args.topic in existing:
        if args.if_not_exists:
            return
        raise AdminError(f"TOPIC_ALREADY_EXISTS: Topic '{args.topic}' already exists.")
    colliding = [t for t in existing if zkdata.topics_collide(t, args.topic)]
    if colliding:
        raise AdminError(f"INVALID_TOPIC_EXCEPTION: Topic '{args.topic}' collides with existing topic "
                         f"'{colliding[0]}' ('.' and '_' collide in metric names)")
    cluster.create_topic(args.topic, assignment, configs)


# -- alter -----------------------------------------------------------------------------------


def _alter(cluster, args, out, zk_mode, assignment):
    matched = _existing_matches(cluster, args, zk_mode)
    if not matched:
        return
    for topic in matched:
        if topic in INTERNAL_TOPICS:
            raise AdminError(f"INVALID_PARTITIONS: the partitions of internal topic {topic} cannot be changed")
        if zk_mode:
            _add_partitions_zk(cluster, topic, args.partitions, assignment)
        else:
            new = None
            if assignment:
                count = len(cluster.metadata([topic])["topics"][0]["partitions"])
                new = [{"broker_ids": r} for p, r in sorted(assignment.items()) if p >= count]
            response = cluster.to_controller(ApiKey.CREATE_PARTITIONS, {
                "topics": [{"name": topic, "count": args.partitions, "assignments": new}],
                "timeout_ms": int(cluster.timeout * 1000), "validate_only": False})
            result = response["results"][0]
            raise_for_code(result["error_code"], result.get("error_message"), f"topic {topic}")
    out.data = {"altered": matched, "partitions": args.partitions}
    out.line(f"Partitions of {', '.join(matched)} increased to {args.partitions}.")


def _add_partitions_zk(cluster, topic, count, explicit):
    """Kafka's ``AdminZkClient.addPartitions``: new partitions appended to the topic znode."""
    current, stat = cluster.assignment(topic)
    existing = len(current.partitions)
    if count <= existing:
        raise AdminError(f"INVALID_PARTITIONS: Topic currently has {existing} partitions, {count} would not be "
                         "an increase.")
    if current.adding_replicas or current.removing_replicas:
        raise AdminError(f"REASSIGNMENT_IN_PROGRESS: topic {topic} has a partition reassignment in progress")
    brokers = cluster.brokers()
    replication_factor = len(next(iter(current.partitions.values())))
    if explicit:
        if len(explicit) != count:
            raise AdminError(f"INVALID_REPLICA_ASSIGNMENT: --replica-assignment lists {len(explicit)} partitions, "
                             f"--partitions says {count}")
        added = {p: r for p, r in explicit.items() if p >= existing}
        unknown = sorted({b for r in added.values() for b in r} - set(brokers))
        if unknown:
            raise AdminError(f"INVALID_REPLICA_ASSIGNMENT: unknown brokers {unknown} in --replica-assignment")
        if {len(r) for r in added.values()} != {replication_factor}:
            raise AdminError(f"INVALID_REPLICA_ASSIGNMENT: new partitions need {replication_factor} replicas, "
                             "as the existing ones have")
    else:
        spread = assign_replicas(_racks(brokers), count, replication_factor)
        added = {p: r for p, r in spread.items() if p >= existing}
    partitions = dict(current.partitions)
    partitions.update(added)
    updated = zkdata.TopicAssignment(partitions=partitions, adding_replicas=current.adding_replicas,
                                     removing_replicas=current.removing_replicas,
                                     topic_id=current.topic_id or zkdata.new_topic_id())
    try:
        cluster.zk.set(zkdata.topic_path(topic), zkdata.encode_topic_assignment(updated), version=stat.version)
    except BadVersionError:
        raise AdminError(f"CONCURRENT_TRANSACTIONS: topic {topic} changed while adding partitions; retry") from None


# -- delete ----------------------------------------------------------------------------------


def _delete(cluster, args, out, zk_mode):
    matched = _existing_matches(cluster, args, zk_mode)
    if not matched:
        return
    internal = [t for t in matched if t in INTERNAL_TOPICS]
    if internal:
        raise AdminError(f"INVALID_TOPIC_EXCEPTION: Topic {internal[0]} is a kafka internal topic and is not "
                         "allowed to be marked for deletion.")
    if zk_mode:
        for topic in matched:
            try:
                cluster.zk.create(zkdata.delete_topic_path(topic))
            except NodeExistsError:
                out.line(f"Topic {topic} is already marked for deletion.")
                continue
            out.line(f"Topic {topic} is marked for deletion.")
        out.line("Note: This will have no impact if delete.topic.enable is not set to true.")
    else:
        response = cluster.to_controller(ApiKey.DELETE_TOPICS, {
            "topics": [{"name": t} for t in matched], "topic_names": matched,
            "timeout_ms": int(cluster.timeout * 1000)})
        for result in response["responses"]:
            raise_for_code(result["error_code"], result.get("error_message"), f"topic {result['name']}")
        for topic in matched:
            out.line(f"Topic {topic} is marked for deletion.")
    out.data = {"deleted": matched}


def _racks(brokers):
    """``{broker_id: rack}`` of registrations, for Kafka's (rack-aware) assignment."""
    return {broker_id: registration.rack for broker_id, registration in brokers.items()}
