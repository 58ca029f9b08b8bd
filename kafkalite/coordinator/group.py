"""A consumer group's state: members, protocols, generation, leader, committed offsets.

Kafka's ``GroupMetadata``, ``MemberMetadata`` and ``OffsetAndMetadata``: the states and
the transitions allowed between them are fixed in one table (``VALID_PREVIOUS_STATES``);
the group coordinator drives the transitions, the group metadata manager stores and
expires the offsets. Nothing here touches time, the network or the log (the timer
fields only hold what the coordinator scheduled).

States:

- ``Empty``: no members; offsets may remain (they expire after ``offsets.retention.minutes``).
- ``PreparingRebalance``: waiting for every member to (re)join.
- ``CompletingRebalance``: joined; waiting for the leader's assignment in SyncGroup.
- ``Stable``: assignment handed out; members heartbeat.
- ``Dead``: removed (deleted, expired, or its partition moved away).
"""

from collections import Counter
from dataclasses import dataclass, field

from kafkalite.protocol.errors import CorruptMessageError
from kafkalite.protocol.offsets_topic import CONSUMER_PROTOCOL_SUBSCRIPTION

__all__ = [
    "EMPTY", "PREPARING_REBALANCE", "COMPLETING_REBALANCE", "STABLE", "DEAD", "CONSUMER_PROTOCOL_TYPE",
    "GroupMetadata", "MemberMetadata", "OffsetAndMetadata", "IllegalStateTransition", "subscription_topics",
]

EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"

#: state → the states it may be entered from (Kafka's GroupState.validPreviousStates).
VALID_PREVIOUS_STATES = {
    DEAD: {STABLE, PREPARING_REBALANCE, COMPLETING_REBALANCE, EMPTY, DEAD},
    COMPLETING_REBALANCE: {PREPARING_REBALANCE},
    STABLE: {COMPLETING_REBALANCE},
    PREPARING_REBALANCE: {STABLE, COMPLETING_REBALANCE, EMPTY},
    EMPTY: {PREPARING_REBALANCE},
}

CONSUMER_PROTOCOL_TYPE = "consumer"


class IllegalStateTransition(Exception):
    """A transition the state table does not allow: a coordinator bug."""


@dataclass(frozen=True)
class OffsetAndMetadata:
    """A committed offset as the coordinator keeps it.

    :ivar leader_epoch: the epoch the consumer saw at ``offset`` (-1 if unknown).
    :ivar expire_timestamp: only set by OffsetCommit v2–v4 with an explicit retention time.
    """

    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp: int = -1
    expire_timestamp: int | None = None


def subscription_topics(metadata):
    """Topics named in a consumer-protocol subscription, or None if ``metadata`` does not parse."""
    try:
        _, subscription = CONSUMER_PROTOCOL_SUBSCRIPTION.decode(metadata)
    except CorruptMessageError:
        return None
    return set(subscription["topics"])


