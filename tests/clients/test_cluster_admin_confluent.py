"""The other Admin APIs through confluent-kafka's AdminClient on a real 3-broker cluster.

CreatePartitions (Kafka's assignment and an explicit one, validate_only, its errors),
DeleteRecords (consumers see the new log start offset), ElectLeaders (preferred) and
DescribeCluster. confluent-kafka has no DescribeLogDirs; kafka-python's test covers it.
"""

import pytest

from tests.support.clients import create_topic, partition_metadata, produce_acked
from tests.support.cluster import wait_until
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster(size=3, overrides={"zookeeper.session.timeout.ms": "6000",
                                                    "auto.leader.rebalance.enable": "false"})


def _admin(cluster):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": cluster.bootstrap})


def test_create_partitions(cluster):
    """Kafka's assignment continues the spread; an explicit one is honoured; bad requests get Kafka's errors."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewPartitions

    admin = _admin(cluster)
    create_topic(cluster.bootstrap, "grow", partitions=2, replication_factor=2)

    # validate_only changes nothing
    admin.create_partitions([NewPartitions("grow", 5)], validate_only=True)["grow"].result(timeout=60)
    assert sorted(admin.list_topics("grow", timeout=30).topics["grow"].partitions) == [0, 1]

    admin.create_partitions([NewPartitions("grow", 5)], operation_timeout=30)["grow"].result(timeout=60)
    partitions = admin.list_topics("grow", timeout=30).topics["grow"].partitions
    assert sorted(partitions) == [0, 1, 2, 3, 4]
    assert all(len(p.replicas) == 2 and p.leader in p.replicas for p in partitions.values())
    # the new partitions' leaders spread over the brokers as Kafka's assignment does
    assert len({partitions[p].replicas[0] for p in (2, 3, 4)}) == 3

    admin.create_partitions([NewPartitions("grow", 7, replica_assignment=[[3, 1], [2, 3]])],
                            operation_timeout=30)["grow"].result(timeout=60)
    wait_until(lambda: (partition_metadata(cluster.bootstrap, "grow", 6) or None) is not None, 30,
               message="partition 6 in the metadata")
    assert partition_metadata(cluster.bootstrap, "grow", 5).replicas == [3, 1]
    assert partition_metadata(cluster.bootstrap, "grow", 6).replicas == [2, 3]

    def error_of(new_partitions):
        with pytest.raises(KafkaException) as caught:
            admin.create_partitions([new_partitions], operation_timeout=30)[new_partitions.topic].result(timeout=60)
        return caught.value.args[0].name()

    assert error_of(NewPartitions("grow", 3)) == "INVALID_PARTITIONS"
    assert error_of(NewPartitions("grow", 7)) == "INVALID_PARTITIONS"
    assert error_of(NewPartitions("grow", 8, replica_assignment=[[1, 9]])) == "INVALID_REPLICA_ASSIGNMENT"
    assert error_of(NewPartitions("grow", 8, replica_assignment=[[1, 1]])) == "INVALID_REPLICA_ASSIGNMENT"
    assert error_of(NewPartitions("grow", 8, replica_assignment=[[1]])) == "INVALID_REPLICA_ASSIGNMENT"
    assert error_of(NewPartitions("grow", 9, replica_assignment=[[1, 2]])) == "INVALID_REPLICA_ASSIGNMENT"
    assert error_of(NewPartitions("absent", 2)) == "UNKNOWN_TOPIC_OR_PART"  # librdkafka's name for code 3


def test_create_partitions_is_the_controllers(cluster):
    """CreatePartitions sent to a broker that is not the controller answers NOT_CONTROLLER."""
    from kafkalite.protocol.apis import ApiKey

    create_topic(cluster.bootstrap, "routed", partitions=1, replication_factor=1)
    controller_id = _admin(cluster).list_topics(timeout=30).controller_id
    other = next(b for b in cluster.brokers if b.broker_id != controller_id)
    with WireClient(other.bootstrap) as client:
        response = client.request(ApiKey.CREATE_PARTITIONS, 3, {
            "topics": [{"name": "routed", "count": 2, "assignments": None}], "timeout_ms": 1000,
            "validate_only": False})
    assert response["results"][0]["error_code"] == 41  # NOT_CONTROLLER


def test_delete_records_moves_the_log_start_offset_on_every_replica(cluster):
    """DeleteRecords answers the low watermark once all replicas moved; consumers start there."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    admin = _admin(cluster)
    create_topic(cluster.bootstrap, "trimmed", partitions=1, replication_factor=3)
    produce_acked(cluster.bootstrap, "trimmed", 20)

    result = admin.delete_records([TopicPartition("trimmed", 0, 12)], operation_timeout=30)
    deleted = result[TopicPartition("trimmed", 0, 12)].result(timeout=60)
    assert deleted.low_watermark == 12

    consumer = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": "trimmed-reader",
                         "enable.auto.commit": False})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition("trimmed", 0), timeout=30)
        assert (low, high) == (12, 20)
        consumer.assign([TopicPartition("trimmed", 0, OFFSET_BEGINNING)])
        values = []
        while len(values) < 8:
            message = consumer.poll(30)
            assert message is not None and message.error() is None
            values.append(message.value())
        assert values[0] == b"record-12"
    finally:
        consumer.close()

    # beyond the high watermark: OFFSET_OUT_OF_RANGE
    with pytest.raises(KafkaException) as caught:
        admin.delete_records([TopicPartition("trimmed", 0, 21)])[TopicPartition("trimmed", 0, 21)].result(timeout=60)
    assert caught.value.args[0].name() == "OFFSET_OUT_OF_RANGE"


