"""ISR changes made by a partition leader: shrink and expand, written to ZooKeeper.

This is Kafka's ZooKeeper path (before AlterIsr): the leader itself writes the
partition's ``state`` znode, conditional on the zk_version it got in LeaderAndIsr
(or from its own last write), and then announces the change with a persistent
sequential ``/isr_change_notification/isr_change_<seq>`` node. The controller
watches those, re-reads the partitions' state and sends UpdateMetadata.

A write that loses to someone else's (BadVersion: the controller moved the
leader, or removed a dead broker from the ISR) re-reads the znode: if it still
names us leader at our epoch we adopt its ISR and version and decide again on
the next check; otherwise a LeaderAndIsr is on its way and we wait for it.
"""

from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.zkclient import BadVersionError, NoNodeError, ZkError

__all__ = ["IsrWriter", "NOTIFICATION_DELAY_S"]

#: Changes made within this window share one notification node.
NOTIFICATION_DELAY_S = 0.1


class IsrWriter:
    """Writes a leader's ISR changes and their notifications.

    :param zk: a :class:`kafkalite.zkclient.ZkClient`.
    :param reactor: ``IReactorTime`` for batching notifications.
    """

    log = Logger(namespace="kafkalite.state_change")

    def __init__(self, zk, reactor):
        self._zk = zk
        self._reactor = reactor
        self._pending = set()
        self._flush_call = None

    async def write_isr(self, partition, new_isr):
        """Write ``new_isr`` for ``partition`` (which we lead); True when it was applied locally."""
        epoch = partition.leader_epoch
        state = zkdata.PartitionState(partition.broker_id, epoch, tuple(new_isr), partition.controller_epoch)
        path = zkdata.partition_state_path(partition.topic, partition.partition)
        partition.isr_update_in_flight = True
        try:
            try:
                stat = await self._zk.set(path, zkdata.encode_partition_state(state), version=partition.zk_version)
            except BadVersionError:
                await self._reread(partition, path, epoch)
                return False
            except ZkError as error:
                self.log.warn("{topic}-{partition}: ISR write failed: {error}", topic=partition.topic,
                              partition=partition.partition, error=error)
                return False
        finally:
            partition.isr_update_in_flight = False
        if not partition.is_leader or partition.leader_epoch != epoch:
            return False  # a LeaderAndIsr overtook the write; its state wins
        self.log.info("{topic}-{partition}: ISR {old} -> {new} (zk version {version})", topic=partition.topic,
                      partition=partition.partition, old=partition.isr, new=list(new_isr), version=stat.version)
        partition.isr = list(new_isr)
        partition.zk_version = stat.version
        self._announce(partition.key)
        return True

    async def _reread(self, partition, path, epoch):
        try:
            data, stat = await self._zk.get(path)
        except (NoNodeError, ZkError):
            return
        fresh = zkdata.decode_partition_state(data)
        if fresh.leader == partition.broker_id and fresh.leader_epoch == epoch == partition.leader_epoch:
            self.log.info("{topic}-{partition}: ISR changed under us; now {isr} (zk version {version})",
                          topic=partition.topic, partition=partition.partition, isr=list(fresh.isr),
                          version=stat.version)
            partition.isr = list(fresh.isr)
            partition.zk_version = stat.version
        else:
            self.log.info("{topic}-{partition}: ISR not written: the state moved to leader {leader} epoch {epoch}",
                          topic=partition.topic, partition=partition.partition, leader=fresh.leader,
                          epoch=fresh.leader_epoch)

    def _announce(self, key):
        self._pending.add(key)
        if self._flush_call is None or not self._flush_call.active():
            self._flush_call = self._reactor.callLater(NOTIFICATION_DELAY_S, self._flush)

    def _flush(self):
        if not self._pending:
            return None
        keys, self._pending = sorted(self._pending), set()
        d = self._zk.create(zkdata.isr_change_path(), zkdata.encode_isr_change(keys), sequence=True)

        def failed(failure):
            self.log.warn("ISR change notification failed: {error}", error=failure.getErrorMessage())
            self._pending.update(keys)
            self._flush_call = self._reactor.callLater(1.0, self._flush)

        d.addErrback(failed)
        return d

    def stop(self):
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
