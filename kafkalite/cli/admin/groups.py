"""``kafkalite-admin consumer-groups``: Kafka's ``kafka-consumer-groups`` (Admin API only, as Kafka's).

``--list`` asks every broker (ListGroups); ``--describe`` finds the group's coordinator
(FindCoordinator), reads its members (DescribeGroups, assignments decoded with the consumer
protocol) and committed offsets (OffsetFetch), and each partition's log end offset from its
leader (ListOffsets): Kafka's table of current offset, log end offset, lag, consumer id,
host and client id. ``--reset-offsets`` computes new offsets (dry run unless ``--execute``)
and commits them with OffsetCommit, refusing a group with active members as Kafka does;
``--delete`` sends DeleteGroups.
"""

import datetime

from kafkalite.cli.admin.options import add_actions
from kafkalite.cli.admin.output import AdminError, kafka_error, raise_for_code
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.consumer_protocol import CONSUMER_PROTOCOL_ASSIGNMENT
from kafkalite.protocol.errors import KafkaError

__all__ = ["add_parser", "parse_datetime", "parse_topic_partitions", "run"]

LATEST, EARLIEST = -1, -2
INACTIVE_STATES = ("Empty", "Dead")


def add_parser(subparsers, common):
    p = subparsers.add_parser("consumer-groups", parents=[common], help="list, describe, reset or delete groups",
                              description="Kafka's kafka-consumer-groups (through --bootstrap-server only).")
    add_actions(p, ("list", "describe", "reset-offsets", "delete"))
    p.add_argument("--group", action="append", default=[], help="the group (repeatable)")
    p.add_argument("--all-groups", action="store_true", help="describe or delete every group")
    p.add_argument("--members", action="store_true", help="describe: the members instead of the offsets")
    p.add_argument("--state", action="store_true", help="describe: the group's state")
    p.add_argument("--topic", action="append", default=[], metavar="TOPIC[:P,P]",
                   help="reset-offsets: a topic, or some of its partitions (repeatable)")
    p.add_argument("--all-topics", action="store_true", help="reset-offsets: every topic the group has offsets for")
    scenario = p.add_mutually_exclusive_group()
    scenario.add_argument("--to-earliest", action="store_true")
    scenario.add_argument("--to-latest", action="store_true")
    scenario.add_argument("--to-offset", type=int, metavar="N")
    scenario.add_argument("--shift-by", type=int, metavar="N")
    scenario.add_argument("--to-datetime", metavar="YYYY-MM-DDTHH:mm:SS.sss[+HH:MM]")
    run_mode = p.add_mutually_exclusive_group()
    run_mode.add_argument("--dry-run", action="store_true", help="reset-offsets: only show the new offsets (default)")
    run_mode.add_argument("--execute", action="store_true", help="reset-offsets: commit the new offsets")
    p.set_defaults(run=run)


def parse_topic_partitions(text):
    """``t`` → ``("t", None)``; ``t:0,2`` → ``("t", [0, 2])``; raises :class:`AdminError`."""
    topic, sep, parts = text.partition(":")
    if not topic:
        raise AdminError(f"--topic: expected TOPIC or TOPIC:P,P, got {text!r}")
    if not sep:
        return topic, None
    try:
        return topic, sorted({int(p) for p in parts.split(",")})
    except ValueError:
        raise AdminError(f"--topic: partitions of {topic} must be integers, got {parts!r}") from None


def parse_datetime(text):
    """Kafka's ``--to-datetime`` (ISO 8601; local time when no offset is given) → epoch ms."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise AdminError(f"--to-datetime: expected YYYY-MM-DDTHH:mm:SS.sss[+HH:MM], got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1000)


def run(args, out):
    from kafkalite.cli.admin.main import connection

    if args.zookeeper:
        raise AdminError("consumer-groups works through --bootstrap-server only (as Kafka's tool)")
    with connection(args, zookeeper=False) as client:
        if args.action == "list":
            return _list(client, out)
        groups = _groups(client, args)
        if args.action == "describe":
            return _describe(client, args, groups, out)
        if args.action == "reset-offsets":
            return _reset(client, args, groups, out)
        return _delete(client, groups, out)


def _list_groups(client):
    groups = {}
    for broker in client.all_brokers().values():
        response = broker.request(ApiKey.LIST_GROUPS, {"states_filter": []})
        raise_for_code(response["error_code"], context=f"ListGroups on {broker.address}")
        for g in response["groups"]:
            groups[g["group_id"]] = g
    return dict(sorted(groups.items()))


def _list(client, out):
    groups = _list_groups(client)
    out.data = {"groups": [{"group": g, "protocol_type": e["protocol_type"], "state": e.get("group_state") or None}
                           for g, e in groups.items()]}
    for group in groups:
        out.line(group)
    return 0


def _groups(client, args):
    if args.all_groups:
        if args.action == "reset-offsets":
            raise AdminError("--reset-offsets needs --group")
        return list(_list_groups(client))
    if not args.group:
        raise AdminError(f"--{args.action} needs --group (or --all-groups)")
    return args.group


def describe_group(client, group):
    """DescribeGroups of one group on its coordinator; the group's entry."""
    response = client.to_coordinator(group, ApiKey.DESCRIBE_GROUPS, {"groups": [group]},
                                     lambda r: r["groups"][0]["error_code"])
    entry = response["groups"][0]
    raise_for_code(entry["error_code"], context=f"group {group}")
    return entry


