"""ISR changes made by a partition leader: shrink and expand, written to ZooKeeper in batches.

This is Kafka's ZooKeeper path (before AlterIsr): the leader itself writes the
partition's ``state`` znode, conditional on the zk_version it got in LeaderAndIsr
(or from its own last write), and then announces the change with a persistent
sequential ``/isr_change_notification/isr_change_<seq>`` node. The controller
watches those, re-reads the partitions' state and sends UpdateMetadata.

Writes asked for in the same reactor turn (a follower's fetch of thousands of
partitions, one ISR expiration pass) go out together: many partitions per ZooKeeper
multi (:meth:`ZkClient.transactions`), each partition's write on its own — the same
batching Kafka 2.7 brought with AlterIsr. One write per request would take a leader
of 5,000 partitions tens of seconds once a broker rejoins.

A write that loses to someone else's (BadVersion) re-reads the znode (re-reads are
batched too). If it holds exactly what we wrote — our own write landed but its answer
was lost — the write counts as done, as Kafka's ``checkLeaderAndIsrZkData`` has it. If
it still names us leader at our epoch we adopt its ISR and version and decide again on
the next check; otherwise a LeaderAndIsr is on its way and we wait for it.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.replica.state_change_log import BrokerStateChangeLog
from kafkalite.zkclient import BadVersionError, SetData, ZkError

__all__ = ["IsrWriter", "NOTIFICATION_DELAY_S"]

#: Changes made within this window share one notification node.
NOTIFICATION_DELAY_S = 0.1


class _Batcher:
    """Gathers the items asked for in one reactor turn and runs them as one batch.

    :param run: ``run(items) -> Deferred`` firing with one result per item.
    """

    def __init__(self, reactor, run):
        self._reactor = reactor
        self._run = run
        self._items = []
        self._waiters = []
        self._scheduled = False

    def add(self, item):
        """A Deferred firing with ``item``'s result (or failing with the whole batch)."""
        waiter = defer.Deferred()
        self._items.append(item)
        self._waiters.append(waiter)
        if not self._scheduled:
            self._scheduled = True
            self._reactor.callLater(0, self._flush)
        return waiter

    def _flush(self):
        items, waiters = self._items, self._waiters
        self._items, self._waiters, self._scheduled = [], [], False

        def answered(results):
            for waiter, result in zip(waiters, results, strict=True):
                waiter.callback(result)

        def failed(failure):
            for waiter in waiters:
                waiter.errback(failure)

        defer.maybeDeferred(self._run, items).addCallbacks(answered, failed)


class IsrWriter:
    """Writes a leader's ISR changes and their notifications.

    :param zk: a :class:`kafkalite.zkclient.ZkClient`.
    :param reactor: ``IReactorTime`` for batching writes and notifications.
    :param state_change_log: the broker's :class:`BrokerStateChangeLog`, told every ISR written
        (default: one for the broker of the first partition written).
    """

    log = Logger(namespace="kafkalite.replica")

    def __init__(self, zk, reactor, state_change_log=None):
        self._zk = zk
        self.state_change_log = state_change_log
        self._reactor = reactor
        self._pending = set()
        self._changes = []  # (key, old ISR, new ISR, zk version) written since the last notification
        self._flush_call = None
        self._writes = _Batcher(reactor, lambda ops: zk.transactions([[op] for op in ops]))
        self._reads = _Batcher(reactor, zk.get_many)

    async def write_isr(self, partition, new_isr):
        """Write ``new_isr`` for ``partition`` (which we lead); True when it was applied locally."""
        epoch = partition.leader_epoch
        state = zkdata.PartitionState(partition.broker_id, epoch, tuple(new_isr), partition.controller_epoch)
        path = zkdata.partition_state_path(partition.topic, partition.partition)
        partition.isr_update_in_flight = True
        try:
            try:
                result = await self._writes.add(SetData(path, zkdata.encode_partition_state(state),
                                                        partition.zk_version))
            except ZkError as error:
                result = error
            if isinstance(result, BadVersionError):
                version = await self._reread(partition, path, epoch, list(new_isr))
                if version is None:
                    return False
            elif isinstance(result, ZkError):
                self.log.warn("{topic}-{partition}: ISR write failed: {error}", topic=partition.topic,
                              partition=partition.partition, error=result)
                return False
            else:
                version = result[0].version
        finally:
            partition.isr_update_in_flight = False
        if not partition.is_leader or partition.leader_epoch != epoch:
            return False  # a LeaderAndIsr overtook the write; its state wins
        if self.state_change_log is None:
            self.state_change_log = BrokerStateChangeLog(partition.broker_id)
        self._changes.append((partition.key, partition.isr, list(new_isr), version))
        partition.isr = list(new_isr)
        partition.zk_version = version
        self._announce(partition.key)
        return True

    async def _reread(self, partition, path, epoch, wanted_isr):
        """After BadVersion: the znode's version if it holds exactly our write, else None (adopting
        its ISR when it still names us leader at our epoch)."""
        try:
            result = await self._reads.add(path)
        except ZkError:
            return None
        if isinstance(result, ZkError):
            return None
        data, stat = result
        fresh = zkdata.decode_partition_state(data)
        ours = fresh.leader == partition.broker_id and fresh.leader_epoch == epoch == partition.leader_epoch
        if ours and list(fresh.isr) == wanted_isr:
            return stat.version  # our own write landed; only its answer was lost
        if ours:
            self.log.debug("{topic}-{partition}: ISR changed under us; now {isr} (zk version {version})",
                           topic=partition.topic, partition=partition.partition, isr=list(fresh.isr),
                           version=stat.version)
            partition.isr = list(fresh.isr)
            partition.zk_version = stat.version
        else:
            self.log.info("{topic}-{partition}: ISR not written: the state moved to leader {leader} epoch {epoch}",
                          topic=partition.topic, partition=partition.partition, leader=fresh.leader,
                          epoch=fresh.leader_epoch)
        return None

    def _announce(self, key):
        self._pending.add(key)
        if self._flush_call is None or not self._flush_call.active():
            self._flush_call = self._reactor.callLater(NOTIFICATION_DELAY_S, self._flush)

    def _log_changes(self):
        # One batch for them all: a twisted.logger event per partition costs a leader of 5,000
        # partitions most of a second when a follower rejoins.
        if self._changes:
            changes, self._changes = self._changes, []
            self.state_change_log.isr_updated(changes)

    def _flush(self):
        self._log_changes()
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
        self._log_changes()
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()

