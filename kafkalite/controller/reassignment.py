"""ReassignmentManager: moving partitions' replicas, Kafka 2.8's ``onPartitionReassignment`` steps.

A reassignment arrives through ``/admin/reassign_partitions`` (as Kafka's tools write it,
any JSON version from 0.9 to 2.8) or AlterPartitionReassignments (a null target cancels),
and follows Kafka's phases for each partition (RS the assigned replicas, ORS the original
ones, TRS the target, AR = TRS - ORS being added, RR = ORS - TRS being removed):

- **U** the assignment becomes RS = TRS + ORS with AR and RR, written to the topic znode
  first (``adding_replicas``/``removing_replicas``, so a new controller resumes it), then
  remembered; replicas a replaced reassignment was still adding are stopped and deleted;
- **A** (TRS not yet in the ISR) the leader epoch goes up so every replica learns the new
  RS, and the new replicas start (LeaderAndIsr, ``is_new``) and catch up; the partition's
  state znode is watched for the ISR to grow;
- **B** (TRS in the ISR) RS = TRS; the leader moves into TRS if it is not there (or bumps
  its epoch), the removed replicas leave the ISR and are stopped and deleted, the topic
  znode is written without AR/RR, the partition leaves ``/admin/reassign_partitions``
  (deleted once empty) and every broker's metadata is updated.

A request naming an unknown partition, a topic being deleted, an empty or duplicated
replica list or a broker that is not alive fails for that partition alone (and leaves the
znode, so it never blocks the next one). Runs on the controller's event loop only.
"""

from twisted.logger import Logger

from kafkalite.controller.context import ReplicaAssignment
from kafkalite.controller.partition_state_machine import ReassignElection
from kafkalite.controller.states import PartitionState, ReplicaState
from kafkalite.controller.zkstore import ControllerMovedError
from kafkalite.protocol import errors

__all__ = ["ReassignmentManager"]

NONE = (0, None)


