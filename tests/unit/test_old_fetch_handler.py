"""``KafkaApis.handle_fetch`` for Fetch v0–v3 (``kafkalite.server.old_fetch``) over a real ReplicaManager.

Requests and responses go through the real codec (:class:`tests.support.replica.LoopbackChannel`);
what a topic's config refuses to old fetchers, and the records they get, are checked.
"""

import dataclasses

import pytest

from kafkalite.log.config import LogConfig
from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.message_set import decode_message_set, message_set_records
from kafkalite.protocol.records import iter_batch_headers
from tests.support.replica import LoopbackChannel, ReplicaBroker, fired

CONFIGS = {
    "zstd-topic": dataclasses.replace(LogConfig(), compression_type="zstd"),
    "no-conversion": dataclasses.replace(LogConfig(), message_downconversion_enable=False),
}


@pytest.fixture
def broker(tmp_path):
    broker = ReplicaBroker(tmp_path, topic_configs=CONFIGS)
    for topic in ("t", *CONFIGS):
        broker.lead(topic, 0, isr=(1,))
        broker.produce([b"a", b"b", b"c"], topic=topic, acks=1)
    yield broker
    broker.close()


def fetch(broker, version, topic, offset=0):
    body = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 0, "max_bytes": 1 << 20, "isolation_level": 0,
            "topics": [{"topic": topic, "partitions": [
                {"partition": 0, "fetch_offset": offset, "partition_max_bytes": 1 << 20}]}]}
    response = fired(LoopbackChannel(broker).send(ApiKey.FETCH, version, body))
    partition = response["responses"][0]["partitions"][0]
    return partition["error_code"], bytes(partition["records"] or b"")


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_old_fetchers_get_message_sets_of_their_format(broker, version):
    code, records = fetch(broker, version, "t", offset=1)
    entries = decode_message_set(records)
    assert code == 0 and {e.magic for e in entries} == {0 if version <= 1 else 1}
    assert [(r.offset, r.value) for r in message_set_records(entries)] == [(1, b"b"), (2, b"c")]


@pytest.mark.parametrize("version", [0, 3])
def test_topic_configs_refuse_old_fetchers_as_kafka(broker, version):
    """compression.type=zstd: UNSUPPORTED_COMPRESSION_TYPE; message.downconversion.enable=false: UNSUPPORTED_VERSION."""
    assert fetch(broker, version, "zstd-topic") == (errors.UnsupportedCompressionTypeError.code, b"")
    assert fetch(broker, version, "no-conversion") == (errors.UnsupportedVersionError.code, b"")


def test_fetch_v4_is_never_converted(broker):
    code, records = fetch(broker, 4, "no-conversion")
    assert code == 0 and [h.records_count for h in iter_batch_headers(records)] == [3]
