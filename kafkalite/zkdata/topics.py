"""Topics: the assignment znode (with reassignments' adding/removing replicas and the topic id),
partition states, and topic names.

Part of :mod:`kafkalite.zkdata` (which re-exports every public name).
"""

import dataclasses
import json
import re

from kafkalite.protocol.errors import InvalidTopicError
from kafkalite.zkdata._codec import ZnodeDataError, _dumps, _field, _int_list, _loads

__all__ = [
    "TopicAssignment", "encode_topic_assignment", "decode_topic_assignment", "PartitionState",
    "encode_partition_state", "decode_partition_states", "decode_partition_state", "MAX_TOPIC_NAME_LENGTH",
    "validate_topic_name", "has_collision_chars", "topics_collide",
]

# --------------------------------------------------------------------------- topics and partitions


@dataclasses.dataclass(frozen=True)
class TopicAssignment:
    """The content of ``/brokers/topics/<topic>``.

    :ivar partitions: partition → replica broker ids, in preference order.
    :ivar adding_replicas: partition → replicas being added by a reassignment (KIP-455).
    :ivar removing_replicas: partition → replicas being removed by a reassignment.
    :ivar topic_id: base64 topic id (KIP-516), or ``None`` for topics created before 2.8.
    """

    partitions: dict
    adding_replicas: dict = dataclasses.field(default_factory=dict)
    removing_replicas: dict = dataclasses.field(default_factory=dict)
    topic_id: str | None = None


def _replica_map(value, what):
    if not isinstance(value, dict):
        raise ZnodeDataError(f"{what}: expected an object of partition → replicas, got {value!r}")
    try:
        # The common, well-formed case in one pass: a controller decodes 10,000 of these at once.
        result = {int(key): tuple(replicas) for key, replicas in value.items() if type(replicas) is list}
        if len(result) == len(value) and all(type(r) is int for replicas in result.values() for r in replicas):
            return dict(sorted(result.items()))
    except ValueError:
        pass  # named below
    result = {}
    for key, replicas in value.items():
        try:
            partition = int(key)
        except ValueError:
            raise ZnodeDataError(f"{what}: partition key {key!r} is not an integer") from None
        if type(replicas) is list and all(type(r) is int for r in replicas):
            result[partition] = tuple(replicas)
        else:
            result[partition] = _int_list(replicas, f"{what} partition {key}")  # raises, naming the partition
    return dict(sorted(result.items()))


def encode_topic_assignment(assignment):
    """JSON for ``/brokers/topics/<topic>``: version 3 with a topic id, else version 2.

    Partition keys are strings; only partitions with adding/removing replicas appear in those maps.
    """
    def as_json(mapping):
        return {str(int(p)): [int(r) for r in replicas] for p, replicas in sorted(mapping.items()) if replicas}

    value = {
        "version": 3 if assignment.topic_id is not None else 2,
        "partitions": {
            str(int(p)): [int(r) for r in replicas] for p, replicas in sorted(assignment.partitions.items())
        },
        "adding_replicas": as_json(assignment.adding_replicas),
        "removing_replicas": as_json(assignment.removing_replicas),
    }
    if assignment.topic_id is not None:
        value["topic_id"] = assignment.topic_id
    return _dumps(value)


def decode_topic_assignment(data):
    """Decode ``/brokers/topics/<topic>`` (versions 1, 2 and 3; hand-written v1 included).

    Partition keys become ints, replica lists tuples.
    """
    what = "topic assignment"
    obj = _loads(data, what)
    topic_id = obj.get("topic_id")
    if topic_id is not None and not isinstance(topic_id, str):
        raise ZnodeDataError(f"{what}: topic_id should be a string, got {topic_id!r}")
    return TopicAssignment(
        partitions=_replica_map(obj.get("partitions", {}), what),
        adding_replicas=_replica_map(obj.get("adding_replicas") or {}, f"{what} adding_replicas"),
        removing_replicas=_replica_map(obj.get("removing_replicas") or {}, f"{what} removing_replicas"),
        topic_id=topic_id,
    )


