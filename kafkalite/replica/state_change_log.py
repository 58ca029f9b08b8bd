"""A broker's lines in the state-change log, worded as Kafka 2.8's ReplicaManager and Partition write them.

Every line carries ``[Broker id=N]``. Levels as in Kafka 2.8:

- INFO per LeaderAndIsr: ``Handling LeaderAndIsr request correlationId 7 from controller 1
  epoch 3 for 30 partitions``; WARN for a stale controller epoch or partition leader epoch;
- TRACE per partition: the partition state received, ``Received LeaderAndIsr request ...``,
  and ``Completed LeaderAndIsr request ...``;
- INFO per partition becoming leader or follower: ``Leader t-0 starts at leader epoch 4
  from offset 120 with high watermark 118 ISR [1,2,3] ... Previous leader epoch was 3.`` /
  ``Follower t-1 starts at leader epoch 2 ...`` — the values taken when the partition
  changed, the lines written on the next reactor turn, once the LeaderAndIsr response is out;
- INFO per StopReplica and (TRACE) per partition in it;
- INFO per ISR change of a partition led here: ``Shrinking ISR of partition t-0 from 1,2,3
  to 1,2 ...``, ``Expanding ISR ...`` and, once written, ``ISR of partition t-0 updated to
  1,2 and zkVersion updated to [7]``.

Per-partition lines go out as one batch (:meth:`StateChangeLogger.each`), built only when
their level is enabled: a LeaderAndIsr of 10,000 partitions writes them in one go.
"""

import logging

from kafkalite.state_change_logger import TRACE, StateChangeLogger

__all__ = ["BrokerStateChangeLog"]


def _ids(replicas):
    return ",".join(map(str, replicas))


