"""ReplicaManager's produce path: acks, the acks=all purgatory, min.insync.replicas and leadership moves.

A real ``ReplicaManager`` over real logs in ``tmp_path`` and a ``task.Clock``
(:class:`tests.support.replica.ReplicaBroker`), led into its partitions by LeaderAndIsr
requests and given real v2 batches, as the Produce handler gives them. Followers are
played by their fetches: a follower's fetch offset is how the leader learns what it holds.
"""

import pytest

from kafkalite.log.config import LogConfig
from kafkalite.protocol import errors
from kafkalite.protocol.recordcodec import decode_batches
from tests.support.replica import (
    ReplicaBroker,
    fired,
    partition_state,
    record_batch,
    stop_replica_request,
    update_metadata_request,
)

STRICT = LogConfig(min_insync_replicas=2)


@pytest.fixture
def broker(tmp_path):
    """Broker 1; topic ``strict`` has min.insync.replicas=2, every other topic Kafka's defaults."""
    broker = ReplicaBroker(tmp_path, topic_configs={"strict": STRICT})
    yield broker
    broker.close()


@pytest.mark.parametrize("acks", [0, 1])
def test_acks_0_and_1_are_answered_at_once_with_the_assigned_offsets(broker, acks):
    """acks=0/1 need only the leader's append: offsets come back at once, followers or not."""
    partition = broker.lead(isr=(1, 2, 3))
    first = broker.produce([b"a", b"b", b"c"], acks=acks)
    second = broker.produce([b"d"], acks=acks)
    assert (first.error_code, first.base_offset, first.log_start_offset) == (0, 0, 0)
    assert (second.error_code, second.base_offset) == (0, 3)
    assert first.log_append_time_ms == -1  # CreateTime topic
    assert partition.log.log_end_offset == 4
    assert partition.high_watermark == 0  # nobody else has it yet
    assert len(broker.manager.produce_purgatory) == 0


def test_append_writes_the_leader_epoch_into_the_batch(broker):
    """The leader stamps its epoch into the stored batch (outside the CRC), offsets assigned from its end."""
    partition = broker.lead(leader_epoch=7, isr=(1,))
    broker.produce([b"x"], acks=1)
    broker.produce([b"y", b"z"], acks=1)
    stored = partition.log.read(0, 1 << 20).records.read()
    headers = [header for header, _ in decode_batches(stored)]
    assert [(h.base_offset, h.partition_leader_epoch) for h in headers] == [(0, 7), (1, 7)]


def test_acks_all_waits_until_every_isr_member_has_fetched_past_the_batch(broker):
    """acks=-1 parks until each ISR follower's fetch offset passes the batch; then it answers, HW moved."""
    partition = broker.lead(isr=(1, 2, 3))
    broker.produce([b"old"], acks=1)
    d = broker.produce([b"a", b"b"])
    assert not d.called
    broker.replicate(2, 3)
    assert not d.called  # replica 3 has nothing yet
    broker.replicate(3, 2)
    assert not d.called  # replica 3 holds offsets up to 1, the batch ends at 2
    assert partition.high_watermark == 2
    broker.replicate(3, 3)
    result = fired(d)
    assert (result.error_code, result.base_offset) == (0, 1)
    assert partition.high_watermark == 3
    assert len(broker.manager.produce_purgatory) == 0


def test_acks_all_with_the_leader_alone_in_the_isr_is_answered_at_once(broker):
    """With ISR = [leader], the append itself is everything acks=-1 waits for."""
    partition = broker.lead(isr=(1,), replicas=(1, 2))
    d = broker.produce([b"a"])
    assert (fired(d).error_code, partition.high_watermark) == (0, 1)


def test_acks_all_times_out_through_the_clock(broker):
    """A follower that never fetches: at timeout_ms the produce answers REQUEST_TIMED_OUT; the data stays."""
    partition = broker.lead(isr=(1, 2))
    d = broker.produce([b"a"], timeout_ms=1500)
    broker.clock.advance(1.499)
    assert not d.called
    broker.clock.advance(0.001)
    assert fired(d).error_code == errors.RequestTimedOutError.code
    assert partition.log.log_end_offset == 1 and partition.high_watermark == 0
    assert len(broker.manager.produce_purgatory) == 0


