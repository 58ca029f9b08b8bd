"""ZooKeeper paths and znode codecs, exactly as Kafka 2.8 (ZooKeeper mode) lays them out.

Owns every znode path kafkalite reads or writes and the encode/decode pair for
each znode's content (reference §4, Kafka's ``kafka.zk.ZkData``), plus topic
name validation and Kafka-style base64 UUIDs for cluster and topic ids.

Pure: no kazoo, no Twisted, no clock. Encoders take timestamps as arguments.
Decoders accept what Kafka's own code and its operators' ``--zookeeper`` tools
write (older versions included) and raise :class:`ValueError` naming the znode
and the problem for anything malformed.

JSON is written compactly (``{"version":1,...}``), as Kafka's Jackson does.
"""

import base64
import dataclasses
import json
import os
import re
import uuid
from typing import NamedTuple

from kafkalite.protocol.errors import InvalidTopicError

__all__ = [
    "ADMIN",
    "ADMIN_DELETE_TOPICS",
    "BROKERS",
    "BROKER_IDS",
    "BROKER_SEQID",
    "BROKER_TOPICS",
    "CLUSTER",
    "CLUSTER_ID",
    "CONFIG",
    "CONFIG_CHANGES",
    "CONFIG_CHANGE_PREFIX",
    "CONFIG_TYPES",
    "CONSUMERS",
    "CONTROLLER",
    "CONTROLLER_EPOCH",
    "FEATURE",
    "ISR_CHANGE_NOTIFICATION",
    "ISR_CHANGE_PREFIX",
    "LATEST_PRODUCER_ID_BLOCK",
    "LOG_DIR_EVENT_NOTIFICATION",
    "LOG_DIR_EVENT_PREFIX",
    "MAX_TOPIC_NAME_LENGTH",
    "PERSISTENT_PATHS",
    "PREFERRED_REPLICA_ELECTION",
    "PRODUCER_ID_BLOCK_SIZE",
    "REASSIGN_PARTITIONS",
    "SECURITY_PROTOCOLS",
    "BrokerRegistration",
    "ConfigChange",
    "ControllerInfo",
    "Endpoint",
    "PartitionState",
    "ProducerIdBlock",
    "TopicAssignment",
    "TopicPartition",
    "ZnodeDataError",
    "broker_path",
    "config_broker_path",
    "config_change_path",
    "config_entity_path",
    "config_topic_path",
    "consumer_offset_path",
    "decode_broker_registration",
    "decode_cluster_id",
    "decode_config_change",
    "decode_consumer_offset",
    "decode_controller",
    "decode_controller_epoch",
    "decode_isr_change",
    "decode_log_dir_event",
    "decode_partition_state",
    "decode_partition_states",
    "decode_preferred_replica_election",
    "decode_producer_id_block",
    "decode_reassign_partitions",
    "decode_topic_assignment",
    "decode_topic_config",
    "delete_topic_path",
    "encode_broker_registration",
    "encode_cluster_id",
    "encode_config_change",
    "encode_consumer_offset",
    "encode_controller",
    "encode_controller_epoch",
    "encode_isr_change",
    "encode_log_dir_event",
    "encode_partition_state",
    "encode_preferred_replica_election",
    "encode_producer_id_block",
    "encode_reassign_partitions",
    "encode_topic_assignment",
    "encode_topic_config",
    "has_collision_chars",
    "isr_change_path",
    "log_dir_event_path",
    "new_cluster_id",
    "new_topic_id",
    "new_uuid_base64",
    "topic_id_from_uuid",
    "topic_id_to_uuid",
    "next_producer_id_block",
    "partition_path",
    "partition_state_path",
    "partitions_path",
    "sequence_number",
    "topic_path",
    "topics_collide",
    "validate_topic_name",
]

# --------------------------------------------------------------------------- paths

