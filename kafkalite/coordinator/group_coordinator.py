"""GroupCoordinator: Kafka's group membership protocol for the groups this broker coordinates.

This broker coordinates a group when it leads the group's ``__consumer_offsets``
partition. The groups and everything read from or written to that topic belong to
the :class:`~kafkalite.coordinator.group_metadata_manager.GroupMetadataManager`
passed in; this module owns the protocol, as Kafka's ``GroupCoordinator`` does:
JoinGroup, SyncGroup, Heartbeat and LeaveGroup, rebalance timing, static members,
and which describe/list/delete and offset commit/fetch/delete requests a group's
state admits (the manager then reads or writes). Rebalance rules follow Kafka 2.8:

- JoinGroup parks until every known member has rejoined (or the rebalance timeout
  removes the ones that did not); an empty group first waits
  ``group.initial.rebalance.delay.ms`` (repeatedly, while new members keep arriving,
  within the rebalance timeout). JoinGroup v4+ with an empty member id gets
  MEMBER_ID_REQUIRED and a member id to rejoin with (KIP-394).
- SyncGroup parks until the leader's assignment is written to the log (acks=all),
  then every member gets its share and the group is Stable.
- A member that misses ``session.timeout.ms`` of heartbeats is removed and the group
  rebalances. Static members (``group.instance.id``, KIP-345) keep their place across
  restarts: rejoining with a new member id replaces the old one without a rebalance
  when the group is Stable and the protocol does not change.
- Stale members are fenced with ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
  REBALANCE_IN_PROGRESS and FENCED_INSTANCE_ID.

Parked requests are Deferreds fired from the state machine's transitions; every
timeout is a ``callLater`` on the injected reactor, so ``task.Clock`` drives the
whole thing in unit tests.
"""

import uuid

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite.coordinator.group import (
    COMPLETING_REBALANCE,
    CONSUMER_PROTOCOL_TYPE,
    DEAD,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    GroupMetadata,
    OffsetAndMetadata,
)
from kafkalite.coordinator.group_metadata_manager import OFFSETS_TOPIC
from kafkalite.coordinator.rebalance import Rebalancer, current_join_result, fire_sync, join_result, sync_result
from kafkalite.protocol import errors

__all__ = ["GroupCoordinator"]

NONE = 0
COORDINATOR_LOAD_IN_PROGRESS = errors.CoordinatorLoadInProgressError.code
COORDINATOR_NOT_AVAILABLE = errors.CoordinatorNotAvailableError.code
NOT_COORDINATOR = errors.NotCoordinatorError.code
ILLEGAL_GENERATION = errors.IllegalGenerationError.code
INCONSISTENT_GROUP_PROTOCOL = errors.InconsistentGroupProtocolError.code
INVALID_GROUP_ID = errors.InvalidGroupIdError.code
UNKNOWN_MEMBER_ID = errors.UnknownMemberIdError.code
INVALID_SESSION_TIMEOUT = errors.InvalidSessionTimeoutError.code
REBALANCE_IN_PROGRESS = errors.RebalanceInProgressError.code
NON_EMPTY_GROUP = errors.NonEmptyGroupError.code
GROUP_ID_NOT_FOUND = errors.GroupIdNotFoundError.code
MEMBER_ID_REQUIRED = errors.MemberIdRequiredError.code
GROUP_MAX_SIZE_REACHED = errors.GroupMaxSizeReachedError.code
FENCED_INSTANCE_ID = errors.FencedInstanceIdError.code
GROUP_SUBSCRIBED_TO_TOPIC = errors.GroupSubscribedToTopicError.code


