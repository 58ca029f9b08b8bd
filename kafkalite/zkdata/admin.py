"""Admin requests and notifications (reassignment, preferred election, ISR changes, log dir
events), producer id blocks and legacy consumer offsets.

Part of :mod:`kafkalite.zkdata` (which re-exports every public name).
"""

import dataclasses

from kafkalite.zkdata._codec import (
    TopicPartition,
    ZnodeDataError,
    _ascii_int,
    _dumps,
    _encode_topic_partition_list,
    _field,
    _int_list,
    _int_or_str,
    _loads,
    _topic_partition_list,
)

__all__ = [
    "encode_isr_change", "decode_isr_change", "encode_preferred_replica_election",
    "decode_preferred_replica_election", "encode_reassign_partitions", "decode_reassign_partitions",
    "encode_log_dir_event", "decode_log_dir_event", "PRODUCER_ID_BLOCK_SIZE", "ProducerIdBlock",
    "encode_producer_id_block", "decode_producer_id_block", "next_producer_id_block", "encode_consumer_offset",
    "decode_consumer_offset",
]

# --------------------------------------------------------------------------- admin and notifications


def encode_isr_change(partitions):
    """``{"version":1,"partitions":[{"topic":..,"partition":..},..]}`` for an isr_change_<seq> node."""
    return _dumps({"version": 1, "partitions": _encode_topic_partition_list(partitions)})


def decode_isr_change(data):
    """Decode an ISR change notification to a frozenset of :class:`TopicPartition`."""
    return frozenset(_topic_partition_list(_loads(data, "isr change notification"), "isr change notification"))


def encode_preferred_replica_election(partitions):
    """``{"version":1,"partitions":[{"topic":..,"partition":..},..]}`` for /admin/preferred_replica_election."""
    return _dumps({"version": 1, "partitions": _encode_topic_partition_list(partitions)})


def decode_preferred_replica_election(data):
    """Decode /admin/preferred_replica_election to a frozenset of :class:`TopicPartition`."""
    what = "preferred replica election"
    return frozenset(_topic_partition_list(_loads(data, what), what))


def encode_reassign_partitions(reassignment):
    """``{"version":1,"partitions":[{"topic":..,"partition":..,"replicas":[..]},..]}``.

    :param reassignment: ``{(topic, partition): [replica, ...]}``.
    """
    return _dumps({
        "version": 1,
        "partitions": [
            {"topic": topic, "partition": int(partition), "replicas": [int(r) for r in replicas]}
            for (topic, partition), replicas in reassignment.items()
        ],
    })


def decode_reassign_partitions(data):
    """Decode /admin/reassign_partitions to ``{TopicPartition: (replica, ...)}`` (extra keys ignored)."""
    what = "reassign partitions"
    obj = _loads(data, what)
    result = {}
    for entry in _field(obj, "partitions", list, what):
        if not isinstance(entry, dict):
            raise ZnodeDataError(f"{what}: partition entry should be an object, got {entry!r}")
        key = TopicPartition(_field(entry, "topic", str, what), _field(entry, "partition", int, what))
        result[key] = _int_list(_field(entry, "replicas", list, what), f"{what} {key.topic}-{key.partition}")
    return result


def encode_log_dir_event(broker_id):
    """``{"version":1,"broker":<id>,"event":1}`` (1 = LogDirFailure)."""
    return _dumps({"version": 1, "broker": int(broker_id), "event": 1})


def decode_log_dir_event(data):
    """Decode a log dir event notification to the failed broker's id."""
    return _field(_loads(data, "log dir event"), "broker", int, "log dir event")


# --------------------------------------------------------------------------- producer ids

#: Ids claimed per write of /latest_producer_id_block (Kafka's ``ProducerIdManager.PidBlockSize``).
PRODUCER_ID_BLOCK_SIZE = 1000
_MAX_PRODUCER_ID = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class ProducerIdBlock:
    """A block of producer ids, both ends included."""

    broker_id: int
    block_start: int
    block_end: int


def encode_producer_id_block(block):
    """``{"version":1,"broker":..,"block_start":"n","block_end":"m"}`` (bounds as strings)."""
    return _dumps({
        "version": 1,
        "broker": int(block.broker_id),
        "block_start": str(int(block.block_start)),
        "block_end": str(int(block.block_end)),
    })


def decode_producer_id_block(data):
    """Decode /latest_producer_id_block."""
    what = "producer id block"
    obj = _loads(data, what)
    return ProducerIdBlock(
        _field(obj, "broker", int, what), _int_or_str(obj, "block_start", what), _int_or_str(obj, "block_end", what)
    )


def next_producer_id_block(current, broker_id, size=PRODUCER_ID_BLOCK_SIZE):
    """The block after ``current`` (or the first block, from 0, when ``current`` is ``None``).

    :raises ValueError: when the ids would pass 2**63 - 1.
    """
    start = 0 if current is None else current.block_end + 1
    end = start + size - 1
    if end > _MAX_PRODUCER_ID:
        raise ValueError("producer ids exhausted")
    return ProducerIdBlock(broker_id, start, end)


# --------------------------------------------------------------------------- legacy consumer offsets


def encode_consumer_offset(offset):
    """A committed offset as decimal ASCII."""
    return str(int(offset)).encode("ascii")


def decode_consumer_offset(data):
    """Decode ``/consumers/<g>/offsets/<t>/<p>``."""
    return _ascii_int(data, "consumer offset")


