"""Rebalance timing and the member changes around it, for the group coordinator.

Owns the coordinator's delayed operations as timers on the injected reactor — Kafka's
``DelayedHeartbeat`` (session expiry, and a new member's join timeout),
``InitialDelayedJoin`` (``group.initial.rebalance.delay.ms``), ``DelayedJoin`` (the
rebalance timeout) and the expiry of members handed an id by MEMBER_ID_REQUIRED — and
the transitions they and the request handlers drive: adding, updating, replacing
(static members, KIP-345) and removing members, preparing and completing a
rebalance, answering parked JoinGroup and SyncGroup requests, dropping a group.

:class:`~kafkalite.coordinator.group_coordinator.GroupCoordinator`'s handlers decide
whether a request is admitted; :class:`Rebalancer` applies it. Group metadata that
must be written (an emptied group, a static member's new id) goes through the
:class:`~kafkalite.coordinator.group_metadata_manager.GroupMetadataManager`.
"""

from twisted.logger import Logger

from kafkalite.coordinator.group import (
    COMPLETING_REBALANCE,
    DEAD,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    MemberMetadata,
)
from kafkalite.protocol import errors

__all__ = ["NEW_MEMBER_JOIN_TIMEOUT_MS", "Rebalancer", "join_result", "sync_result"]

#: Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: a new member's parked JoinGroup gives up after this.
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000

NONE = 0
UNKNOWN_MEMBER_ID = errors.UnknownMemberIdError.code
REBALANCE_IN_PROGRESS = errors.RebalanceInProgressError.code
FENCED_INSTANCE_ID = errors.FencedInstanceIdError.code


def join_result(error, member_id="", generation_id=-1, protocol_type=None, protocol_name=None, leader="",
                members=()):
    """A JoinGroup answer's fields; ``members`` are ``(member_id, group_instance_id, metadata)``."""
    return {"error_code": error, "member_id": member_id, "generation_id": generation_id,
            "protocol_type": protocol_type, "protocol_name": protocol_name, "leader": leader or "",
            "members": [{"member_id": m, "group_instance_id": i, "metadata": meta} for m, i, meta in members]}


def sync_result(error, group=None, assignment=b""):
    """A SyncGroup answer's fields."""
    return {"error_code": error, "assignment": assignment,
            "protocol_type": group.protocol_type if group is not None else None,
            "protocol_name": group.protocol_name if group is not None else None}


def current_join_result(group, member):
    """The current generation's JoinGroup answer for ``member`` (the leader also gets every member)."""
    members = group.current_member_metadata() if group.is_leader(member.member_id) else ()
    return join_result(NONE, member.member_id, group.generation_id, group.protocol_type, group.protocol_name,
                       group.leader_id, members)


def fire_join(member, result):
    """Answer ``member``'s parked JoinGroup, if any."""
    done, member.awaiting_join = member.awaiting_join, None
    if done is not None and not done.called:
        done.callback(result)


def fire_sync(member, result):
    """Answer ``member``'s parked SyncGroup, if any."""
    done, member.awaiting_sync = member.awaiting_sync, None
    if done is not None and not done.called:
        done.callback(result)