CLUSTER = "/cluster"
CLUSTER_ID = "/cluster/id"
CONTROLLER = "/controller"
CONTROLLER_EPOCH = "/controller_epoch"
BROKERS = "/brokers"
BROKER_IDS = "/brokers/ids"
BROKER_TOPICS = "/brokers/topics"
BROKER_SEQID = "/brokers/seqid"
ADMIN = "/admin"
ADMIN_DELETE_TOPICS = "/admin/delete_topics"
REASSIGN_PARTITIONS = "/admin/reassign_partitions"
PREFERRED_REPLICA_ELECTION = "/admin/preferred_replica_election"
ISR_CHANGE_NOTIFICATION = "/isr_change_notification"
ISR_CHANGE_PREFIX = "isr_change_"
LOG_DIR_EVENT_NOTIFICATION = "/log_dir_event_notification"
LOG_DIR_EVENT_PREFIX = "log_dir_event_"
CONFIG = "/config"
CONFIG_CHANGES = "/config/changes"
CONFIG_CHANGE_PREFIX = "config_change_"
#: Kafka's ``ConfigType.all``: the entity types under ``/config``.
CONFIG_TYPES = ("topics", "clients", "users", "brokers", "ips")
LATEST_PRODUCER_ID_BLOCK = "/latest_producer_id_block"
CONSUMERS = "/consumers"
FEATURE = "/feature"

#: The persistent paths a Kafka 2.8 broker creates at startup (``ZkData.PersistentZkPaths``).
PERSISTENT_PATHS = (
    CONSUMERS,
    BROKER_IDS,
    BROKER_TOPICS,
    CONFIG_CHANGES,
    ADMIN_DELETE_TOPICS,
    BROKER_SEQID,
    ISR_CHANGE_NOTIFICATION,
    LATEST_PRODUCER_ID_BLOCK,
    LOG_DIR_EVENT_NOTIFICATION,
) + tuple(f"{CONFIG}/{entity_type}" for entity_type in CONFIG_TYPES)


def broker_path(broker_id):
    """``/brokers/ids/<id>``: a broker's ephemeral registration."""
    return f"{BROKER_IDS}/{int(broker_id)}"


def topic_path(topic):
    """``/brokers/topics/<topic>``: the topic's partition → replicas assignment."""
    return f"{BROKER_TOPICS}/{topic}"


def partitions_path(topic):
    """``/brokers/topics/<topic>/partitions`` (no data)."""
    return f"{topic_path(topic)}/partitions"


def partition_path(topic, partition):
    """``/brokers/topics/<topic>/partitions/<p>`` (no data)."""
    return f"{partitions_path(topic)}/{int(partition)}"


def partition_state_path(topic, partition):
    """``/brokers/topics/<topic>/partitions/<p>/state``: leader, leader_epoch, isr."""
    return f"{partition_path(topic, partition)}/state"


def delete_topic_path(topic):
    """``/admin/delete_topics/<topic>``: a request to delete the topic."""
    return f"{ADMIN_DELETE_TOPICS}/{topic}"


def config_entity_path(entity_type, entity_name):
    """``/config/<type>/<name>``, e.g. ``/config/brokers/<default>``."""
    return f"{CONFIG}/{entity_type}/{entity_name}"


def config_topic_path(topic):
    """``/config/topics/<topic>``: the topic's config overrides."""
    return config_entity_path("topics", topic)


def config_broker_path(broker_id):
    """``/config/brokers/<id>`` (or ``<default>``): dynamic broker configs."""
    return config_entity_path("brokers", broker_id)


def config_change_path(sequence=""):
    """``/config/changes/config_change_<seq>``; without ``sequence``, the prefix to create sequentially."""
    return f"{CONFIG_CHANGES}/{CONFIG_CHANGE_PREFIX}{sequence}"


def isr_change_path(sequence=""):
    """``/isr_change_notification/isr_change_<seq>``; without ``sequence``, the prefix to create sequentially."""
    return f"{ISR_CHANGE_NOTIFICATION}/{ISR_CHANGE_PREFIX}{sequence}"


def log_dir_event_path(sequence=""):
    """``/log_dir_event_notification/log_dir_event_<seq>``; without ``sequence``, the create prefix."""
    return f"{LOG_DIR_EVENT_NOTIFICATION}/{LOG_DIR_EVENT_PREFIX}{sequence}"


