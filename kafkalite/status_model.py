"""The operator's status document: one plain dict built from a broker's own state.

Owns :func:`build_status`, which the status page (:mod:`kafkalite.status_page`) renders
as ``/status.json`` and as HTML at ``/``. It reads, on the reactor thread that owns them:

- this broker's identity (id, cluster, listeners, version, start time, ZooKeeper
  session state, whether it is the active controller), from the broker;
- the cluster as the controller last described it (UpdateMetadata): live brokers, the
  controller's id, every partition's leader, ISR, replicas and offline replicas, from
  the :class:`~kafkalite.replica.metadata_cache.MetadataCache`. For a partition this
  broker leads, the leader's own ISR wins: it is fresher than the controller's copy;
- the partitions hosted here (the replica manager's), for what only a leader knows —
  each follower's lag and when it last caught up — and each topic's
  ``min.insync.replicas``;
- the groups this broker coordinates (the group metadata manager's), with their lag;
- the reassignments in progress, read from ZooKeeper by
  :class:`kafkalite.status_reassignments.ZkReassignments` and passed in as a section.

Under-replication, under-min-ISR, follower lag and group lag are
:mod:`kafkalite.health`'s rules, the ones the ``/metrics`` gauges apply. The document
is bounded whatever the cluster's size: only unhealthy partitions are listed, at most
``limit`` of them (offline first), and likewise reassignments and groups; each list
says how many it left out. The under-min-ISR count covers the partitions hosted here:
a topic's ``min.insync.replicas`` override is only known where its log lives.
"""

from kafkalite import __version__
from kafkalite.coordinator.group import DEAD
from kafkalite.health import follower_lag, group_lags, is_under_min_isr, is_under_replicated

__all__ = ["LIST_LIMIT", "build_status"]

#: Most entries any one list of the document holds (partitions, reassignments, groups).
LIST_LIMIT = 500

OFFLINE = "offline"
UNDER_MIN_ISR = "under min ISR"
UNDER_REPLICATED = "under-replicated"
_SEVERITY = {OFFLINE: 0, UNDER_MIN_ISR: 1, UNDER_REPLICATED: 2}


def build_status(identity, metadata_cache, partitions, groups, reassignments, now_ms, limit=LIST_LIMIT):
    """The status document (JSON-ready: dicts, lists, strings, numbers, booleans, None).

    :param identity: this broker's facts: ``broker_id``, ``cluster_id``, ``broker_epoch``,
        ``started_at_ms``, ``listeners`` and ``advertised`` (lists of ``{listener, host, port}``),
        ``rack``, ``zookeeper`` (``{state, connect}``), ``is_active_controller``.
    :param metadata_cache: a :class:`~kafkalite.replica.metadata_cache.MetadataCache`.
    :param partitions: ``{(topic, partition): Partition}`` hosted here.
    :param groups: the :class:`~kafkalite.coordinator.group.GroupMetadata` s this broker coordinates.
    :param reassignments: the reassignment section (:meth:`ZkReassignments.current`'s result).
    :param now_ms: the reactor's clock, in ms.
    :param limit: the most entries of any one list.
    """
    live = set(metadata_cache.brokers)
    return {
        "generated_at_ms": now_ms,
        "broker": _broker_section(identity, now_ms),
        "cluster": _cluster_section(metadata_cache, live),
        "partitions": _partitions_section(metadata_cache, partitions, live, now_ms, limit),
        "reassignments": _reassignments_section(reassignments, metadata_cache, limit),
        "groups": _groups_section(groups, partitions, limit),
    }


def _broker_section(identity, now_ms):
    section = dict(identity)
    section["version"] = __version__
    section["uptime_s"] = max(now_ms - identity["started_at_ms"], 0) / 1000.0
    return section


def _cluster_section(metadata_cache, live):
    controller_id = metadata_cache.controller_id
    brokers = []
    for broker_id in sorted(live):
        broker = metadata_cache.brokers[broker_id]
        brokers.append({
            "id": broker_id, "rack": broker.rack, "is_controller": broker_id == controller_id,
            "is_self": broker_id == metadata_cache.broker_id,
            "endpoints": [{"listener": e.listener, "host": e.host, "port": e.port} for e in broker.endpoints]})
    # Brokers that hold replicas but are not registered: down, as far as the controller knows.
    replica_counts = {}
    for topic_partitions in metadata_cache.topics.values():
        for info in topic_partitions.values():
            for replica in info.replicas:
                if replica not in live:
                    replica_counts[replica] = replica_counts.get(replica, 0) + 1
    return {
        "metadata_received": controller_id >= 0,
        "controller_id": controller_id,
        "controller_epoch": metadata_cache.controller_epoch,
        "live_brokers": brokers,
        "down_brokers": [{"id": broker_id, "replicas": count} for broker_id, count in sorted(replica_counts.items())],
        "topics": len(metadata_cache.topics),
    }


def _partitions_section(metadata_cache, hosted, live, now_ms, limit):
    section = {"total": 0, "offline": 0, "under_replicated": 0, "under_min_isr": 0, "hosted_here": len(hosted)}
    unhealthy = []
    for topic, topic_partitions in metadata_cache.topics.items():
        for index, info in topic_partitions.items():
            section["total"] += 1
            entry = _partition_entry(info, hosted.get((topic, index)), live, now_ms)
            if entry is not None:
                for problem in ("offline", "under_replicated", "under_min_isr"):
                    section[problem] += entry[problem]
                unhealthy.append(entry)
    unhealthy.sort(key=lambda e: (_SEVERITY[e["status"]], e["topic"], e["partition"]))
    section["unhealthy"] = unhealthy[:limit]
    section["unhealthy_omitted"] = max(len(unhealthy) - limit, 0)
    return section


