"""``kafkalite-admin leader-election``: Kafka's ``kafka-leader-election`` (and, through ZooKeeper,
``kafka-preferred-replica-election``).

Through the Admin API: ElectLeaders (preferred or unclean) to the controller. Through
ZooKeeper (preferred only, as Kafka's ZooKeeper tool): the ``/admin/preferred_replica_election``
znode, refused while an earlier one is still being handled.
"""

import json

from kafkalite import zkdata
from kafkalite.cli.admin.client import AdminClient
from kafkalite.cli.admin.output import AdminError, kafka_error, raise_for_code
from kafkalite.protocol.apis import ApiKey

__all__ = ["add_parser", "parse_election_json", "run"]

ELECTION_TYPES = {"preferred": 0, "unclean": 1}
ELECTION_NOT_NEEDED = 84


def add_parser(subparsers, common):
    p = subparsers.add_parser("leader-election", parents=[common], help="elect preferred or unclean leaders",
                              description="Kafka's kafka-leader-election.")
    p.add_argument("--election-type", choices=sorted(ELECTION_TYPES), required=True)
    p.add_argument("--topic", help="the topic (with --partition)")
    p.add_argument("--partition", type=int, help="the partition of --topic")
    p.add_argument("--all-topic-partitions", action="store_true", help="every partition of every topic")
    p.add_argument("--path-to-json-file", metavar="FILE",
                   help='{"partitions":[{"topic":"t","partition":0},...]}')
    p.set_defaults(run=run)


def parse_election_json(obj):
    """Kafka's election JSON → sorted ``[(topic, partition)]``; raises :class:`AdminError`."""
    try:
        partitions = [(e["topic"], e["partition"]) for e in obj["partitions"]]
    except (KeyError, TypeError):
        raise AdminError('--path-to-json-file: expected {"partitions":[{"topic":"t","partition":0},...]}') from None
    if any(not isinstance(t, str) or type(p) is not int for t, p in partitions):
        raise AdminError("--path-to-json-file: each entry needs a string topic and an integer partition")
    if len(set(partitions)) != len(partitions):
        raise AdminError("--path-to-json-file: a partition is listed twice")
    return sorted(partitions)


def _partitions(args):
    """``None`` for all partitions, else ``[(topic, partition)]``."""
    chosen = [bool(args.all_topic_partitions), bool(args.path_to_json_file), args.topic is not None]
    if sum(chosen) != 1:
        raise AdminError("give exactly one of --all-topic-partitions, --path-to-json-file or --topic/--partition")
    if args.all_topic_partitions:
        return None
    if args.path_to_json_file:
        try:
            with open(args.path_to_json_file, encoding="utf-8") as f:
                return parse_election_json(json.load(f))
        except OSError as error:
            raise AdminError(f"--path-to-json-file: cannot read {args.path_to_json_file}: {error.strerror}") from None
        except ValueError as error:
            raise AdminError(f"--path-to-json-file: not JSON: {error}") from None
    if args.partition is None:
        raise AdminError("--topic needs --partition")
    return [(args.topic, args.partition)]


def run(args, out):
    from kafkalite.cli.admin.main import connection

    partitions = _partitions(args)
    with connection(args) as cluster:
        if isinstance(cluster, AdminClient):
            return _elect_admin(cluster, args, partitions, out)
        if args.election_type != "preferred":
            raise AdminError("an unclean election needs --bootstrap-server (ZooKeeper mode only triggers "
                             "preferred elections, as Kafka's tool)")
        _elect_zk(cluster, partitions, out)
    return 0


def _elect_zk(cluster, partitions, out):
    if partitions is None:
        view = cluster.view()
        partitions = sorted((p.topic, p.partition) for p in view.partitions)
    else:
        view = cluster.view(sorted({t for t, _ in partitions}))
        known = {(p.topic, p.partition) for p in view.partitions}
        unknown = [f"{t}-{p}" for t, p in partitions if (t, p) not in known]
        if unknown:
            raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: {', '.join(unknown)} do not exist")
    busy = "Preferred replica leader election currently in progress for {}. Aborting operation"
    existing = cluster.zk.get_or_none(zkdata.PREFERRED_REPLICA_ELECTION)
    if existing is not None:
        pending = sorted(zkdata.decode_preferred_replica_election(existing))
        raise AdminError(busy.format(", ".join(f"{tp.topic}-{tp.partition}" for tp in pending)))
    data = zkdata.encode_preferred_replica_election([zkdata.TopicPartition(t, p) for t, p in partitions])
    cluster.create_admin_znode(zkdata.PREFERRED_REPLICA_ELECTION, data, busy.format("other partitions"))
    out.line(f"Created preferred replica election path with {data.decode()}")
    out.line("Successfully started preferred replica election for partitions "
             + ", ".join(f"{t}-{p}" for t, p in partitions))
    out.data = {"started": [{"topic": t, "partition": p} for t, p in partitions]}


def _elect_admin(cluster, args, partitions, out):
    if not cluster.supports(ApiKey.ELECT_LEADERS):
        raise AdminError("UNSUPPORTED_VERSION: the cluster does not serve ElectLeaders; for a preferred election "
                         "use --zookeeper")
    by_topic = {}
    for topic, partition in partitions or []:
        by_topic.setdefault(topic, []).append(partition)
    response = cluster.to_controller(ApiKey.ELECT_LEADERS, {
        "election_type": ELECTION_TYPES[args.election_type],
        "topic_partitions": None if partitions is None else [
            {"topic": t, "partitions": ps} for t, ps in sorted(by_topic.items())],
        "timeout_ms": int(cluster.timeout * 1000)})
    raise_for_code(response.get("error_code", 0), context="ElectLeaders")
    kind = args.election_type.upper()
    done, not_needed, failed = [], [], []
    for topic in response["replica_election_results"]:
        for p in topic["partition_result"]:
            name = f"{topic['topic']}-{p['partition_id']}"
            if p["error_code"] == 0:
                done.append(name)
            elif p["error_code"] == ELECTION_NOT_NEEDED:
                not_needed.append(name)
            else:
                failed.append((name, str(kafka_error(p["error_code"], p.get("error_message")))))
    if done:
        out.line(f"Successfully completed leader election ({kind}) for partitions {', '.join(sorted(done))}")
    if not_needed:
        out.line(f"Valid replica already elected for partitions {', '.join(sorted(not_needed))}")
    for name, error in failed:
        out.line(f"Error completing leader election ({kind}) for partition: {name}: {error}")
    out.data = {"election_type": args.election_type, "elected": sorted(done), "not_needed": sorted(not_needed),
                "failed": [{"partition": n, "error": e} for n, e in failed]}
    if failed:
        raise AdminError(f"{len(failed)} partition(s) failed leader election")
    return 0
