"""The controller's requests and elections, as a mixin of :class:`KafkaController`.

What brokers and admin clients ask the controller for — ControlledShutdown,
AlterPartitionReassignments / ListPartitionReassignments and ElectLeaders — each put as an
event with a Deferred for the answer; and the events that only move leaderships: preferred
elections (the admin znode and the periodic imbalance check), a topic's unclean election
turned on, and the ZooKeeper side of reassignments. The work itself is in
:class:`~kafkalite.controller.leader_election.LeaderElections` and
:class:`~kafkalite.controller.reassignment.ReassignmentManager`; this holds the event
glue, so ``controller.py`` keeps the election, failover and cluster-change handling.
"""

from twisted.internet import task

from kafkalite.controller.events import (
    AlterPartitionReassignments,
    AutoPreferredReplicaLeaderElection,
    ControlledShutdown,
    ElectLeaders,
    ListPartitionReassignments,
    PreferredReplicaElection,
    TopicUncleanLeaderElectionEnable,
)
from kafkalite.protocol import errors

__all__ = ["ControllerRequests"]


class ControllerRequests:
    """Requests and elections of :class:`KafkaController` (which provides ``_is_active``, ``events``,
    ``elections``, ``reassignment``, ``topic_deletion``, ``config``, ``reactor``, ``log`` and ``_watch``)."""

    def controlled_shutdown(self, broker_id, broker_epoch):
        """Handle a ControlledShutdown request; fires with ``(error_code, remaining_keys)``."""
        event = ControlledShutdown(broker_id, broker_epoch)
        if not self._is_active:
            event.done.callback((errors.NotControllerError.code, []))
        else:
            self.events.put(event)
        return event.done

    # -- leader elections: preferred (requested or automatic), controlled shutdown, unclean, ElectLeaders ----------

    async def _on_preferred_replica_election(self, event=None):
        if self._is_active:
            await self.elections.on_preferred_replica_election(self._watch(PreferredReplicaElection()))

    def _start_auto_rebalance(self):
        if self.config.auto_leader_rebalance_enable and self._rebalance_loop is None:
            self._rebalance_loop = task.LoopingCall(self.events.put, AutoPreferredReplicaLeaderElection())
            self._rebalance_loop.clock = self.reactor
            d = self._rebalance_loop.start(self.config.leader_imbalance_check_interval_seconds, now=False)
            d.addErrback(lambda f: self.log.failure("leader imbalance check stopped", f))

    def _stop_auto_rebalance(self):
        if self._rebalance_loop is not None and self._rebalance_loop.running:
            self._rebalance_loop.stop()
        self._rebalance_loop = None

    async def _auto_rebalance(self, event=None):
        if self._is_active:
            await self.elections.auto_rebalance()

    async def _controlled_shutdown(self, event):
        if not self._is_active:
            result = (errors.NotControllerError.code, [])
        else:
            result = await self.elections.controlled_shutdown(event.broker_id, event.broker_epoch)
        if not event.done.called:
            event.done.callback(result)

    def enable_topic_unclean_leader_election(self, topic):
        """``unclean.leader.election.enable`` is now true for ``topic`` (Kafka's
        ``enableTopicUncleanLeaderElection``): only the active controller acts."""
        if self._is_active:
            self.events.put(TopicUncleanLeaderElectionEnable(topic))

    async def _on_topic_unclean_leader_election_enable(self, event):
        if self._is_active:
            await self.elections.unclean_leader_election_enabled(event.topic)

    # -- partition reassignment ------------------------------------------------------------------

    def alter_partition_reassignments(self, requested):
        """AlterPartitionReassignments; fires with ``{key: (error_code, message)}``.

        :raises NotControllerError: (through the Deferred) when this broker is not the controller.
        """
        event = AlterPartitionReassignments(dict(requested))
        self._put_request(event)
        return event.done

    def list_partition_reassignments(self, keys=None):
        """ListPartitionReassignments; fires with ``{key: ReplicaAssignment}``."""
        event = ListPartitionReassignments(None if keys is None else frozenset(keys))
        self._put_request(event)
        return event.done

    def _put_request(self, event):
        if self._is_active:
            self.events.put(event)
        else:
            event.done.errback(errors.NotControllerError("This broker is not the controller."))

    def _answer(self, event, result):
        if not event.done.called:
            if self._is_active:
                event.done.callback(result)
            else:
                event.done.errback(errors.NotControllerError("This broker is not the controller."))

    async def _alter_reassignments(self, event):
        self._answer(event, await self.reassignment.alter(event.requested) if self._is_active else None)

    async def _list_reassignments(self, event):
        self._answer(event, self.reassignment.list(event.keys) if self._is_active else None)

    async def _on_zk_reassignment(self, event=None):
        if self._is_active:
            await self.reassignment.on_zk_reassignment()

    async def _on_reassignment_isr_change(self, event):
        if self._is_active:
            await self.reassignment.on_isr_change(event.key)

    async def _on_reassignments_completed(self, topics):
        if any(topic in self.context.topics_to_be_deleted for topic in topics):
            await self.topic_deletion.resume()
    def elect_leaders(self, election_type, keys=None):
        """ElectLeaders; fires with ``{(topic, partition): ElectionResult}``, or None when not the controller."""
        event = ElectLeaders(election_type, None if keys is None else tuple(keys))
        self.events.put(event) if self._is_active else event.done.callback(None)
        return event.done

    async def _on_elect_leaders(self, event):
        event.done.callback(await self.elections.elect_leaders(event.election_type, event.keys)
                            if self._is_active else None)
