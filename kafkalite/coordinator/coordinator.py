"""GroupCoordinator: Kafka's group membership protocol and offset store for the groups this broker owns.

This broker coordinates a group when it leads the group's ``__consumer_offsets``
partition (``partition_for_group``). On becoming leader of such a partition it
loads the partition's records into memory (COORDINATOR_LOAD_IN_PROGRESS
meanwhile); on losing it, it drops its groups (NOT_COORDINATOR from then on).

Rebalance rules follow Kafka 2.8's ``GroupCoordinator``:

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
from dataclasses import dataclass

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite.coordinator import offsets_codec as codec
from kafkalite.coordinator.group import (
    COMPLETING_REBALANCE,
    CONSUMER_PROTOCOL_TYPE,
    DEAD,
    EMPTY,
    PREPARING_REBALANCE,
    STABLE,
    GroupMetadata,
    MemberMetadata,
)
from kafkalite.protocol import errors

__all__ = ["GroupCoordinator", "CoordinatorConfig", "LagEntry", "OFFSETS_TOPIC", "NEW_MEMBER_JOIN_TIMEOUT_MS"]

OFFSETS_TOPIC = "__consumer_offsets"
#: Records applied per reactor turn while loading a partition, so a long log does not stall the broker.
LOAD_RECORDS_PER_TURN = 2000
#: Delay before a failed partition load is tried again (the partition answers LOAD_IN_PROGRESS meanwhile).
LOAD_RETRY_SECONDS = 1.0
#: Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: a new member's parked JoinGroup gives up after this.
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000

NONE = 0
OFFSET_METADATA_TOO_LARGE = errors.OffsetMetadataTooLargeError.code
COORDINATOR_LOAD_IN_PROGRESS = errors.CoordinatorLoadInProgressError.code
COORDINATOR_NOT_AVAILABLE = errors.CoordinatorNotAvailableError.code
NOT_COORDINATOR = errors.NotCoordinatorError.code
ILLEGAL_GENERATION = errors.IllegalGenerationError.code
INCONSISTENT_GROUP_PROTOCOL = errors.InconsistentGroupProtocolError.code
INVALID_GROUP_ID = errors.InvalidGroupIdError.code
UNKNOWN_MEMBER_ID = errors.UnknownMemberIdError.code
INVALID_SESSION_TIMEOUT = errors.InvalidSessionTimeoutError.code
REBALANCE_IN_PROGRESS = errors.RebalanceInProgressError.code
INVALID_COMMIT_OFFSET_SIZE = errors.InvalidCommitOffsetSizeError.code
NON_EMPTY_GROUP = errors.NonEmptyGroupError.code
GROUP_ID_NOT_FOUND = errors.GroupIdNotFoundError.code
MEMBER_ID_REQUIRED = errors.MemberIdRequiredError.code
GROUP_MAX_SIZE_REACHED = errors.GroupMaxSizeReachedError.code
FENCED_INSTANCE_ID = errors.FencedInstanceIdError.code
GROUP_SUBSCRIBED_TO_TOPIC = errors.GroupSubscribedToTopicError.code
UNKNOWN_SERVER_ERROR = errors.UnknownServerError.code

# How Kafka maps a failed append to __consumer_offsets onto coordinator errors.
_APPEND_ERRORS = {
    errors.UnknownTopicOrPartitionError.code: COORDINATOR_NOT_AVAILABLE,
    errors.NotEnoughReplicasError.code: COORDINATOR_NOT_AVAILABLE,
    errors.NotEnoughReplicasAfterAppendError.code: COORDINATOR_NOT_AVAILABLE,
    errors.RequestTimedOutError.code: COORDINATOR_NOT_AVAILABLE,
    errors.NotLeaderOrFollowerError.code: NOT_COORDINATOR,
    errors.error_for_code(56).code: NOT_COORDINATOR,  # KAFKA_STORAGE_ERROR
    errors.MessageTooLargeError.code: INVALID_COMMIT_OFFSET_SIZE,
    errors.RecordListTooLargeError.code: INVALID_COMMIT_OFFSET_SIZE,
}


@dataclass(frozen=True)
class CoordinatorConfig:
    """The broker settings the coordinator reads (Kafka names in snake_case)."""

    offsets_topic_num_partitions: int = 50
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1800000
    group_initial_rebalance_delay_ms: int = 3000
    group_max_size: int = 2**31 - 1
    offsets_retention_minutes: int = 10080
    offset_metadata_max_bytes: int = 4096

    @classmethod
    def from_broker_config(cls, config):
        return cls(**{name: getattr(config, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class LagEntry:
    """Lag of one group on one partition; ``log_end_offset``/``lag`` are None when unknown here."""

    group: str
    topic: str
    partition: int
    committed_offset: int
    log_end_offset: int | None
    lag: int | None


def _join_result(error, member_id="", generation_id=-1, protocol_type=None, protocol_name=None, leader="",
                 members=()):
    return {"error_code": error, "member_id": member_id, "generation_id": generation_id,
            "protocol_type": protocol_type, "protocol_name": protocol_name, "leader": leader or "",
            "members": [{"member_id": m, "group_instance_id": i, "metadata": meta} for m, i, meta in members]}


def _sync_result(error, group=None, assignment=b""):
    return {"error_code": error, "assignment": assignment,
            "protocol_type": group.protocol_type if group is not None else None,
            "protocol_name": group.protocol_name if group is not None else None}


class GroupCoordinator:
    """Groups and committed offsets of the ``__consumer_offsets`` partitions this broker leads.

    :param reactor: ``IReactorTime`` for every timer.
    :param config: a :class:`CoordinatorConfig`.
    :param append: ``append(partition, [(key bytes, value bytes or None)])`` writing one batch to
        ``__consumer_offsets`` with acks=all; returns an error code or a Deferred firing with one.
    :param read_partition: ``read_partition(partition)`` → the partition's records, in offset
        order, as ``(key, value)`` pairs; raises :class:`KafkaError` when it cannot.
    :param end_offset: optional ``end_offset(topic, partition)`` → the partition's log end offset
        as consumers see it (high watermark), or None when this broker does not know it.
    """

    log = Logger()

    def __init__(self, reactor, config, append, read_partition, end_offset=None):
        self._reactor = reactor
        self.config = config
        self._append = append
        self._read_partition = read_partition
        self._end_offset = end_offset
        self.groups = {}
        self.owned_partitions = set()
        self.loading_partitions = set()
        #: partition → token of the load in progress (a newer load or an unload invalidates it).
        self._loads = {}

    def now_ms(self):
        return int(self._reactor.seconds() * 1000)

    def partition_for(self, group_id):
        return codec.partition_for_group(group_id, self.config.offsets_topic_num_partitions)

    # -- ownership -----------------------------------------------------------------------

    def _coordinator_error(self, group_id):
        """The error for a request about ``group_id`` that this broker cannot serve, or 0."""
        if not group_id:
            return INVALID_GROUP_ID
        partition = self.partition_for(group_id)
        if partition in self.loading_partitions:
            return COORDINATOR_LOAD_IN_PROGRESS
        if partition not in self.owned_partitions:
            return NOT_COORDINATOR
        return NONE

    def on_become_leader(self, keys):
        """Leadership listener: load newly led ``__consumer_offsets`` partitions."""
        for topic, partition in keys:
            if topic == OFFSETS_TOPIC and partition not in self.owned_partitions:
                self.loading_partitions.add(partition)
                self._reactor.callLater(0, self._load_partition, partition)

    def on_become_follower(self, partitions, leader_endpoints):
        """Leadership listener: drop the groups of partitions now led elsewhere."""
        for partition in partitions:
            if partition.topic == OFFSETS_TOPIC:
                self.unload_partition(partition.partition)

    def on_stop_replicas(self, keys):
        for topic, partition in keys:
            if topic == OFFSETS_TOPIC:
                self.unload_partition(partition)

    def load_partition(self, partition):
        """Load ``partition`` now (what :meth:`on_become_leader` schedules)."""
        self.loading_partitions.add(partition)
        self._load_partition(partition)

    def _load_partition(self, partition):
        if partition not in self.loading_partitions:
            return  # unloaded again before the load ran
        token = object()
        self._loads[partition] = token
        self._load_some(partition, token, {}, {}, self._records_of(partition))

    def _records_of(self, partition):
        # A generator, so that even a read_partition failing at once fails inside _load_some.
        yield from self._read_partition(partition)

    def _load_some(self, partition, token, offsets, metadata, records):
        """Apply up to LOAD_RECORDS_PER_TURN records, then yield the reactor and continue."""
        if self._loads.get(partition) is not token:
            return  # unloaded, or a newer load of the same partition took over
        try:
            for _ in range(LOAD_RECORDS_PER_TURN):
                entry = next(records, None)
                if entry is None:
                    break
                key_bytes, value_bytes = entry
                if key_bytes is None:
                    continue
                key = codec.decode_key(key_bytes)
                if isinstance(key, codec.OffsetKey):
                    if value_bytes is None:
                        offsets.pop(key, None)
                    else:
                        offsets[key] = codec.decode_offset_value(value_bytes)
                elif isinstance(key, codec.GroupMetadataKey):
                    metadata[key.group] = None if value_bytes is None else codec.decode_group_metadata_value(
                        value_bytes)
            else:
                self._reactor.callLater(0, self._load_some, partition, token, offsets, metadata, records)
                return
        except Exception:  # noqa: BLE001 -- any failure (corrupt data, a segment swapped away) is retried
            self.log.failure("loading {topic}-{partition} failed; retrying in {delay} s", topic=OFFSETS_TOPIC,
                             partition=partition, delay=LOAD_RETRY_SECONDS)
            del self._loads[partition]
            self._reactor.callLater(LOAD_RETRY_SECONDS, self._load_partition, partition)
            return
        del self._loads[partition]
        self._finish_load(partition, offsets, metadata)

    def _finish_load(self, partition, offsets, metadata):
        now = self.now_ms()
        loaded = {}
        for group_id, value in metadata.items():
            if value is not None:
                loaded[group_id] = self._group_from_value(group_id, value, now)
        for key, value in offsets.items():
            group = loaded.get(key.group)
            if group is None:
                group = loaded[key.group] = GroupMetadata(key.group, current_state_timestamp=now)
            group.offsets[(key.topic, key.partition)] = value
        for group_id, group in loaded.items():
            if self.partition_for(group_id) != partition:
                continue
            self._drop_group(self.groups.get(group_id), NOT_COORDINATOR)
            self.groups[group_id] = group
            for member in group.members.values():
                self._schedule_heartbeat(group, member)
        self.loading_partitions.discard(partition)
        self.owned_partitions.add(partition)
        self.log.info("loaded {count} groups from {topic}-{partition}", count=len(loaded), topic=OFFSETS_TOPIC,
                      partition=partition)

    def _group_from_value(self, group_id, value, now):
        group = GroupMetadata(group_id, protocol_type=value.protocol_type or None, protocol_name=value.protocol,
                              generation_id=value.generation, leader_id=value.leader,
                              current_state_timestamp=value.current_state_timestamp
                              if value.current_state_timestamp >= 0 else now)
        for m in value.members:
            member = MemberMetadata(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                                    m.rebalance_timeout, m.session_timeout, value.protocol_type,
                                    [(value.protocol, m.subscription)], assignment=m.assignment)
            group.members[m.member_id] = member
            if member.is_static:
                group.static_members[member.group_instance_id] = member.member_id
        group.state = STABLE if group.members else EMPTY
        return group

    def unload_partition(self, partition):
        """Forget the groups of ``partition``; parked requests get NOT_COORDINATOR."""
        self.loading_partitions.discard(partition)
        self._loads.pop(partition, None)
        if partition not in self.owned_partitions:
            return
        self.owned_partitions.discard(partition)
        for group_id in [g for g in self.groups if self.partition_for(g) == partition]:
            self._drop_group(self.groups.pop(group_id), NOT_COORDINATOR)
        self.log.info("unloaded {topic}-{partition}", topic=OFFSETS_TOPIC, partition=partition)

    def _drop_group(self, group, error):
        if group is None:
            return
        self._cancel_join_timer(group)
        for member in list(group.members.values()):
            self._cancel_heartbeat(member)
            self._fire_join(member, _join_result(error, member.member_id))
            self._fire_sync(member, _sync_result(error))
        for timer in group.pending_members.values():
            if timer is not None and timer.active():
                timer.cancel()
        group.pending_members.clear()
        group.state = DEAD

    def shutdown(self):
        """Drop every group (cancelling every timer)."""
        for partition in list(self.owned_partitions):
            self.unload_partition(partition)
        self.loading_partitions.clear()
        self._loads.clear()

    # -- timers --------------------------------------------------------------------------

    def _schedule_heartbeat(self, group, member, timeout_ms=None):
        self._cancel_heartbeat(member)
        timeout_ms = member.session_timeout_ms if timeout_ms is None else timeout_ms
        member.heartbeat_timer = self._reactor.callLater(
            timeout_ms / 1000.0, self._on_heartbeat_expired, group, member)

    @staticmethod
    def _cancel_heartbeat(member):
        if member.heartbeat_timer is not None and member.heartbeat_timer.active():
            member.heartbeat_timer.cancel()
        member.heartbeat_timer = None

    def _on_heartbeat_expired(self, group, member):
        member.heartbeat_timer = None
        if group.members.get(member.member_id) is not member or group.is_(DEAD):
            return
        if (member.awaiting_join is not None and not member.is_new) or member.awaiting_sync is not None:
            # A member parked in a rebalance is bounded by the rebalance timeout instead.
            self._schedule_heartbeat(group, member)
            return
        self.log.info("member {member} of group {group} failed its session timeout", member=member.member_id,
                      group=group.group_id)
        self._remove_member_and_update_group(group, member)

    def _on_pending_member_expired(self, group, member_id):
        if group.pending_members.pop(member_id, "gone") == "gone":
            return
        if group.is_(PREPARING_REBALANCE):
            self._try_complete_join(group)

    def _cancel_join_timer(self, group):
        if group.join_timer is not None and group.join_timer.active():
            group.join_timer.cancel()
        group.join_timer = None

    # -- JoinGroup -----------------------------------------------------------------------

    def join_group(self, group_id, member_id, group_instance_id, require_known_member_id, client_id, client_host,
                   rebalance_timeout_ms, session_timeout_ms, protocol_type, protocols):
        """Handle a JoinGroup; fires with the response fields (see :func:`_join_result`).

        :param protocols: ``[(name, metadata bytes)]``.
        :param require_known_member_id: True for JoinGroup v4+ (KIP-394).
        """
        error = self._coordinator_error(group_id)
        if not error and not (self.config.group_min_session_timeout_ms <= session_timeout_ms
                              <= self.config.group_max_session_timeout_ms):
            error = INVALID_SESSION_TIMEOUT
        if error:
            return defer.succeed(_join_result(error, member_id))
        if rebalance_timeout_ms is None or rebalance_timeout_ms < 0:
            rebalance_timeout_ms = session_timeout_ms
        protocols = [(name, bytes(metadata)) for name, metadata in protocols]
        group = self.groups.get(group_id)
        if group is None:
            if member_id:
                return defer.succeed(_join_result(UNKNOWN_MEMBER_ID, member_id))
            group = self.groups[group_id] = GroupMetadata(group_id, current_state_timestamp=self.now_ms())
        elif group.is_(DEAD):
            return defer.succeed(_join_result(COORDINATOR_NOT_AVAILABLE, member_id))
        new_member = not member_id or (member_id in group.pending_members and not group.has(member_id))
        if new_member and len(group.members) >= self.config.group_max_size:
            return defer.succeed(_join_result(GROUP_MAX_SIZE_REACHED, member_id))
        if not group.supports_protocols(protocol_type, [name for name, _ in protocols]):
            return defer.succeed(_join_result(INCONSISTENT_GROUP_PROTOCOL, member_id))
        done = defer.Deferred()
        details = (client_id, client_host, rebalance_timeout_ms, session_timeout_ms, protocol_type, protocols)
        if not member_id:
            new_id = "%s-%s" % (group_instance_id or client_id, uuid.uuid4())
            if group_instance_id is not None:
                old_id = group.static_member_id(group_instance_id)
                if old_id is not None:
                    self._update_static_member(group, old_id, new_id, protocols, done)
                else:
                    self._add_member_and_rebalance(group, new_id, group_instance_id, details, done)
            elif require_known_member_id:
                group.pending_members[new_id] = self._reactor.callLater(
                    session_timeout_ms / 1000.0, self._on_pending_member_expired, group, new_id)
                return defer.succeed(_join_result(MEMBER_ID_REQUIRED, new_id))
            else:
                self._add_member_and_rebalance(group, new_id, None, details, done)
            return done
        if member_id in group.pending_members:
            timer = group.pending_members.get(member_id)
            if timer is not None and timer.active():
                timer.cancel()
            self._add_member_and_rebalance(group, member_id, group_instance_id, details, done)
            return done
        if group.is_static_member_fenced(member_id, group_instance_id):
            return defer.succeed(_join_result(FENCED_INSTANCE_ID, member_id))
        if not group.has(member_id):
            return defer.succeed(_join_result(UNKNOWN_MEMBER_ID, member_id))
        member = group.get(member_id)
        if group.is_(PREPARING_REBALANCE):
            self._update_member_and_rebalance(group, member, protocols, done)
        elif group.is_(COMPLETING_REBALANCE):
            if member.matches(protocols):
                # The member resent its JoinGroup (e.g. after a timeout): answer from the current generation.
                done.callback(self._current_join_result(group, member))
            else:
                self._update_member_and_rebalance(group, member, protocols, done)
        elif group.is_(STABLE):
            if group.is_leader(member_id) or not member.matches(protocols):
                self._update_member_and_rebalance(group, member, protocols, done)
            else:
                done.callback(_join_result(NONE, member_id, group.generation_id, group.protocol_type,
                                           group.protocol_name, group.leader_id))
        else:
            done.callback(_join_result(UNKNOWN_MEMBER_ID, member_id))
        return done

    def _current_join_result(self, group, member):
        members = group.current_member_metadata() if group.is_leader(member.member_id) else ()
        return _join_result(NONE, member.member_id, group.generation_id, group.protocol_type, group.protocol_name,
                            group.leader_id, members)

    def _add_member_and_rebalance(self, group, member_id, group_instance_id, details, done):
        client_id, client_host, rebalance_timeout_ms, session_timeout_ms, protocol_type, protocols = details
        member = MemberMetadata(member_id, group_instance_id, client_id, client_host, rebalance_timeout_ms,
                                session_timeout_ms, protocol_type, protocols, awaiting_join=done, is_new=True)
        if group.is_(PREPARING_REBALANCE) and group.generation_id == 0:
            group.new_member_added = True
        group.add(member)
        # A new member cannot heartbeat until it has joined: bound its parked JoinGroup instead.
        self._schedule_heartbeat(group, member, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance(group, "adding new member %s" % member_id)

    def _update_member_and_rebalance(self, group, member, protocols, done):
        member.protocols = protocols
        self._fire_join(member, _join_result(UNKNOWN_MEMBER_ID, member.member_id))
        member.awaiting_join = done
        self._maybe_prepare_rebalance(group, "updating metadata of member %s" % member.member_id)
        if group.is_(PREPARING_REBALANCE):
            self._try_complete_join(group)

    def _update_static_member(self, group, old_id, new_id, protocols, done):
        current_leader = group.leader_id
        old = group.get(old_id)
        # The old incarnation's parked requests are fenced.
        self._fire_join(old, _join_result(FENCED_INSTANCE_ID, old_id))
        self._fire_sync(old, _sync_result(FENCED_INSTANCE_ID))
        member = group.replace_static_member(old.group_instance_id, old_id, new_id)
        self._schedule_heartbeat(group, member)
        old_protocols = member.protocols
        member.protocols = protocols
        member.awaiting_join = done
        if group.is_(STABLE):
            if group.select_protocol() == group.protocol_name:
                # Same protocol: persist the new member id, keep the assignment, no rebalance. The old
                # leader id is returned so the member does not think it must assign (Kafka does the same).
                stored = self._store_group(group)

                def stored_group(error):
                    if error:
                        group.replace_static_member(member.group_instance_id, new_id, old_id)
                        member.protocols = old_protocols
                        self._fire_join(member, _join_result(error, new_id))
                    else:
                        self._fire_join(member, _join_result(NONE, new_id, group.generation_id, group.protocol_type,
                                                             group.protocol_name, current_leader))
                stored.addCallback(stored_group)
            else:
                self._maybe_prepare_rebalance(group, "static member %s changed protocols" % new_id)
        elif group.is_(COMPLETING_REBALANCE):
            self._prepare_rebalance(group, "static member %s rejoined during CompletingRebalance" % new_id)
        elif group.is_(PREPARING_REBALANCE):
            self._try_complete_join(group)

    def _maybe_prepare_rebalance(self, group, reason):
        if group.can_rebalance():
            self._prepare_rebalance(group, reason)

    def _prepare_rebalance(self, group, reason):
        if group.is_(COMPLETING_REBALANCE):
            self._reset_and_propagate_assignment_error(group, REBALANCE_IN_PROGRESS)
        rebalance_timeout_ms = max((m.rebalance_timeout_ms for m in group.members.values()), default=0)
        self._cancel_join_timer(group)
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
        self._on_complete_join(group)

    def _on_join_expired(self, group):
        group.join_timer = None
        self._on_complete_join(group)

    def _try_complete_join(self, group):
        if group.join_is_initial or not group.is_(PREPARING_REBALANCE):
            return
        if group.all_joined():
            self._cancel_join_timer(group)
            self._on_complete_join(group)

    def _on_complete_join(self, group):
        if not group.is_(PREPARING_REBALANCE):
            return
        for member in group.not_yet_rejoined():
            if not member.is_static:
                self.log.info("member {member} of group {group} did not rejoin in time", member=member.member_id,
                              group=group.group_id)
                self._cancel_heartbeat(member)
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
            self._store_group(group).addErrback(lambda f: self.log.failure("storing empty group failed", f))
            return
        self.log.info("group {group} generation {generation} ({protocol}) with {count} members",
                      group=group.group_id, generation=group.generation_id, protocol=group.protocol_name,
                      count=len(group.members))
        for member in list(group.members.values()):
            self._fire_join(member, self._current_join_result(group, member))
            self._schedule_heartbeat(group, member)
            member.is_new = False

    @staticmethod
    def _fire_join(member, result):
        done, member.awaiting_join = member.awaiting_join, None
        if done is not None and not done.called:
            done.callback(result)

    @staticmethod
    def _fire_sync(member, result):
        done, member.awaiting_sync = member.awaiting_sync, None
        if done is not None and not done.called:
            done.callback(result)

    def _reset_and_propagate_assignment_error(self, group, error):
        for member in group.members.values():
            member.assignment = b""
            self._fire_sync(member, _sync_result(error, group))

    def _remove_member_and_update_group(self, group, member):
        self._fire_join(member, _join_result(UNKNOWN_MEMBER_ID, member.member_id))
        self._fire_sync(member, _sync_result(UNKNOWN_MEMBER_ID))
        self._cancel_heartbeat(member)
        group.remove(member.member_id)
        if group.is_(PREPARING_REBALANCE):
            self._try_complete_join(group)
        elif group.is_(STABLE) or group.is_(COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance(group, "removing member %s" % member.member_id)

    # -- SyncGroup -----------------------------------------------------------------------

    def sync_group(self, group_id, generation_id, member_id, group_instance_id, protocol_type, protocol_name,
                   assignments):
        """Handle a SyncGroup; fires with ``{error_code, assignment, protocol_type, protocol_name}``.

        :param assignments: ``{member_id: bytes}`` (only the leader sends any).
        """
        error = self._coordinator_error(group_id)
        group = self.groups.get(group_id)
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
            return defer.succeed(_sync_result(error))
        member = group.get(member_id)
        if group.is_(STABLE):
            self._schedule_heartbeat(group, member)
            return defer.succeed(_sync_result(NONE, group, member.assignment))
        done = defer.Deferred()
        self._fire_sync(member, _sync_result(REBALANCE_IN_PROGRESS, group))
        member.awaiting_sync = done
        self._schedule_heartbeat(group, member)
        if group.is_leader(member_id):
            full = {m: bytes(assignments.get(m, b"")) for m in group.members}
            generation = group.generation_id
            for m, assignment in full.items():
                group.members[m].assignment = assignment
            stored = self._store_group(group)

            def stored_group(error):
                if not group.is_(COMPLETING_REBALANCE) or group.generation_id != generation:
                    return
                if error:
                    self._reset_and_propagate_assignment_error(group, error)
                    self._maybe_prepare_rebalance(group, "storing the assignment failed")
                    return
                group.transition_to(STABLE, self.now_ms())
                for m in group.members.values():
                    self._fire_sync(m, _sync_result(NONE, group, m.assignment))
            stored.addCallback(stored_group)
            stored.addErrback(lambda f: self.log.failure("storing the group assignment failed", f))
        return done

    # -- Heartbeat / LeaveGroup ----------------------------------------------------------

    def heartbeat(self, group_id, member_id, group_instance_id, generation_id):
        """Handle a Heartbeat; returns the error code."""
        error = self._coordinator_error(group_id)
        if error:
            return error
        group = self.groups.get(group_id)
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
        self._schedule_heartbeat(group, group.get(member_id))
        return REBALANCE_IN_PROGRESS if group.is_(PREPARING_REBALANCE) else NONE

    def leave_group(self, group_id, members):
        """Handle a LeaveGroup of ``members`` (``[(member_id, group_instance_id)]``).

        :returns: ``(error_code, [error code per member])``.
        """
        error = self._coordinator_error(group_id)
        if error:
            return error, [error] * len(members)
        group = self.groups.get(group_id)
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
                timer = group.pending_members.pop(member_id)
                if timer is not None and timer.active():
                    timer.cancel()
                if group.is_(PREPARING_REBALANCE):
                    self._try_complete_join(group)
                results.append(NONE)
                continue
            if not group.has(member_id):
                results.append(UNKNOWN_MEMBER_ID)
                continue
            self.log.info("member {member} leaves group {group}", member=member_id, group=group_id)
            self._remove_member_and_update_group(group, group.get(member_id))
            results.append(NONE)
        return NONE, results

    # -- persistence ---------------------------------------------------------------------

    def _write(self, group_id, records):
        """Append ``records`` to the group's partition; fires with a coordinator error code."""
        def failed(failure):
            failure.trap(errors.KafkaError)
            return failure.value.code
        d = defer.maybeDeferred(self._append, self.partition_for(group_id), records)
        return d.addErrback(failed).addCallback(lambda code: _APPEND_ERRORS.get(code, code))

    def _store_group(self, group):
        value = codec.GroupMetadataValue(
            group.protocol_type or "", group.generation_id, group.protocol_name, group.leader_id,
            group.current_state_timestamp,
            tuple(codec.MemberValue(m.member_id, m.client_id, m.client_host, m.rebalance_timeout_ms,
                                    m.session_timeout_ms, m.metadata(group.protocol_name) if group.protocol_name
                                    else b"", m.assignment, m.group_instance_id)
                  for m in group.members.values()))
        records = [(codec.encode_group_metadata_key(group.group_id), codec.encode_group_metadata_value(value))]
        return self._write(group.group_id, records).addCallback(
            lambda code: UNKNOWN_SERVER_ERROR if code == INVALID_COMMIT_OFFSET_SIZE else code)

    # -- offsets -------------------------------------------------------------------------

    def commit_offsets(self, group_id, member_id, group_instance_id, generation_id, offsets, retention_ms=-1):
        """Handle an OffsetCommit (v1+); fires with ``{(topic, partition): error code}``.

        :param offsets: ``{(topic, partition): (offset, leader_epoch, metadata)}``.
        :param retention_ms: OffsetCommit v2–v4's retention time; -1 for the broker default.
        """
        def everywhere(code):
            return defer.succeed(dict.fromkeys(offsets, code))

        error = self._coordinator_error(group_id)
        if error:
            return everywhere(error)
        group = self.groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                return everywhere(ILLEGAL_GENERATION)
            group = self.groups[group_id] = GroupMetadata(group_id, current_state_timestamp=self.now_ms())
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
            self._schedule_heartbeat(group, group.get(member_id))
        now = self.now_ms()
        expire = now + retention_ms if retention_ms is not None and retention_ms >= 0 else None
        results = {}
        values = {}
        for key, (offset, leader_epoch, metadata) in offsets.items():
            metadata = metadata or ""
            if len(metadata.encode("utf-8")) > self.config.offset_metadata_max_bytes:
                results[key] = OFFSET_METADATA_TOO_LARGE
                continue
            values[key] = codec.OffsetValue(offset, metadata, now, leader_epoch, expire)
        if not values:
            return defer.succeed(results)
        records = [(codec.encode_offset_key(group_id, topic, partition), codec.encode_offset_value(value))
                   for (topic, partition), value in values.items()]

        def written(code):
            if not code and self.groups.get(group_id) is group:
                group.offsets.update(values)
            for key in values:
                results[key] = code
            return results
        return self._write(group_id, records).addCallback(written)

    def fetch_offsets(self, group_id, partitions=None):
        """Handle an OffsetFetch (v1+).

        :param partitions: ``[(topic, partition)]``, or None for every partition the group committed.
        :returns: ``(error_code, [(topic, partition, OffsetValue or None)])``.
        """
        error = self._coordinator_error(group_id)
        if error:
            return error, []
        group = self.groups.get(group_id)
        stored = group.offsets if group is not None else {}
        if partitions is None:
            return NONE, [(t, p, v) for (t, p), v in sorted(stored.items())]
        return NONE, [(t, p, stored.get((t, p))) for t, p in partitions]

    def delete_offsets(self, group_id, partitions):
        """Handle an OffsetDelete; fires with ``(error_code, {(topic, partition): error code})``."""
        error = self._coordinator_error(group_id)
        if error:
            return defer.succeed((error, {}))
        group = self.groups.get(group_id)
        if group is None or group.is_(DEAD):
            return defer.succeed((GROUP_ID_NOT_FOUND, {}))
        results = {}
        if group.is_(EMPTY):
            subscribed = set()
        elif group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            subscribed = group.subscribed_topics() or set()
        else:
            return defer.succeed((NON_EMPTY_GROUP, {}))
        deletable = []
        for topic, partition in partitions:
            if topic in subscribed:
                results[(topic, partition)] = GROUP_SUBSCRIBED_TO_TOPIC
            else:
                results[(topic, partition)] = NONE
                if group.offsets.pop((topic, partition), None) is not None:
                    deletable.append((topic, partition))
        if not deletable:
            return defer.succeed((NONE, results))
        records = [(codec.encode_offset_key(group_id, t, p), None) for t, p in deletable]
        return self._write(group_id, records).addCallback(lambda code: (NONE, results))

    # -- admin ---------------------------------------------------------------------------

    def describe_group(self, group_id):
        """Handle one group of DescribeGroups; returns the response entry fields."""
        entry = {"error_code": NONE, "group_id": group_id, "group_state": DEAD, "protocol_type": "",
                 "protocol_data": "", "members": []}
        error = self._coordinator_error(group_id)
        if error:
            entry["error_code"] = error
            return entry
        group = self.groups.get(group_id)
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
        error = COORDINATOR_LOAD_IN_PROGRESS if self.loading_partitions else NONE
        wanted = {s.lower() for s in states} if states else None
        groups = [(g.group_id, g.protocol_type or "", g.state) for g in self.groups.values()
                  if not g.is_(DEAD) and (wanted is None or g.state.lower() in wanted)]
        return error, sorted(groups)

    def delete_groups(self, group_ids):
        """Handle DeleteGroups; fires with ``{group_id: error code}``."""
        results = {}
        writes = []
        for group_id in group_ids:
            error = self._coordinator_error(group_id)
            group = self.groups.get(group_id)
            if not error:
                if group is None or group.is_(DEAD):
                    error = GROUP_ID_NOT_FOUND
                elif not group.is_(EMPTY):
                    error = NON_EMPTY_GROUP
            results[group_id] = error
            if error:
                continue
            self._drop_group(self.groups.pop(group_id), NOT_COORDINATOR)
            writes.append(self._write(group_id, self._tombstones(group)))
        if not writes:
            return defer.succeed(results)
        return defer.gatherResults(writes).addCallback(lambda _: results)

    @staticmethod
    def _tombstones(group, offsets=None):
        keys = group.offsets if offsets is None else offsets
        records = [(codec.encode_offset_key(group.group_id, t, p), None) for t, p in keys]
        if offsets is None:
            records.append((codec.encode_group_metadata_key(group.group_id), None))
        return records

    # -- expiry and lag ------------------------------------------------------------------

    def expire_offsets(self):
        """Remove expired offsets (and groups left empty with none); fires once tombstones are written.

        An Empty group's offsets expire ``offsets.retention.minutes`` after it became empty
        (after their commit when the group never had members), or at their explicit expire
        timestamp. A Stable consumer group's offsets of topics it no longer subscribes to
        expire that long after their commit.
        """
        now = self.now_ms()
        retention = self.config.offsets_retention_minutes * 60 * 1000
        writes = []
        for group_id, group in list(self.groups.items()):
            if self._coordinator_error(group_id):
                continue
            expired = []
            if group.is_(EMPTY):
                for key, value in group.offsets.items():
                    if value.expire_timestamp is not None:
                        if now >= value.expire_timestamp:
                            expired.append(key)
                        continue
                    base = group.current_state_timestamp if group.protocol_type else value.commit_timestamp
                    if now - base >= retention:
                        expired.append(key)
            elif group.is_(STABLE) and group.protocol_type == CONSUMER_PROTOCOL_TYPE:
                subscribed = group.subscribed_topics()
                if subscribed is not None:
                    expired = [key for key, value in group.offsets.items()
                               if key[0] not in subscribed and now - value.commit_timestamp >= retention]
            for key in expired:
                del group.offsets[key]
            records = self._tombstones(group, expired) if expired else []
            if group.is_(EMPTY) and not group.offsets:
                self._drop_group(self.groups.pop(group_id), NOT_COORDINATOR)
                records.append((codec.encode_group_metadata_key(group_id), None))
            if records:
                self.log.info("expired {count} offsets of group {group}", count=len(expired), group=group_id)
                writes.append(self._write(group_id, records))
        if not writes:
            return defer.succeed([])
        # A periodic task: a failure is logged, never allowed to stop the loop that calls this.
        return defer.gatherResults(writes, consumeErrors=True).addErrback(
            lambda f: self.log.failure("writing expired offsets' tombstones failed", f))

    def handle_deleted_partitions(self, partitions):
        """Forget offsets of deleted topic-partitions (UpdateMetadata reported them deleted).

        Fires once their tombstones are written; groups left Empty without offsets go too.
        """
        deleted = set(partitions)
        writes = []
        for group_id, group in list(self.groups.items()):
            if self._coordinator_error(group_id):
                continue
            gone = [key for key in group.offsets if key in deleted]
            for key in gone:
                del group.offsets[key]
            records = self._tombstones(group, gone) if gone else []
            if gone and group.is_(EMPTY) and not group.offsets:
                self._drop_group(self.groups.pop(group_id), NOT_COORDINATOR)
                records.append((codec.encode_group_metadata_key(group_id), None))
            if records:
                writes.append(self._write(group_id, records))
        return defer.gatherResults(writes) if writes else defer.succeed([])

    def group_lag(self, group_id=None):
        """Committed offset, log end offset and lag per partition of ``group_id`` (all groups if None).

        The log end offset is what a consumer can reach (the high watermark), from ``end_offset``;
        it is None when this broker does not lead the partition.
        """
        entries = []
        for group in sorted(self.groups.values(), key=lambda g: g.group_id):
            if group_id is not None and group.group_id != group_id:
                continue
            for (topic, partition), value in sorted(group.offsets.items()):
                end = self._end_offset(topic, partition) if self._end_offset is not None else None
                lag = max(end - value.offset, 0) if end is not None else None
                entries.append(LagEntry(group.group_id, topic, partition, value.offset, end, lag))
        return entries
