"""Group administration with real admin clients: ListGroups, DescribeGroups, OffsetFetch (all partitions),
OffsetCommit on an empty group, OffsetDelete, DeleteGroups and LeaveGroup by instance id.

kafka-python's ``KafkaAdminClient`` and confluent-kafka's ``AdminClient`` both talk
to one broker; a confluent-kafka consumer provides a live (Stable) group.
"""

import pytest

from tests.support.clients import GROUP_OVERRIDES, consume_in_group, create_topic, produce_round_robin
from tests.support.cluster import wait_until

pytestmark = pytest.mark.cluster(size=1, overrides=GROUP_OVERRIDES)


def test_kafka_python_admin_manages_an_empty_group(broker):
    """List, describe, fetch all offsets, alter, delete some offsets, then delete the empty group."""
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient
    from kafka.structs import OffsetAndMetadata

    create_topic(broker.bootstrap, "adm", 2)
    produce_round_robin(broker.bootstrap, "adm", 10, 2)
    consume_in_group(broker.bootstrap, "adm", "adm-group", 10)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        groups = admin.list_groups()
        assert "adm-group" in str(groups)
        described = admin.describe_groups(["adm-group"])
        assert "Empty" in str(described)
        offsets = admin.list_group_offsets({"adm-group": None})
        flat = {tp.partition: meta.offset for tp, meta in _offsets_of(offsets, "adm-group").items()}
        assert flat == {0: 5, 1: 5}
        admin.alter_group_offsets("adm-group", {TopicPartition("adm", 0): OffsetAndMetadata(2, "", -1)})
        admin.delete_group_offsets("adm-group", [TopicPartition("adm", 1)])
        offsets = admin.list_group_offsets({"adm-group": None})
        flat = {tp.partition: meta.offset for tp, meta in _offsets_of(offsets, "adm-group").items()}
        assert flat == {0: 2}
        admin.delete_groups(["adm-group"])
        assert "adm-group" not in str(admin.list_groups())
    finally:
        admin.close()


def _offsets_of(result, group):
    """kafka-python returns ``{group: {tp: OffsetAndMetadata}}`` (or the inner dict for one group)."""
    if group in result:
        return result[group]
    return result


def test_confluent_admin_sees_a_live_group(broker):
    """A Stable group is described with its member and assignment and cannot be deleted; once empty it can."""
    from confluent_kafka import Consumer, KafkaException
    from confluent_kafka.admin import AdminClient

    create_topic(broker.bootstrap, "live", 2)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "live-group",
                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    assigned = []
    consumer.subscribe(["live"], on_assign=lambda c, ps: assigned.append(ps))
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    try:
        wait_until(lambda: consumer.poll(0.1) is None and assigned, 60, message="the consumer is assigned")
        described = admin.describe_consumer_groups(["live-group"])["live-group"].result(timeout=30)
        assert str(described.state).endswith("STABLE")
        assert len(described.members) == 1
        member = described.members[0]
        assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1]
        listed = admin.list_consumer_groups().result(timeout=30)
        assert "live-group" in {g.group_id for g in listed.valid}
        refused = admin.delete_consumer_groups(["live-group"])["live-group"]
        with pytest.raises(Exception, match="NON_EMPTY_GROUP"):
            refused.result(timeout=30)
    finally:
        consumer.close()

    def deleted():
        try:
            admin.delete_consumer_groups(["live-group"])["live-group"].result(timeout=30)
            return True
        except KafkaException:
            return False
    wait_until(deleted, 30, interval=0.2, message="the emptied group deleted")
    listed = admin.list_consumer_groups().result(timeout=30)
    assert "live-group" not in {g.group_id for g in listed.valid}
