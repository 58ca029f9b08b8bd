"""The controller's lines in the state-change log, worded as Kafka 2.8's controller writes them.

:class:`ControllerStateChangeLog` is what :class:`~kafkalite.controller.state_changes.StateChanges`
and :class:`~kafkalite.controller.request_batch.ControllerRequestBatch` call; each line
carries ``[Controller id=N epoch=E]`` with the context's epoch at the time. Levels as in
Kafka 2.8:

- INFO, one line per partition: ``Changed partition t-0 from OfflinePartition to
  OnlinePartition with state LeaderAndIsr(...)`` (PartitionStateMachine), and one per
  election batch naming the strategy (the reason) and how many were elected;
- TRACE, one line per replica: ``Changed state of replica 2 for partition t-0 from
  OnlineReplica to OfflineReplica`` (ReplicaStateMachine);
- ERROR, one line per partition or replica that could not move, and why;
- INFO, one line per broker and request sent (``Sending LeaderAndIsr request to broker 2
  with 5 become-leader and 10 become-follower partitions``), TRACE one per partition in it
  (ControllerChannelManager).

Every per-partition group is written as one batch (:meth:`StateChangeLogger.each`) and
built only when its level is enabled. Given a reactor, the INFO lines of transitions,
elections and requests sent are written on the next reactor turn, in order, from values
taken at once: formatting 10,000 of them takes tens of milliseconds, which a failover's
LeaderAndIsr requests should not wait for.
"""

import logging

from kafkalite.controller.partition_state_machine import (
    ControlledShutdownElection,
    OfflineElection,
    PreferredElection,
    ReassignElection,
)
from kafkalite.controller.states import PartitionState
from kafkalite.state_change_logger import TRACE, StateChangeLogger, format_leader_and_isr

__all__ = ["ControllerStateChangeLog", "election_strategy"]


def election_strategy(election, unclean=False):
    """Kafka's name of the ``PartitionLeaderElectionStrategy`` an election object stands for."""
    if election is None or isinstance(election, OfflineElection):
        unclean = unclean or bool(election is not None and election.unclean_topics)
        return "OfflinePartitionLeaderElectionStrategy(allowUnclean=%s)" % ("true" if unclean else "false")
    if isinstance(election, PreferredElection):
        return "PreferredReplicaPartitionLeaderElectionStrategy"
    if isinstance(election, ControlledShutdownElection):
        return "ControlledShutdownPartitionLeaderElectionStrategy"
    if isinstance(election, ReassignElection):
        return "ReassignPartitionLeaderElectionStrategy"
    return type(election).__name__


def _leadership(state):
    return format_leader_and_isr(state.leader, state.leader_epoch, state.isr, state.zk_version)