def test_not_enough_replicas_refuses_acks_all_before_appending(broker):
    """ISR below min.insync.replicas: acks=-1 is refused and nothing is written; acks=1 still appends."""
    partition = broker.lead(topic="strict", isr=(1,), replicas=(1, 2))
    result = broker.produce([b"a"], topic="strict")  # answered at once: there is nothing to wait for
    assert result.error_code == errors.NotEnoughReplicasError.code
    assert "min.insync.replicas=2" in result.error_message
    assert partition.log.log_end_offset == 0
    assert broker.produce([b"a"], acks=1, topic="strict").error_code == 0
    assert partition.log.log_end_offset == 1


def test_isr_shrinking_while_waiting_answers_not_enough_replicas_after_append(broker):
    """Appended with ISR [1, 2] (min 2); follower 2 never fetches and is dropped: NOT_ENOUGH_REPLICAS_AFTER_APPEND."""
    partition = broker.lead(topic="strict", isr=(1, 2), replicas=(1, 2))
    d = broker.produce([b"a"], topic="strict", timeout_ms=60_000)
    assert not d.called
    broker.clock.advance(15)  # the ISR check every 5 s finds follower 2 silent for more than 10 s
    assert broker.isr_writer.writes == [(("strict", 0), [1])]
    assert not d.called  # not shrunk until the write lands
    broker.isr_writer.complete()
    assert partition.isr == [1]
    assert fired(d).error_code == errors.NotEnoughReplicasAfterAppendError.code
    assert partition.log.log_end_offset == 1  # the append itself is not undone


def test_unknown_partition_and_non_leader_errors(broker):
    """Unknown anywhere: UNKNOWN_TOPIC_OR_PARTITION; known but led elsewhere, or followed here: NOT_LEADER.

    acks=-1 answers these at once too: nothing was appended, so there is nothing to wait for.
    """
    broker.metadata_cache.update(update_metadata_request([partition_state("elsewhere", 0, leader=2)]))
    broker.leader_and_isr(partition_state("followed", 0, leader=2))
    for topic, code in [("nowhere", errors.UnknownTopicOrPartitionError.code),
                        ("elsewhere", errors.NotLeaderOrFollowerError.code),
                        ("followed", errors.NotLeaderOrFollowerError.code)]:
        for acks in (1, -1):
            result = broker.produce([b"a"], acks=acks, topic=topic)
            assert (topic, acks, result.error_code, result.base_offset) == (topic, acks, code, -1)
    assert broker.manager.partitions[("followed", 0)].log.log_end_offset == 0


def test_one_request_answers_each_partition_on_its_own(broker):
    """acks=-1 over three partitions: an unknown one fails, a lone leader's is done, the third waits."""
    broker.lead("t", 0, isr=(1,))
    broker.lead("t", 1, isr=(1, 2))
    d = broker.manager.append_records(-1, 1000, [
        ("t", 0, record_batch([b"a"])), ("t", 1, record_batch([b"b", b"c"])), ("t", 9, record_batch([b"d"]))], 8)
    assert not d.called
    broker.replicate(2, 2, partition=1)
    results = fired(d)
    assert [(key, r.error_code, r.base_offset) for key, r in sorted(results.items())] == [
        (("t", 0), 0, 0), (("t", 1), 0, 0), (("t", 9), errors.UnknownTopicOrPartitionError.code, -1)]


def test_zstd_needs_produce_v7(broker):
    """A zstd batch in Produce v6 is refused with UNSUPPORTED_COMPRESSION_TYPE and not appended; v7 takes it."""
    partition = broker.lead(isr=(1,))
    old = broker.produce([b"z" * 100], acks=1, api_version=6, compression=4)
    assert old.error_code == errors.UnsupportedCompressionTypeError.code
    assert partition.log.log_end_offset == 0
    new = broker.produce([b"z" * 100], acks=1, api_version=7, compression=4)
    assert (new.error_code, new.base_offset, partition.log.log_end_offset) == (0, 0, 1)