class ReassignmentManager:
    """Drives partition reassignments for the controller.

    :param context: the :class:`ControllerContext`.
    :param store: the :class:`ControllerZkStore`.
    :param state_changes: the controller's :class:`StateChanges` (and through it the event's batch).
    :param zk_watch: ``() -> watcher`` for ``/admin/reassign_partitions`` (made once).
    :param isr_watch: ``(key) -> watcher`` for a reassigning partition's state znode.
    :param on_completed: ``async (topics)`` called when reassignments of ``topics`` finished
        (topic deletion waits for them).
    """

    log = Logger(namespace="kafkalite.controller")

    def __init__(self, context, store, state_changes, zk_watch, isr_watch, on_completed):
        self.context = context
        self.store = store
        self.state_changes = state_changes
        # One watcher function per znode, made once: ZooKeeper clients keep a set of watchers per
        # path, so the same function set again does not fire twice.
        self._zk_watcher = zk_watch()
        self._make_isr_watch = isr_watch
        self._isr_watchers = {}
        self._on_completed = on_completed
        self._zk_czxid = None  # the /admin/reassign_partitions znode already acted on

    def reset(self):
        """Forget the znode acted on (this broker resigned; a future controller starts over)."""
        self._zk_czxid = None
        self._isr_watchers.clear()

    def _isr_watch(self, key):
        watcher = self._isr_watchers.get(key)
        if watcher is None:
            watcher = self._isr_watchers[key] = self._make_isr_watch(key)
        return watcher

    # -- entry points ----------------------------------------------------------------------

    async def resume_after_failover(self):
        """Kafka's ``initializePartitionReassignments``: the znode's requests (which supplant the
        others), then the reassignments the topic znodes record."""
        self._zk_czxid = None
        from_zk = await self.on_zk_reassignment()
        await self._resume(lambda key, _: key not in from_zk)

    async def on_brokers_started(self, brokers):
        """Reassignments whose target names a broker that (re)started go on."""
        brokers = set(brokers)
        await self._resume(lambda _, assignment: brokers.intersection(assignment.target))

    async def rewatch(self):
        """After a lost connection: watch again, and finish what completed meanwhile."""
        await self.on_zk_reassignment()
        for key in sorted(self.context.partitions_being_reassigned):
            await self.on_isr_change(key)

    async def on_zk_reassignment(self):
        """``/admin/reassign_partitions`` was created (or changed): act on a znode not seen yet.

        :returns: the partitions whose reassignment started.
        """
        found = await self.store.read_reassign_partitions(self._zk_watcher)
        if found is None:
            self._zk_czxid = None
            return set()
        czxid, requested, malformed = found
        if czxid == self._zk_czxid:
            return set()  # our own rewrite of it, as partitions finish
        self._zk_czxid = czxid
        if malformed is not None:
            self.log.warn("ignoring /admin/reassign_partitions: {error}", error=malformed)
            await self.store.write_reassign_partitions({}, self.context.epoch_zk_version)
            return set()
        results = {}
        reassignments = {}
        for key, target in sorted(requested.items()):
            error = self._validate(key, target)
            if error is not None:
                results[key] = error
            else:
                reassignments[key] = self.context.full_assignment(key).reassign_to(target)
        self.log.info("reassignment of {count} partitions requested in /admin/reassign_partitions",
                      count=len(requested))
        results.update(await self._trigger(reassignments))
        failed = {key: result for key, result in results.items() if result[0]}
        for key, (code, message) in sorted(failed.items()):
            self.log.warn("reassignment of {topic}-{partition} to {replicas} refused: {error}: {message}",
                          topic=key[0], partition=key[1], replicas=list(requested[key]),
                          error=errors.error_for_code(code).name, message=message)
        if failed:
            await self._remove_from_zk(lambda key, _: key in failed)
        return {key for key in results if not results[key][0]}

    async def alter(self, requested):
        """AlterPartitionReassignments: ``{key: target replicas, or None to cancel}`` →
        ``{key: (error_code, message)}``. The newest request wins over the znode's."""
        results = {}
        reassignments = {}
        for key, target in sorted(requested.items()):
            error = self._validate(key, target) if target is not None else self._check_partition(key)
            if error is not None:
                results[key] = error
                continue
            current = self.context.full_assignment(key)
            if target is None and not current.is_being_reassigned:
                results[key] = (errors.NoReassignmentInProgressError.code,
                                "No reassignment in progress for %s-%d." % key)
                continue
            reassignments[key] = current.reassign_to(current.origin if target is None else target)
        await self._remove_from_zk(lambda key, _: key in reassignments)
        results.update(await self._trigger(reassignments))
        return results

    def list(self, keys=None):
        """ListPartitionReassignments: ``{key: ReplicaAssignment}`` of those being reassigned."""
        keys = self.context.partitions_being_reassigned if keys is None else keys
        return {key: assignment for key in sorted(keys)
                if (assignment := self.context.full_assignment(key)).is_being_reassigned}

    async def on_isr_change(self, key):
        """A reassigning partition's state znode changed: finish every reassignment whose target is in
        its ISR by now (one batched read, so a move of many partitions completes in few events)."""
        if key not in self.context.partitions_being_reassigned:
            return
        await self.store.watch_partition_state(key, self._isr_watch(key))
        complete = await self._complete_ones({k: self.context.full_assignment(k)
                                              for k in sorted(self.context.partitions_being_reassigned)})
        if complete:
            self.log.info("target replicas of {count} reassigning partitions are in their ISRs", count=len(complete))
            await self._complete(complete)

    # -- checks ------------------------------------------------------------------------------

    def _check_partition(self, key):
        if self.context.is_being_deleted(key) or not self.context.replicas(key):
            return errors.UnknownTopicOrPartitionError.code, "The partition does not exist."
        return None

    def _validate(self, key, target):
        """Kafka's ``validateReplicas`` (and the partition must exist): an error, or None."""
        error = self._check_partition(key)
        if error is not None:
            return error
        code = errors.InvalidReplicaAssignmentError.code
        if not target:
            return code, "Empty replica list specified in partition reassignment."
        if len(set(target)) != len(target):
            return code, "Duplicate replica ids in partition reassignment replica list: %s" % list(target)
        if any(r < 0 for r in target):
            return code, "Invalid broker id in replica list: %s" % list(target)
        adding = self.context.full_assignment(key).reassign_to(target).adding
        if not set(adding) <= set(self.context.live_brokers):
            return code, ("Replica assignment has brokers that are not alive. Replica list: %s, live broker "
                          "list: %s" % (list(adding), sorted(self.context.live_brokers)))
        return None

    async def _complete_ones(self, assignments):
        """Those of ``{key: assignment}`` whose target is in the ISR (read afresh, as Kafka does)."""
        moving = [key for key, assignment in assignments.items() if assignment.is_being_reassigned]
        fresh = await self.store.read_partition_states(moving)
        self.context.leaderships.update(fresh)
        return {key: assignment for key, assignment in assignments.items()
                if not assignment.is_being_reassigned
                or (key in fresh and set(assignment.target) <= set(fresh[key].isr))}

    # -- the steps (Kafka's ``onPartitionReassignment``, for many partitions at once) -----------

    async def _trigger(self, reassignments):
        """Kafka's ``maybeTriggerPartitionReassignment`` for reassignments already validated (their
        partitions exist and are not being deleted): ``{key: (error_code, message)}``."""
        if not reassignments:
            return {}
        try:
            await self._reassign(reassignments)
            return dict.fromkeys(reassignments, NONE)
        except ControllerMovedError:
            raise
        except Exception as error:  # noqa: BLE001 -- answered, and the controller carries on
            self.log.failure("reassignment of {count} partitions failed", count=len(reassignments))
            return dict.fromkeys(reassignments, (errors.UnknownServerError.code, str(error)))

    async def _resume(self, should_resume):
        selected = {key: assignment for key in sorted(self.context.partitions_being_reassigned)
                    if should_resume(key, assignment := self.context.full_assignment(key))}
        if selected:
            await self._reassign(selected)

    async def _reassign(self, assignments):
        """U for every partition, then A for those whose target is not in the ISR yet, B for the others."""
        await self._update_current(assignments)
        complete = await self._complete_ones(assignments)
        moving = {key: assignment for key, assignment in assignments.items() if key not in complete}
        changes = self.state_changes
        if moving:
            # A: every replica of RS learns it at a new leader epoch; the new ones start.
            await changes.bump_leader_epochs(list(moving), lambda key: moving[key].origin)
            for key, assignment in moving.items():
                if key in self.context.leaderships:
                    changes.batch.add_leader_and_isr(self.context, assignment.adding, key,
                                                     self.context.leaderships[key], is_new=True)
            await changes.replicas([(key, r) for key, assignment in moving.items() for r in assignment.adding
                                    if self.context.replica_state(key, r) is ReplicaState.NON_EXISTENT],
                                   ReplicaState.NEW)
            for key, assignment in sorted(moving.items()):
                self.log.info("reassigning {topic}-{partition}: replicas {replicas}, adding {adding}, removing "
                              "{removing}", topic=key[0], partition=key[1], replicas=list(assignment.replicas),
                              adding=list(assignment.adding), removing=list(assignment.removing))
        if complete:
            await self._complete(complete)

    async def _complete(self, assignments):
        """B: the targets are in the ISRs."""
        changes = self.state_changes
        context = self.context
        await changes.replicas([(key, r) for key, assignment in assignments.items() for r in assignment.adding],
                               ReplicaState.ONLINE)
        completed = {key: ReplicaAssignment(assignment.target) for key, assignment in assignments.items()}
        for key, assignment in completed.items():
            context.set_full_assignment(key, assignment)
        await self._move_leaders_if_required(completed)
        await self._stop_removed([(key, r) for key, assignment in assignments.items() for r in assignment.removing])
        await self.store.write_topics(context, sorted({key[0] for key in completed}))
        for key in completed:
            context.partitions_being_reassigned.discard(key)
            self._isr_watchers.pop(key, None)
        await self._remove_from_zk(lambda k, replicas: k in completed and tuple(replicas) == completed[k].replicas)
        changes.batch.add_update_metadata(context, context.live_brokers, list(completed))
        for key, assignment in sorted(completed.items()):
            self.log.info("reassignment of {topic}-{partition} to {replicas} completed", topic=key[0],
                          partition=key[1], replicas=list(assignment.replicas))
        await self._on_completed({key[0] for key in completed})

    async def _update_current(self, assignments):
        """U: the new assignments in the topic znodes, then in memory; replicas no longer wanted stop."""
        context = self.context
        changed = {key: current for key, assignment in assignments.items()
                   if (current := context.full_assignment(key)) != assignment}
        if changed:
            for key in changed:
                context.set_full_assignment(key, assignments[key])
            try:
                await self.store.write_topics(context, sorted({key[0] for key in changed}))
            except BaseException:
                for key, current in changed.items():
                    context.set_full_assignment(key, current)
                raise
            await self._stop_removed([(key, r) for key, current in changed.items() for r in current.replicas
                                      if r not in assignments[key].replicas])
        watched = [key for key, assignment in assignments.items() if assignment.is_being_reassigned]
        context.partitions_being_reassigned.update(watched)
        for key in watched:
            await self.store.watch_partition_state(key, self._isr_watch(key))

    async def _move_leaders_if_required(self, completed):
        """B3: a leader outside the target (or dead) hands over to the target; otherwise a new epoch."""
        context = self.context
        stay, elect = [], []
        for key, assignment in completed.items():
            leadership = context.leaderships.get(key)
            if leadership is None:
                continue
            if leadership.leader in assignment.replicas and context.is_live(leadership.leader):
                stay.append(key)
            else:
                elect.append(key)
        await self.state_changes.bump_leader_epochs(stay, lambda key: completed[key].replicas)
        moved = set(await self.state_changes.partitions(elect, PartitionState.ONLINE, ReassignElection()))
        for key in elect:
            if key not in moved:
                self.log.warn("{topic}-{partition}: no replica of {target} could take over from leader {leader}",
                              topic=key[0], partition=key[1], target=list(completed[key].replicas),
                              leader=context.leaderships[key].leader)

    async def _stop_removed(self, replicas):
        """B4/B5: the removed replicas (``(key, broker)``) leave the ISR, stop, and are deleted."""
        for state in (ReplicaState.OFFLINE, ReplicaState.DELETION_STARTED, ReplicaState.DELETION_SUCCESSFUL,
                      ReplicaState.NON_EXISTENT):
            await self.state_changes.replicas(replicas, state)

    async def _remove_from_zk(self, should_remove):
        """Kafka's ``maybeRemoveFromZkReassignment``: drop the matching partitions from the znode."""
        found = await self.store.read_reassign_partitions()  # the watch set by on_zk_reassignment stays
        if found is None:
            return
        _, requested, _ = found
        remaining = {key: replicas for key, replicas in requested.items() if not should_remove(key, replicas)}
        if len(remaining) != len(requested) or not remaining:
            await self.store.write_reassign_partitions(remaining, self.context.epoch_zk_version)
