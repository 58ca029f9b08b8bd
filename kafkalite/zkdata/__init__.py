"""ZooKeeper paths and znode codecs, exactly as Kafka 2.8 (ZooKeeper mode) lays them out.

Owns every znode path kafkalite reads or writes and the encode/decode pair for
each znode's content (reference §4, Kafka's ``kafka.zk.ZkData``), plus topic
name validation and Kafka-style base64 UUIDs for cluster and topic ids.

Pure: no kazoo, no Twisted, no clock. Encoders take timestamps as arguments.
Decoders accept what Kafka's own code and its operators' ``--zookeeper`` tools
write (older versions included) and raise :class:`ValueError` naming the znode
and the problem for anything malformed.

JSON is written compactly (``{"version":1,...}``), as Kafka's Jackson does. The codecs live in
submodules by znode family (paths, brokers, ids, topics, configs, admin); every public name is
imported from here.
"""

from kafkalite.zkdata._codec import (  # noqa: F401
    TopicPartition,
    ZnodeDataError,
)
from kafkalite.zkdata.admin import (  # noqa: F401
    PRODUCER_ID_BLOCK_SIZE,
    ProducerIdBlock,
    decode_consumer_offset,
    decode_isr_change,
    decode_log_dir_event,
    decode_preferred_replica_election,
    decode_producer_id_block,
    decode_reassign_partitions,
    encode_consumer_offset,
    encode_isr_change,
    encode_log_dir_event,
    encode_preferred_replica_election,
    encode_producer_id_block,
    encode_reassign_partitions,
    next_producer_id_block,
)
from kafkalite.zkdata.brokers import (  # noqa: F401
    SECURITY_PROTOCOLS,
    BrokerRegistration,
    ControllerInfo,
    Endpoint,
    decode_broker_registration,
    decode_controller,
    decode_controller_epoch,
    encode_broker_registration,
    encode_controller,
    encode_controller_epoch,
)
from kafkalite.zkdata.configs import (  # noqa: F401
    ConfigChange,
    decode_config_change,
    decode_topic_config,
    encode_config_change,
    encode_topic_config,
)
from kafkalite.zkdata.ids import (  # noqa: F401
    decode_cluster_id,
    encode_cluster_id,
    new_cluster_id,
    new_topic_id,
    new_uuid_base64,
    topic_id_from_uuid,
    topic_id_to_uuid,
)
from kafkalite.zkdata.paths import (  # noqa: F401
    ADMIN,
    ADMIN_DELETE_TOPICS,
    BROKER_IDS,
    BROKER_SEQID,
    BROKER_TOPICS,
    BROKERS,
    CLUSTER,
    CLUSTER_ID,
    CONFIG,
    CONFIG_CHANGE_PREFIX,
    CONFIG_CHANGES,
    CONFIG_TYPES,
    CONSUMERS,
    CONTROLLER,
    CONTROLLER_EPOCH,
    FEATURE,
    ISR_CHANGE_NOTIFICATION,
    ISR_CHANGE_PREFIX,
    LATEST_PRODUCER_ID_BLOCK,
    LOG_DIR_EVENT_NOTIFICATION,
    LOG_DIR_EVENT_PREFIX,
    PERSISTENT_PATHS,
    PREFERRED_REPLICA_ELECTION,
    REASSIGN_PARTITIONS,
    broker_path,
    config_broker_path,
    config_change_path,
    config_entity_path,
    config_topic_path,
    consumer_offset_path,
    delete_topic_path,
    isr_change_path,
    log_dir_event_path,
    partition_path,
    partition_state_path,
    partitions_path,
    sequence_number,
    topic_path,
)
from kafkalite.zkdata.topics import (  # noqa: F401
    MAX_TOPIC_NAME_LENGTH,
    PartitionState,
    TopicAssignment,
    decode_partition_state,
    decode_partition_states,
    decode_topic_assignment,
    encode_partition_state,
    encode_topic_assignment,
    has_collision_chars,
    topics_collide,
    validate_topic_name,
)

__all__ = [
    "ADMIN", "ADMIN_DELETE_TOPICS", "BROKERS", "BROKER_IDS", "BROKER_SEQID", "BROKER_TOPICS", "CLUSTER",
    "CLUSTER_ID", "CONFIG", "CONFIG_CHANGES", "CONFIG_CHANGE_PREFIX", "CONFIG_TYPES", "CONSUMERS", "CONTROLLER",
    "CONTROLLER_EPOCH", "FEATURE", "ISR_CHANGE_NOTIFICATION", "ISR_CHANGE_PREFIX", "LATEST_PRODUCER_ID_BLOCK",
    "LOG_DIR_EVENT_NOTIFICATION", "LOG_DIR_EVENT_PREFIX", "MAX_TOPIC_NAME_LENGTH", "PERSISTENT_PATHS",
    "PREFERRED_REPLICA_ELECTION", "PRODUCER_ID_BLOCK_SIZE", "REASSIGN_PARTITIONS", "SECURITY_PROTOCOLS",
    "BrokerRegistration", "ConfigChange", "ControllerInfo", "Endpoint", "PartitionState", "ProducerIdBlock",
    "TopicAssignment", "TopicPartition", "ZnodeDataError", "broker_path", "config_broker_path",
    "config_change_path", "config_entity_path", "config_topic_path", "consumer_offset_path",
    "decode_broker_registration", "decode_cluster_id", "decode_config_change", "decode_consumer_offset",
    "decode_controller", "decode_controller_epoch", "decode_isr_change", "decode_log_dir_event",
    "decode_partition_state", "decode_partition_states", "decode_preferred_replica_election",
    "decode_producer_id_block", "decode_reassign_partitions", "decode_topic_assignment", "decode_topic_config",
    "delete_topic_path", "encode_broker_registration", "encode_cluster_id", "encode_config_change",
    "encode_consumer_offset", "encode_controller", "encode_controller_epoch", "encode_isr_change",
    "encode_log_dir_event", "encode_partition_state", "encode_preferred_replica_election",
    "encode_producer_id_block", "encode_reassign_partitions", "encode_topic_assignment", "encode_topic_config",
    "has_collision_chars", "isr_change_path", "log_dir_event_path", "new_cluster_id", "new_topic_id",
    "new_uuid_base64", "topic_id_from_uuid", "topic_id_to_uuid", "next_producer_id_block", "partition_path",
    "partition_state_path", "partitions_path", "sequence_number", "topic_path", "topics_collide",
    "validate_topic_name",
]
