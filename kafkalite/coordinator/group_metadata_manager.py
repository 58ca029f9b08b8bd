"""GroupMetadataManager: the offset and group store on ``__consumer_offsets`` (Kafka's ``GroupMetadataManager``).

Owns the groups this broker coordinates (the cache of :class:`GroupMetadata`) and
their persistence, and nothing of the membership protocol:

- which ``__consumer_offsets`` partitions are owned or loading, and which partition a
  group lives in (:func:`partition_for_group`);
- loading a partition when this broker becomes its leader: it reads the local log and
  decodes its batches itself, a chunk of records per reactor turn (requests about its
  groups get COORDINATOR_LOAD_IN_PROGRESS meanwhile), and retries a failed load;
  unloading a partition when this broker stops leading it;
- storing group metadata (after each rebalance) and offset commits as one batch
  appended with acks=all, the append's error mapped onto the coordinator's errors;
- offset fetch, periodic offset expiry, offset deletion and the offsets of deleted
  partitions (tombstones), consumer lag;
- the records' contents (:func:`offset_commit_value`, :func:`read_group_value`, …), as
  Kafka's ``GroupMetadataManager`` object does; their layouts are declared in
  :mod:`kafkalite.protocol.offsets_topic`.

The membership side (:class:`~kafkalite.coordinator.group_coordinator.GroupCoordinator`)
is told of loaded and unloaded groups through callbacks, as Kafka's is. ``broker.py``
passes the store its collaborators; see :class:`GroupMetadataManager`.
"""

from dataclasses import dataclass

from twisted.internet import defer, task
from twisted.logger import Logger

from kafkalite.coordinator.group import DEAD, EMPTY, STABLE, GroupMetadata, MemberMetadata, OffsetAndMetadata
from kafkalite.protocol import errors
from kafkalite.protocol.offsets_topic import (
    GROUP_METADATA_KEY,
    GROUP_METADATA_VALUE,
    OFFSET_COMMIT_KEY,
    OFFSET_COMMIT_VALUE,
    decode_key,
)
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches

__all__ = [
    "OFFSETS_TOPIC", "GroupMetadataManager", "LagEntry", "group_metadata_key", "group_metadata_value",
    "java_string_hash", "offset_commit_key", "offset_commit_value", "partition_for_group", "read_group_value",
    "read_offset_value",
]

OFFSETS_TOPIC = "__consumer_offsets"
#: Records applied per reactor turn while loading a partition, so a long log does not stall the broker.
LOAD_RECORDS_PER_TURN = 2000
#: Bytes read from the log at a time while loading (Kafka's offsets.load.buffer.size, smaller: one reactor turn).
LOAD_BUFFER_BYTES = 1 << 20
#: Delay before a failed partition load is tried again (the partition answers LOAD_IN_PROGRESS meanwhile).
LOAD_RETRY_SECONDS = 1.0

NONE = 0
OFFSET_METADATA_TOO_LARGE = errors.OffsetMetadataTooLargeError.code
COORDINATOR_NOT_AVAILABLE = errors.CoordinatorNotAvailableError.code
NOT_COORDINATOR = errors.NotCoordinatorError.code
INVALID_COMMIT_OFFSET_SIZE = errors.InvalidCommitOffsetSizeError.code
UNKNOWN_SERVER_ERROR = errors.UnknownServerError.code

# How a failed append to __consumer_offsets becomes a coordinator error. Kafka 2.8 answers a
# timed-out append with REQUEST_TIMED_OUT (offsets) or REBALANCE_IN_PROGRESS (group metadata);
# we send the client to find its coordinator again, as a lost leadership would.
_APPEND_ERRORS = {
    errors.UnknownTopicOrPartitionError.code: COORDINATOR_NOT_AVAILABLE,
    errors.NotEnoughReplicasError.code: COORDINATOR_NOT_AVAILABLE,
    errors.NotEnoughReplicasAfterAppendError.code: COORDINATOR_NOT_AVAILABLE,
    errors.RequestTimedOutError.code: COORDINATOR_NOT_AVAILABLE,
    errors.NotLeaderOrFollowerError.code: NOT_COORDINATOR,
    errors.KafkaStorageError.code: NOT_COORDINATOR,
    errors.MessageTooLargeError.code: INVALID_COMMIT_OFFSET_SIZE,
    errors.RecordListTooLargeError.code: INVALID_COMMIT_OFFSET_SIZE,
}