def sequence_number(path_or_name, prefix):
    """The 10-digit sequence suffix ZooKeeper appended after ``prefix``, e.g. ``"0000000042"``."""
    index = path_or_name.rfind(prefix)
    if index < 0:
        raise ValueError(f"{path_or_name!r} is not a {prefix}<seq> node")
    return path_or_name[index + len(prefix):]


def consumer_offset_path(group, topic, partition):
    """``/consumers/<group>/offsets/<topic>/<p>``: a legacy (OffsetCommit v0) committed offset."""
    return f"{CONSUMERS}/{group}/offsets/{topic}/{int(partition)}"


# --------------------------------------------------------------------------- helpers


class ZnodeDataError(ValueError):
    """A znode's content is malformed; the message names the znode kind and the problem."""


def _dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _loads(data, what):
    """Parse znode ``data`` as a JSON object, or raise ValueError naming ``what``."""
    if data is None:
        raise ZnodeDataError(f"{what}: znode has no data")
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ZnodeDataError(f"{what}: znode data is not UTF-8: {e}") from None
    else:
        text = data
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ZnodeDataError(f"{what}: malformed JSON ({e}): {text[:200]!r}") from None
    if not isinstance(value, dict):
        raise ZnodeDataError(f"{what}: expected a JSON object, got {text[:200]!r}")
    return value