class GroupCoordinator:
    """The membership protocol of the groups in the ``__consumer_offsets`` partitions this broker leads.

    Also the replica manager's leadership listener for ``__consumer_offsets``: becoming a
    partition's leader loads its groups, losing it unloads them.

    :param reactor: ``IReactorTime`` for every timer.
    :param config: a :class:`~kafkalite.coordinator.config.GroupConfig`.
    :param group_manager: the :class:`~kafkalite.coordinator.group_metadata_manager.GroupMetadataManager`
        holding the groups and their offsets.
    """

    log = Logger()

    def __init__(self, reactor, config, group_manager):
        self._reactor = reactor
        self.config = config
        self.group_manager = group_manager
        self._rebalance = Rebalancer(reactor, config, group_manager)

    def now_ms(self):
        return int(self._reactor.seconds() * 1000)

    def partition_for(self, group_id):
        """The ``__consumer_offsets`` partition whose leader coordinates ``group_id``."""
        return self.group_manager.partition_for(group_id)

    def startup(self):
        """Start the store's periodic offset expiry."""
        self.group_manager.startup()

    def shutdown(self):
        """Drop every group (answering parked requests, cancelling every timer)."""
        self.group_manager.shutdown(self._on_group_unloaded)

    # -- ownership -----------------------------------------------------------------------

    def on_become_leader(self, keys):
        """Leadership listener: load newly led ``__consumer_offsets`` partitions (Kafka's ``onElection``)."""
        for topic, partition in keys:
            if topic == OFFSETS_TOPIC:
                self.group_manager.schedule_load_group_and_offsets(partition, self._on_group_loaded)

    def on_become_follower(self, partitions, leader_endpoints):
        """Leadership listener: drop the groups of partitions now led elsewhere (Kafka's ``onResignation``)."""
        self.on_stop_replicas([(p.topic, p.partition) for p in partitions])

    def on_stop_replicas(self, keys):
        for topic, partition in keys:
            if topic == OFFSETS_TOPIC:
                self.group_manager.remove_groups_for_partition(partition, self._on_group_unloaded)

    def _on_group_loaded(self, group):
        for member in group.members.values():
            self._rebalance.schedule_heartbeat(group, member)

    def _on_group_unloaded(self, group):
        self._rebalance.drop_group(group, NOT_COORDINATOR)

    def _coordinator_error(self, group_id):
        """The error for a request about ``group_id`` that this broker cannot serve, or 0."""
        if not group_id:
            return INVALID_GROUP_ID
        if self.group_manager.is_group_loading(group_id):
            return COORDINATOR_LOAD_IN_PROGRESS
        if not self.group_manager.is_group_local(group_id):
            return NOT_COORDINATOR
        return NONE

    # -- JoinGroup -----------------------------------------------------------------------

    def join_group(self, group_id, member_id, group_instance_id, require_known_member_id, client_id, client_host,
                   rebalance_timeout_ms, session_timeout_ms, protocol_type, protocols):
        """Handle a JoinGroup; fires with the response fields (see :func:`~.rebalance.join_result`).

        :param protocols: ``[(name, metadata bytes)]``.
        :param require_known_member_id: True for JoinGroup v4+ (KIP-394).
        """
        error = self._coordinator_error(group_id)
        if not error and not (self.config.group_min_session_timeout_ms <= session_timeout_ms
                              <= self.config.group_max_session_timeout_ms):
            error = INVALID_SESSION_TIMEOUT
        if error:
            return defer.succeed(join_result(error, member_id))
        if rebalance_timeout_ms is None or rebalance_timeout_ms < 0:
            rebalance_timeout_ms = session_timeout_ms
        protocols = [(name, bytes(metadata)) for name, metadata in protocols]
        group = self.group_manager.get_group(group_id)
        if group is None:
            if member_id:
                return defer.succeed(join_result(UNKNOWN_MEMBER_ID, member_id))
            group = self.group_manager.add_group(GroupMetadata(group_id, current_state_timestamp=self.now_ms()))
        elif group.is_(DEAD):
            return defer.succeed(join_result(COORDINATOR_NOT_AVAILABLE, member_id))
        new_member = not member_id or (member_id in group.pending_members and not group.has(member_id))
        if new_member and len(group.members) >= self.config.group_max_size:
            return defer.succeed(join_result(GROUP_MAX_SIZE_REACHED, member_id))
        if not group.supports_protocols(protocol_type, [name for name, _ in protocols]):
            return defer.succeed(join_result(INCONSISTENT_GROUP_PROTOCOL, member_id))
        rebalance = self._rebalance
        done = defer.Deferred()
        details = (client_id, client_host, rebalance_timeout_ms, session_timeout_ms, protocol_type, protocols)
        if not member_id:
            new_id = "%s-%s" % (group_instance_id or client_id, uuid.uuid4())
            if group_instance_id is not None:
                old_id = group.static_member_id(group_instance_id)
                if old_id is not None:
                    rebalance.update_static_member(group, old_id, new_id, protocols, done)
                else:
                    rebalance.add_member_and_rebalance(group, new_id, group_instance_id, details, done)
            elif require_known_member_id:
                rebalance.add_pending_member(group, new_id, session_timeout_ms)
                return defer.succeed(join_result(MEMBER_ID_REQUIRED, new_id))
            else:
                rebalance.add_member_and_rebalance(group, new_id, None, details, done)
            return done
        if member_id in group.pending_members:
            rebalance.remove_pending_member(group, member_id)
            rebalance.add_member_and_rebalance(group, member_id, group_instance_id, details, done)
            return done
        if group.is_static_member_fenced(member_id, group_instance_id):
            return defer.succeed(join_result(FENCED_INSTANCE_ID, member_id))
        if not group.has(member_id):
            return defer.succeed(join_result(UNKNOWN_MEMBER_ID, member_id))
        member = group.get(member_id)
        if group.is_(PREPARING_REBALANCE):
            rebalance.update_member_and_rebalance(group, member, protocols, done)
        elif group.is_(COMPLETING_REBALANCE):
            if member.matches(protocols):
                # The member resent its JoinGroup (e.g. after a timeout): answer from the current generation.
                done.callback(current_join_result(group, member))
            else:
                rebalance.update_member_and_rebalance(group, member, protocols, done)
        elif group.is_(STABLE):
            if group.is_leader(member_id) or not member.matches(protocols):
                rebalance.update_member_and_rebalance(group, member, protocols, done)
            else:
                done.callback(join_result(NONE, member_id, group.generation_id, group.protocol_type,
                                          group.protocol_name, group.leader_id))
        else:
            done.callback(join_result(UNKNOWN_MEMBER_ID, member_id))
        return done

    # -- SyncGroup -----------------------------------------------------------------------

    def sync_group(self, group_id, generation_id, member_id, group_instance_id, protocol_type, protocol_name,
                   assignments):
        """Handle a SyncGroup; fires with ``{error_code, assignment, protocol_type, protocol_name}``.

        :param assignments: ``{member_id: bytes}`` (only the leader sends any).
        """
        error = self._coordinator_error(group_id)
        group = self.group_manager.get_group(group_id)
        if not error:
            if group is None or not group.has(member_id):
                error = UNKNOWN_MEMBER_ID
            elif group.is_static_member_fenced(member_id, group_instance_id):
                error = FENCED_INSTANCE_ID
            elif generation_id != group.generation_id:
                error = ILLEGAL_GENERATION
            elif (protocol_type is not None and protocol_type != group.protocol_type) or \
                    (protocol_name is not None and protocol_name != group.protocol_name):
                error = INCONSISTENT_GROUP_PROTOCOL
            elif group.is_(EMPTY):
                error = UNKNOWN_MEMBER_ID
            elif group.is_(PREPARING_REBALANCE):
                error = REBALANCE_IN_PROGRESS
            elif group.is_(DEAD):
                error = COORDINATOR_NOT_AVAILABLE
        if error:
            return defer.succeed(sync_result(error))
        member = group.get(member_id)
        rebalance = self._rebalance
        if group.is_(STABLE):
            rebalance.schedule_heartbeat(group, member)
            return defer.succeed(sync_result(NONE, group, member.assignment))
        done = defer.Deferred()
        fire_sync(member, sync_result(REBALANCE_IN_PROGRESS, group))
        member.awaiting_sync = done
        rebalance.schedule_heartbeat(group, member)
        if group.is_leader(member_id):
            generation = group.generation_id
            for m in group.members:
                group.members[m].assignment = bytes(assignments.get(m, b""))
            stored = self.group_manager.store_group(group)

            def stored_group(error):
                if not group.is_(COMPLETING_REBALANCE) or group.generation_id != generation:
                    return
                if error:
                    rebalance.reset_and_propagate_assignment_error(group, error)
                    rebalance.maybe_prepare_rebalance(group, "storing the assignment failed")
                    return
                group.transition_to(STABLE, self.now_ms())
                for m in group.members.values():
                    fire_sync(m, sync_result(NONE, group, m.assignment))
            stored.addCallback(stored_group)
            stored.addErrback(lambda f: self.log.failure("storing the group assignment failed", f))
        return done

    # -- Heartbeat / LeaveGroup ----------------------------------------------------------

    def heartbeat(self, group_id, member_id, group_instance_id, generation_id):
        """Handle a Heartbeat; returns the error code."""
        error = self._coordinator_error(group_id)
        if error:
            return error
        group = self.group_manager.get_group(group_id)
        if group is None or group.is_(EMPTY):
            return UNKNOWN_MEMBER_ID
        if group.is_(DEAD):
            return COORDINATOR_NOT_AVAILABLE
        if group.is_static_member_fenced(member_id, group_instance_id):
            return FENCED_INSTANCE_ID
        if not group.has(member_id):
            return UNKNOWN_MEMBER_ID
        if generation_id != group.generation_id:
            return ILLEGAL_GENERATION
        self._rebalance.schedule_heartbeat(group, group.get(member_id))
        return REBALANCE_IN_PROGRESS if group.is_(PREPARING_REBALANCE) else NONE

    def leave_group(self, group_id, members):
        """Handle a LeaveGroup of ``members`` (``[(member_id, group_instance_id)]``).

        :returns: ``(error_code, [error code per member])``.
        """
        error = self._coordinator_error(group_id)
        if error:
            return error, [error] * len(members)
        group = self.group_manager.get_group(group_id)
        if group is None or group.is_(DEAD):
            return NONE, [UNKNOWN_MEMBER_ID] * len(members)
        results = []
        for member_id, instance_id in members:
            if instance_id is not None:
                known = group.static_member_id(instance_id)
                if known is None:
                    results.append(UNKNOWN_MEMBER_ID)
                    continue
                if member_id and known != member_id:
                    results.append(FENCED_INSTANCE_ID)
                    continue
                member_id = known
            if member_id in group.pending_members:
                self._rebalance.remove_pending_member(group, member_id)
                self._rebalance.try_complete_join(group)
                results.append(NONE)
                continue
            if not group.has(member_id):
                results.append(UNKNOWN_MEMBER_ID)
                continue
            self.log.info("member {member} leaves group {group}", member=member_id, group=group_id)
            self._rebalance.remove_member_and_update_group(group, group.get(member_id))
            results.append(NONE)
        return NONE, results

    # -- offsets -------------------------------------------------------------------------

    def commit_offsets(self, group_id, member_id, group_instance_id, generation_id, offsets, retention_ms=-1):
        """Handle an OffsetCommit (v1+): admit it by the group's state, then store it.

        :param offsets: ``{(topic, partition): (offset, leader_epoch, metadata)}``.
        :param retention_ms: OffsetCommit v2–v4's retention time; -1 for the broker default.
        :returns: a Deferred firing with ``{(topic, partition): error code}``.
        """
        def everywhere(code):
            return defer.succeed(dict.fromkeys(offsets, code))

        error = self._coordinator_error(group_id)
        if error:
            return everywhere(error)
        group = self.group_manager.get_group(group_id)
        if group is None:
            if generation_id >= 0:
                return everywhere(ILLEGAL_GENERATION)
            # A consumer that assigns its partitions itself stores offsets under a group of its own.
            group = self.group_manager.add_group(GroupMetadata(group_id, current_state_timestamp=self.now_ms()))
        if group.is_(DEAD):
            return everywhere(COORDINATOR_NOT_AVAILABLE)
        if group.is_static_member_fenced(member_id, group_instance_id):
            return everywhere(FENCED_INSTANCE_ID)
        if not (generation_id < 0 and group.is_(EMPTY)):
            if group.is_(COMPLETING_REBALANCE):
                return everywhere(REBALANCE_IN_PROGRESS)
            if not group.has(member_id):
                return everywhere(UNKNOWN_MEMBER_ID)
            if generation_id != group.generation_id:
                return everywhere(ILLEGAL_GENERATION)
            self._rebalance.schedule_heartbeat(group, group.get(member_id))
        now = self.now_ms()
        expire = now + retention_ms if retention_ms is not None and retention_ms >= 0 else None
        return self.group_manager.store_offsets(group, {
            key: OffsetAndMetadata(offset, leader_epoch, metadata or "", now, expire)
            for key, (offset, leader_epoch, metadata) in offsets.items()})

    def fetch_offsets(self, group_id, partitions=None):
        """Handle an OffsetFetch (v1+).

        :param partitions: ``[(topic, partition)]``, or None for every partition the group committed.
        :returns: ``(error_code, [(topic, partition, OffsetAndMetadata or None)])``.
        """
        error = self._coordinator_error(group_id)
        if error:
            return error, []
        return NONE, self.group_manager.get_offsets(group_id, partitions)

    def delete_offsets(self, group_id, partitions):
        """Handle an OffsetDelete; fires with ``(error_code, {(topic, partition): error code})``.

        Offsets of topics a live consumer group subscribes to are refused
        (GROUP_SUBSCRIBED_TO_TOPIC); a non-consumer group must be Empty.
        """
        error = self._coordinator_error(group_id)
        if error:
            return defer.succeed((error, {}))
        group = self.group_manager.get_group(group_id)
        if group is None or group.is_(DEAD):
            return defer.succeed((GROUP_ID_NOT_FOUND, {}))
        if group.is_(EMPTY):
            subscribed = set()
        elif group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            subscribed = group.subscribed_topics() or set()
        else:
            return defer.succeed((NON_EMPTY_GROUP, {}))
        results = {key: GROUP_SUBSCRIBED_TO_TOPIC if key[0] in subscribed else NONE for key in partitions}
        eligible = [key for key, code in results.items() if not code]
        # Unlike Kafka, a group left Empty without offsets stays until the next expiry run
        # (DeleteGroups of it still succeeds meanwhile).
        d = self.group_manager.cleanup_group_metadata([group], lambda g: g.remove_offsets(eligible),
                                                      drop_empty=False)
        return d.addCallback(lambda _: (NONE, results))

    def handle_deleted_partitions(self, partitions):
        """Forget offsets of deleted topic-partitions (UpdateMetadata reported them deleted).

        Fires once their tombstones are written; groups left Empty without offsets go too.
        """
        return self.group_manager.handle_deleted_partitions(partitions)

    # -- DescribeGroups / ListGroups / DeleteGroups --------------------------------------

    def describe_group(self, group_id):
        """Handle one group of DescribeGroups; returns the response entry fields."""
        entry = {"error_code": NONE, "group_id": group_id, "group_state": DEAD, "protocol_type": "",
                 "protocol_data": "", "members": []}
        error = self._coordinator_error(group_id)
        if error:
            entry["error_code"] = error
            return entry
        group = self.group_manager.get_group(group_id)
        if group is None:
            return entry
        stable = group.is_(STABLE)
        entry.update(group_state=group.state, protocol_type=group.protocol_type or "",
                     protocol_data=(group.protocol_name or "") if stable else "")
        entry["members"] = [{
            "member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
            "client_host": m.client_host,
            "member_metadata": m.metadata(group.protocol_name) if stable else b"",
            "member_assignment": m.assignment if stable else b"",
        } for m in group.members.values()]
        return entry

    def list_groups(self, states=None):
        """Handle ListGroups: ``(error_code, [(group_id, protocol_type, state)])``."""
        error = COORDINATOR_LOAD_IN_PROGRESS if self.group_manager.is_loading() else NONE
        wanted = {s.lower() for s in states} if states else None
        groups = [(g.group_id, g.protocol_type or "", g.state) for g in self.group_manager.current_groups()
                  if not g.is_(DEAD) and (wanted is None or g.state.lower() in wanted)]
        return error, sorted(groups)

    def delete_groups(self, group_ids):
        """Handle DeleteGroups: Empty groups go with their offsets. Fires with ``{group_id: error code}``."""
        results = {}
        deletable = []
        for group_id in group_ids:
            error = self._coordinator_error(group_id)
            group = self.group_manager.get_group(group_id)
            if not error:
                if group is None or group.is_(DEAD):
                    error = GROUP_ID_NOT_FOUND
                elif not group.is_(EMPTY):
                    error = NON_EMPTY_GROUP
            results[group_id] = error
            if not error:
                self._rebalance.drop_group(group, NOT_COORDINATOR)
                deletable.append(group)
        if not deletable:
            return defer.succeed(results)
        d = self.group_manager.cleanup_group_metadata(deletable, lambda group: group.remove_all_offsets())
        return d.addCallback(lambda _: results)