# Versions written: Kafka 2.8's with inter.broker.protocol.version 2.3 or later.
OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_WITH_EXPIRY_VERSION = 1
GROUP_METADATA_VALUE_VERSION = 3


def java_string_hash(text):
    """Java's ``String.hashCode`` over UTF-16 code units, as a signed 32-bit int."""
    value = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        value = (31 * value + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def partition_for_group(group_id, num_partitions):
    """The ``__consumer_offsets`` partition of ``group_id``: Kafka's ``Utils.abs(hash) % n``.

    ``Utils.abs`` is ``Math.abs`` except that it maps Integer.MIN_VALUE to 0.
    """
    value = java_string_hash(group_id)
    return (0 if value == -(1 << 31) else abs(value)) % num_partitions


# -- the records' contents ---------------------------------------------------------------


def offset_commit_key(group_id, topic, partition):
    return OFFSET_COMMIT_KEY.encode({"group": group_id, "topic": topic, "partition": partition},
                                    OFFSET_COMMIT_KEY_VERSION)


def group_metadata_key(group_id):
    return GROUP_METADATA_KEY.encode({"group": group_id}, GROUP_METADATA_KEY_VERSION)


def offset_commit_value(offset):
    """An :class:`OffsetAndMetadata` as value v3, or v1 when it carries an expire timestamp (as Kafka 2.8)."""
    has_expiry = offset.expire_timestamp is not None
    return OFFSET_COMMIT_VALUE.encode({
        "offset": offset.offset, "leader_epoch": offset.leader_epoch, "metadata": offset.metadata,
        "commit_timestamp": offset.commit_timestamp,
        "expire_timestamp": offset.expire_timestamp if has_expiry else -1,
    }, OFFSET_COMMIT_VALUE_WITH_EXPIRY_VERSION if has_expiry else OFFSET_COMMIT_VALUE_VERSION)


def read_offset_value(data):
    """An offset-commit value of any version as an :class:`OffsetAndMetadata`."""
    version, value = OFFSET_COMMIT_VALUE.decode(data)
    return OffsetAndMetadata(value["offset"], value["leader_epoch"], value["metadata"], value["commit_timestamp"],
                             value["expire_timestamp"] if version == 1 else None)


def group_metadata_value(group):
    """A group's generation, protocol, leader and members (with assignments) as value v3."""
    protocol = group.protocol_name
    return GROUP_METADATA_VALUE.encode({
        "protocol_type": group.protocol_type or "", "generation": group.generation_id, "protocol": protocol,
        "leader": group.leader_id, "current_state_timestamp": group.current_state_timestamp,
        "members": [{
            "member_id": m.member_id, "group_instance_id": m.group_instance_id, "client_id": m.client_id,
            "client_host": m.client_host, "rebalance_timeout": m.rebalance_timeout_ms,
            "session_timeout": m.session_timeout_ms, "subscription": m.metadata(protocol) if protocol else b"",
            "assignment": m.assignment,
        } for m in group.members.values()],
    }, GROUP_METADATA_VALUE_VERSION)


def read_group_value(group_id, data, now_ms):
    """A group-metadata value of any version as a :class:`GroupMetadata`: Stable with members, else Empty."""
    version, value = GROUP_METADATA_VALUE.decode(data)
    protocol_type, protocol = value["protocol_type"], value["protocol"]
    timestamp = value["current_state_timestamp"]
    group = GroupMetadata(group_id, protocol_type=protocol_type or None, protocol_name=protocol,
                          generation_id=value["generation"], leader_id=value["leader"],
                          current_state_timestamp=timestamp if timestamp >= 0 else now_ms)
    for m in value["members"]:
        # v0 had no rebalance timeout: the session timeout was both.
        rebalance_timeout = m["rebalance_timeout"] if version >= 1 else m["session_timeout"]
        member = MemberMetadata(m["member_id"], m["group_instance_id"], m["client_id"], m["client_host"],
                                rebalance_timeout, m["session_timeout"], protocol_type,
                                [(protocol, m["subscription"])], assignment=m["assignment"])
        group.members[member.member_id] = member
        if member.is_static:
            group.static_members[member.group_instance_id] = member.member_id
    group.state = STABLE if group.members else EMPTY
    return group


@dataclass(frozen=True)
class LagEntry:
    """Lag of one group on one partition; ``log_end_offset``/``lag`` are None when unknown here."""

    group: str
    topic: str
    partition: int
    committed_offset: int
    log_end_offset: int | None
    lag: int | None


class GroupMetadataManager:
    """The groups of the ``__consumer_offsets`` partitions this broker leads, and their offsets.

    :param reactor: ``IReactorTime`` for loading turns, retries, expiry and timestamps.
    :param config: an :class:`~kafkalite.coordinator.config.OffsetConfig`.
    :param offsets_log: ``offsets_log(partition)`` → the local :class:`kafkalite.log.log.Log` of
        ``__consumer_offsets``-``partition``, or None when this broker has none.
    :param append: ``append(partition, batch)`` appending one record batch (a bytearray) to
        ``__consumer_offsets``-``partition`` with acks=all; returns an error code or a Deferred
        firing with one (it may also raise or fail with a :class:`KafkaError`).
    :param high_watermark: optional ``high_watermark(topic, partition)`` → the high watermark of a
        partition this broker leads, or None, for consumer lag.
    """

    log = Logger()

    def __init__(self, reactor, config, offsets_log, append, high_watermark=None):
        self._reactor = reactor
        self.config = config
        self._offsets_log = offsets_log
        self._append = append
        self._high_watermark = high_watermark
        self._groups = {}
        #: offsets committed (written) through this coordinator, for the commit rate metric.
        self.offset_commits = 0
        self.owned_partitions = set()
        self.loading_partitions = set()
        #: partition → token of the load in progress (a newer load or an unload invalidates it).
        self._loads = {}
        self._expiry = None

    def now_ms(self):
        return int(self._reactor.seconds() * 1000)

    # -- lifecycle -----------------------------------------------------------------------

    def startup(self):
        """Start expiring offsets every ``offsets.retention.check.interval.ms``."""
        self._expiry = task.LoopingCall(self.expire_offsets)
        self._expiry.clock = self._reactor
        self._expiry.start(self.config.offsets_retention_check_interval_ms / 1000.0, now=False).addErrback(
            lambda f: self.log.failure("offset expiry stopped", f))

    def shutdown(self, on_group_unloaded):
        """Stop expiry and unload every partition (``on_group_unloaded(group)`` for each group)."""
        if self._expiry is not None and self._expiry.running:
            self._expiry.stop()
        for partition in list(self.owned_partitions):
            self.remove_groups_for_partition(partition, on_group_unloaded)
        self.loading_partitions.clear()
        self._loads.clear()

    # -- ownership and the cache ---------------------------------------------------------

    def partition_for(self, group_id):
        return partition_for_group(group_id, self.config.offsets_topic_num_partitions)

    def is_group_local(self, group_id):
        return self.partition_for(group_id) in self.owned_partitions

    def is_group_loading(self, group_id):
        return self.partition_for(group_id) in self.loading_partitions

    def is_loading(self):
        return bool(self.loading_partitions)

    def get_group(self, group_id):
        """The cached group, or None."""
        return self._groups.get(group_id)

    def add_group(self, group):
        """Cache ``group`` unless one of its id is cached already; returns the cached one."""
        return self._groups.setdefault(group.group_id, group)

    def current_groups(self):
        return list(self._groups.values())

    # -- loading and unloading -----------------------------------------------------------

    def schedule_load_group_and_offsets(self, partition, on_group_loaded):
        """Load ``partition``'s groups and offsets from the next reactor turn on.

        ``on_group_loaded(group)`` is called for each group put in the cache.
        """
        if partition in self.owned_partitions or partition in self.loading_partitions:
            return
        self.loading_partitions.add(partition)
        self._reactor.callLater(0, self._load, partition, on_group_loaded)

    def _load(self, partition, on_group_loaded):
        if partition not in self.loading_partitions:
            return  # unloaded again before the load ran
        token = object()
        self._loads[partition] = token
        self._load_some(partition, token, on_group_loaded, {}, {}, self._records_of(partition))

    def _records_of(self, partition):
        """Every data record's ``(key, value)`` of the local log of ``partition``, in offset order.

        The log's end is taken when the load starts, as Kafka does: nothing appends to a
        partition while its groups are loading.
        """
        log = self._offsets_log(partition)
        if log is None:
            raise errors.NotLeaderOrFollowerError("no local log of %s-%d" % (OFFSETS_TOPIC, partition))
        offset, end = log.log_start_offset, log.log_end_offset
        while offset < end:
            info = log.read(offset, LOAD_BUFFER_BYTES)
            batches = decode_batches(info.records.read()) if info.records is not None else ()
            if not batches:
                break
            for header, records in batches:
                if not header.is_control:  # control batches (transaction markers) carry no group data
                    for record in records:
                        yield record.key, record.value
                offset = header.next_offset

    def _load_some(self, partition, token, on_group_loaded, offsets, metadata, records):
        """Apply up to LOAD_RECORDS_PER_TURN records, then yield the reactor and continue."""
        if self._loads.get(partition) is not token:
            return  # unloaded, or a newer load of the same partition took over
        try:
            for _ in range(LOAD_RECORDS_PER_TURN):
                entry = next(records, None)
                if entry is None:
                    break
                key_bytes, value_bytes = entry
                decoded = decode_key(key_bytes) if key_bytes is not None else None
                if decoded is None:
                    continue
                schema, key = decoded
                if schema is OFFSET_COMMIT_KEY:
                    offset_key = (key["group"], key["topic"], key["partition"])
                    if value_bytes is None:
                        offsets.pop(offset_key, None)
                    else:
                        offsets[offset_key] = read_offset_value(value_bytes)
                else:
                    metadata[key["group"]] = value_bytes
            else:
                self._reactor.callLater(0, self._load_some, partition, token, on_group_loaded, offsets, metadata,
                                        records)
                return
            loaded = self._groups_from_records(partition, offsets, metadata)
        except Exception:  # noqa: BLE001 -- any failure (corrupt data, a segment swapped away) is retried
            self.log.failure("loading {topic}-{partition} failed; retrying in {delay} s", topic=OFFSETS_TOPIC,
                             partition=partition, delay=LOAD_RETRY_SECONDS)
            del self._loads[partition]
            self._reactor.callLater(LOAD_RETRY_SECONDS, self._load, partition, on_group_loaded)
            return
        del self._loads[partition]
        for group in loaded:
            if self.add_group(group) is group:
                on_group_loaded(group)
        self.loading_partitions.discard(partition)
        self.owned_partitions.add(partition)
        self.log.info("loaded {count} groups from {topic}-{partition}", count=len(loaded), topic=OFFSETS_TOPIC,
                      partition=partition)

    def _groups_from_records(self, partition, offsets, metadata):
        """The groups of ``partition`` from its last group-metadata values and offsets (no side effects)."""
        now = self.now_ms()
        loaded = {}
        for group_id, value in metadata.items():
            if value is not None:
                loaded[group_id] = read_group_value(group_id, value, now)
        for (group_id, topic, index), value in offsets.items():
            group = loaded.get(group_id)
            if group is None:  # offsets only: a group that never had members, or is empty now
                group = loaded[group_id] = GroupMetadata(group_id, current_state_timestamp=now)
            group.offsets[(topic, index)] = value
        # A group hashed to another partition (the partition count changed) is not ours to serve.
        return [group for group_id, group in loaded.items() if self.partition_for(group_id) == partition]

    def remove_groups_for_partition(self, partition, on_group_unloaded):
        """Forget ``partition``'s groups (``on_group_unloaded(group)`` for each) and any load in progress."""
        self.loading_partitions.discard(partition)
        self._loads.pop(partition, None)
        if partition not in self.owned_partitions:
            return
        self.owned_partitions.discard(partition)
        for group_id in [g for g in self._groups if self.partition_for(g) == partition]:
            on_group_unloaded(self._groups.pop(group_id))
        self.log.info("unloaded {topic}-{partition}", topic=OFFSETS_TOPIC, partition=partition)

    # -- writing -------------------------------------------------------------------------

    def _write(self, group_id, records):
        """Append ``[(key, value)]`` to the group's partition; fires with a coordinator error code."""
        now = self.now_ms()

        def append():
            return self._append(self.partition_for(group_id),
                                build_batch([Record(key, value, timestamp=now) for key, value in records]))

        def failed(failure):
            failure.trap(errors.KafkaError)
            return failure.value.code
        return defer.maybeDeferred(append).addErrback(failed).addCallback(lambda code: _APPEND_ERRORS.get(code, code))

    def store_group(self, group):
        """Write ``group``'s metadata (members and assignments); fires with an error code."""
        records = [(group_metadata_key(group.group_id), group_metadata_value(group))]
        # Kafka: an over-large group is the server's failure, not an offset-size error.
        return self._write(group.group_id, records).addCallback(
            lambda code: UNKNOWN_SERVER_ERROR if code == INVALID_COMMIT_OFFSET_SIZE else code)

    def store_offsets(self, group, offsets):
        """Write committed offsets; cached once written. Fires with ``{(topic, partition): error code}``.

        :param offsets: ``{(topic, partition): OffsetAndMetadata}``; metadata over
            ``offset.metadata.max.bytes`` is refused with OFFSET_METADATA_TOO_LARGE.
        """
        results = {}
        accepted = {}
        for key, value in offsets.items():
            if len(value.metadata.encode("utf-8")) > self.config.offset_metadata_max_bytes:
                results[key] = OFFSET_METADATA_TOO_LARGE
            else:
                accepted[key] = value
        if not accepted:
            return defer.succeed(results)
        records = [(offset_commit_key(group.group_id, topic, partition), offset_commit_value(value))
                   for (topic, partition), value in accepted.items()]

        def written(code):
            if not code and self._groups.get(group.group_id) is group:
                group.offsets.update(accepted)
            if not code:
                self.offset_commits += len(accepted)
            results.update(dict.fromkeys(accepted, code))
            return results
        return self._write(group.group_id, records).addCallback(written)

    # -- reading -------------------------------------------------------------------------

    def get_offsets(self, group_id, partitions=None):
        """Committed offsets: ``[(topic, partition, OffsetAndMetadata or None)]``.

        :param partitions: ``[(topic, partition)]``, or None for every partition the group committed.
        """
        group = self._groups.get(group_id)
        stored = group.offsets if group is not None and not group.is_(DEAD) else {}
        if partitions is None:
            return [(t, p, v) for (t, p), v in sorted(stored.items())]
        return [(t, p, stored.get((t, p))) for t, p in partitions]

    def group_lag(self, group_id=None):
        """Committed offset, log end offset and lag per partition of ``group_id`` (all groups if None).

        The log end offset is what a consumer can reach (the high watermark); it is None when
        this broker does not lead the partition.
        """
        entries = []
        for group in sorted(self._groups.values(), key=lambda g: g.group_id):
            if group_id is not None and group.group_id != group_id:
                continue
            for (topic, partition), value in sorted(group.offsets.items()):
                end = self._high_watermark(topic, partition) if self._high_watermark is not None else None
                lag = max(end - value.offset, 0) if end is not None else None
                entries.append(LagEntry(group.group_id, topic, partition, value.offset, end, lag))
        return entries

    # -- removing ------------------------------------------------------------------------

    def cleanup_group_metadata(self, groups, remove_offsets, drop_empty=True):
        """Remove offsets from ``groups`` and write their tombstones (Kafka's ``cleanupGroupMetadata``).

        :param remove_offsets: ``remove_offsets(group)`` removes the offsets to go and returns their keys.
        :param drop_empty: a group left Empty without offsets becomes Dead.
        A Dead group leaves the cache, with a tombstone for its metadata.
        :returns: a Deferred firing once every write is done.
        """
        now = self.now_ms()
        writes = []
        for group in groups:
            removed = remove_offsets(group)
            if drop_empty and group.is_(EMPTY) and not group.offsets:
                group.transition_to(DEAD, now)
            records = [(offset_commit_key(group.group_id, topic, partition), None) for topic, partition in removed]
            if group.is_(DEAD) and self._groups.get(group.group_id) is group:
                del self._groups[group.group_id]
                records.append((group_metadata_key(group.group_id), None))
            if records:
                writes.append(self._write(group.group_id, records))
        return defer.gatherResults(writes, consumeErrors=True)

    def expire_offsets(self):
        """Remove expired offsets (and groups left empty with none); fires once tombstones are written.

        A periodic task: a failure is logged, never passed on to the loop that calls this.
        """
        now = self.now_ms()
        retention_ms = self.config.offsets_retention_ms
        expired = []

        def remove_expired(group):
            removed = group.remove_expired_offsets(now, retention_ms)
            expired.extend(removed)
            return removed
        d = self.cleanup_group_metadata(self.current_groups(), remove_expired)
        if expired:
            self.log.info("expired {count} offsets", count=len(expired))
        return d.addErrback(lambda f: self.log.failure("writing expired offsets' tombstones failed", f))

    def handle_deleted_partitions(self, partitions):
        """Forget the offsets of deleted topic-partitions; fires once their tombstones are written."""
        deleted = set(partitions)
        return self.cleanup_group_metadata(
            self.current_groups(), lambda group: group.remove_offsets(sorted(deleted.intersection(group.offsets))))
