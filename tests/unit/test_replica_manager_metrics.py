"""The replica manager's metric hooks: BrokerTopicMetrics per hosted topic and broker-wide, ISR
shrinks/expands as leader, and a deleted topic's series dropped.

A real ``ReplicaManager`` over real logs (:class:`tests.support.replica.ReplicaBroker`) with a
real :class:`kafkalite.metrics.BrokerMetrics` in its own registry.
"""

import pytest
from prometheus_client import CollectorRegistry

from kafkalite.log.config import LogConfig
from kafkalite.metrics import BrokerMetrics
from kafkalite.protocol import errors
from kafkalite.protocol.recordcodec import Record, build_batch
from tests.support.replica import ReplicaBroker, stop_replica_request

TOPIC_METRICS = "kafka_server_brokertopicmetrics_"


@pytest.fixture
def broker(tmp_path):
    """Broker 1 with metrics; topic ``strict`` has min.insync.replicas=2."""
    broker = ReplicaBroker(tmp_path, topic_configs={"strict": LogConfig(min_insync_replicas=2)},
                           lag_time_max_ms=10_000)
    broker.registry = CollectorRegistry()
    broker.manager.metrics = BrokerMetrics(broker.registry, process=False)
    yield broker
    broker.close()


def value(broker, name, **labels):
    return broker.registry.get_sample_value(name, labels)


def test_produce_counts_per_hosted_topic_and_broker_wide(broker):
    """Appends count records, bytes and partitions; an unknown topic counts broker-wide only, not as failed."""
    broker.lead(isr=(1,))
    assert broker.produce([b"a", b"b", b"c"], acks=1).error_code == 0
    assert broker.produce([b"d"], acks=1, topic="ghost").error_code == errors.UnknownTopicOrPartitionError.code
    assert value(broker, TOPIC_METRICS + "messagesin_total", topic="t") == 3
    assert value(broker, TOPIC_METRICS + "bytesin_total", topic="t") > 0
    assert value(broker, TOPIC_METRICS + "totalproducerequests_total", topic="t") == 1
    assert value(broker, TOPIC_METRICS + "totalproducerequests_total") == 2
    assert value(broker, TOPIC_METRICS + "totalproducerequests_total", topic="ghost") is None
    assert value(broker, TOPIC_METRICS + "failedproducerequests_total") == 0


def test_not_enough_replicas_is_a_failed_produce(broker):
    """NOT_ENOUGH_REPLICAS is not one of the errors Kafka leaves out of FailedProduceRequestsPerSec."""
    broker.lead(topic="strict", isr=(1,))
    assert broker.produce([b"x"], acks=-1, topic="strict").error_code == errors.NotEnoughReplicasError.code
    assert value(broker, TOPIC_METRICS + "failedproducerequests_total", topic="strict") == 1
    assert value(broker, TOPIC_METRICS + "failedproducerequests_total") == 1


def test_consumer_fetches_count_bytes_out_and_followers_do_not(broker):
    """A consumer's records are bytes out; a follower's are not; both count as fetch partitions."""
    broker.lead(isr=(1, 2, 3))
    broker.produce([b"a", b"b"], acks=1)
    broker.replicate(2, 0)
    assert value(broker, TOPIC_METRICS + "bytesout_total", topic="t") == 0
    broker.replicate(2, 2)
    broker.replicate(3, 2)
    result = broker.fetch(0)
    assert result.error_code == 0
    assert value(broker, TOPIC_METRICS + "bytesout_total", topic="t") == result.records.length
    assert value(broker, TOPIC_METRICS + "totalfetchrequests_total", topic="t") == 4
    assert broker.fetch(0, topic="ghost").error_code == errors.UnknownTopicOrPartitionError.code
    assert value(broker, TOPIC_METRICS + "totalfetchrequests_total") == 5
    assert value(broker, TOPIC_METRICS + "failedfetchrequests_total") == 0


def test_isr_shrink_and_expand_are_counted_once_written(broker):
    """A lagging follower's removal counts a shrink when the write lands; its return an expansion."""
    broker.lead(isr=(1, 2), replicas=(1, 2))
    broker.clock.advance(11)  # follower 2 silent past replica.lag.time.max.ms; the periodic check runs
    assert broker.isr_writer.in_flight == 1
    assert value(broker, "kafka_server_replicamanager_isrshrinks_total") == 0
    broker.isr_writer.complete()
    assert value(broker, "kafka_server_replicamanager_isrshrinks_total") == 1
    broker.replicate(2, 0)
    broker.isr_writer.complete()
    assert value(broker, "kafka_server_replicamanager_isrexpands_total") == 1


def test_deleting_the_last_partition_of_a_topic_drops_its_series(broker):
    """StopReplica with delete for every partition of a topic here removes its BrokerTopicMetrics series."""
    broker.lead(partition=0, isr=(1,))
    broker.lead(partition=1, isr=(1,))
    broker.produce([b"a"], acks=1, partition=0)
    broker.manager.stop_replicas(stop_replica_request([("t", 0)], delete=True))
    assert value(broker, TOPIC_METRICS + "messagesin_total", topic="t") == 1
    broker.manager.stop_replicas(stop_replica_request([("t", 1)], delete=True))
    assert value(broker, TOPIC_METRICS + "messagesin_total", topic="t") is None
    assert value(broker, TOPIC_METRICS + "messagesin_total") == 1


def test_refused_records_are_failed_produces_and_too_large_batches_are_not(tmp_path):
    """Kafka counts a batch its LogValidator refuses (INVALID_RECORD) as a failed produce, with the
    records named for Produce v8; MESSAGE_TOO_LARGE is one of the errors it leaves out."""
    broker = ReplicaBroker(tmp_path, topic_configs={"c": LogConfig(cleanup_policy=("compact",)),
                                                    "small": LogConfig(max_message_bytes=100)})
    broker.registry = CollectorRegistry()
    broker.manager.metrics = BrokerMetrics(broker.registry, process=False)
    try:
        broker.lead(topic="c", isr=(1,))
        broker.lead(topic="small", isr=(1,))
        keyless = build_batch([Record(b"k", b"a"), Record(None, b"b")])
        result = broker.manager.append_records(1, 1000, [("c", 0, memoryview(keyless))], 8)[("c", 0)]
        assert result.error_code == errors.InvalidRecordError.code
        assert result.record_errors == ((1, "compacted topic cannot accept a record without a key"),)
        assert broker.produce([b"x" * 200], acks=1, topic="small").error_code == errors.MessageTooLargeError.code
        assert value(broker, TOPIC_METRICS + "failedproducerequests_total", topic="c") == 1
        assert value(broker, TOPIC_METRICS + "failedproducerequests_total", topic="small") == 0
        assert broker.manager.partitions[("c", 0)].log.log_end_offset == 0
    finally:
        broker.close()
