"""Every znode path kafkalite reads or writes, as Kafka 2.8's ``ZkData`` names them.

Part of :mod:`kafkalite.zkdata` (which re-exports every public name).
"""




__all__ = [
    "CLUSTER", "CLUSTER_ID", "CONTROLLER", "CONTROLLER_EPOCH", "BROKERS", "BROKER_IDS", "BROKER_TOPICS",
    "BROKER_SEQID", "ADMIN", "ADMIN_DELETE_TOPICS", "REASSIGN_PARTITIONS", "PREFERRED_REPLICA_ELECTION",
    "ISR_CHANGE_NOTIFICATION", "ISR_CHANGE_PREFIX", "LOG_DIR_EVENT_NOTIFICATION", "LOG_DIR_EVENT_PREFIX",
    "CONFIG", "CONFIG_CHANGES", "CONFIG_CHANGE_PREFIX", "CONFIG_TYPES", "LATEST_PRODUCER_ID_BLOCK", "CONSUMERS",
    "FEATURE", "PERSISTENT_PATHS", "broker_path", "topic_path", "partitions_path", "partition_path",
    "partition_state_path", "delete_topic_path", "config_entity_path", "config_topic_path",
    "config_broker_path", "config_change_path", "isr_change_path", "log_dir_event_path", "sequence_number",
    "consumer_offset_path",
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


