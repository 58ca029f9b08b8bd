"""ReplicaManager's KIP-392 reads (followers serving consumers, leaders naming a preferred read replica)
and DeleteRecords' wait for every live replica's log start offset, over real logs and a ``task.Clock``."""

import pytest

from kafkalite.protocol import errors
from kafkalite.replica.delete_records import delete_records
from kafkalite.replica.manager import FetchRequestPartition
from kafkalite.replica.read_replica import ClientMetadata, RackAwareReplicaSelector
from tests.support.replica import ReplicaBroker, fetched_values, fired, partition_state, record_batch


@pytest.fixture
def broker(tmp_path):
    broker = ReplicaBroker(tmp_path)
    yield broker
    broker.close()


def _live(broker, racks):
    """The metadata cache names brokers ``racks`` (``{id: rack}``) live."""
    broker.metadata_cache.update({"controller_id": 1, "controller_epoch": 1, "live_brokers": [
        {"id": b, "rack": rack, "endpoints": [{"host": "h", "port": 9092, "listener": "PLAINTEXT",
                                               "security_protocol": 0}]} for b, rack in racks.items()]})


def _consume(broker, offset, client_metadata):
    request = FetchRequestPartition("t", 0, offset, 1 << 20)
    return broker.manager.fetch(-1, 0, 1, 1 << 20, [request], client_metadata=client_metadata)[0]


def test_a_follower_serves_fetch_v11_consumers_up_to_its_high_watermark(broker):
    """Broker 1 follows t-0: a consumer with client metadata (Fetch v11+) reads up to the follower's high
    watermark; one without (older fetches) is told NOT_LEADER_OR_FOLLOWER."""
    broker.leader_and_isr(partition_state(leader=2))
    log = broker.manager.partitions[("t", 0)].log
    log.append_as_follower(record_batch([b"a", b"b"]))
    third = bytearray(record_batch([b"c"]))
    third[0:8] = (2).to_bytes(8, "big")  # base offset 2, as the leader assigned it
    log.append_as_follower(memoryview(third))
    log.update_high_watermark(2)
    assert fetched_values(_consume(broker, 0, ClientMetadata("x"))) == [(0, b"a"), (1, b"b")]
    assert _consume(broker, 0, None).error_code == errors.NotLeaderOrFollowerError.code


def test_the_leader_names_the_follower_in_the_consumers_rack(broker):
    """With the selector, a rack-b consumer is sent to follower 2 (rack b, holding the offset), no records;
    a rack-a consumer reads here."""
    _live(broker, {1: "a", 2: "b", 3: "c"})
    broker.manager.replica_selector = RackAwareReplicaSelector()
    broker.lead(isr=(1, 2, 3))
    assert broker.produce([b"a", b"b"], acks=1).error_code == 0
    broker.replicate(2, 2)
    result = _consume(broker, 0, ClientMetadata("b"))
    assert (result.preferred_read_replica, result.records, result.high_watermark) == (2, None, 0)
    local = _consume(broker, 0, ClientMetadata("a"))
    assert local.preferred_read_replica == -1


def test_delete_records_waits_for_every_live_replica(broker):
    """The leader moves its start at once; the answer waits until follower 2 fetches with its start moved
    too (follower 3, not live, does not count); a timeout answers REQUEST_TIMED_OUT."""
    _live(broker, {1: None, 2: None})
    partition = broker.lead(isr=(1, 2), replicas=(1, 2, 3))
    assert broker.produce([b"a", b"b", b"c", b"d"], acks=1).error_code == 0
    broker.replicate(2, 4)
    d = delete_records(broker.manager, 1000, {("t", 0): 3})
    assert partition.log.log_start_offset == 3 and not d.called
    follower_fetch = FetchRequestPartition("t", 0, 4, 1 << 20, -1, 3)
    broker.manager.fetch(2, 0, 1, 1 << 20, [follower_fetch])
    result = fired(d)[("t", 0)]
    assert (result.error_code, result.low_watermark) == (0, 3)

    waiting = delete_records(broker.manager, 1000, {("t", 0): -1})  # -1: the high watermark, 4
    broker.clock.advance(1.0)
    result = fired(waiting)[("t", 0)]
    assert (result.error_code, result.low_watermark) == (errors.RequestTimedOutError.code, -1)


def test_delete_records_refusals(broker):
    """Beyond the high watermark: OFFSET_OUT_OF_RANGE; not the leader: NOT_LEADER_OR_FOLLOWER."""
    broker.lead(isr=(1,))
    assert broker.produce([b"a"], acks=1).error_code == 0
    broker.leader_and_isr(partition_state("other", 0, leader=2))
    results = fired(delete_records(broker.manager, 1000, {("t", 0): 5, ("other", 0): 0}))
    assert results[("t", 0)].error_code == errors.OffsetOutOfRangeError.code
    assert results[("other", 0)].error_code == errors.NotLeaderOrFollowerError.code
