"""The Fetch handler with fetch sessions, and the leader's read of partitions with nothing to read.

``KafkaApis.handle_fetch`` over a real ``ReplicaManager`` (:class:`tests.support.replica.ReplicaBroker`),
requests and responses through the real codec (:class:`tests.support.replica.LoopbackChannel`).
"""

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from tests.support.replica import LoopbackChannel, ReplicaBroker, fired


@pytest.fixture
def broker(tmp_path):
    broker = ReplicaBroker(tmp_path)
    yield broker
    broker.close()


def fetch_body(partitions, replica_id=-1, session_id=0, session_epoch=-1, max_wait_ms=0, forgotten=()):
    """A Fetch v12 body for ``partitions`` (``[(topic, partition, fetch_offset, current_leader_epoch)]``)."""
    topics = {}
    for topic, partition, offset, epoch in partitions:
        topics.setdefault(topic, []).append({
            "partition": partition, "current_leader_epoch": epoch, "fetch_offset": offset, "last_fetched_epoch": -1,
            "log_start_offset": 0, "partition_max_bytes": 1 << 20})
    return {"replica_id": replica_id, "max_wait_ms": max_wait_ms, "min_bytes": 1, "max_bytes": 1 << 20,
            "isolation_level": 0, "session_id": session_id, "session_epoch": session_epoch,
            "topics": [{"topic": t, "partitions": p} for t, p in topics.items()],
            "forgotten_topics_data": [{"topic": t, "partitions": [p]} for t, p in forgotten], "rack_id": ""}


def fetch(broker, version=12, **body):
    return fired(LoopbackChannel(broker).send(ApiKey.FETCH, version, fetch_body(**body)))


def listed(response):
    return [(t["topic"], p["partition_index"], p["error_code"]) for t in response["responses"] for p in t["partitions"]]


def test_consumers_asking_for_a_session_get_a_full_sessionless_answer(broker):
    """kafka-python asks for a session (epoch 0): session id 0 and every partition, as Kafka with a full cache."""
    broker.lead("t", 0, isr=(1,))
    broker.lead("t", 1, isr=(1,))
    for epoch in (0, -1):
        response = fetch(broker, partitions=[("t", 0, 0, -1), ("t", 1, 0, -1)], session_epoch=epoch)
        assert (response["error_code"], response["session_id"]) == (0, 0)
        assert listed(response) == [("t", 0, 0), ("t", 1, 0)]
    assert len(broker.manager.fetch_sessions) == 0


def test_fetch_before_sessions_existed_is_answered_as_before(broker):
    """Fetch v4 carries no session fields: every partition, in request order."""
    broker.lead("t", 0, isr=(1,))
    broker.produce([b"a"], acks=1)
    response = fetch(broker, version=4, partitions=[("t", 0, 0, -1), ("nowhere", 0, 0, -1)])
    assert listed(response) == [("t", 0, 0), ("nowhere", 0, errors.UnknownTopicOrPartitionError.code)]
    assert len(response["responses"][0]["partitions"][0]["records"]) > 0


def test_session_errors_are_top_level(broker):
    """An unknown session id answers 70, a wrong epoch 71: top-level error, no partitions, nothing read."""
    broker.lead("t", 0, isr=(1, 2))
    response = fetch(broker, partitions=[("t", 0, 0, -1)], replica_id=2, session_id=99, session_epoch=1)
    assert (response["error_code"], response["session_id"], response["responses"]) == \
        (errors.FetchSessionIdNotFoundError.code, 0, [])
    session_id = fetch(broker, partitions=[("t", 0, 0, -1)], replica_id=2, session_epoch=0)["session_id"]
    assert session_id != 0
    response = fetch(broker, partitions=[], replica_id=2, session_id=session_id, session_epoch=2)
    assert (response["error_code"], response["responses"]) == (errors.InvalidFetchSessionEpochError.code, [])
    response = fetch(broker, partitions=[], replica_id=2, session_id=session_id, session_epoch=1)
    assert (response["error_code"], response["session_id"], response["responses"]) == (0, session_id, [])


def test_incremental_fetch_reads_the_whole_session_and_lists_the_changes(broker):
    """A fetch listing no partition still serves every session partition: an append shows up alone."""
    for p in range(3):
        broker.lead("t", p, isr=(1, 2), replicas=(1, 2))
    session_id = fetch(broker, partitions=[("t", p, 0, -1) for p in range(3)], replica_id=2,
                       session_epoch=0)["session_id"]
    broker.produce([b"x"], acks=1, partition=2)
    response = fetch(broker, partitions=[], replica_id=2, session_id=session_id, session_epoch=1)
    assert listed(response) == [("t", 2, 0)]
    assert len(response["responses"][0]["partitions"][0]["records"]) > 0


def count_reads(partition):
    """Count the calls of ``partition.log.read`` from now on; a list whose length is the count."""
    calls = []
    read = partition.log.read

    def counting(*args, **kwargs):
        calls.append(args)
        return read(*args, **kwargs)

    partition.log.read = counting
    return calls


def test_a_follower_at_the_log_end_is_not_read_but_still_tracked(broker):
    """Nothing to read at the log end: no log read, yet the follower's position moves the high watermark and
    it rejoins the ISR, as before."""
    partition = broker.lead(isr=(1,), replicas=(1, 2))
    broker.produce([b"a", b"b"], acks=1)
    reads = count_reads(partition)
    result = broker.replicate(2, 2)
    assert (result.error_code, result.records, result.high_watermark) == (0, None, 2)
    assert reads == []
    assert partition.followers[2].log_end_offset == 2
    assert broker.isr_writer.writes == [(("t", 0), [1, 2])]


def test_a_consumer_at_the_high_watermark_is_not_read(broker):
    """A consumer between the high watermark and the log end gets nothing, without a log read."""
    partition = broker.lead(isr=(1, 2))
    broker.produce([b"a"], acks=1)
    reads = count_reads(partition)
    assert partition.high_watermark == 0
    assert broker.fetch(0).records is None
    assert broker.fetch(1).records is None
    assert reads == []
    assert broker.fetch(2).error_code == errors.OffsetOutOfRangeError.code


def test_checks_still_run_for_a_partition_with_nothing_to_read(broker):
    """At the log end a stale leader epoch is still fenced and a diverging follower still told where to truncate."""
    broker.lead(isr=(1, 2), leader_epoch=3)
    broker.produce([b"a"], acks=1)
    assert broker.fetch(1, replica_id=2, current_leader_epoch=2).error_code == errors.FencedLeaderEpochError.code
    assert broker.fetch(1, replica_id=2, current_leader_epoch=4).error_code == errors.UnknownLeaderEpochError.code
    diverged = broker.fetch(1, replica_id=2, current_leader_epoch=3, last_fetched_epoch=2)
    assert diverged.diverging_epoch is not None and diverged.records is None