class BrokerStateChangeLog:
    """A broker's state-change lines.

    :param broker_id: this broker's id.
    """

    TRACE = TRACE
    INFO = logging.INFO

    def __init__(self, broker_id):
        self.broker_id = broker_id
        self.logger = StateChangeLogger(broker_id, in_controller_context=False)

    @staticmethod
    def enabled(level):
        return StateChangeLogger.enabled(level)

    # -- LeaderAndIsr ----------------------------------------------------------------------

    def leader_and_isr_received(self, request, correlation_id, states):
        """INFO for the request, TRACE for each partition state in it."""
        logger = self.logger
        controller_id, epoch = request["controller_id"], request["controller_epoch"]
        logger.info("Handling LeaderAndIsr request correlationId %d from controller %d epoch %d for %d partitions",
                    correlation_id, controller_id, epoch, len(states))
        if StateChangeLogger.enabled(TRACE):
            logger.each(TRACE, "Received LeaderAndIsr request %s correlation id %d from controller %d epoch %d",
                        ((_describe(state), correlation_id, controller_id, epoch) for state in states))

    def stale_controller_epoch(self, kind, request, correlation_id, current_epoch):
        """WARN: a request from a controller older than the one we follow."""
        self.logger.warn("Ignoring %s request from controller %d with correlation id %d since its controller epoch "
                         "%d is old. Latest known controller epoch is %d", kind, request["controller_id"],
                         correlation_id, request["controller_epoch"], current_epoch)

    def stale_leader_epochs(self, request, correlation_id, stale):
        """WARN per partition whose leader epoch is not newer than ours (``stale``: ``[(key, theirs, ours)]``)."""
        if stale:
            self.logger.each(
                logging.WARNING, "Ignoring LeaderAndIsr request from controller %d with correlation id %d epoch %d "
                "for partition %s-%d since its associated leader epoch %d is not higher than the current leader "
                "epoch %d", ((request["controller_id"], correlation_id, request["controller_epoch"], key[0], key[1],
                              theirs, ours) for key, theirs, ours in stale))

    @staticmethod
    def leader_row(partition, state, previous_epoch):
        """What :meth:`became_leader_or_follower` says of a partition just made leader (taken at once)."""
        return (partition.topic, partition.partition, partition.leader_epoch, partition.leader_epoch_start_offset,
                partition.log.high_watermark, partition.isr, state.get("adding_replicas") or (),
                state.get("removing_replicas") or (), previous_epoch)

    @staticmethod
    def follower_row(partition, previous_epoch):
        """What :meth:`became_leader_or_follower` says of a partition just made follower (taken at once)."""
        return (partition.topic, partition.partition, partition.leader_epoch, partition.log.log_end_offset,
                partition.log.high_watermark, partition.leader_id, previous_epoch)

    def became_leader_or_follower(self, leader_rows, follower_rows):
        """INFO per partition now led (:meth:`leader_row`) or followed (:meth:`follower_row`)."""
        if not StateChangeLogger.enabled(logging.INFO):
            return
        self.logger.lines(logging.INFO, (
            f"Leader {topic}-{index} starts at leader epoch {epoch} from offset {start} with high watermark {hw} "
            f"ISR [{_ids(isr)}] addingReplicas [{_ids(adding)}] removingReplicas [{_ids(removing)}]. Previous "
            f"leader epoch was {previous}."
            for topic, index, epoch, start, hw, isr, adding, removing, previous in leader_rows))
        self.logger.lines(logging.INFO, (
            f"Follower {topic}-{index} starts at leader epoch {epoch} from offset {end} with high watermark {hw} "
            f"(leader {leader}). Previous leader epoch was {previous}."
            for topic, index, epoch, end, hw, leader, previous in follower_rows))

    def leader_and_isr_completed(self, request, correlation_id, keys):
        """TRACE per partition applied."""
        if keys and StateChangeLogger.enabled(TRACE):
            self.logger.each(TRACE, "Completed LeaderAndIsr request correlationId %d from controller %d epoch %d "
                             "for partition %s-%d", ((correlation_id, request["controller_id"],
                                                      request["controller_epoch"], key[0], key[1]) for key in keys))

    # -- StopReplica -----------------------------------------------------------------------

    def stop_replica(self, request, correlation_id, targets):
        """INFO for the request, TRACE per partition (``targets``: ``[(topic, partition, delete, epoch)]``)."""
        logger = self.logger
        logger.info("Handling StopReplica request correlationId %d from controller %d epoch %d for %d partitions",
                    correlation_id, request["controller_id"], request["controller_epoch"], len(targets))
        if StateChangeLogger.enabled(TRACE):
            logger.each(TRACE, "Received StopReplica request (deletePartition=%s, leaderEpoch=%d) correlation id %d "
                        "from controller %d epoch %d for partition %s-%d",
                        (("true" if delete else "false", epoch, correlation_id, request["controller_id"],
                          request["controller_epoch"], topic, index) for topic, index, delete, epoch in targets))

    # -- ISR changes -----------------------------------------------------------------------

    def shrinking_isr(self, rows):
        """INFO per partition: ``rows`` of ``(partition, new ISR, {out-of-sync replica: its log end offset})``."""
        if rows and StateChangeLogger.enabled(logging.INFO):
            self.logger.each(
                logging.INFO, "Shrinking ISR of partition %s-%d from %s to %s. Leader: (highWatermark: %d, "
                "endOffset: %d). Out of sync replicas: %s.",
                ((p.topic, p.partition, _ids(p.isr), _ids(new_isr), p.log.high_watermark, p.log.log_end_offset,
                  ", ".join("(brokerId: %d, endOffset: %d)" % item for item in sorted(lagging.items())))
                 for p, new_isr, lagging in rows))

    def expanding_isr(self, partition, new_isr):
        """INFO: a caught-up follower joins ``partition``'s ISR."""
        self.logger.info("Expanding ISR of partition %s-%d from %s to %s", partition.topic, partition.partition,
                         _ids(partition.isr), _ids(new_isr))

    def isr_updated(self, changes):
        """INFO per ISR written (``changes``: ``[(key, old ISR, new ISR, zk version)]``)."""
        if changes and StateChangeLogger.enabled(logging.INFO):
            self.logger.each(
                logging.INFO, "ISR of partition %s-%d updated to %s (was %s) and zkVersion updated to [%d]",
                ((key[0], key[1], _ids(new), _ids(old), version) for key, old, new, version in changes))


def _describe(state):
    """A LeaderAndIsr partition state, shortly (Kafka prints the whole LeaderAndIsrPartitionState)."""
    return "(topic=%s, partition=%d, controllerEpoch=%d, leader=%d, leaderEpoch=%d, isr=[%s], zkVersion=%d, " \
           "replicas=[%s], isNew=%s)" % (
               state["topic_name"], state["partition_index"], state["controller_epoch"], state["leader"],
               state["leader_epoch"], _ids(state["isr"]), state["zk_version"], _ids(state["replicas"]),
               "true" if state.get("is_new") else "false")
