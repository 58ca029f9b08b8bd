"""Logs a starting broker must not keep: of topics deleted, created again, or moved away meanwhile.

A broker that was down while a topic was deleted and created again under the same name,
or while a reassignment removed its replica, finds the old directory at start-up. Before
it registers (so the controller cannot yet give it replicas), it reads the topics it holds
logs of from ZooKeeper and deletes the logs whose topic no longer exists, whose topic id
differs from the one in its ``partition.metadata`` (the topic was created again), or whose
partition is no longer assigned to it. A topic queued for deletion is left to the
controller (StopReplica). When ZooKeeper cannot be read, nothing is deleted.
"""

from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.log.partition_metadata import PartitionMetadataError, read_topic_id
from kafkalite.zkclient import NoNodeError, ZkError

__all__ = ["delete_stray_logs", "stray_reason"]

log = Logger(namespace="kafkalite.replica")


def stray_reason(key, broker_id, assignment, recorded_topic_id):
    """Why the local log of ``key`` must go, or None to keep it.

    :param assignment: the topic's :class:`zkdata.TopicAssignment`, None when the topic does not exist.
    :param recorded_topic_id: the id in the log's ``partition.metadata`` (None: not recorded).
    """
    topic, partition = key
    if assignment is None:
        return "topic %s no longer exists" % topic
    if assignment.topic_id is not None and recorded_topic_id is not None and recorded_topic_id != assignment.topic_id:
        return "topic %s was created again (id %s, the log's %s)" % (topic, assignment.topic_id, recorded_topic_id)
    replicas = tuple(assignment.partitions.get(partition, ())) + tuple(assignment.adding_replicas.get(partition, ()))
    if broker_id not in replicas:
        return "partition %d of %s is not assigned to broker %d" % (partition, topic, broker_id)
    return None


async def delete_stray_logs(zk, log_manager, broker_id):
    """Delete this broker's stray logs (see the module); returns ``{key: reason}`` of those deleted."""
    keys = sorted(log_manager.logs)
    if not keys:
        return {}
    try:
        existing = set(await zk.get_children(zkdata.BROKER_TOPICS))
        try:
            being_deleted = set(await zk.get_children(zkdata.ADMIN_DELETE_TOPICS))
        except NoNodeError:
            being_deleted = set()
        topics = sorted({topic for topic, _ in keys} & existing)
        results = await zk.get_many([zkdata.topic_path(t) for t in topics])
    except ZkError as error:
        log.warn("could not look for stray logs ({error}); keeping every log", error=error)
        return {}
    assignments = {}
    for topic, result in zip(topics, results, strict=True):
        if isinstance(result, ZkError):
            if isinstance(result, NoNodeError):
                existing.discard(topic)
                continue
            being_deleted.add(topic)  # unknown: keep its logs
            continue
        try:
            assignments[topic] = zkdata.decode_topic_assignment(result[0])
        except ValueError:
            being_deleted.add(topic)  # malformed: keep its logs, the controller ignores it too
    deleted = {}
    for key in keys:
        if key[0] in being_deleted:
            continue
        current = log_manager.get_log(*key)
        try:
            recorded = read_topic_id(current.directory)
        except (PartitionMetadataError, OSError):
            recorded = None
        reason = stray_reason(key, broker_id, assignments.get(key[0]), recorded)
        if reason is not None:
            log_manager.delete_log(*key)
            deleted[key] = reason
    for (topic, partition), reason in sorted(deleted.items()):
        log.warn("deleted the stray log {topic}-{partition}: {reason}", topic=topic, partition=partition,
                 reason=reason)
    return deleted