class ControllerStateChangeLog:
    """The controller's state-change lines.

    :param controller_id: this broker's id.
    :param context: the :class:`ControllerContext` (its ``epoch`` goes in every line).
    """

    TRACE = TRACE

    def __init__(self, controller_id, context, reactor=None):
        self.controller_id = controller_id
        self.context = context
        self._logger = StateChangeLogger(controller_id, in_controller_context=True)
        self._reactor = reactor
        self._pending = []  # (write, logger, args) waiting for the next reactor turn

    @property
    def logger(self):
        """The :class:`StateChangeLogger` at the context's current epoch."""
        return self._logger.with_controller_epoch(self.context.epoch)

    @staticmethod
    def enabled(level):
        return StateChangeLogger.enabled(level)

    def _emit(self, write, *args):
        """``write(logger, *args)`` now, or with a reactor on its next turn (after everything emitted before)."""
        logger = self.logger
        if self._reactor is None:
            write(logger, *args)
            return
        if not self._pending:
            self._reactor.callLater(0, self._flush)
        self._pending.append((write, logger, args))

    def _flush(self):
        pending, self._pending = self._pending, []
        for write, logger, args in pending:
            write(logger, *args)

    # -- partitions ------------------------------------------------------------------------

    def partitions_changed(self, before, keys, target):
        """INFO per partition of ``keys`` now in ``target`` (``before``: ``{key: state}`` they left)."""
        if not keys or not StateChangeLogger.enabled(logging.INFO):
            return
        leaderships = self.context.leaderships if target is PartitionState.ONLINE else {}
        # LeaderAndIsr is immutable: the rows keep what was written now.
        self._emit(_write_partitions_changed, [(key, before.get(key), leaderships.get(key)) for key in keys], target)

    def elected(self, election, elected, failed, unclean=False):
        """INFO: one line per election batch, its strategy and outcome."""
        if (elected or failed) and StateChangeLogger.enabled(logging.INFO):
            self._emit(_write, logging.INFO, "Elected leaders of %d partitions by %s (%d without an eligible leader)",
                       elected, election_strategy(election, unclean), failed)

    def partitions_failed(self, before, failed, target):
        """ERROR per partition that could not move to ``target`` (``failed``: ``{key: reason}``)."""
        if failed and StateChangeLogger.enabled(logging.ERROR):
            self.logger.each(
                logging.ERROR, "Controller %d epoch %d failed to change state for partition %s-%d from %s to %s: %s",
                ((self.controller_id, self.context.epoch, key[0], key[1], before.get(key), target, reason)
                 for key, reason in sorted(failed.items())))

    def invalid_partitions(self, keys, target):
        """ERROR per partition whose state does not allow ``target`` (Kafka's logInvalidTransition)."""
        if keys and StateChangeLogger.enabled(logging.ERROR):
            states = self.context.partition_states
            self.logger.each(
                logging.ERROR, "Controller %d epoch %d failed to change state for partition %s-%d from %s to %s: "
                "it is not a valid previous state",
                ((self.controller_id, self.context.epoch, key[0], key[1], states.get(key), target) for key in keys))

    # -- replicas --------------------------------------------------------------------------

    def replicas_changed(self, before, changes):
        """TRACE per replica (``changes``: ``{(key, broker): target}``; ``before`` the states they left)."""
        if changes and StateChangeLogger.enabled(TRACE):
            self.logger.each(TRACE, "Changed state of replica %d for partition %s-%d from %s to %s",
                             ((broker, key[0], key[1], before.get((key, broker)), target)
                              for (key, broker), target in changes.items()))

    def invalid_replicas(self, replicas, target):
        """ERROR per replica whose state does not allow ``target``."""
        if replicas and StateChangeLogger.enabled(logging.ERROR):
            states = self.context.replica_states
            self.logger.each(
                logging.ERROR, "Controller %d epoch %d failed to change state of replica %d for partition %s-%d "
                "from %s to %s: it is not a valid previous state",
                ((self.controller_id, self.context.epoch, broker, key[0], key[1], states.get((key, broker)), target)
                 for key, broker in replicas))

    def isr_written(self, before, written):
        """INFO per partition whose ISR the controller shrank (replicas going offline)."""
        if written and StateChangeLogger.enabled(logging.INFO):
            leaderships = self.context.leaderships
            self.logger.each(
                logging.INFO, "Removed replicas from the ISR of partition %s-%d: %s -> %s",
                ((key[0], key[1], _leadership(before[key]) if key in before else None, _leadership(leaderships[key]))
                 for key in written if key in leaderships))

    # -- requests sent ---------------------------------------------------------------------

    def sending_leader_and_isr(self, broker_id, states):
        """INFO for the request to ``broker_id``, TRACE for each partition state in it."""
        if not StateChangeLogger.enabled(logging.INFO):
            return
        leaders = sum(1 for state in states if state["leader"] == broker_id)
        self._emit(_write, logging.INFO, "Sending LeaderAndIsr request to broker %d with %d become-leader and %d "
                   "become-follower partitions", broker_id, leaders, len(states) - leaders)
        if StateChangeLogger.enabled(TRACE):
            # The request's partition states are not changed once built.
            self._emit(_write_each, TRACE, "Sending %s LeaderAndIsr request %s to broker %d for partition %s-%d",
                       [("become-leader" if s["leader"] == broker_id else "become-follower", _describe(s), broker_id,
                         s["topic_name"], s["partition_index"]) for s in states])

    def sending_update_metadata(self, brokers, partitions):
        """INFO: UpdateMetadata to ``brokers`` (sorted ids) for ``partitions`` partitions."""
        if brokers and StateChangeLogger.enabled(logging.INFO):
            self._emit(_write, logging.INFO, "Sending UpdateMetadata request to brokers %s for %d partitions",
                       "Set(%s)" % ", ".join(map(str, brokers)), partitions)

    def sending_stop_replica(self, broker_id, stops):
        """INFO for the StopReplica to ``broker_id`` (``stops``: ``{key: delete}``), TRACE per partition."""
        if not StateChangeLogger.enabled(logging.INFO):
            return
        deletions = sum(1 for delete in stops.values() if delete)
        self._emit(_write, logging.INFO, "Sending StopReplica request for %d replicas to broker %d (%d with deletion)",
                   len(stops), broker_id, deletions)
        if StateChangeLogger.enabled(TRACE):
            self._emit(_write_each, TRACE, "Sending StopReplica request (delete=%s) to broker %d for partition %s-%d",
                       [("true" if delete else "false", broker_id, key[0], key[1])
                        for key, delete in sorted(stops.items())])


def _write(logger, level, message, *args):
    logger.log(level, message, *args)


def _write_each(logger, level, template, rows):
    logger.each(level, template, rows)


def _write_partitions_changed(logger, rows, target):
    """Kafka's PartitionStateMachine lines, as f-strings (the hottest batch: a line per partition)."""
    lines = []
    for key, before, leadership in rows:
        if leadership is not None:
            lines.append(f"Changed partition {key[0]}-{key[1]} from {before} to {target} with state "
                         f"LeaderAndIsr(leader={leadership.leader}, leaderEpoch={leadership.leader_epoch}, "
                         f"isr=List({', '.join(map(str, leadership.isr))}), zkVersion={leadership.zk_version})")
        else:
            lines.append(f"Changed partition {key[0]}-{key[1]} state from {before} to {target}")
    logger.lines(logging.INFO, lines)


def _describe(state):
    """A LeaderAndIsr request's partition state, shortly (Kafka prints the whole LeaderAndIsrPartitionState)."""
    return "(leader=%d, leaderEpoch=%d, isr=[%s], zkVersion=%d, replicas=[%s], isNew=%s)" % (
        state["leader"], state["leader_epoch"], ", ".join(map(str, state["isr"])), state["zk_version"],
        ", ".join(map(str, state["replicas"])), "true" if state["is_new"] else "false")
