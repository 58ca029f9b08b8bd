"""Down-conversion of v2 batches for Fetch v0–v3 (``kafkalite.protocol.down_conversion``) and its
budget across partitions (``kafkalite.server.old_fetch.convert_partitions``).

Batches are built with ``recordcodec.build_batch``; what comes out is read back with
``message_set.decode_message_set`` and cut at message boundaries by hand, so "whole
messages only" is checked on the bytes themselves.
"""

import struct

import pytest

from kafkalite.protocol import errors
from kafkalite.protocol.down_conversion import down_convert, magic_for_fetch_version
from kafkalite.protocol.message_set import decode_message_set, message_set_records
from kafkalite.protocol.recordcodec import Record, build_batch
from kafkalite.server.old_fetch import convert_partitions
from tests.support.old_clients import message_sizes

T0 = 1_700_000_000_000


def batch(base_offset, count, compression=0, with_headers=True, is_control=False, size=10):
    records = [Record(b"k%d" % (base_offset + i), b"v" * size + b"%d" % (base_offset + i),
                      (("h", b"x"),) if with_headers else (), T0 + base_offset + i)
               for i in range(count)]
    return bytes(build_batch(records, base_offset=base_offset, compression=compression, is_control=is_control))


def decoded(data):
    """``[(offset, key, value, timestamp)]`` of a message set, wrappers opened."""
    return [(r.offset, r.key, r.value, r.timestamp) for r in message_set_records(decode_message_set(data))]


def test_fetch_versions_read_their_message_format():
    assert [magic_for_fetch_version(v) for v in range(6)] == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("magic", [0, 1])
def test_uncompressed_batches_become_one_message_per_record_without_headers(magic):
    data = batch(0, 3) + batch(3, 2)
    out = down_convert(data, magic, 0, 1 << 20)
    assert out.error_code == 0 and out.messages == 5 and out.next_offset == 5
    assert len(message_sizes(out.records)) == 5
    rows = decoded(out.records)
    assert [(o, k, v) for o, k, v, _ in rows] == [(i, b"k%d" % i, b"v" * 10 + b"%d" % i) for i in range(5)]
    expected_timestamp = (lambda i: T0 + i) if magic == 1 else (lambda i: -1)
    assert [t for *_, t in rows] == [expected_timestamp(i) for i in range(5)]


@pytest.mark.parametrize("codec", [1, 2, 3])
@pytest.mark.parametrize("magic", [0, 1])
def test_compressed_batches_become_one_wrapper_of_the_same_codec(magic, codec):
    data = batch(0, 4, codec) + batch(4, 3, codec)
    out = down_convert(data, magic, 5, 1 << 20)
    # whole wrappers: the records before the fetch offset stay inside them (the consumer skips them)
    assert out.messages == 2 and len(message_sizes(out.records)) == 2
    assert [o for o, *_ in decoded(out.records)] == list(range(7))
    attributes = struct.unpack_from(">b", out.records, 12 + 4 + 1)[0]
    assert attributes & 0x07 == codec


def test_uncompressed_records_before_the_fetch_offset_are_dropped():
    out = down_convert(batch(0, 5), 1, 3, 1 << 20)
    assert [o for o, *_ in decoded(out.records)] == [3, 4]


def test_control_batches_are_skipped():
    data = batch(0, 2) + batch(2, 1, is_control=True) + batch(3, 1)
    assert [o for o, *_ in decoded(down_convert(data, 1, 0, 1 << 20).records)] == [0, 1, 3]


def test_a_first_zstd_batch_fails_the_partition_and_a_later_one_ends_the_answer():
    zstd = batch(2, 2, compression=4)
    first = down_convert(zstd + batch(4, 1), 1, 2, 1 << 20)
    assert (first.error_code, first.records) == (errors.UnsupportedCompressionTypeError.code, b"")
    later = down_convert(batch(0, 2) + zstd + batch(4, 1), 1, 0, 1 << 20)
    assert later.error_code == 0 and [o for o, *_ in decoded(later.records)] == [0, 1]


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("limit", [1, 40, 100, 150, 333])
def test_limits_count_converted_bytes_and_keep_messages_whole(magic, limit):
    data = batch(0, 10, size=20)
    whole = message_sizes(down_convert(data, magic, 0, 1 << 20).records)
    out = down_convert(data, magic, 0, limit)
    sizes = message_sizes(out.records)
    assert len(sizes) >= 1
    if len(sizes) > 1:
        assert sum(sizes) <= limit
    # as many as fit, in order
    fitting = max(1, max(n for n in range(len(whole) + 1) if sum(whole[:n]) <= limit))
    assert sizes == whole[:fitting]
    assert out.next_offset == fitting


def test_without_min_one_message_a_first_message_over_the_limit_is_not_sent():
    out = down_convert(batch(0, 3, size=50), 1, 0, 30, min_one_message=False)
    assert (out.records, out.messages, out.next_offset) == (b"", 0, None)


def test_a_compressed_wrapper_over_the_limit_is_sent_only_first():
    data = batch(0, 5, 1, size=200) + batch(5, 5, 1, size=200)
    out = down_convert(data, 1, 0, 10)
    assert out.messages == 1 and [o for o, *_ in decoded(out.records)] == [0, 1, 2, 3, 4]


def test_the_response_budget_spans_partitions_and_only_the_first_gets_an_oversized_message():
    big = batch(0, 2, size=300)
    small = batch(0, 1, size=5)
    outcomes = convert_partitions([(big, 0, 1 << 20), (small, 0, 1 << 20), (big, 0, 100)], 1, 200)
    assert len(message_sizes(outcomes[0].records)) == 1  # over 200, sent anyway: the first message
    assert outcomes[1].records == b"" and outcomes[2].records == b""
    spread = convert_partitions([(small, 0, 1 << 20), (small, 0, 1 << 20)], 0, 1 << 20)
    assert all(len(message_sizes(o.records)) == 1 for o in spread)


def test_an_empty_partition_does_not_take_the_first_message_privilege():
    outcomes = convert_partitions([(b"", 0, 1 << 20), (batch(0, 1, size=500), 0, 1 << 20)], 1, 100)
    assert outcomes[0].records == b"" and len(message_sizes(outcomes[1].records)) == 1


def test_log_append_time_is_kept_in_format_v1():
    records = [Record(None, b"v%d" % i, (), T0 + i) for i in range(3)]
    data = bytes(build_batch(records, timestamp_type=1))
    entries = decode_message_set(down_convert(data, 1, 0, 1 << 20).records)
    assert [(e.timestamp_type, e.timestamp) for e in entries] == [(1, T0 + 2)] * 3
