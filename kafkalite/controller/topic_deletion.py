"""TopicDeletionManager: deleting topics through the replica states (Kafka's ``TopicDeletionManager``).

A topic named under ``/admin/delete_topics`` is queued; its partitions vanish from every
broker's metadata at once (UpdateMetadata with leader -2), each of its replicas on a live
broker goes Offline then ReplicaDeletionStarted (StopReplica with delete), and each
broker's answer arrives as its own controller event, moving those replicas to
ReplicaDeletionSuccessful (or ReplicaDeletionIneligible on an error). When no replica is
still waiting, the replicas and partitions become NonExistent, the topic's znodes are
removed and the topic is forgotten.

Replicas on brokers that are down are marked ReplicaDeletionIneligible and hold the
deletion back, as in Kafka: when their broker returns it is told to delete them
(StopReplica), so no broker keeps the old topic's records for a topic created again.
"""

from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.controller.states import PartitionState, ReplicaState
from kafkalite.protocol import errors

__all__ = ["TopicDeletionManager"]


class TopicDeletionManager:
    """Drives topic deletions for the controller (called on its event loop only).

    :param context: the :class:`ControllerContext`.
    :param store: the :class:`ControllerZkStore`.
    :param state_changes: the controller's :class:`StateChanges`.
    :param on_stop_replica: ``(broker_id, response)`` callback that queues the answer as an event.
    :param enabled: ``delete.topic.enable``.
    """

    log = Logger(namespace="kafkalite.controller")

    def __init__(self, context, store, state_changes, on_stop_replica, enabled=True):
        self.context = context
        self.store = store
        self.state_changes = state_changes
        self._on_stop_replica = on_stop_replica
        self.enabled = enabled

    async def enqueue(self, topics):
        """Queue ``topics`` (named under ``/admin/delete_topics``) and start what can start."""
        for topic in topics:
            if topic not in self.context.assignments or not self.enabled:
                # Nothing to delete (or deletion disabled, as Kafka does): drop the request.
                await self.store.delete_quietly(zkdata.delete_topic_path(topic))
                continue
            if topic not in self.context.topics_to_be_deleted:
                self.log.info("deleting topic {topic}", topic=topic)
                self.context.topics_to_be_deleted.add(topic)
        await self.resume()

    async def resume(self, started_brokers=()):
        """Start or go on with the queued deletions; finish those whose every replica is deleted.

        A replica on a dead broker (ReplicaDeletionIneligible) holds its topic's deletion back
        until the broker returns (``started_brokers``), as does one that failed to delete.
        """
        started_brokers = set(started_brokers)
        for topic in sorted(self.context.topics_to_be_deleted):
            if self.context.is_topic_being_reassigned(topic):
                continue  # ineligible while its partitions move (Kafka's rule); resumed when they finish
            states = {replica: self.context.replica_state(*replica) for replica in self._replicas(topic)}
            if ReplicaState.DELETION_STARTED in states.values():
                continue  # waiting for StopReplica answers
            pending = [replica for replica, state in states.items() if state is not ReplicaState.DELETION_SUCCESSFUL]
            if not pending:
                await self._complete(topic)
                continue
            begun = any(state in (ReplicaState.DELETION_SUCCESSFUL, ReplicaState.DELETION_INELIGIBLE)
                        for state in states.values())
            retry = [(key, broker) for key, broker in pending if self.context.is_live(broker) and (
                states[(key, broker)] is not ReplicaState.DELETION_INELIGIBLE or broker in started_brokers)]
            if retry or not begun:
                await self._start(topic, pending)

    async def _start(self, topic, replicas):
        keys = self.context.partitions_of(topic)
        # The brokers drop the partitions from their metadata first (leader -2), as Kafka does.
        self.state_changes.batch.add_update_metadata(self.context, self.context.live_brokers, keys)
        await self.state_changes.partitions([k for k in keys if self.context.partition_state(k)
                                             is not PartitionState.OFFLINE], PartitionState.OFFLINE)
        live = [(k, b) for k, b in replicas if self.context.is_live(b)]
        dead = [(k, b) for k, b in replicas if not self.context.is_live(b)]
        await self.state_changes.replicas(replicas, ReplicaState.OFFLINE)
        await self.state_changes.replicas(dead, ReplicaState.DELETION_INELIGIBLE)
        await self.state_changes.replicas(live, ReplicaState.DELETION_STARTED, self._on_stop_replica)
        if dead:
            self.log.info("deletion of topic {topic} waits for brokers {brokers} to return", topic=topic,
                          brokers=sorted({b for _, b in dead}))

    async def on_stop_replica_response(self, broker_id, response):
        """A broker answered (``response`` None: failed) the StopReplica of replicas being deleted."""
        started = [(k, b) for topic in self.context.topics_to_be_deleted for k, b in self._replicas(topic)
                   if b == broker_id and self.context.replica_state(k, b) is ReplicaState.DELETION_STARTED]
        failed = set()
        if response is None or response.get("error_code"):
            failed = {key for key, _ in started}
        else:
            for entry in response.get("partition_errors") or ():
                if entry["error_code"] not in (0, errors.UnknownTopicOrPartitionError.code):
                    failed.add((entry["topic_name"], entry["partition_index"]))
        if failed:
            self.log.warn("broker {broker} could not delete {count} replicas", broker=broker_id, count=len(failed))
        await self.state_changes.replicas([(k, b) for k, b in started if k in failed],
                                          ReplicaState.DELETION_INELIGIBLE)
        await self.state_changes.replicas([(k, b) for k, b in started if k not in failed],
                                          ReplicaState.DELETION_SUCCESSFUL)
        await self.resume()

    async def _complete(self, topic):
        await self.state_changes.replicas([r for r in self._replicas(topic) if self.context.replica_state(*r)
                                           is ReplicaState.DELETION_SUCCESSFUL], ReplicaState.NON_EXISTENT)
        await self.state_changes.partitions(self.context.partitions_of(topic), PartitionState.NON_EXISTENT)
        await self.store.delete_topic(topic)
        self.context.remove_topic(topic)
        self.log.info("deleted topic {topic}", topic=topic)

    def _replicas(self, topic):
        return [(key, broker) for key in self.context.partitions_of(topic) for broker in self.context.replicas(key)]
