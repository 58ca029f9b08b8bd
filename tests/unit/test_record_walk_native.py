"""The C record walk (kafkalite/protocol/_recordwalk.c) against the pure-Python reference.

For valid batches built by the record codec and for every kind of mutation (record count, last
offset delta, record/key/value/header lengths, offset deltas, over-long varints, single bytes,
truncation, padding, keyless records on compacted topics, CreateTime windows at their edges,
timestamps at the int64 limits) the C walk accepts exactly what the reference accepts, with the
same largest timestamp, and ``check_records`` raises exactly the reference's exception.
"""

import shutil
import sysconfig

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkalite.protocol import record_validation
from kafkalite.protocol.record_validation import (
    NATIVE,
    RecordError,
    RecordTimestampError,
    check_records,
    check_records_reference,
)
from kafkalite.protocol.recordcodec import Record, build_batch
from kafkalite.protocol.records import BATCH_HEADER_SIZE, read_batch_header

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

needs_native = pytest.mark.skipif(not NATIVE, reason="the C record walk is not built here")


def _c_compiler():
    command = (sysconfig.get_config_var("CC") or "cc").split()
    return shutil.which(command[0]) if command else None


def test_the_c_walk_is_built_in_this_checkout():
    if not NATIVE and _c_compiler() is None:
        pytest.skip("no C compiler on this machine: records are validated in pure Python")
    assert NATIVE, "kafkalite/protocol/_recordwalk.c was not built: run make install (pip install -e .) " \
                   "and look for the compiler's errors"


def _outcome(walk, header, section, compacted, window):
    try:
        return "accepted", walk(header, section, compacted, window)
    except (RecordError, RecordTimestampError) as error:
        return type(error).__name__, str(error), error.record_errors


def _native(header, section, compacted, window):
    return record_validation._native_check(section, header.records_count, header.last_offset_delta,
                                           header.base_timestamp, compacted, window)


def assert_agree(header, section, compacted=False, window=None):
    """The C walk accepts exactly what the reference accepts, with the same largest timestamp, and
    ``check_records`` answers exactly as the reference does. Returns the reference's outcome."""
    reference = _outcome(check_records_reference, header, section, compacted, window)
    native = _native(header, section, compacted, window)
    if reference[0] == "accepted":
        assert native == reference[1], f"C walk {native!r}, reference accepted with {reference[1]}"
    else:
        assert native is None, f"C walk accepted ({native}), reference refused: {reference[1]}"
    assert _outcome(check_records, header, section, compacted, window) == reference
    return reference


def split(batch):
    return read_batch_header(batch, 0), bytes(batch[BATCH_HEADER_SIZE:])


_bytes = st.one_of(st.none(), st.binary(max_size=30))
_timestamps = st.one_of(st.just(-1), st.integers(min_value=-5, max_value=2**42))
_records = st.lists(st.builds(
    Record, key=_bytes, value=_bytes,
    headers=st.lists(st.tuples(st.text(max_size=6), _bytes), max_size=3).map(tuple),
    timestamp=_timestamps), min_size=1, max_size=10)


def _batch(records, base_timestamp=None):
    return split(build_batch(records, base_timestamp=base_timestamp))


# --- raw sections: every field under the test's control --------------------------------------------

def _uvarint(raw, extra=0):
    """``raw`` as an unsigned varint, with ``extra`` redundant zero groups (a longer, still valid encoding)."""
    out = bytearray()
    while raw >= 0x80:
        out.append(raw & 0x7F | 0x80)
        raw >>= 7
    out.append(raw)
    for _ in range(extra):
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


def _varint(value, extra=0):
    return _uvarint(value * 2 if value >= 0 else -2 * value - 1, extra)


def _field(data, length_change=0, extra=0):
    if data is None:
        return _varint(-1 + length_change, extra)
    return _varint(len(data) + length_change, extra) + data


def raw_record(offset_delta, key=b"k", value=b"v", headers=(), timestamp_delta=0, length_change=0,
               key_length_change=0, value_length_change=0, header_count_change=0, extra=0):
    body = b"\x00" + _varint(timestamp_delta, extra) + _varint(offset_delta, extra) + \
        _field(key, key_length_change, extra) + _field(value, value_length_change, extra) + \
        _varint(len(headers) + header_count_change, extra) + \
        b"".join(_field(header_key) + _field(header_value) for header_key, header_value in headers)
    return _varint(len(body) + length_change, extra) + body


_TEMPLATE = read_batch_header(build_batch([Record(b"k", b"v", timestamp=0)]), 0)


