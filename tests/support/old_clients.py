"""Helpers of the old-client tests: records written with a known codec, read back as stored.

librdkafka compresses gzip, snappy and lz4 only when the broker advertises Produce v0 (its
``compr_req`` table) and leaves a batch uncompressed when compressing does not pay, so a kcat
producer's ``-z`` does not guarantee the stored codec. :func:`produce_compressed` uses
kafka-python's producer, which compresses whatever the broker advertises, and checks that the
log holds batches of the codec asked for.
"""

import struct

from kafkalite.protocol.compression import codec_for_name
from kafkalite.protocol.records import iter_batch_headers


def value_of(i, codec, size=40):
    """The value of record ``i``: compressible, and naming its codec."""
    return ("value-%d-%s-" % (i, codec)).ljust(size, "x")


def stored_batches(broker, topic, partition=0):
    """The headers of the batches in the partition's segment files, in offset order."""
    segments = sorted((broker.log_dir / ("%s-%d" % (topic, partition))).glob("*.log"))
    return [header for segment in segments for header in iter_batch_headers(segment.read_bytes())]


def message_sizes(data):
    """The size of each whole message of a message set (v0/v1); asserts none is cut short."""
    sizes = []
    position = 0
    while position < len(data):
        _, size = struct.unpack_from(">qi", data, position)
        sizes.append(12 + size)
        position += 12 + size
    assert position == len(data), "a message was split"
    return sizes


def stored_codecs(broker, topic, partition=0):
    """The codecs of the batches in the partition's segment files."""
    return {header.compression for header in stored_batches(broker, topic, partition)}


def produce_compressed(broker, topic, count, codec, partition=0, size=40, start=0):
    """kafka-python produces ``key-i``/:func:`value_of` with two headers under ``codec`` to one partition
    (acks=all, in one or a few batches); asserts the new batches are stored with that codec."""
    from kafka import KafkaProducer

    before = len(stored_batches(broker, topic, partition))
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50, acks="all",
                             compression_type=None if codec == "none" else codec)
    try:
        futures = [producer.send(topic, key=b"key-%d" % i, value=value_of(i, codec, size).encode(),
                                 headers=[("origin", b"kafka-python"), ("codec", codec.encode())], partition=partition)
                   for i in range(start, start + count)]
        producer.flush(60)
        offsets = [future.get(timeout=60).offset for future in futures]
    finally:
        producer.close()
    assert {h.compression for h in stored_batches(broker, topic, partition)[before:]} == {codec_for_name(codec)}
    return offsets
