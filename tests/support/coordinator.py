"""Test doubles for the group coordinator and the group API handlers (no sockets, no disk, no ZooKeeper).

Each fake stands for one collaborator that ``broker.py`` passes in, and implements only
the interface the code under test uses:

- :class:`FakeOffsetsTopic` — this broker's ``__consumer_offsets`` partitions, as
  :class:`~kafkalite.coordinator.group_metadata_manager.GroupMetadataManager` sees them:
  ``log(partition)`` is its ``offsets_log`` collaborator (the local
  :class:`kafkalite.log.log.Log`, or None), ``append(partition, batch)`` its ``append``
  collaborator (the replica manager's acks=all append, answering an error code). Batches
  are kept as the real v2 bytes the manager built, with offsets assigned, so a load
  decodes exactly what was written. ``error`` makes appends fail, ``hold`` parks them
  until :meth:`~FakeOffsetsTopic.release`.
- :class:`FakeOffsetsLog` — the part of ``Log`` a load reads: ``log_start_offset``,
  ``log_end_offset`` and ``read(offset, max_bytes)`` answering whole batches (``records``
  with ``read()``, or None past the end).
- :class:`FakeMetadataCache` — ``MetadataCache``'s ``partition``, ``partitions`` and
  ``brokers`` (each with ``endpoint(listener)``), as the group API handlers use them.
- :class:`FakeTopicAdmin` — ``TopicAdmin.create_topic``, recording what was created.
(The ZooKeeper of OffsetCommit/OffsetFetch v0 is the shared :class:`tests.support.fake_zk.FakeZk`.)

:func:`make_coordinator` builds a real ``GroupCoordinator`` over a real
``GroupMetadataManager`` over a :class:`FakeOffsetsTopic`, with the given partitions
loaded.
"""

import struct
from types import SimpleNamespace

from twisted.internet import defer

from kafkalite.coordinator.config import GroupConfig, OffsetConfig
from kafkalite.coordinator.group_coordinator import GroupCoordinator
from kafkalite.coordinator.group_metadata_manager import OFFSETS_TOPIC, GroupMetadataManager
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches
from kafkalite.protocol.records import read_batch_header

__all__ = [
    "FakeMetadataCache", "FakeOffsetsLog", "FakeOffsetsTopic", "FakeTopicAdmin", "make_coordinator",
]


class _Region:
    """What ``FetchDataInfo.records`` offers a reader: ``read()`` copies the bytes."""

    def __init__(self, data):
        self._data = data

    def __len__(self):
        return len(self._data)

    def read(self):
        return self._data


class FakeOffsetsLog:
    """One ``__consumer_offsets`` partition's log: v2 batches in memory, offsets assigned on append."""

    def __init__(self):
        self.batches = []  # [(base_offset, next_offset, bytes)]
        self.log_start_offset = 0
        self.log_end_offset = 0

    def append(self, batch):
        batch = bytearray(batch)
        struct.pack_into(">q", batch, 0, self.log_end_offset)  # outside the CRC, as the leader does
        header = read_batch_header(batch)
        self.batches.append((header.base_offset, header.next_offset, bytes(batch)))
        self.log_end_offset = header.next_offset

    def read(self, offset, max_bytes):
        """Whole batches from the one holding ``offset``: at least one, then up to ``max_bytes``."""
        out = b""
        for _, next_offset, data in self.batches:
            if next_offset <= offset:
                continue
            if out and len(out) + len(data) > max_bytes:
                break
            out += data
        return SimpleNamespace(fetch_offset=offset, records=_Region(out) if out else None)

    def records(self):
        """Every ``(key, value)`` in offset order (control batches included)."""
        return [(r.key, r.value) for _, _, data in self.batches for _, batch in decode_batches(data) for r in batch]


class FakeOffsetsTopic:
    """``__consumer_offsets`` as the group metadata manager reaches it: ``log`` and ``append``.

    :ivar error: an error code every append answers (nothing is written) while non-zero.
    :ivar hold: while True appends park; :meth:`release` writes them and answers 0.
    :ivar missing: partitions whose ``log`` is None (not hosted here).
    """

    def __init__(self):
        self.logs = {}
        self.error = 0
        self.hold = False
        self.parked = []
        self.missing = set()
        self.appends = 0

    def log(self, partition):
        if partition in self.missing:
            return None
        return self.logs.setdefault(partition, FakeOffsetsLog())

    def append(self, partition, batch):
        self.appends += 1
        if self.error:
            return self.error
        if self.hold:
            d = defer.Deferred()
            self.parked.append((d, partition, batch))
            return d
        self.log(partition).append(batch)
        return 0

    def release(self):
        parked, self.parked = self.parked, []
        for d, partition, batch in parked:
            self.log(partition).append(batch)
            d.callback(0)

    def write(self, partition, records, is_control=False):
        """Append ``[(key, value)]`` as one batch directly (test set-up, not through the manager)."""
        self.log(partition).append(build_batch([Record(k, v, timestamp=0) for k, v in records],
                                               is_control=is_control))

    def records(self, partition):
        """Every ``(key, value)`` of ``partition``, in offset order."""
        return self.log(partition).records()


class FakeMetadataCache:
    """Topic ``t`` with partitions 0 and 1, led by broker 1 at ``broker-1.example:9092``."""

    ENDPOINT = SimpleNamespace(host="broker-1.example", port=9092)

    def __init__(self):
        self.topics = {"t": {0: SimpleNamespace(leader=1), 1: SimpleNamespace(leader=1)}}
        self.brokers = {1: SimpleNamespace(endpoint=lambda listener: self.ENDPOINT)}

    def partition(self, topic, partition):
        return self.topics.get(topic, {}).get(partition)

    def partitions(self, topic):
        return self.topics.get(topic)


class FakeTopicAdmin:
    """Records ``(topic, partitions, replication_factor, configs)`` of each ``create_topic``."""

    def __init__(self):
        self.created = []

    async def create_topic(self, topic, partitions, replication_factor, assignment=None, configs=None,
                           validate_only=False):
        self.created.append((topic, partitions, replication_factor, configs))
        return {}


def make_coordinator(clock, topic, loaded=(0,), high_watermark=None, **settings):
    """A ``GroupCoordinator`` and its ``GroupMetadataManager`` over ``topic`` (a :class:`FakeOffsetsTopic`).

    ``settings`` are ``GroupConfig``/``OffsetConfig`` fields; the partitions in ``loaded`` are
    loaded (the clock is advanced past the load). Returns ``(coordinator, manager)``.
    """
    group_fields = GroupConfig.__dataclass_fields__
    group_config = GroupConfig(**{k: v for k, v in settings.items() if k in group_fields})
    offset_config = OffsetConfig(**{k: v for k, v in settings.items() if k not in group_fields})
    manager = GroupMetadataManager(clock, offset_config, topic.log, topic.append, high_watermark)
    coordinator = GroupCoordinator(clock, group_config, manager)
    coordinator.on_become_leader([(OFFSETS_TOPIC, partition) for partition in loaded])
    clock.advance(0)
    return coordinator, manager
