"""``kafkalite-admin log-dirs``: Kafka's ``kafka-log-dirs --describe`` (DescribeLogDirs, Admin API only).

Each broker in ``--broker-list`` (default: all) is asked for its log directories and the
size and offset lag of each partition replica in them, limited to ``--topic-list`` when
given. ``--json`` prints Kafka's own JSON shape for this tool.
"""

from kafkalite.cli.admin.output import AdminError, kafka_error
from kafkalite.protocol.apis import ApiKey

__all__ = ["add_parser", "run"]


def add_parser(subparsers, common):
    p = subparsers.add_parser("log-dirs", parents=[common], help="describe the brokers' log directories",
                              description="Kafka's kafka-log-dirs --describe.")
    p.add_argument("--describe", action="store_true", required=True)
    p.add_argument("--broker-list", metavar="1,2,3", help="the brokers to ask (default: all)")
    p.add_argument("--topic-list", metavar="T1,T2", help="only these topics (default: all)")
    p.set_defaults(run=run)


def run(args, out):
    from kafkalite.cli.admin.main import connection

    if args.zookeeper:
        raise AdminError("log-dirs works through --bootstrap-server only (as Kafka's tool)")
    try:
        wanted = [int(b) for b in args.broker_list.split(",")] if args.broker_list else None
    except ValueError:
        raise AdminError(f"--broker-list: expected comma-separated broker ids, got {args.broker_list!r}") from None
    topics = [t.strip() for t in args.topic_list.split(",") if t.strip()] if args.topic_list else None
    with connection(args, zookeeper=False) as client:
        brokers = client.all_brokers()
        unknown = sorted(set(wanted or []) - set(brokers))
        if unknown:
            raise AdminError(f"--broker-list: brokers {unknown} are not in the cluster")
        request_topics = None
        if topics is not None:
            metadata = client.metadata(topics)
            request_topics = [{"topic": t["name"], "partitions": sorted(p["partition_index"] for p in t["partitions"])}
                              for t in metadata["topics"] if t["error_code"] == 0]
        result, rows = [], []
        for broker_id in wanted or sorted(brokers):
            response = brokers[broker_id].request(ApiKey.DESCRIBE_LOG_DIRS, {"topics": request_topics})
            if response.get("error_code"):
                raise kafka_error(response["error_code"], context=f"DescribeLogDirs on broker {broker_id}")
            dirs = []
            for d in response["results"]:
                error = str(kafka_error(d["error_code"])) if d["error_code"] else None
                partitions = [{"partition": f"{t['name']}-{p['partition_index']}", "size": p["partition_size"],
                               "offsetLag": p["offset_lag"], "isFuture": p["is_future_key"]}
                              for t in d["topics"] for p in t["partitions"]]
                dirs.append({"logDir": d["log_dir"], "error": error,
                             "partitions": sorted(partitions, key=lambda p: p["partition"])})
                rows += [[broker_id, d["log_dir"], p["partition"], p["size"], p["offsetLag"],
                          str(p["isFuture"]).lower(), error] for p in dirs[-1]["partitions"]]
                if not partitions:
                    rows.append([broker_id, d["log_dir"], None, None, None, None, error])
            result.append({"broker": broker_id, "logDirs": dirs})
    out.data = {"version": 1, "brokers": result}
    out.line("Querying brokers for log directories information")
    out.line(f"Received log directory information from brokers {','.join(str(r['broker']) for r in result)}")
    out.line()
    out.table(["BROKER", "LOG-DIR", "PARTITION", "SIZE", "OFFSET-LAG", "IS-FUTURE", "ERROR"], rows)
    return 0