class Rebalancer:
    """Timers and member transitions of the groups one coordinator serves.

    :param reactor: ``IReactorTime`` for every timer.
    :param config: a :class:`~kafkalite.coordinator.config.GroupConfig`.
    :param group_manager: stores group metadata (``store_group(group)`` → Deferred error code).
    """

    log = Logger()

    def __init__(self, reactor, config, group_manager):
        self._reactor = reactor
        self.config = config
        self._group_manager = group_manager

    def now_ms(self):
        return int(self._reactor.seconds() * 1000)

    def drop_group(self, group, error):
        """Answer the group's parked requests with ``error`` and cancel its timers; it is Dead."""
        self.cancel_join_timer(group)
        for member in list(group.members.values()):
            self.cancel_heartbeat(member)
            fire_join(member, join_result(error, member.member_id))
            fire_sync(member, sync_result(error))
        for timer in group.pending_members.values():
            if timer is not None and timer.active():
                timer.cancel()
        group.pending_members.clear()
        group.state = DEAD

    def reset_and_propagate_assignment_error(self, group, error):
        for member in group.members.values():
            member.assignment = b""
            fire_sync(member, sync_result(error, group))

    # -- heartbeats and pending members --------------------------------------------------

    def schedule_heartbeat(self, group, member, timeout_ms=None):
        """(Re)start ``member``'s session timer (``timeout_ms`` instead of its session timeout)."""
        self.cancel_heartbeat(member)
        timeout_ms = member.session_timeout_ms if timeout_ms is None else timeout_ms
        member.heartbeat_timer = self._reactor.callLater(
            timeout_ms / 1000.0, self._on_heartbeat_expired, group, member)

    @staticmethod
    def cancel_heartbeat(member):
        if member.heartbeat_timer is not None and member.heartbeat_timer.active():
            member.heartbeat_timer.cancel()
        member.heartbeat_timer = None

    def _on_heartbeat_expired(self, group, member):
        member.heartbeat_timer = None
        if group.members.get(member.member_id) is not member or group.is_(DEAD):
            return
        if (member.awaiting_join is not None and not member.is_new) or member.awaiting_sync is not None:
            # A member parked in a rebalance is bounded by the rebalance timeout instead.
            self.schedule_heartbeat(group, member)
            return
        self.log.info("member {member} of group {group} failed its session timeout", member=member.member_id,
                      group=group.group_id)
        self.remove_member_and_update_group(group, member)

    def add_pending_member(self, group, member_id, session_timeout_ms):
        """Hold a place for a MEMBER_ID_REQUIRED member until it joins or its session times out."""
        group.pending_members[member_id] = self._reactor.callLater(
            session_timeout_ms / 1000.0, self._on_pending_member_expired, group, member_id)

    @staticmethod
    def remove_pending_member(group, member_id):
        timer = group.pending_members.pop(member_id, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _on_pending_member_expired(self, group, member_id):
        if group.pending_members.pop(member_id, "gone") == "gone":
            return
        if group.is_(PREPARING_REBALANCE):
            self.try_complete_join(group)

    def cancel_join_timer(self, group):
        if group.join_timer is not None and group.join_timer.active():
            group.join_timer.cancel()
        group.join_timer = None

    # -- members -------------------------------------------------------------------------

    def add_member_and_rebalance(self, group, member_id, group_instance_id, details, done):
        """Add a new member whose JoinGroup ``done`` parks until the rebalance completes.

        :param details: ``(client_id, client_host, rebalance_timeout_ms, session_timeout_ms,
            protocol_type, protocols)``.
        """
        client_id, client_host, rebalance_timeout_ms, session_timeout_ms, protocol_type, protocols = details
        member = MemberMetadata(member_id, group_instance_id, client_id, client_host, rebalance_timeout_ms,
                                session_timeout_ms, protocol_type, protocols, awaiting_join=done, is_new=True)
        if group.is_(PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True
        group.add(member)
        # A new member cannot heartbeat until it has joined: bound its parked JoinGroup instead.
        self.schedule_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self.maybe_prepare_rebalance(group, "adding new member %s" % member_id)

    def update_member_and_rebalance(self, group, member, protocols, done):
        member.protocols = protocols
        fire_join(member, join_result(UNKNOWN_MEMBER_ID, member.member_id))
        member.awaiting_join = done
        self.maybe_prepare_rebalance(group, "updating metadata of member %s" % member.member_id)
        if group.is_(PREPARING_REBALANCE):
            self.try_complete_join(group)

    def update_static_member(self, group, old_id, new_id, protocols, done):
        """A known static member rejoins with a new member id: it takes the old one's place."""
        current_leader = group.leader_id
        old = group.get(old_id)
        # The old incarnation's parked requests are fenced.
        fire_join(old, join_result(FENCED_INSTANCE_ID, old_id))
        fire_sync(old, sync_result(FENCED_INSTANCE_ID))
        member = group.replace_static_member(old.group_instance_id, old_id, new_id)
        self.schedule_heartbeat(group, member)
        old_protocols = member.protocols
        member.protocols = protocols
        member.awaiting_join = done
        if group.is_(STABLE):
            if group.select_protocol() == group.protocol_name:
                # Same protocol: persist the new member id, keep the assignment, no rebalance. The old
                # leader id is returned so the member does not think it must assign (Kafka does the same).
                stored = self._group_manager.store_group(group)

                def stored_group(error):
                    if error:
                        group.replace_static_member(member.group_instance_id, new_id, old_id)
                        member.protocols = old_protocols
                        fire_join(member, join_result(error, new_id))
                    else:
                        fire_join(member, join_result(NONE, new_id, group.generation_id, group.protocol_type,
                                                      group.protocol_name, current_leader))
                stored.addCallback(stored_group)
            else:
                self.maybe_prepare_rebalance(group, "static member %s changed protocols" % new_id)
        elif group.is_(COMPLETING_REBALANCE):
            self.prepare_rebalance(group, "static member %s rejoined during CompletingRebalance" % new_id)
        elif group.is_(PREPARING_REBALANCE):
            self.try_complete_join(group)

    def remove_member_and_update_group(self, group, member):
        fire_join(member, join_result(UNKNOWN_MEMBER_ID, member.member_id))
        fire_sync(member, sync_result(UNKNOWN_MEMBER_ID))
        self.cancel_heartbeat(member)
        group.remove(member.member_id)
        if group.is_(PREPARING_REBALANCE):
            self.try_complete_join(group)
        elif group.is_(STABLE) or group.is_(COMPLETING_REBALANCE):
            self.maybe_prepare_rebalance(group, "removing member %s" % member.member_id)

    # -- the rebalance -------------------------------------------------------------------

    def maybe_prepare_rebalance(self, group, reason):
        if group.can_rebalance():
            self.prepare_rebalance(group, reason)

    def prepare_rebalance(self, group, reason):
        """Enter PreparingRebalance; an Empty group waits the initial delay, others the rebalance timeout."""
        if group.is_(COMPLETING_REBALANCE):
            self.reset_and_propagate_assignment_error(group, REBALANCE_IN_PROGRESS)
        rebalance_timeout_ms = max((m.rebalance_timeout_ms for m in group.members.values()), default=0)
        self.cancel_join_timer(group)
        if group.is_(EMPTY):
            delay = self.config.group_initial_rebalance_delay_ms
            group.initial_delay_remaining_ms = max(rebalance_timeout_ms - delay, 0)
            group.join_timer = self._reactor.callLater(delay / 1000.0, self._on_initial_delay_expired, group, delay)
            group.join_is_initial = True
        else:
            group.join_timer = self._reactor.callLater(rebalance_timeout_ms / 1000.0, self._on_join_expired, group)
            group.join_is_initial = False
        group.transition_to(PREPARING_REBALANCE, self.now_ms())
        self.log.info("preparing to rebalance group {group} in generation {generation} ({reason})",
                      group=group.group_id, generation=group.generation_id, reason=reason)

    def _on_initial_delay_expired(self, group, delay):
        group.join_timer = None
        if group.new_member_added and group.initial_delay_remaining_ms > 0:
            group.new_member_added = False
            next_delay = min(delay, group.initial_delay_remaining_ms)
            group.initial_delay_remaining_ms = max(group.initial_delay_remaining_ms - next_delay, 0)
            group.join_timer = self._reactor.callLater(next_delay / 1000.0, self._on_initial_delay_expired,
                                                       group, next_delay)
            return
        group.join_is_initial = False
        self._complete_join(group)

    def _on_join_expired(self, group):
        group.join_timer = None
        self._complete_join(group)

    def try_complete_join(self, group):
        """Complete the join phase now if every member has rejoined (never during the initial delay)."""
        if group.join_is_initial or not group.is_(PREPARING_REBALANCE):
            return
        if group.all_joined():
            self.cancel_join_timer(group)
            self._complete_join(group)

    def _complete_join(self, group):
        if not group.is_(PREPARING_REBALANCE):
            return
        for member in group.not_yet_rejoined():
            if not member.is_static:
                self.log.info("member {member} of group {group} did not rejoin in time", member=member.member_id,
                              group=group.group_id)
                self.cancel_heartbeat(member)
                group.remove(member.member_id)
        joined = [m for m in group.members.values() if m.awaiting_join is not None]
        if group.members and not joined:
            # Only static members that have not rejoined: wait another rebalance timeout for them
            # to come back or for their sessions to expire.
            timeout = max(m.rebalance_timeout_ms for m in group.members.values())
            group.join_timer = self._reactor.callLater(timeout / 1000.0, self._on_join_expired, group)
            return
        if group.leader_id is None or group.members[group.leader_id].awaiting_join is None:
            group.leader_id = joined[0].member_id if joined else None
        group.init_next_generation(self.now_ms())
        if group.is_(EMPTY):
            self._group_manager.store_group(group).addErrback(
                lambda f: self.log.failure("storing empty group failed", f))
            return
        self.log.info("group {group} generation {generation} ({protocol}) with {count} members",
                      group=group.group_id, generation=group.generation_id, protocol=group.protocol_name,
                      count=len(group.members))
        for member in list(group.members.values()):
            fire_join(member, current_join_result(group, member))
            self.schedule_heartbeat(group, member)
            member.is_new = False