def committed_offsets(client, group):
    """``{(topic, partition): offset}`` the group has committed (OffsetFetch for all topics)."""
    response = client.to_coordinator(group, ApiKey.OFFSET_FETCH, {"group_id": group, "topics": None},
                                     lambda r: r.get("error_code", 0))
    raise_for_code(response.get("error_code", 0), context=f"OffsetFetch of group {group}")
    offsets = {}
    for topic in response["topics"]:
        for p in topic["partitions"]:
            if p["error_code"] == 0 and p["committed_offset"] >= 0:
                offsets[(topic["name"], p["partition_index"])] = p["committed_offset"]
    return offsets


def _assignment(member, protocol_type):
    if protocol_type != "consumer" or not member["member_assignment"]:
        return []
    try:
        _, value = CONSUMER_PROTOCOL_ASSIGNMENT.decode(member["member_assignment"])
    except KafkaError:
        return []
    return [(t["topic"], p) for t in value["assigned_partitions"] for p in t["partitions"]]


def _describe(client, args, groups, out):
    out.data = {"groups": []}
    for group in groups:
        entry = describe_group(client, group)
        offsets = committed_offsets(client, group)
        if entry["group_state"] == "Dead" and not offsets:
            raise AdminError(f"GROUP_ID_NOT_FOUND: Consumer group '{group}' does not exist.")
        members = [{"consumer_id": m["member_id"], "host": m["client_host"], "client_id": m["client_id"],
                    "group_instance_id": m.get("group_instance_id"),
                    "partitions": _assignment(m, entry["protocol_type"])} for m in entry["members"]]
        owner = {tp: m for m in members for tp in m["partitions"]}
        partitions = sorted(set(offsets) | set(owner))
        ends = client.list_offsets(partitions, LATEST) if partitions else {}
        rows = []
        for tp in partitions:
            current, end, member = offsets.get(tp), ends.get(tp), owner.get(tp)
            lag = None if current is None or end is None else max(end - current, 0)
            rows.append({"group": group, "topic": tp[0], "partition": tp[1], "current_offset": current,
                         "log_end_offset": end, "lag": lag,
                         "consumer_id": member and member["consumer_id"], "host": member and member["host"],
                         "client_id": member and member["client_id"]})
        coordinator = client.coordinator(group).address
        out.data["groups"].append({
            "group": group, "state": entry["group_state"], "protocol_type": entry["protocol_type"],
            "assignment_strategy": entry["protocol_data"], "coordinator": coordinator,
            "members": [{**m, "partitions": [{"topic": t, "partition": p} for t, p in m["partitions"]]}
                        for m in members],
            "offsets": rows})
        out.line()
        if args.state:
            out.table(["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"],
                      [[group, coordinator, entry["protocol_data"] or None, entry["group_state"], len(members)]])
            continue
        if not members and entry["group_state"] != "Dead":
            out.line(f"Consumer group '{group}' has no active members.")
            out.line()
        if args.members:
            out.table(["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"],
                      [[group, m["consumer_id"], m["host"], m["client_id"], len(m["partitions"])] for m in members])
        else:
            out.table(["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID",
                       "HOST", "CLIENT-ID"],
                      [[r["group"], r["topic"], r["partition"], r["current_offset"], r["log_end_offset"], r["lag"],
                        r["consumer_id"], r["host"], r["client_id"]] for r in rows])
    return 0


# -- reset-offsets -------------------------------------------------------------------------------


def _scenario(args):
    if args.to_earliest:
        return "to_earliest"
    if args.to_latest:
        return "to_latest"
    if args.to_offset is not None:
        return "to_offset"
    if args.shift_by is not None:
        return "shift_by"
    if args.to_datetime is not None:
        return "to_datetime"
    raise AdminError("--reset-offsets needs one of --to-earliest, --to-latest, --to-offset, --shift-by, "
                     "--to-datetime")