@dataclass(eq=False)
class MemberMetadata:
    """One member of a group.

    :ivar protocols: ``[(name, metadata bytes)]`` in the member's order of preference.
    :ivar awaiting_join: the Deferred of its parked JoinGroup, if any.
    :ivar awaiting_sync: the Deferred of its parked SyncGroup, if any.
    """

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list
    assignment: bytes = b""
    awaiting_join: object = None
    awaiting_sync: object = None
    is_new: bool = False
    heartbeat_timer: object = None

    @property
    def is_static(self):
        return self.group_instance_id is not None

    def protocol_names(self):
        return [name for name, _ in self.protocols]

    def metadata(self, protocol):
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        raise KeyError(protocol)

    def matches(self, protocols):
        return list(protocols) == list(self.protocols)

    def vote(self, candidates):
        """The first of this member's protocols that every member supports."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise ValueError("member %s supports none of %s" % (self.member_id, candidates))


@dataclass(eq=False)
class GroupMetadata:
    """The coordinator's view of one group.

    :ivar offsets: ``{(topic, partition): OffsetAndMetadata}`` committed offsets.
    :ivar pending_members: member ids handed out by MEMBER_ID_REQUIRED, not yet joined.
    :ivar current_state_timestamp: ms of the last state change (for offset expiry).
    """

    group_id: str
    state: str = EMPTY
    current_state_timestamp: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    generation_id: int = 0
    leader_id: str | None = None
    members: dict = field(default_factory=dict)
    static_members: dict = field(default_factory=dict)
    pending_members: dict = field(default_factory=dict)
    offsets: dict = field(default_factory=dict)
    new_member_added: bool = False
    join_timer: object = None
    #: True while the join timer is Kafka's InitialDelayedJoin (it never completes early).
    join_is_initial: bool = False
    #: remaining rebalance time for the initial delayed join (Kafka's InitialDelayedJoin).
    initial_delay_remaining_ms: int = 0

    # -- state ---------------------------------------------------------------------------

    def is_(self, state):
        return self.state == state

    def transition_to(self, state, now_ms):
        """Move to ``state``; raises :class:`IllegalStateTransition` if the table forbids it."""
        if self.state not in VALID_PREVIOUS_STATES[state]:
            raise IllegalStateTransition("group %s: %s -> %s" % (self.group_id, self.state, state))
        self.state = state
        self.current_state_timestamp = now_ms

    def can_rebalance(self):
        return self.state in VALID_PREVIOUS_STATES[PREPARING_REBALANCE]

    # -- members -------------------------------------------------------------------------

    def has(self, member_id):
        return member_id in self.members

    def get(self, member_id):
        return self.members[member_id]

    def is_leader(self, member_id):
        return self.leader_id == member_id

    def add(self, member):
        """Add ``member``; the first member becomes leader and fixes the protocol type."""
        if not self.members:
            self.protocol_type = member.protocol_type
        self.members[member.member_id] = member
        if member.is_static:
            self.static_members[member.group_instance_id] = member.member_id
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.pending_members.pop(member.member_id, None)

    def remove(self, member_id):
        """Remove a member; a leaving leader hands leadership to any remaining member."""
        member = self.members.pop(member_id, None)
        if member is not None and member.is_static:
            if self.static_members.get(member.group_instance_id) == member_id:
                del self.static_members[member.group_instance_id]
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        return member

    def static_member_id(self, group_instance_id):
        return self.static_members.get(group_instance_id)

    def replace_static_member(self, group_instance_id, old_member_id, new_member_id):
        """Give a known static member a new member id (KIP-345); returns the member."""
        member = self.members.pop(old_member_id)
        member.member_id = new_member_id
        self.members[new_member_id] = member
        self.static_members[group_instance_id] = new_member_id
        if self.leader_id == old_member_id:
            self.leader_id = new_member_id
        return member

    def is_static_member_fenced(self, member_id, group_instance_id):
        """True if ``group_instance_id`` belongs to another member id (FENCED_INSTANCE_ID)."""
        if group_instance_id is None:
            return False
        known = self.static_members.get(group_instance_id)
        return known is not None and known != member_id

    def all_joined(self):
        """Every member has a parked JoinGroup and no MEMBER_ID_REQUIRED member is outstanding."""
        return not self.pending_members and all(m.awaiting_join is not None for m in self.members.values())

    def not_yet_rejoined(self):
        return [m for m in self.members.values() if m.awaiting_join is None]

    # -- protocols -----------------------------------------------------------------------

    def supports_protocols(self, protocol_type, protocol_names):
        """Kafka's ``supportsProtocols``: an empty group takes anything non-empty."""
        if not self.members:
            return bool(protocol_type) and bool(protocol_names)
        return protocol_type == self.protocol_type and bool(self.candidate_protocols() & set(protocol_names))

    def candidate_protocols(self):
        members = list(self.members.values())
        if not members:
            return set()
        common = set(members[0].protocol_names())
        for member in members[1:]:
            common &= set(member.protocol_names())
        return common

    def select_protocol(self):
        """The protocol most members prefer among those all support (ties: first member's order)."""
        candidates = self.candidate_protocols()
        members = list(self.members.values())
        votes = Counter(member.vote(candidates) for member in members)
        best = max(votes.values())
        for name in members[0].protocol_names():
            if votes.get(name) == best:
                return name
        raise AssertionError("no protocol selected")

    def init_next_generation(self, now_ms):
        """Bump the generation: CompletingRebalance with members, else Empty."""
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.transition_to(COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.transition_to(EMPTY, now_ms)

    def current_member_metadata(self):
        """``[(member_id, group_instance_id, metadata)]`` for the leader's JoinGroup response."""
        return [(m.member_id, m.group_instance_id, m.metadata(self.protocol_name)) for m in self.members.values()]

    def subscribed_topics(self):
        """Topics the members subscribe to (consumer protocol only), or None if unknown."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE or self.protocol_name is None or not self.members:
            return None
        topics = set()
        for member in self.members.values():
            parsed = subscription_topics(member.metadata(self.protocol_name))
            if parsed is None:
                return None
            topics |= parsed
        return topics

    # -- offsets -------------------------------------------------------------------------

    def remove_offsets(self, partitions):
        """Forget the offsets of ``partitions``; returns the keys that had one."""
        return [key for key in partitions if self.offsets.pop(key, None) is not None]

    def remove_all_offsets(self):
        return self.remove_offsets(list(self.offsets))

    def remove_expired_offsets(self, now_ms, retention_ms):
        """Forget the offsets whose retention has passed; returns their keys.

        An Empty group's offsets expire ``retention_ms`` after it became empty (after their
        commit when the group never had members), or at their explicit expire timestamp.
        A Stable consumer group's offsets of topics it no longer subscribes to expire that
        long after their commit. Other states keep their offsets.
        """
        expired = []
        if self.is_(EMPTY):
            for key, value in self.offsets.items():
                if value.expire_timestamp is not None:
                    if now_ms >= value.expire_timestamp:
                        expired.append(key)
                    continue
                base = self.current_state_timestamp if self.protocol_type else value.commit_timestamp
                if now_ms - base >= retention_ms:
                    expired.append(key)
        elif self.is_(STABLE) and self.protocol_type == CONSUMER_PROTOCOL_TYPE:
            subscribed = self.subscribed_topics()
            if subscribed is not None:
                expired = [key for key, value in self.offsets.items()
                           if key[0] not in subscribed and now_ms - value.commit_timestamp >= retention_ms]
        return self.remove_offsets(expired)
