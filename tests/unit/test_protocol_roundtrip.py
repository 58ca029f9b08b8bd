"""Property tests: every API, every version, request and response, round-trips through the codec.

Messages are generated from the schema declarations themselves, so a new or
changed declaration is covered automatically. Also: truncated and garbage input
raise ``ProtocolDecodeError`` and never anything else.
"""

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkalite.protocol.apis import API_BY_KEY, pieces_to_bytes
from kafkalite.protocol.schema import default_value
from kafkalite.protocol.types import ProtocolDecodeError

INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}


def _primitive(type_):
    if type_ in INT_RANGES:
        low, high = INT_RANGES[type_]
        return st.integers(low, high)
    if type_ == "float64":
        return st.floats(allow_nan=False)
    if type_ == "bool":
        return st.booleans()
    if type_ == "uuid":
        return st.integers(0, 2**128 - 1).map(lambda n: uuid.UUID(int=n))
    if type_ == "string":
        return st.text(max_size=8)
    if type_ in ("bytes", "records"):
        return st.binary(max_size=12)
    raise AssertionError(type_)


def field_strategy(field, version):
    """A strategy for one field's value at ``version``."""
    t = field.type
    if field.is_struct():
        elem = struct_strategy(t.fields, version)
        base = st.lists(elem, max_size=2) if t.is_array else elem
    elif t.startswith("[]"):
        base = st.lists(_primitive(t[2:]), max_size=3)
    else:
        base = _primitive(t)
    if version in field.nullable or t == "records":
        return st.one_of(st.none(), base)
    return base


def struct_strategy(fields, version):
    """A strategy for a dict holding exactly the fields that exist at ``version``."""
    present = {fld.name: field_strategy(fld, version) for fld in fields if version in fld.versions}
    return st.fixed_dictionaries(present)


def expected(fields, version, msg):
    """What decoding should give back: absent fields at their defaults, records as bytes."""
    out = {}
    for fld in fields:
        if fld.name not in msg or version not in fld.versions:
            out[fld.name] = default_value(fld)
            continue
        value = msg[fld.name]
        if value is not None and fld.is_struct():
            if fld.type.is_array:
                value = [expected(fld.type.fields, version, v) for v in value]
            else:
                value = expected(fld.type.fields, version, value)
        elif value is not None and fld.type in ("records", "bytes"):
            value = bytes(value)
        out[fld.name] = value
    return out


def normalize(fields, msg):
    """Turn decoded memoryviews into bytes so results compare with ``==``."""
    out = {}
    for fld in fields:
        value = msg[fld.name]
        if value is not None and fld.is_struct():
            if fld.type.is_array:
                value = [normalize(fld.type.fields, v) for v in value]
            else:
                value = normalize(fld.type.fields, value)
        elif fld.type == "records" and value is not None:
            value = bytes(value)
        out[fld.name] = value
    return out


CASES = [
    pytest.param(api, version, side, id=f"{api.name}-v{version}-{side}")
    for api in sorted(API_BY_KEY.values(), key=lambda a: a.key)
    for version in range(api.min_version, api.max_version + 1)
    for side in ("request", "response")
]


def _codec(api, side):
    if side == "request":
        return api.request, api.encode_request, api.decode_request
    return api.response, api.encode_response, api.decode_response


@pytest.mark.parametrize(("api", "version", "side"), CASES)
def test_round_trip(api, version, side):
    """A message valid for the version encodes, then decodes back to itself (defaults filled in)."""
    schema, encode, decode = _codec(api, side)

    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(struct_strategy(schema.fields, version))
    def check(msg):
        data = pieces_to_bytes(encode(msg, version))
        decoded = decode(data, version)
        assert normalize(schema.fields, decoded) == expected(schema.fields, version, msg)
        # Decoding at an offset inside a larger buffer gives the same result.
        again = decode(b"\xaa\xbb\xcc" + data, version, 3)
        assert normalize(schema.fields, again) == normalize(schema.fields, decoded)

    check()


@pytest.mark.parametrize(("api", "version", "side"), CASES)
def test_truncated_input_raises_decode_error(api, version, side):
    """Every strict prefix of an encoded message fails with ProtocolDecodeError, never another error."""
    schema, encode, decode = _codec(api, side)

    @settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(struct_strategy(schema.fields, version))
    def check(msg):
        data = pieces_to_bytes(encode(msg, version))
        for cut in range(len(data)):
            with pytest.raises(ProtocolDecodeError):
                decode(data[:cut], version)

    check()


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.sampled_from([(a, v, s) for a in API_BY_KEY.values() for v in (a.min_version, a.max_version) for s in (0, 1)]),
    st.binary(max_size=64),
)
def test_garbage_input_decodes_or_raises_decode_error(case, garbage):
    """Random bytes either decode or raise ProtocolDecodeError; no other exception escapes."""
    api, version, side = case
    decode = api.decode_request if side == 0 else api.decode_response
    try:
        decode(garbage, version)
    except ProtocolDecodeError:
        pass
