"""TopicAdmin.create_partitions against the in-memory ZooKeeper: Kafka's checks and the znode it writes."""

import json

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure

from kafkalite import zkdata
from kafkalite.log.config import LogConfig
from kafkalite.protocol import errors
from kafkalite.server.topic_admin import TopicAdmin
from tests.support.fake_zk import FakeZk


@pytest.fixture
def zk():
    zk = FakeZk()
    zk.put(zkdata.BROKER_IDS, b"")
    for broker_id, rack in ((1, "a"), (2, "b"), (3, "c")):
        endpoint = zkdata.Endpoint("PLAINTEXT", "127.0.0.1", 9090 + broker_id, "PLAINTEXT")
        zk.put(zkdata.broker_path(broker_id), zkdata.encode_broker_registration(
            zkdata.BrokerRegistration.for_endpoints(broker_id, [endpoint], 0, rack=rack)))
    zk.put(zkdata.topic_path("t"), zkdata.encode_topic_assignment(zkdata.TopicAssignment(
        partitions={0: (2, 3), 1: (3, 1)}, topic_id="AAAAAAAAAAAAAAAAAAAAAQ")))
    return zk


def grow(zk, topic, count, assignments=None, validate_only=False):
    """Run ``create_partitions`` (the in-memory ZooKeeper answers at once); its result, or raise its error."""
    admin = TopicAdmin(zk, LogConfig())
    outcome = []
    defer.ensureDeferred(admin.create_partitions(topic, count, assignments, validate_only)).addBoth(outcome.append)
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


def test_new_partitions_continue_the_spread_and_keep_the_topic_id(zk):
    """Two more partitions: each on two racks, starting after partition 0's leader; topic id kept."""
    new = grow(zk, "t", 4)
    assert sorted(new) == [2, 3] and all(len(set(r)) == 2 for r in new.values())
    written = zkdata.decode_topic_assignment(zk.nodes[zkdata.topic_path("t")][0])
    assert written.topic_id == "AAAAAAAAAAAAAAAAAAAAAQ"
    assert {p: list(r) for p, r in written.partitions.items()} == {0: [2, 3], 1: [3, 1], **new}


def test_validate_only_writes_nothing(zk):
    """validate_only: the assignment is computed and checked, the znode stays."""
    before = zk.nodes[zkdata.topic_path("t")][0]
    assert sorted(grow(zk, "t", 3, validate_only=True)) == [2]
    assert zk.nodes[zkdata.topic_path("t")][0] == before


@pytest.mark.parametrize(("count", "assignments", "error", "message"), [
    (2, None, errors.InvalidPartitionsError, "Topic already has 2 partitions."),
    (1, None, errors.InvalidPartitionsError, "higher than the requested 1"),
    (3, [[1, 7]], errors.InvalidReplicaAssignmentError, "Unknown broker(s) in replica assignment: 7."),
    (4, [[1, 2]], errors.InvalidReplicaAssignmentError, "by 2 but 1 assignments provided"),
    (3, [[1, 1]], errors.InvalidReplicaAssignmentError, "Duplicate brokers"),
    (3, [[1]], errors.InvalidReplicaAssignmentError, "Inconsistent replication factor"),
])
def test_refusals(zk, count, assignments, error, message):
    """Kafka's AdminZkClient checks, with its messages."""
    with pytest.raises(error) as caught:
        grow(zk, "t", count, assignments)
    assert message in caught.value.message


def test_unknown_deleted_and_reassigned_topics(zk):
    """No topic: UNKNOWN_TOPIC_OR_PARTITION; queued for deletion: INVALID_TOPIC_EXCEPTION; a reassignment
    in progress (adding/removing replicas recorded): REASSIGNMENT_IN_PROGRESS."""
    with pytest.raises(errors.UnknownTopicOrPartitionError):
        grow(zk, "absent", 2)
    zk.put(zkdata.delete_topic_path("t"), b"")
    with pytest.raises(errors.InvalidTopicError):
        grow(zk, "t", 3)
    zk.put(zkdata.topic_path("r"), json.dumps({"version": 2, "partitions": {"0": [1, 2, 3]},
                                               "adding_replicas": {"0": [3]}, "removing_replicas": {}}).encode())
    with pytest.raises(errors.ReassignmentInProgressError):
        grow(zk, "r", 2)