def _reset_partitions(client, args, group):
    if bool(args.topic) == bool(args.all_topics):
        raise AdminError("--reset-offsets needs --topic or --all-topics")
    if args.all_topics:
        return sorted(committed_offsets(client, group))
    wanted = [parse_topic_partitions(t) for t in args.topic]
    metadata = client.metadata(sorted({t for t, _ in wanted}))
    existing = {t["name"]: sorted(p["partition_index"] for p in t["partitions"])
                for t in metadata["topics"] if t["error_code"] == 0}
    partitions = []
    for topic, parts in wanted:
        if topic not in existing:
            raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: Topic '{topic}' does not exist.")
        unknown = sorted(set(parts or []) - set(existing[topic]))
        if unknown:
            raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: topic {topic} has no partition {unknown[0]}")
        partitions += [(topic, p) for p in (parts if parts is not None else existing[topic])]
    return sorted(set(partitions))


def _reset(client, args, groups, out):
    if len(groups) != 1:
        raise AdminError("--reset-offsets works on one --group at a time")
    group = groups[0]
    scenario = _scenario(args)
    timestamp = parse_datetime(args.to_datetime) if scenario == "to_datetime" else None
    entry = describe_group(client, group)
    if entry["group_state"] not in INACTIVE_STATES:
        raise AdminError(f"Assignments can only be reset if the group '{group}' is inactive, but the current "
                         f"state is {entry['group_state']}.")
    partitions = _reset_partitions(client, args, group)
    if not partitions:
        raise AdminError(f"group {group} has no offsets to reset for the given topics")
    earliest = client.list_offsets(partitions, EARLIEST)
    latest = client.list_offsets(partitions, LATEST)
    committed = committed_offsets(client, group)
    new = {}
    for tp in partitions:
        if scenario == "to_earliest":
            offset = earliest[tp]
        elif scenario == "to_latest":
            offset = latest[tp]
        elif scenario == "to_offset":
            offset = args.to_offset
        elif scenario == "shift_by":
            if tp not in committed:
                raise AdminError(f"cannot shift the offset of {tp[0]}-{tp[1]}: the group has no committed offset")
            offset = committed[tp] + args.shift_by
        else:
            offset = None
        new[tp] = offset
    if scenario == "to_datetime":
        found = client.list_offsets(partitions, timestamp)
        new = {tp: (off if off >= 0 else latest[tp]) for tp, off in found.items()}
    # Kafka clamps an out-of-range target to the partition's earliest / latest offset.
    new = {tp: min(max(off, earliest[tp]), latest[tp]) for tp, off in new.items()}
    if args.execute:
        _commit(client, group, new)
    out.data = {"group": group, "executed": bool(args.execute), "offsets": [
        {"topic": t, "partition": p, "new_offset": o} for (t, p), o in sorted(new.items())]}
    out.line()
    out.table(["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], [[group, t, p, o] for (t, p), o in sorted(new.items())])
    if not args.execute:
        out.line("(dry run: nothing was committed; add --execute to apply)")
    return 0


def _commit(client, group, offsets):
    topics = {}
    for (topic, partition), offset in sorted(offsets.items()):
        topics.setdefault(topic, []).append({"partition_index": partition, "committed_offset": offset,
                                             "committed_metadata": ""})
    response = client.to_coordinator(group, ApiKey.OFFSET_COMMIT, {
        "group_id": group, "generation_id": -1, "member_id": "", "group_instance_id": None,
        "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()]},
        lambda r: max((p["error_code"] for t in r["topics"] for p in t["partitions"]), default=0))
    failures = [str(kafka_error(p["error_code"], context=f"{t['name']}-{p['partition_index']}"))
                for t in response["topics"] for p in t["partitions"] if p["error_code"]]
    if failures:
        raise AdminError("OffsetCommit failed: " + "; ".join(failures))


def _delete(client, groups, out):
    deleted, failed = [], []
    for group in groups:
        response = client.to_coordinator(group, ApiKey.DELETE_GROUPS, {"groups_names": [group]},
                                         lambda r: r["results"][0]["error_code"])
        result = response["results"][0]
        if result["error_code"]:
            failed.append((group, str(kafka_error(result["error_code"]))))
        else:
            deleted.append(group)
    out.data = {"deleted": deleted, "failed": [{"group": g, "error": e} for g, e in failed]}
    if deleted:
        out.line("Deletion of requested consumer groups (" + ", ".join(f"'{g}'" for g in deleted)
                 + ") was successful.")
    if failed:
        raise AdminError("Deletion of some consumer groups failed: "
                         + "; ".join(f"Group '{g}' could not be deleted due to: {e}" for g, e in failed))
    return 0
