"""StateChanges: carries out the state machines' plans — ZooKeeper, then the context, then the request batch.

The pure :class:`PartitionStateMachine` and :class:`ReplicaStateMachine` say what should
change; this writes it (batched, fenced by the controller epoch, through
:class:`~kafkalite.controller.zkstore.ControllerZkStore`), records in the
:class:`ControllerContext` only what was written, and adds to the event's
:class:`ControllerRequestBatch` what the brokers must be told. A write that loses to a
leader's own ISR change (BadVersion) re-reads those partitions and plans them again, up
to :data:`WRITE_ATTEMPTS` times, as Kafka's controller retries ``updateLeaderAndIsr``.

Every transition, election, failure and ISR write goes to the state-change log
(:class:`~kafkalite.controller.state_change_log.ControllerStateChangeLog`), a line per
partition as Kafka writes them, in one batch per call and formatted only when enabled:
at 10,000 partitions a twisted.logger event each (even a filtered one) would cost the
controller more than the ZooKeeper writes.
"""

import logging

from kafkalite.controller.election import remove_replicas_from_isr
from kafkalite.controller.partition_state_machine import OfflineElection
from kafkalite.controller.states import PartitionState, ReplicaState
from kafkalite.zkclient import BadVersionError, ZkError

__all__ = ["StateChanges", "WRITE_ATTEMPTS"]

#: Attempts at writing a partition's state that keeps losing to a leader's ISR change.
WRITE_ATTEMPTS = 3