def test_elect_leaders_preferred(cluster):
    """After a leader's restart, a preferred election moves leadership back; again it is not needed."""
    from confluent_kafka import ElectionType, TopicPartition

    admin = _admin(cluster)
    create_topic(cluster.bootstrap, "elected", assignment=[[1, 2, 3]])
    broker_1 = cluster.broker(1)
    broker_1.stop()
    wait_until(lambda: (partition_metadata(cluster.brokers[1].bootstrap, "elected") or None) is not None and
               partition_metadata(cluster.brokers[1].bootstrap, "elected").leader in (2, 3), 60,
               message="leadership to leave broker 1")
    broker_1.start().wait_ready()
    wait_until(lambda: 1 in partition_metadata(cluster.brokers[1].bootstrap, "elected").isrs, 60,
               message="broker 1 back in the ISR")

    admin = _admin(cluster)
    # (confluent-kafka 2.16's elect_leaders fails on any timeout keyword: its C binding's argument list)
    result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("elected", 0)]).result(timeout=60)
    assert result == {TopicPartition("elected", 0): None}  # partition → its error
    # the controller answered once its own metadata showed it; the other brokers follow shortly
    wait_until(lambda: all(partition_metadata(b.bootstrap, "elected").leader == 1 for b in cluster.brokers), 30,
               message="every broker to name broker 1 the leader")

    again = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("elected", 0)]).result(timeout=60)
    assert again[TopicPartition("elected", 0)].name() == "ELECTION_NOT_NEEDED"
    unknown = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("absent", 0)]).result(timeout=60)
    assert unknown[TopicPartition("absent", 0)].name() == "UNKNOWN_TOPIC_OR_PART"


def test_describe_cluster(cluster):
    """describe_cluster names the cluster id, the controller and every broker, and (asked) the operations
    allowed: librdkafka asks with Metadata v10 (the DescribeCluster API itself: kafka-python's test)."""
    admin = _admin(cluster)
    description = admin.describe_cluster(request_timeout=30).result(timeout=60)
    metadata = admin.list_topics(timeout=30)
    assert description.cluster_id == metadata.cluster_id
    assert description.controller.id == metadata.controller_id
    assert sorted(node.id for node in description.nodes) == [1, 2, 3]
    assert {node.port for node in description.nodes} == {b.port for b in cluster.brokers}
    with_ops = admin.describe_cluster(include_authorized_operations=True).result(timeout=60)
    assert with_ops.authorized_operations