def raw_header(count, last_offset_delta=None, base_timestamp=0):
    return _TEMPLATE._replace(records_count=count, base_timestamp=base_timestamp,
                              last_offset_delta=count - 1 if last_offset_delta is None else last_offset_delta)


_changes = st.sampled_from([0] * 12 + [-3, -2, -1, 1, 2, 3, 200])
_raw_headers = st.lists(st.tuples(st.one_of(st.binary(max_size=4), st.none()), _bytes), max_size=2)


@st.composite
def raw_sections(draw, max_records=6):
    """``(header, section)`` of records whose every length, delta and varint may be off."""
    count = draw(st.integers(min_value=0, max_value=max_records))
    records = []
    for index in range(count):
        offset_delta = index + draw(st.sampled_from([0] * 10 + [-1, 1, 2]))
        records.append(raw_record(
            offset_delta, key=draw(_bytes), value=draw(_bytes),
            headers=draw(st.one_of(st.just(()), _raw_headers)),
            timestamp_delta=draw(st.integers(min_value=-10, max_value=10**6)),
            length_change=draw(_changes), key_length_change=draw(_changes), value_length_change=draw(_changes),
            header_count_change=draw(_changes), extra=draw(st.sampled_from([0] * 6 + [1, 3, 4, 9]))))
    declared = count + draw(st.sampled_from([0] * 8 + [-1, 1]))
    return raw_header(declared, base_timestamp=draw(_timestamps)), b"".join(records)


# --- the properties ---------------------------------------------------------------------------------

@needs_native
@settings(max_examples=300, deadline=None)
@given(_records, st.one_of(st.none(), _timestamps))
def test_valid_batches_are_accepted_by_both_with_the_largest_timestamp(records, base_timestamp):
    header, section = _batch(records, base_timestamp)
    largest = max(max(record.timestamp for record in records), -1)
    assert assert_agree(header, section) == ("accepted", largest)
    for view in (bytearray(section), memoryview(bytearray(b"xx" + section))[2:]):
        assert _native(header, view, False, None) == largest


@needs_native
@settings(max_examples=200, deadline=None)
@given(_records, st.data())
def test_record_counts_and_last_offset_deltas(records, data):
    header, section = _batch(records)
    around = st.integers(min_value=-3, max_value=len(records) + 3)
    extremes = st.sampled_from([INT64_MIN, -(2**31), 2**31 - 1, INT64_MAX - 1, INT64_MAX])
    count = data.draw(st.one_of(around, extremes))
    last_delta = data.draw(st.one_of(st.just(count - 1), around, extremes))
    assert_agree(header._replace(records_count=count, last_offset_delta=last_delta), section)


@needs_native
@settings(max_examples=500, deadline=None)
@given(raw_sections(), st.booleans())
def test_lengths_offset_deltas_header_counts_and_varints(header_and_section, compacted):
    header, section = header_and_section
    assert_agree(header, section, compacted)


@needs_native
@settings(max_examples=400, deadline=None)
@given(_records, st.data())
def test_single_byte_mutations(records, data):
    header, section = _batch(records)
    position = data.draw(st.integers(min_value=0, max_value=len(section) - 1))
    mutated = bytearray(section)
    mutated[position] = data.draw(st.integers(min_value=0, max_value=255))
    assert_agree(header, bytes(mutated), data.draw(st.booleans()))


@needs_native
@settings(max_examples=200, deadline=None)
@given(_records, st.data())
def test_truncation_and_padding(records, data):
    header, section = _batch(records)
    cut = data.draw(st.integers(min_value=0, max_value=len(section) - 1))
    assert assert_agree(header, section[:cut])[0] == "RecordError"
    padding = data.draw(st.binary(min_size=1, max_size=20))
    assert assert_agree(header, section + padding)[0] == "RecordError"


@needs_native
@settings(max_examples=200, deadline=None)
@given(_records, st.booleans(), st.one_of(st.none(), st.integers(min_value=-2, max_value=2**43)))
def test_keyless_records_on_compacted_topics(records, compacted, difference):
    header, section = _batch(records)
    window = None if difference is None else (2**41, difference)
    outcome = assert_agree(header, section, compacted, window)
    if compacted and any(record.key is None for record in records):
        assert outcome[0] != "accepted"