def test_corrupt_or_missing_records_are_refused_without_appending(broker):
    """A batch failing its CRC answers CORRUPT_MESSAGE, no records INVALID_RECORD; the log is untouched."""
    partition = broker.lead(isr=(1,))
    corrupt = record_batch([b"abc"])
    corrupt[-1] ^= 0xFF
    results = broker.manager.append_records(1, 1000, [("t", 0, corrupt)], 8)
    assert results[("t", 0)].error_code == errors.CorruptMessageError.code
    results = broker.manager.append_records(1, 1000, [("t", 0, None)], 8)
    assert results[("t", 0)].error_code == errors.InvalidRecordError.code
    assert partition.log.log_end_offset == 0


def test_parked_produce_answers_not_leader_when_a_newer_leader_and_isr_makes_us_follower(broker):
    """Leadership moves to broker 2 (epoch 2) while acks=-1 waits: the produce answers NOT_LEADER_OR_FOLLOWER."""
    broker.lead(isr=(1, 2), leader_epoch=1)
    d = broker.produce([b"a"], timeout_ms=30_000)
    assert not d.called
    response = broker.leader_and_isr(partition_state(leader=2, leader_epoch=2, isr=(1, 2)))
    assert response["partition_errors"][0]["error_code"] == 0
    assert fired(d).error_code == errors.NotLeaderOrFollowerError.code
    assert len(broker.manager.produce_purgatory) == 0


def test_parked_produce_answers_not_leader_when_the_replica_is_stopped(broker):
    """StopReplica (say, a reassignment away from us) while acks=-1 waits: NOT_LEADER_OR_FOLLOWER at once."""
    broker.lead(isr=(1, 2), leader_epoch=1)
    d = broker.produce([b"a"], timeout_ms=30_000)
    response = broker.manager.stop_replicas(stop_replica_request([("t", 0)], leader_epoch=2))
    assert response["partition_errors"] == [{"topic_name": "t", "partition_index": 0, "error_code": 0}]
    assert fired(d).error_code == errors.NotLeaderOrFollowerError.code
    assert ("t", 0) not in broker.manager.partitions


def test_stale_leader_and_isr_leaves_a_parked_produce_waiting(broker):
    """A LeaderAndIsr at our current leader epoch is refused; the parked produce keeps waiting and succeeds."""
    partition = broker.lead(isr=(1, 2), leader_epoch=3)
    d = broker.produce([b"a"], timeout_ms=30_000)
    response = broker.leader_and_isr(partition_state(leader=2, leader_epoch=3, isr=(2,)))
    assert response["partition_errors"][0]["error_code"] == errors.StaleControllerEpochError.code
    assert partition.is_leader and not d.called
    broker.replicate(2, 1)
    assert fired(d).error_code == 0


def test_shutdown_times_out_parked_produces(broker):
    """Shutting down answers every parked acks=-1 produce (REQUEST_TIMED_OUT) instead of leaving it hanging."""
    broker.lead(isr=(1, 2))
    d = broker.produce([b"a"], timeout_ms=30_000)
    broker.manager.shutdown()
    assert fired(d).error_code == errors.RequestTimedOutError.code
    assert broker.isr_writer.stopped


def test_a_set_the_handler_refused_is_answered_after_the_leadership_check(broker):
    """Produce v0–v2: a message set the handler could not convert comes as its error; the partition
    answers it (appending nothing) only when led here, else the leadership error comes first."""
    partition = broker.lead(isr=(1,))
    refused = errors.CorruptMessageError("message is corrupt")
    results = broker.manager.append_records(1, 1000, [("t", 0, refused), ("t", 9, refused)], 1)
    assert (results[("t", 0)].error_code, results[("t", 0)].error_message) == (2, "message is corrupt")
    assert results[("t", 9)].error_code == errors.UnknownTopicOrPartitionError.code
    assert partition.log.log_end_offset == 0
    assert broker.produce([b"a"], acks=1).base_offset == 0
