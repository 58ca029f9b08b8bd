"""``kafkalite-admin reassign-partitions``: Kafka's ``kafka-reassign-partitions``.

``--generate`` proposes a spread of some topics over a broker list; ``--execute`` starts a
reassignment from Kafka's JSON file (``{"version":1,"partitions":[{"topic","partition",
"replicas","log_dirs"}]}``), printing the current assignment for a rollback first, with an
optional ``--throttle`` set as Kafka's tool sets it (``leader/follower.replication.throttled
.rate`` on every broker involved, ``leader/follower.replication.throttled.replicas`` on the
topics); ``--verify`` reports each partition and removes the throttles once all are done;
``--cancel`` (Admin API) stops reassignments in progress.

Through ZooKeeper a reassignment is the ``/admin/reassign_partitions`` znode (refused while
one exists, as Kafka's tool refuses); through the Admin API it is AlterPartitionReassignments
and ListPartitionReassignments, sent to the controller.
"""

import json

from kafkalite import zkdata
from kafkalite.cli.admin.client import AdminClient
from kafkalite.cli.admin.configs import alter_configs, describe_admin_configs
from kafkalite.cli.admin.options import add_actions
from kafkalite.cli.admin.output import AdminError, kafka_error, raise_for_code
from kafkalite.protocol.apis import ApiKey
from kafkalite.server.replica_assignment import assign_replicas

__all__ = ["add_parser", "encode_assignment_json", "parse_reassignment_json", "run", "throttle_configs"]

BROKER_RATE_KEYS = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
TOPIC_THROTTLE_KEYS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")
NO_REASSIGNMENT_IN_PROGRESS = 85


def add_parser(subparsers, common):
    p = subparsers.add_parser("reassign-partitions", parents=[common], help="move partition replicas between brokers",
                              description="Kafka's kafka-reassign-partitions.")
    add_actions(p, ("generate", "execute", "verify", "cancel"))
    p.add_argument("--topics-to-move-json-file", metavar="FILE",
                   help='--generate: {"version":1,"topics":[{"topic":"t"}]}')
    p.add_argument("--broker-list", metavar="1,2,3", help="--generate: the brokers to spread the topics over")
    p.add_argument("--reassignment-json-file", metavar="FILE",
                   help="--execute/--verify/--cancel: the target assignment")
    p.add_argument("--throttle", type=int, default=-1, metavar="BYTES_PER_S",
                   help="--execute: cap the replication traffic of the move on each involved broker")
    p.add_argument("--preserve-throttles", action="store_true", help="--verify/--cancel: leave the throttles set")
    p.add_argument("--additional", action="store_true",
                   help="--execute through the Admin API: start even while other reassignments run")
    p.set_defaults(run=run, command="reassign-partitions")


# -- JSON files ----------------------------------------------------------------------------------