def _partition_entry(info, local, live, now_ms):
    """The partition's entry when it is offline, under-replicated or under min ISR, else None."""
    leader, isr, replicas = info.leader, info.isr, info.replicas
    if local is not None and local.is_leader:
        leader, isr, replicas = local.leader_id, local.isr, local.replicas
    min_isr = local.log.config.min_insync_replicas if local is not None else None
    offline = leader < 0 or leader not in live
    under_replicated = is_under_replicated(isr, replicas)
    under_min_isr = min_isr is not None and is_under_min_isr(isr, min_isr)
    if not (offline or under_replicated or under_min_isr):
        return None
    status = OFFLINE if offline else UNDER_MIN_ISR if under_min_isr else UNDER_REPLICATED
    offline_replicas = set(info.offline_replicas)
    leads_here = local is not None and local.is_leader and not offline
    missing = []
    for replica in replicas:
        if replica in live and replica in isr and replica not in offline_replicas:
            continue
        lag = follower_lag(local, replica, now_ms) if leads_here else None
        missing.append({
            "broker": replica, "alive": replica in live, "in_isr": replica in isr,
            "messages_behind": lag.messages_behind if lag else None,
            "caught_up_s_ago": lag.caught_up_ms_ago / 1000.0 if lag and lag.caught_up_ms_ago is not None else None,
            "reason": _missing_replica_reason(replica, live, isr, offline_replicas, leader, offline, leads_here, lag)})
    return {
        "topic": info.topic, "partition": info.partition, "status": status, "leader": leader,
        "replicas": list(replicas), "isr": list(isr), "min_isr": min_isr, "offline": offline,
        "under_replicated": under_replicated, "under_min_isr": under_min_isr, "missing": missing,
        "reason": _partition_reason(leader, isr, replicas, live, offline, under_min_isr, min_isr)}


def _missing_replica_reason(replica, live, isr, offline_replicas, leader, offline, leads_here, lag):
    """Why ``replica`` is not a live, in-sync replica, in one sentence an operator can act on."""
    if replica not in live:
        return "broker %d is down%s" % (replica, " (it is still the last ISR member)" if replica in isr else "")
    if replica in offline_replicas:
        return "broker %d is alive, but its replica is offline (its log directory could not be used)" % replica
    if leads_here and lag is not None:
        behind = ("has not fetched since this broker became leader" if lag.messages_behind is None
                  else "%d messages behind" % lag.messages_behind)
        caught_up = ("not caught up since this broker became leader" if lag.caught_up_ms_ago is None
                     else "last caught up %.1f s ago" % (lag.caught_up_ms_ago / 1000.0))
        return "broker %d is alive, out of the ISR, %s, %s" % (replica, behind, caught_up)
    if offline:
        return "broker %d is alive, out of the ISR (no leader to catch up from)" % replica
    return "broker %d is alive, out of the ISR (lag known to leader broker %d)" % (replica, leader)


def _partition_reason(leader, isr, replicas, live, offline, under_min_isr, min_isr):
    """The partition's problem as a whole, in one sentence."""
    if offline:
        alive = [r for r in replicas if r in live]
        if not alive:
            return "no leader: none of its replicas (%s) is alive" % _ids(replicas)
        live_isr = [r for r in isr if r in live]
        if live_isr:
            return "no live leader yet: broker %s is alive and in the ISR (election pending)" % _ids(live_isr)
        return ("no leader: no live replica is in the ISR (ISR %s); electing broker %s would take an unclean "
                "leader election (data loss)" % (_ids(isr) or "empty", _ids(alive)))
    text = "%d of %d replicas in sync" % (len(isr), len(replicas))
    if under_min_isr:
        text += "; below min.insync.replicas=%d, so acks=all produce fails with NOT_ENOUGH_REPLICAS" % min_isr
    return text


def _ids(broker_ids):
    return ", ".join(str(b) for b in broker_ids)


def _reassignments_section(section, metadata_cache, limit):
    section = dict(section)
    entries = []
    for entry in section.get("partitions", ())[:limit]:
        entry = dict(entry)
        info = metadata_cache.partition(entry["topic"], entry["partition"])
        isr = set(info.isr) if info is not None else set()
        entry["adding_in_isr"] = [r for r in entry["adding"] if r in isr]
        entries.append(entry)
    section["omitted"] = max(len(section.get("partitions", ())) - limit, 0)
    section["partitions"] = entries
    return section


def _groups_section(groups, partitions, limit):
    listed = []
    live_groups = sorted((g for g in groups if not g.is_(DEAD)), key=lambda g: g.group_id)
    for group in live_groups[:limit]:
        lags = group_lags(group, partitions)
        known = [entry.lag for entry in lags if entry.lag is not None]
        listed.append({
            "group_id": group.group_id, "state": group.state, "protocol_type": group.protocol_type,
            "protocol": group.protocol_name, "generation": group.generation_id,
            "members": [{"member_id": member_id, "client_id": member.client_id, "client_host": member.client_host}
                        for member_id, member in sorted(group.members.items())],
            "total_lag": sum(known) if known else None,
            "partitions_without_lag": len(lags) - len(known),
            "partitions": [{"topic": e.topic, "partition": e.partition, "committed_offset": e.committed_offset,
                            "lag": e.lag} for e in lags]})
    return {
        "coordinated_here": listed,
        "omitted": max(len(live_groups) - limit, 0),
        "note": "Only the groups this broker coordinates are listed; every other group is on its coordinator, "
                "the leader of its __consumer_offsets partition.",
    }