@needs_native
@settings(max_examples=300, deadline=None)
@given(_records, st.data())
def test_timestamp_windows_at_their_edges(records, data):
    header, section = _batch(records)
    stamped = [record.timestamp for record in records if record.timestamp != -1] or [0]
    edge = data.draw(st.sampled_from(stamped))
    difference = data.draw(st.integers(min_value=-1, max_value=2**40))
    now = edge + data.draw(st.sampled_from([-1, 1])) * (difference + data.draw(st.sampled_from([-1, 0, 1])))
    outcome = assert_agree(header, section, data.draw(st.booleans()), (now, difference))
    if outcome[0] == "accepted":
        assert all(abs(record.timestamp - now) <= difference for record in records if record.timestamp != -1)


_near_limits = st.one_of(
    st.integers(min_value=INT64_MIN, max_value=INT64_MIN + 3),
    st.integers(min_value=INT64_MAX - 3, max_value=INT64_MAX),
    st.integers(min_value=-3, max_value=3),
    st.integers(min_value=INT64_MIN, max_value=INT64_MAX))


@needs_native
@settings(max_examples=400, deadline=None)
@given(_near_limits, st.lists(st.one_of(_near_limits, st.integers(min_value=-(2**69), max_value=2**69 - 1)),
                              min_size=1, max_size=4),
       st.one_of(st.none(), st.tuples(_near_limits, _near_limits)))
def test_timestamps_at_the_int64_limits(base_timestamp, deltas, window):
    """Deltas as wide as a 10-byte varlong holds (70 bits), sums past either limit, windows at the limits."""
    section = b"".join(raw_record(index, timestamp_delta=delta) for index, delta in enumerate(deltas))
    header = raw_header(len(deltas), base_timestamp=base_timestamp)
    outcome = assert_agree(header, section, False, window)
    fits = all(INT64_MIN <= delta <= INT64_MAX and INT64_MIN <= base_timestamp + delta <= INT64_MAX
               for delta in deltas)
    if not fits:
        assert outcome[0] == "RecordError"
    elif window is None:
        assert outcome == ("accepted", max(max(base_timestamp + delta for delta in deltas), -1))


@needs_native
@pytest.mark.parametrize("raw, accepted", [
    (bytes([0x80] * 4 + [0x00]), True),        # 0 in 5 bytes: the longest varint
    (bytes([0x80] * 5 + [0x00]), False),       # 6 bytes
])
def test_varints_of_at_most_five_bytes(raw, accepted):
    record = b"\x00\x00" + raw + b"\x02k\x02v\x00"   # attributes, timestamp delta, offset delta 0, key, value
    section = _varint(len(record)) + record
    assert assert_agree(raw_header(1), section)[0] == ("accepted" if accepted else "RecordError")


@needs_native
@pytest.mark.parametrize("raw, outcome", [
    (bytes([0x80] * 9 + [0x00]), ("accepted", 0)),             # 10 bytes: the longest varlong
    (bytes([0x80] * 10 + [0x00]), "RecordError"),              # 11 bytes
    (bytes([0xFE] + [0xFF] * 8 + [0x01]), ("accepted", INT64_MAX)),   # zigzag 2^64 - 2
    (bytes([0xFF] * 9 + [0x01]), ("accepted", -1)),            # zigzag 2^64 - 1: INT64_MIN, below "none"
    (bytes([0x80] * 9 + [0x02]), "RecordError"),               # bit 64 set: wider than a long
])
def test_timestamp_delta_varlongs(raw, outcome):
    record = b"\x00" + raw + b"\x00\x02k\x02v\x00"
    section = _varint(len(record)) + record
    reference = assert_agree(raw_header(1), section)
    assert reference[0] == outcome if isinstance(outcome, str) else reference == outcome


@needs_native
def test_any_buffer_is_walked_without_being_held():
    header, section = _batch([Record(b"k", b"v" * 50, timestamp=t) for t in (10, 30, 20)])
    buffer = bytearray(section)
    assert check_records(header, buffer) == check_records(header, memoryview(buffer)) == 30
    buffer.extend(b"x")  # the C walk released its view of the bytearray: it can still be resized
    with pytest.raises(RecordError):
        check_records(header, buffer)
    strided = memoryview(bytes(byte for byte in section for _ in range(2)))[::2]  # not contiguous
    assert _native(header, strided, False, None) is None
    assert check_records(header, strided) == 30  # the reference walks it


@needs_native
def test_windows_the_c_walk_does_not_judge_go_to_the_reference():
    header, section = _batch([Record(b"k", b"v", timestamp=t) for t in (1_000, 5_000)])
    for window in ([5_000, 4_000], (5_000, 2**70), (2**70, 2**71)):
        assert _native(header, section, False, window) is None
        assert _outcome(check_records, header, section, False, window) == \
            _outcome(check_records_reference, header, section, False, window)