def _field(obj, key, kind, what, default=dataclasses.MISSING):
    """``obj[key]`` checked to be of ``kind`` (int excludes bool); ValueError otherwise."""
    if key not in obj:
        if default is not dataclasses.MISSING:
            return default
        raise ZnodeDataError(f"{what}: missing field {key!r}")
    value = obj[key]
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ZnodeDataError(f"{what}: field {key!r} should be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _int_list(value, what):
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ZnodeDataError(f"{what}: expected a list of integers, got {value!r}")
    return tuple(value)


def _int_or_str(obj, key, what, default=dataclasses.MISSING):
    """A number Kafka writes as a string (timestamps, block bounds) but may also read as a number."""
    value = _field(obj, key, (int, str), what, default)
    if isinstance(value, bool):
        raise ZnodeDataError(f"{what}: field {key!r} should be a number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ZnodeDataError(f"{what}: field {key!r} should be a number, got {value!r}") from None


def _ascii_int(data, what):
    try:
        text = bytes(data).decode("ascii").strip()
        return int(text)
    except (TypeError, UnicodeDecodeError, ValueError):
        raise ZnodeDataError(f"{what}: expected an ASCII integer, got {data!r}") from None


class TopicPartition(NamedTuple):
    """A (topic, partition) pair; a plain tuple, so ``("t", 0)`` compares equal."""

    topic: str
    partition: int


def _topic_partition_list(obj, what):
    """Kafka's ``[{"topic":..,"partition":..}, ...]`` arrays."""
    partitions = _field(obj, "partitions", list, what)
    result = []
    for entry in partitions:
        if not isinstance(entry, dict):
            raise ZnodeDataError(f"{what}: partition entry should be an object, got {entry!r}")
        result.append(TopicPartition(_field(entry, "topic", str, what), _field(entry, "partition", int, what)))
    return result


def _encode_topic_partition_list(partitions):
    return [{"topic": topic, "partition": int(partition)} for topic, partition in partitions]


# --------------------------------------------------------------------------- broker registration

#: Security protocol name → id, as in Kafka's ``SecurityProtocol`` (UpdateMetadata carries the id).
SECURITY_PROTOCOLS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}

# Kafka's EndPoint.uriParseExp: LISTENER://host:port, host optionally [bracketed] (IPv6), maybe empty.
_ENDPOINT_RE = re.compile(r"^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$")


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One advertised listener of a broker.

    :ivar listener_name: upper-cased listener name, e.g. ``PLAINTEXT`` or ``REPLICATION``.
    :ivar host: host name or address (``""`` when the listener binds every interface).
    :ivar port: TCP port.
    :ivar security_protocol: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
    """

    listener_name: str
    host: str
    port: int
    security_protocol: str = "PLAINTEXT"

    @property
    def connection_string(self):
        """``LISTENER://host:port`` (IPv6 hosts in brackets), Kafka's ``EndPoint.connectionString``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.listener_name}://{host}:{self.port}"

    @classmethod
    def parse(cls, connection_string, security_protocol_map=None):
        """Parse ``LISTENER://host:port``; the protocol comes from the map, else the listener's name.

        :raises ValueError: for a malformed string or an unknown protocol.
        """
        match = _ENDPOINT_RE.match(connection_string)
        if not match:
            raise ZnodeDataError(f"unable to parse {connection_string!r} to a broker endpoint")
        listener_name = match.group(1).upper()
        if security_protocol_map is not None:
            protocol = {k.upper(): v for k, v in security_protocol_map.items()}.get(listener_name)
            if protocol is None:
                raise ZnodeDataError(f"no security protocol for listener {listener_name} in {security_protocol_map}")
        else:
            protocol = listener_name
        if protocol not in SECURITY_PROTOCOLS:
            raise ZnodeDataError(f"unknown security protocol {protocol!r} for listener {listener_name}")
        return cls(listener_name, match.group(2), int(match.group(3)), protocol)


@dataclasses.dataclass(frozen=True)
class BrokerRegistration:
    """The content of ``/brokers/ids/<id>`` (JSON v5 in Kafka 2.8; v1–v4 decode too).

    ``endpoints`` keeps Kafka's ``"LISTENER://host:port"`` strings;
    :meth:`parsed_endpoints` resolves them with ``listener_security_protocol_map``.
    The znode's czxid (not stored here) is the broker epoch.
    """

    broker_id: int | None
    endpoints: tuple
    listener_security_protocol_map: dict | None = None
    rack: str | None = None
    jmx_port: int = -1
    timestamp: int = 0
    version: int = 5
    features: dict = dataclasses.field(default_factory=dict)
    host: str | None = None
    port: int = -1

    @classmethod
    def for_endpoints(cls, broker_id, endpoints, timestamp, rack=None, jmx_port=-1, features=None, version=5):
        """Build a registration from :class:`Endpoint` objects, filling host/port and the protocol map.

        ``host``/``port`` are the first PLAINTEXT endpoint's (null / -1 if there is none),
        for pre-0.10 clients, as Kafka does.
        """
        endpoints = tuple(endpoints)
        plaintext = next((e for e in endpoints if e.security_protocol == "PLAINTEXT"), None)
        return cls(
            broker_id=broker_id,
            endpoints=tuple(e.connection_string for e in endpoints),
            listener_security_protocol_map={e.listener_name: e.security_protocol for e in endpoints},
            rack=rack,
            jmx_port=jmx_port,
            timestamp=int(timestamp),
            version=version,
            features=dict(features or {}),
            host=plaintext.host if plaintext else None,
            port=plaintext.port if plaintext else -1,
        )

    def parsed_endpoints(self):
        """The endpoints as :class:`Endpoint` objects (v1: the top-level host/port as PLAINTEXT)."""
        if self.version == 1 or not self.endpoints:
            if self.host is None or self.port < 0:
                return ()
            return (Endpoint("PLAINTEXT", self.host, self.port, "PLAINTEXT"),)
        return tuple(Endpoint.parse(e, self.listener_security_protocol_map) for e in self.endpoints)

    def endpoint(self, listener_name):
        """The :class:`Endpoint` for ``listener_name``, or ``None``."""
        for endpoint in self.parsed_endpoints():
            if endpoint.listener_name == listener_name.upper():
                return endpoint
        return None


def encode_broker_registration(registration):
    """JSON for ``/brokers/ids/<id>``; v5 by default (``version`` picks v4 for IBP < 2.7)."""
    version = registration.version
    value = {
        "version": version,
        "host": registration.host,
        "port": registration.port,
        "endpoints": list(registration.endpoints),
        "jmx_port": registration.jmx_port,
        "timestamp": str(registration.timestamp),
    }
    if version >= 4:
        value["listener_security_protocol_map"] = dict(registration.listener_security_protocol_map or {})
    if registration.rack is not None and version >= 3:
        value["rack"] = registration.rack
    if version >= 5:
        value["features"] = dict(registration.features)
    return _dumps(value)


def decode_broker_registration(data, broker_id=None):
    """Decode ``/brokers/ids/<id>`` (versions 1–5) into a :class:`BrokerRegistration`.

    :param broker_id: the id from the znode's name (the JSON does not carry it).
    :raises ValueError: malformed JSON, missing fields, or an unparsable endpoint.
    """
    what = f"broker registration{'' if broker_id is None else f' /brokers/ids/{broker_id}'}"
    obj = _loads(data, what)
    version = _field(obj, "version", int, what)
    if version < 1:
        raise ZnodeDataError(f"{what}: unsupported version {version}")
    host = obj.get("host")
    port = obj.get("port", -1)
    if port is None:
        port = -1
    if version == 1:
        host = _field(obj, "host", str, what)
        port = _field(obj, "port", int, what)
        endpoints = ()
    else:
        endpoints = tuple(_field(obj, "endpoints", list, what))
        if not all(isinstance(e, str) for e in endpoints):
            raise ZnodeDataError(f"{what}: endpoints should be strings, got {endpoints!r}")
    protocol_map = obj.get("listener_security_protocol_map")
    if protocol_map is not None and not isinstance(protocol_map, dict):
        raise ZnodeDataError(f"{what}: listener_security_protocol_map should be an object")
    rack = obj.get("rack")
    if rack is not None and not isinstance(rack, str):
        raise ZnodeDataError(f"{what}: rack should be a string, got {rack!r}")
    features = obj.get("features") or {}
    if not isinstance(features, dict):
        raise ZnodeDataError(f"{what}: features should be an object")
    registration = BrokerRegistration(
        broker_id=broker_id,
        endpoints=endpoints,
        listener_security_protocol_map=protocol_map,
        rack=rack,
        jmx_port=_field(obj, "jmx_port", int, what, -1),
        timestamp=_int_or_str(obj, "timestamp", what, 0),
        version=version,
        features=features,
        host=host if isinstance(host, str) else None,
        port=port if isinstance(port, int) else -1,
    )
    registration.parsed_endpoints()  # validate now rather than surprise a reader later
    return registration


# --------------------------------------------------------------------------- controller


@dataclasses.dataclass(frozen=True)
class ControllerInfo:
    """The content of the ephemeral ``/controller`` znode."""

    broker_id: int
    timestamp: int = 0


def encode_controller(broker_id, timestamp):
    """``{"version":1,"brokerid":<id>,"timestamp":"<ms>"}``."""
    return _dumps({"version": 1, "brokerid": int(broker_id), "timestamp": str(int(timestamp))})


def decode_controller(data):
    """Decode ``/controller``. Pre-0.8.2 brokers wrote a bare integer; that is accepted too."""
    try:
        return ControllerInfo(_ascii_int(data, "controller"))
    except ValueError:
        pass
    obj = _loads(data, "controller")
    return ControllerInfo(_field(obj, "brokerid", int, "controller"), _int_or_str(obj, "timestamp", "controller", 0))


def encode_controller_epoch(epoch):
    """``/controller_epoch`` holds a plain ASCII integer."""
    return str(int(epoch)).encode("ascii")


def decode_controller_epoch(data):
    """Decode ``/controller_epoch``."""
    return _ascii_int(data, "controller epoch")


# --------------------------------------------------------------------------- cluster id and uuids


def new_uuid_base64(random_bytes=os.urandom):
    """A random (version 4) UUID as 22 characters of URL-safe base64 without padding.

    Kafka's ``Uuid.randomUuid().toString`` / ``CoreUtils.generateUuidAsBase64``.
    Ids starting with ``-`` are drawn again: command-line tools read them as options
    (Kafka later made the same choice), and the all-zero id is reserved.

    :param random_bytes: ``n -> bytes`` source of randomness (inject for determinism).
    """
    while True:
        raw = uuid.UUID(bytes=bytes(random_bytes(16)), version=4).bytes
        text = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        if not text.startswith("-") and raw != bytes(16):
            return text


def topic_id_to_uuid(topic_id):
    """A base64 topic id (as the topic znode holds it) as the ``uuid.UUID`` the protocol carries;
    None (no id) stays None.

    :raises ZnodeDataError: not 22 characters of base64 for 16 bytes.
    """
    if topic_id is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(topic_id + "=" * (-len(topic_id) % 4))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 16:
        raise ZnodeDataError(f"topic id {topic_id!r} is not a base64 UUID")
    return uuid.UUID(bytes=raw)


def topic_id_from_uuid(value):
    """The base64 form of a protocol topic id; None for None or the all-zero UUID (no id)."""
    if value is None:
        return None
    raw = value.bytes if isinstance(value, uuid.UUID) else bytes(value)
    if raw == bytes(16):
        return None
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def new_cluster_id(random_bytes=os.urandom):
    """A new cluster id for ``/cluster/id`` and ``meta.properties``."""
    return new_uuid_base64(random_bytes)


def new_topic_id(random_bytes=os.urandom):
    """A new topic id (KIP-516) for the topic znode's ``topic_id``."""
    return new_uuid_base64(random_bytes)


def encode_cluster_id(cluster_id):
    """``{"version":"1","id":"<id>"}`` (``version`` is a string here, as Kafka writes it)."""
    return _dumps({"version": "1", "id": cluster_id})


def decode_cluster_id(data):
    """Decode ``/cluster/id`` to the id string."""
    return _field(_loads(data, "cluster id"), "id", str, "cluster id")


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


# --------------------------------------------------------------------------- configs


def encode_topic_config(config):
    """``{"version":1,"config":{..}}`` for ``/config/<type>/<name>``; every value is a string."""
    return _dumps({"version": 1, "config": {str(k): _config_value(v) for k, v in dict(config).items()}})


def _config_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_topic_config(data):
    """Decode a ``/config/<type>/<name>`` znode to ``{key: str}``; no data means no overrides.

    Numbers and booleans written by hand are turned into Kafka's string form.
    """
    if data is None or len(data) == 0:
        return {}
    what = "config"
    obj = _loads(data, what)
    config = obj.get("config") or {}
    if not isinstance(config, dict):
        raise ZnodeDataError(f"{what}: field 'config' should be an object, got {config!r}")
    result = {}
    for key, value in config.items():
        if isinstance(value, (dict, list)) or value is None:
            raise ZnodeDataError(f"{what}: value of {key!r} should be a string, got {value!r}")
        result[key] = _config_value(value)
    return result


@dataclasses.dataclass(frozen=True)
class ConfigChange:
    """A ``/config/changes/config_change_<seq>`` notification: which entity's config changed.

    :ivar entity_path: ``topics/<t>``, ``brokers/<id>``, ``users/<u>/clients/<c>``...
    """

    entity_path: str

    @property
    def entity_type(self):
        """``topics``, ``brokers``, ``clients``, ``users`` or ``ips``."""
        return self.entity_path.split("/", 1)[0]

    @property
    def entity_name(self):
        """The rest of the path after the type."""
        parts = self.entity_path.split("/", 1)
        return parts[1] if len(parts) > 1 else ""


def encode_config_change(entity_type, entity_name):
    """Version 2: ``{"version":2,"entity_path":"<type>/<name>"}``."""
    return _dumps({"version": 2, "entity_path": f"{entity_type}/{entity_name}"})


def decode_config_change(data):
    """Decode a config change notification (v2, or v1 with entity_type/entity_name)."""
    what = "config change notification"
    obj = _loads(data, what)
    version = _field(obj, "version", int, what)
    if version == 1:
        return ConfigChange(f"{_field(obj, 'entity_type', str, what)}/{_field(obj, 'entity_name', str, what)}")
    if version == 2:
        return ConfigChange(_field(obj, "entity_path", str, what))
    raise ZnodeDataError(f"{what}: unsupported version {version}")


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
