"""``kafkalite-admin cluster``: the first screen an operator reads.

Brokers and their endpoints (and rack), the controller and its epoch, partitions online /
under-replicated / offline, reassignments in progress, topics being deleted and consumer
groups. Through ZooKeeper it reads ``/brokers/ids``, ``/controller``, ``/controller_epoch``,
the partition states and ``/admin/reassign_partitions`` (groups live in the brokers, not in
ZooKeeper); through the Admin API it reads Metadata (DescribeCluster when served),
ListPartitionReassignments and ListGroups / DescribeGroups.
"""

from kafkalite import zkdata
from kafkalite.cli.admin.client import AdminClient
from kafkalite.cli.admin.output import raise_for_code
from kafkalite.health import is_under_replicated
from kafkalite.protocol.apis import ApiKey

__all__ = ["add_parser", "partition_health", "run"]


def add_parser(subparsers, common):
    p = subparsers.add_parser("cluster", parents=[common], help="brokers, controller, partition health, groups",
                              description="A summary of the cluster: the first screen an operator reads.")
    p.set_defaults(run=run)


def partition_health(partitions, live):
    """Counts of ``online`` / ``under_replicated`` / ``offline`` partitions.

    :param partitions: ``(leader, replicas, isr)`` triples; ``live``: live broker ids.
    """
    counts = {"total": 0, "online": 0, "under_replicated": 0, "offline": 0}
    for leader, replicas, isr in partitions:
        counts["total"] += 1
        if leader in live:
            counts["online"] += 1
        else:
            counts["offline"] += 1
        if is_under_replicated(isr, replicas):
            counts["under_replicated"] += 1
    return counts


def _load(brokers, partitions):
    """Add each broker's count of partitions it leads and replicas it holds (a decommission's yardstick)."""
    for broker in brokers:
        broker["leaders"] = sum(1 for leader, _, _ in partitions if leader == broker["id"])
        broker["replicas"] = sum(1 for _, replicas, _ in partitions if broker["id"] in replicas)
    return brokers


def run(args, out):
    from kafkalite.cli.admin.main import connection

    with connection(args) as cluster:
        summary = _admin_summary(cluster) if isinstance(cluster, AdminClient) else _zk_summary(cluster)
    out.data = summary
    out.line(f"Cluster id: {summary['cluster_id'] or '-'}")
    controller = summary["controller"]
    epoch = summary["controller_epoch"]
    out.line(f"Controller: {controller if controller is not None and controller >= 0 else 'none'}"
             f" (epoch {epoch if epoch is not None else '-'})")
    out.line()
    out.table(["BROKER", "ENDPOINTS", "RACK", "LEADERS", "REPLICAS", "CONTROLLER"],
              [[b["id"], ",".join(b["endpoints"]), b["rack"], b["leaders"], b["replicas"],
                "*" if b["id"] == controller else ""] for b in summary["brokers"]])
    p = summary["partitions"]
    out.table(["TOPICS", "PARTITIONS", "ONLINE", "UNDER-REPLICATED", "OFFLINE", "REASSIGNING", "DELETING-TOPICS"],
              [[summary["topics"], p["total"], p["online"], p["under_replicated"], p["offline"],
                len(summary["reassignments"]), len(summary["topics_being_deleted"])]])
    if summary["reassignments"]:
        out.table(["REASSIGNING", "TARGET-REPLICAS"],
                  [[f"{r['topic']}-{r['partition']}", ",".join(map(str, r["replicas"]))]
                   for r in summary["reassignments"]])
    groups = summary["groups"]
    if groups is None:
        out.line("Groups: not in ZooKeeper (use --bootstrap-server)")
    else:
        states = {}
        for g in groups:
            states[g["state"]] = states.get(g["state"], 0) + 1
        out.line(f"Groups: {len(groups)}" + (" (" + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + ")"
                                             if states else ""))
    return 0


