"""Leader epochs after a leader change: OffsetForLeaderEpoch and KIP-320 fencing on the wire.

The partition's first leader writes records at epoch 0; it is stopped (controlled
shutdown, so the epoch goes up) and the new leader writes more. The new leader
answers OffsetForLeaderEpoch with the end of each epoch, fences requests carrying an
older epoch (FENCED_LEADER_EPOCH) or a newer one (UNKNOWN_LEADER_EPOCH), and the
remaining follower answers NOT_LEADER_OR_FOLLOWER.
"""

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.recordcodec import Record, build_batch
from tests.integration.replication_support import create_topic, wait_for_partition, zk_state
from tests.support import wire

OVERRIDES = {"zookeeper.session.timeout.ms": "30000", "auto.leader.rebalance.enable": "false",
             "controlled.shutdown.retry.backoff.ms": "500"}


def offset_for_epoch(address, topic, epoch, current_leader_epoch=-1, version=4):
    with wire.WireClient(address) as client:
        response = client.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, version, {"replica_id": -1, "topics": [
            {"topic": topic, "partitions": [
                {"partition": 0, "current_leader_epoch": current_leader_epoch, "leader_epoch": epoch}]}]})
    return response["topics"][0]["partitions"][0]


def fetch(address, topic, current_leader_epoch, version=12):
    with wire.WireClient(address) as client:
        response = client.request(ApiKey.FETCH, version, {
            "replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1, "forgotten_topics_data": [], "rack_id": "",
            "topics": [{"topic": topic, "partitions": [
                {"partition": 0, "current_leader_epoch": current_leader_epoch, "fetch_offset": 0,
                 "last_fetched_epoch": -1, "log_start_offset": -1, "partition_max_bytes": 1 << 20}]}]})
    return response["responses"][0]["partitions"][0]


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_offset_for_leader_epoch_and_fencing_after_leader_change(cluster):
    """Epoch ends as the new leader's log records them; older/newer client epochs are fenced."""
    topic = "epochs"
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2, 3]])
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1 and len(p.isrs) == 3, "leader 1")
    batch = build_batch([Record(b"k", b"v%d" % i) for i in range(5)])
    assert wire.produce(cluster.broker(1).bootstrap, topic, 0, batch, acks=-1)["error_code"] == 0

    assert cluster.broker(1).stop() == 0
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 2, "leader 2")
    epoch = zk_state(cluster.zk_connect, topic)["leader_epoch"]
    assert epoch >= 1
    leader, follower = cluster.broker(2).bootstrap, cluster.broker(3).bootstrap
    batch = build_batch([Record(b"k", b"w%d" % i) for i in range(3)])
    assert wire.produce(leader, topic, 0, batch, acks=-1)["error_code"] == 0

    first = offset_for_epoch(leader, topic, 0, current_leader_epoch=epoch)
    assert (first["error_code"], first["leader_epoch"], first["end_offset"]) == (0, 0, 5)
    current = offset_for_epoch(leader, topic, epoch, current_leader_epoch=epoch)
    assert (current["error_code"], current["leader_epoch"], current["end_offset"]) == (0, epoch, 8)
    old_version = offset_for_epoch(leader, topic, 0, version=0)
    assert (old_version["error_code"], old_version["end_offset"]) == (0, 5)

    assert offset_for_epoch(leader, topic, 0, current_leader_epoch=epoch - 1)["error_code"] == \
        errors.FencedLeaderEpochError.code
    assert offset_for_epoch(leader, topic, 0, current_leader_epoch=epoch + 1)["error_code"] == \
        errors.UnknownLeaderEpochError.code
    assert offset_for_epoch(follower, topic, 0)["error_code"] == errors.NotLeaderOrFollowerError.code

    assert fetch(leader, topic, epoch - 1)["error_code"] == errors.FencedLeaderEpochError.code
    assert fetch(leader, topic, epoch + 1)["error_code"] == errors.UnknownLeaderEpochError.code
    assert fetch(leader, topic, epoch)["error_code"] == 0
    # Before v11 a consumer reads from the leader only; from v11 a follower serves it too (KIP-392).
    assert fetch(follower, topic, epoch, version=10)["error_code"] == errors.NotLeaderOrFollowerError.code
    assert fetch(follower, topic, epoch)["error_code"] == 0
    assert wire.list_offset(leader, topic, current_leader_epoch=epoch - 1)["error_code"] == \
        errors.FencedLeaderEpochError.code
    found = wire.list_offset(leader, topic, current_leader_epoch=epoch)
    assert (found["error_code"], found["offset"], found["leader_epoch"]) == (0, 8, epoch)