def _read_json(path, option):
    if not path:
        raise AdminError(f"{option} is required")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as error:
        raise AdminError(f"{option}: cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise AdminError(f"{option}: {path} is not JSON: {error}") from None


def parse_reassignment_json(obj):
    """Kafka's reassignment JSON → ``{(topic, partition): [replicas]}``, checked as Kafka checks it.

    :raises AdminError: a malformed entry, an empty or duplicated replica list, a partition
        listed twice, or a log dir other than ``any`` (moving between log dirs is not served).
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("partitions"), list) or not obj["partitions"]:
        raise AdminError('reassignment JSON: expected {"version":1,"partitions":[...]} with at least one partition')
    result = {}
    for entry in obj["partitions"]:
        try:
            topic, partition, replicas = entry["topic"], entry["partition"], entry["replicas"]
        except (KeyError, TypeError):
            raise AdminError(f"reassignment JSON: entry {entry!r} needs topic, partition and replicas") from None
        if not (isinstance(topic, str) and type(partition) is int and isinstance(replicas, list)
                and all(type(r) is int for r in replicas)):
            raise AdminError(f"reassignment JSON: bad entry {entry!r}")
        if not replicas:
            raise AdminError(f"reassignment JSON: partition {topic}-{partition} has an empty replica list")
        if len(set(replicas)) != len(replicas):
            raise AdminError(f"reassignment JSON: partition {topic}-{partition} lists a replica twice: {replicas}")
        log_dirs = entry.get("log_dirs")
        if log_dirs is not None and (not isinstance(log_dirs, list) or len(log_dirs) != len(replicas)):
            raise AdminError(f"reassignment JSON: log_dirs of {topic}-{partition} must match its replicas")
        if log_dirs and any(d != "any" for d in log_dirs):
            raise AdminError(f"reassignment JSON: {topic}-{partition}: moving replicas between log dirs is not "
                             'supported; use "any"')
        if (topic, partition) in result:
            raise AdminError(f"reassignment JSON: partition {topic}-{partition} is listed twice")
        result[(topic, partition)] = list(replicas)
    return result


def encode_assignment_json(assignment):
    """``{(topic, partition): replicas}`` → Kafka's reassignment JSON (``log_dirs`` all ``any``)."""
    return json.dumps({"version": 1, "partitions": [
        {"topic": t, "partition": p, "replicas": list(r), "log_dirs": ["any"] * len(r)}
        for (t, p), r in sorted(assignment.items())]}, separators=(",", ":"))


# -- the cluster, either way ---------------------------------------------------------------------


def _current(cluster, topics, in_progress=True):
    """``(assignment {(t, p): replicas}, live broker ids, in-progress {(t, p): target})``.

    A partition being moved counts with its target replicas (the old ones it is losing left out).
    """
    if isinstance(cluster, AdminClient):
        metadata = cluster.metadata(sorted(topics))
        assignment = {}
        for t in metadata["topics"]:
            if t["error_code"] == 3:
                continue
            raise_for_code(t["error_code"], context=f"topic {t['name']}")
            for p in t["partitions"]:
                assignment[(t["name"], p["partition_index"])] = list(p["replica_nodes"])
        brokers = {b["node_id"] for b in metadata["brokers"]}
        return assignment, brokers, _list_reassignments(cluster) if in_progress else {}
    view = cluster.view([t for t in topics if t in set(cluster.topics())])
    assignment = {(p.topic, p.partition): [r for r in p.replicas if r not in p.removing] if p.removing
                  else list(p.replicas) for p in view.partitions}
    in_progress = {(tp.topic, tp.partition): list(r) for tp, r in cluster.reassignment_in_progress().items()}
    for p in view.partitions:
        if p.adding or p.removing:
            in_progress.setdefault((p.topic, p.partition), [r for r in p.replicas if r not in p.removing])
    return assignment, set(view.brokers), in_progress


def _list_reassignments(cluster):
    if not cluster.supports(ApiKey.LIST_PARTITION_REASSIGNMENTS):
        raise AdminError("UNSUPPORTED_VERSION: the cluster does not serve ListPartitionReassignments; "
                         "use --zookeeper")
    response = cluster.to_controller(ApiKey.LIST_PARTITION_REASSIGNMENTS, {"timeout_ms": 30000, "topics": None})
    raise_for_code(response["error_code"], response.get("error_message"), "ListPartitionReassignments")
    return {(t["name"], p["partition_index"]): [r for r in p["replicas"] if r not in p["removing_replicas"]]
            for t in response["topics"] for p in t["partitions"]}


def run(args, out):
    from kafkalite.cli.admin.main import connection

    with connection(args) as cluster:
        if args.action == "generate":
            _generate(cluster, args, out)
        elif args.action == "execute":
            _execute(cluster, args, out)
        elif args.action == "verify":
            return _verify(cluster, args, out)
        else:
            if not isinstance(cluster, AdminClient):
                raise AdminError("--cancel works through --bootstrap-server only (as Kafka's tool)")
            _cancel(cluster, args, out)
    return 0


def _generate(cluster, args, out):
    obj = _read_json(args.topics_to_move_json_file, "--topics-to-move-json-file")
    try:
        topics = sorted({entry["topic"] for entry in obj["topics"]})
    except (KeyError, TypeError):
        raise AdminError('--topics-to-move-json-file: expected {"version":1,"topics":[{"topic":"t"},...]}') from None
    if not args.broker_list:
        raise AdminError("--generate needs --broker-list")
    try:
        brokers = [int(b) for b in args.broker_list.split(",")]
    except ValueError:
        raise AdminError(f"--broker-list: expected comma-separated broker ids, got {args.broker_list!r}") from None
    if len(set(brokers)) != len(brokers):
        raise AdminError(f"--broker-list: duplicate broker ids in {args.broker_list}")
    current, live, _ = _current(cluster, topics, in_progress=False)
    unknown = sorted(set(brokers) - live)
    if unknown:
        raise AdminError(f"--broker-list: brokers {unknown} are not in the cluster")
    missing = [t for t in topics if not any(tp[0] == t for tp in current)]
    if missing:
        raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: Topic '{missing[0]}' does not exist.")
    proposed = {}
    for topic in topics:
        parts = sorted(p for t, p in current if t == topic)
        spread = assign_replicas(brokers, len(parts), len(current[(topic, parts[0])]))
        proposed.update({(topic, p): r for p, r in spread.items()})
    current = {tp: r for tp, r in current.items() if tp[0] in topics}
    out.data = {"current": json.loads(encode_assignment_json(current)),
                "proposed": json.loads(encode_assignment_json(proposed))}
    out.line("Current partition replica assignment")
    out.line(encode_assignment_json(current))
    out.line()
    out.line("Proposed partition reassignment configuration")
    out.line(encode_assignment_json(proposed))


def throttle_configs(current, target):
    """Kafka's throttles for a move: ``(topic → {key: "p:b,..."}, brokers involved)``.

    Leaders throttle every existing replica of a moving partition; followers throttle the
    replicas being added.
    """
    topics, brokers = {}, set()
    for (topic, partition), replicas in sorted(target.items()):
        existing = current[(topic, partition)]
        if list(existing) == list(replicas):
            continue
        brokers.update(existing)
        brokers.update(replicas)
        entry = topics.setdefault(topic, {TOPIC_THROTTLE_KEYS[0]: [], TOPIC_THROTTLE_KEYS[1]: []})
        entry[TOPIC_THROTTLE_KEYS[0]] += [f"{partition}:{b}" for b in existing]
        entry[TOPIC_THROTTLE_KEYS[1]] += [f"{partition}:{b}" for b in replicas if b not in existing]
    return {t: {k: ",".join(v) for k, v in e.items() if v} for t, e in topics.items()}, sorted(brokers)


def _execute(cluster, args, out):
    target = parse_reassignment_json(_read_json(args.reassignment_json_file, "--reassignment-json-file"))
    admin = isinstance(cluster, AdminClient)
    current, live, in_progress = _current(cluster, {t for t, _ in target})
    missing = [f"{t}-{p}" for t, p in target if (t, p) not in current]
    if missing:
        raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: partitions {', '.join(missing)} do not exist")
    unknown = sorted({b for r in target.values() for b in r} - live)
    if unknown:
        raise AdminError(f"INVALID_REPLICA_ASSIGNMENT: The proposed assignment contains non-existent brokerIDs: "
                         f"{','.join(map(str, unknown))}")
    if not admin and cluster.zk.exists(zkdata.REASSIGN_PARTITIONS) is not None:
        raise AdminError("REASSIGNMENT_IN_PROGRESS: There is an existing assignment running.")
    if admin and in_progress and not args.additional:
        raise AdminError("REASSIGNMENT_IN_PROGRESS: Cannot execute because there is an existing partition "
                         "assignment. Use --additional to override this and create a new partition assignment "
                         "in addition to the existing one.")
    rollback = {tp: current[tp] for tp in target}
    out.line("Current partition replica assignment")
    out.line()
    out.line(encode_assignment_json(rollback))
    out.line()
    out.line("Save this to use as the --reassignment-json-file option during rollback")
    out.data = {"rollback": json.loads(encode_assignment_json(rollback))}
    if args.throttle >= 0:
        topic_throttles, brokers = throttle_configs(current, target)
        for topic, configs in topic_throttles.items():
            alter_configs(cluster, "topics", topic, configs, [])
        for broker in brokers:
            alter_configs(cluster, "brokers", str(broker), {k: str(args.throttle) for k in BROKER_RATE_KEYS}, [])
        out.line("Warning: You must run --verify periodically, until the reassignment completes, to ensure the "
                 "throttle is removed.")
        out.line(f"The inter-broker throttle limit was set to {args.throttle} B/s")
        out.data["throttle"] = {"rate": args.throttle, "brokers": brokers, "topics": topic_throttles}
    if admin:
        _alter_reassignments(cluster, target)
    else:
        data = zkdata.encode_reassign_partitions(target)
        cluster.create_admin_znode(zkdata.REASSIGN_PARTITIONS, data,
                                   "REASSIGNMENT_IN_PROGRESS: There is an existing assignment running.")
    names = ",".join(f"{t}-{p}" for t, p in sorted(target))
    out.line(f"Successfully started partition reassignments for {names}")
    out.data["started"] = [{"topic": t, "partition": p} for t, p in sorted(target)]


def _alter_reassignments(cluster, target):
    """AlterPartitionReassignments (``None`` replicas cancel); returns the partitions answered
    NO_REASSIGNMENT_IN_PROGRESS; raises for any other error."""
    if not cluster.supports(ApiKey.ALTER_PARTITION_REASSIGNMENTS):
        raise AdminError("UNSUPPORTED_VERSION: the cluster does not serve AlterPartitionReassignments; "
                         "use --zookeeper")
    topics = {}
    for (topic, partition), replicas in sorted(target.items()):
        topics.setdefault(topic, []).append({"partition_index": partition, "replicas": replicas})
    response = cluster.to_controller(ApiKey.ALTER_PARTITION_REASSIGNMENTS, {
        "timeout_ms": int(cluster.timeout * 1000),
        "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]})
    raise_for_code(response["error_code"], response.get("error_message"), "AlterPartitionReassignments")
    failures, idle = [], []
    for t in response["responses"]:
        for p in t["partitions"]:
            if p["error_code"] == NO_REASSIGNMENT_IN_PROGRESS:
                idle.append((t["name"], p["partition_index"]))
            elif p["error_code"]:
                failures.append(str(kafka_error(p["error_code"], p.get("error_message"),
                                                f"{t['name']}-{p['partition_index']}")))
    if failures:
        raise AdminError("Error reassigning partition(s): " + "; ".join(failures))
    return idle


def _verify(cluster, args, out):
    target = parse_reassignment_json(_read_json(args.reassignment_json_file, "--reassignment-json-file"))
    current, live, in_progress = _current(cluster, {t for t, _ in target})
    out.line("Status of partition reassignment:")
    statuses = []
    for (topic, partition), replicas in sorted(target.items()):
        name = f"{topic}-{partition}"
        if (topic, partition) in in_progress:
            status, text = "in_progress", f"Reassignment of partition {name} is still in progress."
        elif current.get((topic, partition)) == replicas:
            status, text = "complete", f"Reassignment of partition {name} is complete."
        else:
            now = ",".join(map(str, current.get((topic, partition), [])))
            status = "failed"
            text = (f"There is no active reassignment of partition {name}, but replica set is {now} rather than "
                    f"{','.join(map(str, replicas))}.")
        statuses.append({"topic": topic, "partition": partition, "status": status})
        out.line(text)
    out.data = {"partitions": statuses, "throttles_cleared": False}
    if all(s["status"] != "in_progress" for s in statuses) and not args.preserve_throttles:
        _clear_throttles(cluster, sorted({t for t, _ in target}), sorted(live), out)
    return 0


def _clear_throttles(cluster, topics, brokers, out):
    """Remove the move's throttles (only keys that are set, so ZooKeeper mode does not refuse)."""
    out.line()
    out.line(f"Clearing broker-level throttles on brokers {','.join(map(str, brokers))}")
    for broker in brokers:
        _delete_present(cluster, "brokers", str(broker), BROKER_RATE_KEYS)
    for topic in topics:
        out.line(f"Clearing topic-level throttles on topic {topic}")
        _delete_present(cluster, "topics", topic, TOPIC_THROTTLE_KEYS)
    out.data["throttles_cleared"] = True


def _delete_present(cluster, entity_type, entity, keys):
    if isinstance(cluster, AdminClient):
        source = 1 if entity_type == "topics" else 2
        present = {c["name"] for c in describe_admin_configs(cluster, entity_type, entity)
                   if c.get("config_source") == source}
    else:
        present = set(cluster.entity_config(entity_type, entity))
    keys = [k for k in keys if k in present]
    if keys:
        alter_configs(cluster, entity_type, entity, {}, keys)


def _cancel(cluster, args, out):
    target = parse_reassignment_json(_read_json(args.reassignment_json_file, "--reassignment-json-file"))
    idle = set(_alter_reassignments(cluster, dict.fromkeys(target)))
    cancelled = [tp for tp in sorted(target) if tp not in idle]
    out.data = {"cancelled": [{"topic": t, "partition": p} for t, p in cancelled],
                "not_in_progress": [{"topic": t, "partition": p} for t, p in sorted(idle)]}
    if cancelled:
        out.line("Successfully cancelled partition reassignments for: "
                 + ",".join(f"{t}-{p}" for t, p in cancelled))
    if idle:
        out.line("None of the specified partition reassignments are active: "
                 + ",".join(f"{t}-{p}" for t, p in sorted(idle)))
    if not args.preserve_throttles:
        _clear_throttles(cluster, sorted({t for t, _ in target}), sorted(cluster.all_brokers()), out)