def _zk_summary(cluster):
    view = cluster.view()
    controller_data = cluster.zk.get_or_none(zkdata.CONTROLLER)
    epoch_data = cluster.zk.get_or_none(zkdata.CONTROLLER_EPOCH)
    cluster_id = cluster.zk.get_or_none(zkdata.CLUSTER_ID)
    live = set(view.brokers)
    partitions = [(p.leader, p.replicas, p.isr) for p in view.partitions]
    reassignments = {(tp.topic, tp.partition): list(r) for tp, r in cluster.reassignment_in_progress().items()}
    for p in view.partitions:
        if p.adding or p.removing:
            reassignments.setdefault((p.topic, p.partition), [r for r in p.replicas if r not in p.removing])
    return {
        "cluster_id": zkdata.decode_cluster_id(cluster_id) if cluster_id else None,
        "controller": zkdata.decode_controller(controller_data).broker_id if controller_data else None,
        "controller_epoch": zkdata.decode_controller_epoch(epoch_data) if epoch_data else None,
        "brokers": _load([{"id": i, "endpoints": list(r.endpoints), "rack": r.rack} for i, r in view.brokers.items()],
                         partitions),
        "topics": len(view.assignments),
        "partitions": partition_health(partitions, live),
        "reassignments": [{"topic": t, "partition": p, "replicas": r} for (t, p), r in sorted(reassignments.items())],
        "topics_being_deleted": sorted(view.marked_for_deletion),
        "groups": None,
    }


def _admin_summary(client):
    metadata = client.metadata()
    live = {b["node_id"] for b in metadata["brokers"]}
    brokers = [{"id": b["node_id"], "endpoints": [f"{b['host']}:{b['port']}"], "rack": b.get("rack")}
               for b in sorted(metadata["brokers"], key=lambda b: b["node_id"])]
    cluster_id, controller = metadata.get("cluster_id"), metadata.get("controller_id")
    if client.supports(ApiKey.DESCRIBE_CLUSTER):
        described = client.any_broker().request(ApiKey.DESCRIBE_CLUSTER, {
            "include_cluster_authorized_operations": False})
        raise_for_code(described["error_code"], described.get("error_message"), "DescribeCluster")
        cluster_id, controller = described["cluster_id"], described["controller_id"]
        brokers = [{"id": b["broker_id"], "endpoints": [f"{b['host']}:{b['port']}"], "rack": b.get("rack")}
                   for b in sorted(described["brokers"], key=lambda b: b["broker_id"])]
    partitions = [(p["leader_id"], p["replica_nodes"], p["isr_nodes"])
                  for t in metadata["topics"] for p in t["partitions"]]
    reassignments = []
    if client.supports(ApiKey.LIST_PARTITION_REASSIGNMENTS):
        response = client.to_controller(ApiKey.LIST_PARTITION_REASSIGNMENTS, {"timeout_ms": 30000, "topics": None})
        reassignments = [{"topic": t["name"], "partition": p["partition_index"],
                          "replicas": [r for r in p["replicas"] if r not in p["removing_replicas"]]}
                         for t in response.get("topics") or [] for p in t["partitions"]]
    groups = []
    for broker in client.all_brokers().values():
        listed = broker.request(ApiKey.LIST_GROUPS, {"states_filter": []})
        names = [g["group_id"] for g in listed["groups"]]
        if names:
            described = broker.request(ApiKey.DESCRIBE_GROUPS, {"groups": names})
            groups += [{"group": g["group_id"], "state": g["group_state"] or "Unknown"} for g in described["groups"]]
    return {
        "cluster_id": cluster_id, "controller": controller,
        # The controller epoch is ZooKeeper's; the Admin API does not expose it.
        "controller_epoch": None,
        "brokers": _load(brokers, partitions), "topics": len(metadata["topics"]),
        "partitions": partition_health(partitions, live),
        "reassignments": sorted(reassignments, key=lambda r: (r["topic"], r["partition"])),
        "topics_being_deleted": [], "groups": sorted(groups, key=lambda g: g["group"]),
    }