@dataclasses.dataclass(frozen=True)
class PartitionState:
    """The content of ``.../partitions/<p>/state``. Its zkVersion (the znode's stat) is the LeaderAndIsr zk_version."""

    leader: int
    leader_epoch: int
    isr: tuple
    controller_epoch: int


def encode_partition_state(state):
    """``{"version":1,"leader":..,"leader_epoch":..,"isr":[..],"controller_epoch":..}``.

    Formatted directly (the bytes ``json.dumps`` with compact separators gives): a controller
    writes thousands of these per event.
    """
    isr = ",".join(str(int(r)) for r in state.isr)
    return (f'{{"version":1,"leader":{int(state.leader)},"leader_epoch":{int(state.leader_epoch)},'
            f'"isr":[{isr}],"controller_epoch":{int(state.controller_epoch)}}}').encode()


def decode_partition_states(datas):
    """Decode many partition state znodes: a list of :class:`PartitionState`, or of the
    :class:`ZnodeDataError` of each malformed one in its place.

    Well-formed znodes are parsed in one ``json.loads`` of them all, as a JSON array; a
    controller reads 10,000 at a failover. Should that not give one well-formed state per
    znode, each is decoded on its own.
    """
    datas = list(datas)
    try:
        if all(type(d) is bytes and d for d in datas):
            objs = json.loads(b"[" + b",".join(datas) + b"]")
            if len(objs) == len(datas):
                states = [_state_of(obj) for obj in objs]
                if all(state is not None for state in states):
                    return states
    except ValueError:
        pass
    results = []
    for data in datas:
        try:
            results.append(decode_partition_state(data))
        except ZnodeDataError as error:
            results.append(error)
    return results


def _state_of(obj):
    """The common, well-formed case of a partition state without the per-field checks (or None)."""
    try:
        leader, epoch, isr, controller_epoch = obj["leader"], obj["leader_epoch"], obj["isr"], obj["controller_epoch"]
    except (TypeError, KeyError):
        return None
    if type(leader) is type(epoch) is type(controller_epoch) is int and type(isr) is list and \
            all(type(r) is int for r in isr):
        return PartitionState(leader, epoch, tuple(isr), controller_epoch)
    return None


def decode_partition_state(data):
    """Decode a partition state znode."""
    try:
        # The common, well-formed case without the per-field checks below: a controller reads
        # thousands of these at once.
        state = _state_of(json.loads(data))
        if state is not None:
            return state
    except (ValueError, TypeError):
        pass
    what = "partition state"
    obj = _loads(data, what)
    return PartitionState(
        leader=_field(obj, "leader", int, what),
        leader_epoch=_field(obj, "leader_epoch", int, what),
        isr=_int_list(_field(obj, "isr", list, what), what),
        controller_epoch=_field(obj, "controller_epoch", int, what),
    )


# --------------------------------------------------------------------------- topic names

MAX_TOPIC_NAME_LENGTH = 249
_LEGAL_TOPIC_CHARS = re.compile(r"^[a-zA-Z0-9._-]+$")


def validate_topic_name(name):
    """Kafka's ``Topic.validate``: raise :class:`InvalidTopicError` naming the problem.

    Rules: not empty, not ``.`` or ``..``, at most 249 characters, only ASCII
    alphanumerics, ``.``, ``_`` and ``-``.
    """
    if not isinstance(name, str) or not name:
        raise InvalidTopicError("Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise InvalidTopicError('Topic name cannot be "." or ".."')
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        raise InvalidTopicError(
            f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LENGTH} characters, topic name: {name}"
        )
    if not _LEGAL_TOPIC_CHARS.match(name):
        raise InvalidTopicError(
            f"Topic name \"{name}\" is illegal, it contains a character other than "
            "ASCII alphanumerics, '.', '_' and '-'"
        )


def has_collision_chars(name):
    """Whether ``name`` contains ``.`` or ``_`` (which collide in metric names)."""
    return "." in name or "_" in name


def topics_collide(a, b):
    """Whether two topic names differ only by ``.`` versus ``_`` (Kafka refuses the second)."""
    return a.replace(".", "_") == b.replace(".", "_")