class StateChanges:
    """Applies partition and replica transitions for the controller.

    :param context: the :class:`ControllerContext` (changed here, on the event loop only).
    :param store: the :class:`ControllerZkStore`.
    :param batch: the :class:`ControllerRequestBatch` of the event being processed.
    :param partition_machine: a :class:`PartitionStateMachine` over ``context``.
    :param replica_machine: a :class:`ReplicaStateMachine` over ``context``.
    :param unclean_topics: ``async (topics) -> set`` of those topics that allow unclean election.
    :param state_change_log: the :class:`ControllerStateChangeLog`.
    """

    def __init__(self, context, store, batch, partition_machine, replica_machine, unclean_topics, state_change_log):
        self.context = context
        self.state_change_log = state_change_log
        self.store = store
        self.batch = batch
        self.partition_machine = partition_machine
        self.replica_machine = replica_machine
        self._unclean_topics = unclean_topics

    # -- partitions ----------------------------------------------------------------------

    async def partitions(self, keys, target, election=None):
        """Move ``keys`` to ``target`` (electing leaders as ``election`` says); returns the keys
        that reached it (for Online: whose leadership was written)."""
        keys = list(keys)
        if not keys:
            return []
        scl = self.state_change_log
        before = {key: self.context.partition_state(key) for key in keys} if scl.enabled(logging.ERROR) else {}
        plan = await self._plan(keys, target, election)
        scl.invalid_partitions(plan.invalid, target)
        elections = len(plan.update)
        for key, state in plan.states.items():
            self.context.partition_states[key] = state
        done = [key for key, state in plan.states.items() if state is target]
        if plan.create:
            done += await self._create(plan.create)
        if plan.update:
            async def replan(fresh_keys):
                return (await self._plan(fresh_keys, target, election)).update
            done += await self._write(plan.update, replan, recipients=self.context.replicas)
        scl.partitions_failed(before, plan.failed, target)
        scl.partitions_changed(before, done, target)
        if target is PartitionState.ONLINE and (elections or plan.failed) and election is not None:
            scl.elected(election, elections, len(plan.failed))
        return done

    async def _plan(self, keys, target, election):
        """The partition machine's plan, with unclean election where no ISR member is live and the topic allows it."""
        plan = self.partition_machine.plan(keys, target, election)
        if not (isinstance(election, OfflineElection) and plan.no_live_isr and not election.unclean_topics):
            return plan
        # Kafka reads unclean.leader.election.enable only for partitions with no live ISR member.
        unclean = await self._unclean_topics({key[0] for key in plan.no_live_isr})
        retry = [key for key in plan.no_live_isr if key[0] in unclean]
        if retry:
            for key in retry:
                plan.update.pop(key, None)
                plan.failed.pop(key, None)
                plan.states.pop(key, None)
            again = self.partition_machine.plan(retry, target, OfflineElection(frozenset(unclean)))
            plan.update.update(again.update)
            plan.failed.update(again.failed)
            plan.states.update(again.states)
        return plan

    async def bump_leader_epochs(self, keys, recipients):
        """Kafka's ``updateLeaderEpoch``: the same leader and ISR at the next leader epoch, written and
        told to ``recipients(key)`` — how the brokers learn a changed assignment. Returns the keys written."""
        epoch = self.context.epoch

        async def bump(fresh_keys):
            return {key: leadership.with_leader(leadership.leader, leadership.isr, epoch) for key in fresh_keys
                    if (leadership := self.context.leaderships.get(key)) is not None}

        return await self._write(await bump(keys), bump, recipients)

    async def _create(self, states):
        results = await self.store.create_partition_states(states, self.context.epoch_zk_version)
        created = []
        for key, result in sorted(results.items()):
            if isinstance(result, ZkError):
                self.state_change_log.partitions_failed({key: PartitionState.NEW}, {key: "creating its state "
                                                        "znode failed: %s" % result}, PartitionState.ONLINE)
                continue
            self._record(key, result)
            self.batch.add_leader_and_isr(self.context, self.context.replicas(key), key, result, is_new=True)
            created.append(key)
        return created

    async def _write(self, updates, replan, recipients):
        """Write ``{key: LeaderAndIsr}``; on conflicts re-read and ``replan(keys)`` them; returns the keys written."""
        written = []
        for _attempt in range(WRITE_ATTEMPTS):
            expected = {key: (state, self.context.leaderships[key].zk_version) for key, state in updates.items()}
            results = await self.store.update_partition_states(expected, self.context.epoch_zk_version)
            conflicts = []
            for key, result in sorted(results.items()):
                if isinstance(result, BadVersionError):
                    conflicts.append(key)
                elif isinstance(result, ZkError):
                    self.state_change_log.partitions_failed(
                        {}, {key: "writing its state znode failed: %s" % result}, "a new leadership")
                else:
                    self._record(key, result)
                    self.batch.add_leader_and_isr(self.context, recipients(key), key, result)
                    written.append(key)
            if not conflicts:
                return written
            fresh = await self.store.read_partition_states(conflicts)
            self.context.leaderships.update(fresh)
            updates = await replan([k for k in conflicts if k in fresh])
            if not updates:
                return written
        self.state_change_log.partitions_failed(
            {}, dict.fromkeys(updates, "gave up after %d version conflicts" % WRITE_ATTEMPTS), "a new leadership")
        return written

    def _record(self, key, leadership):
        self.context.leaderships[key] = leadership
        self.context.partition_states[key] = PartitionState.ONLINE if leadership.leader >= 0 else PartitionState.OFFLINE

    # -- replicas ------------------------------------------------------------------------

    async def replicas(self, replicas, target, on_stop_replica=None, refresh=True):
        """Move ``replicas`` (``(key, broker)``) to ``target``; ``on_stop_replica(broker_id, response)``
        hears the answers to the StopReplica requests the move sends. ``refresh=False``: the
        context's states were read from ZooKeeper in this very event (a failover)."""
        replicas = list(replicas)
        if not replicas:
            return
        if target is ReplicaState.OFFLINE and refresh:
            # As Kafka does, re-read the states first: a leader may have just added the replica back
            # to the ISR, and a removal computed from our copy would lose to its write or miss it.
            keys = {key for key, _ in replicas if key in self.context.leaderships
                    and not self.context.is_being_deleted(key)}
            self.context.leaderships.update(await self.store.read_partition_states(keys))
        plan = self.replica_machine.plan(replicas, target)
        scl = self.state_change_log
        scl.invalid_replicas(plan.invalid, target)
        if plan.states and scl.enabled(scl.TRACE):
            states = self.context.replica_states
            scl.replicas_changed({replica: states.get(replica) for replica in plan.states}, plan.states)
        for (key, broker), state in plan.states.items():
            if state is ReplicaState.NON_EXISTENT:
                self.context.replica_states.pop((key, broker), None)
            else:
                self.context.replica_states[(key, broker)] = state
        for broker, key, delete in plan.stop_replica:
            self.batch.add_stop_replica(self.context, [broker], key, delete, on_stop_replica)
        for broker, key in plan.leader_and_isr:
            self.batch.add_leader_and_isr(self.context, [broker], key, self.context.leaderships[key])
        if plan.isr_updates:
            leaving = plan.isr_leavers

            async def replan(keys):
                return {key: state for key in keys
                        if (state := remove_replicas_from_isr(self.context.leaderships[key], leaving[key],
                                                              self.context.epoch)) is not None}

            def remaining(key):
                return [r for r in self.context.replicas(key) if r not in leaving[key]]

            before = ({key: self.context.leaderships[key] for key in plan.isr_updates}
                      if scl.enabled(logging.INFO) else {})
            written = await self._write(plan.isr_updates, replan, recipients=remaining)
            scl.isr_written(before, written)
