"""Request/response header rules: which header version each API/version uses, and error reporting."""

import pytest

from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.errors import UnsupportedVersionError
from kafkalite.protocol.headers import (
    UnsupportedRequestError,
    decode_request_header,
    decode_response_header,
    encode_request_header,
    encode_response_header,
    request_header_version,
    response_header_version,
)
from kafkalite.protocol.types import ProtocolDecodeError


def test_header_versions_follow_flexible_versions():
    """Flexible versions use request header v2 / response header v1, others v1 / v0."""
    assert request_header_version(ApiKey.FETCH, 11) == 1
    assert request_header_version(ApiKey.FETCH, 12) == 2
    assert response_header_version(ApiKey.FETCH, 11) == 0
    assert response_header_version(ApiKey.FETCH, 12) == 1
    assert request_header_version(ApiKey.METADATA, 9) == 2


def test_special_cases():
    """ControlledShutdown v0 uses request header v0; ApiVersions responses always header v0."""
    assert request_header_version(ApiKey.CONTROLLED_SHUTDOWN, 0) == 0
    assert request_header_version(ApiKey.CONTROLLED_SHUTDOWN, 1) == 1
    assert response_header_version(ApiKey.API_VERSIONS, 3) == 0
    assert request_header_version(ApiKey.API_VERSIONS, 3) == 2
    assert encode_response_header(5, ApiKey.API_VERSIONS, 3) == b"\x00\x00\x00\x05"
    assert encode_response_header(5, ApiKey.METADATA, 9) == b"\x00\x00\x00\x05\x00"


@pytest.mark.parametrize("api", sorted(API_BY_KEY.values(), key=lambda a: a.key), ids=lambda a: a.name)
def test_request_header_round_trip_every_version(api):
    """Encoded request headers decode back for every API and version, body offset included."""
    for version in range(api.min_version, api.max_version + 1):
        for client_id in ("client-1", None):
            data = encode_request_header(api.key, version, 123, client_id)
            header = decode_request_header(data + b"BODY")
            assert header.body_offset == len(data)
            assert (header.api_key, header.api_version, header.correlation_id) == (api.key, version, 123)
            if request_header_version(api.key, version) == 0:
                assert header.client_id is None
            else:
                assert header.client_id == client_id


def test_controlled_shutdown_v0_has_no_client_id():
    """ControlledShutdown v0's header is just key, version, correlation id."""
    assert encode_request_header(ApiKey.CONTROLLED_SHUTDOWN, 0, 1, "ignored") == bytes.fromhex("0007000000000001")


def test_response_header_round_trip():
    """Response headers decode to the correlation id and the body offset."""
    assert decode_response_header(encode_response_header(9, ApiKey.FETCH, 12) + b"x", ApiKey.FETCH, 12) == (9, 5)
    assert decode_response_header(encode_response_header(9, ApiKey.FETCH, 11), ApiKey.FETCH, 11) == (9, 4)


def test_unsupported_api_versions_version_still_reports_correlation_id():
    """ApiVersions v4 is beyond our range: the error carries key, version and correlation id."""
    data = bytes.fromhex("0012 0004 00000063 0002 6b70 00 0000".replace(" ", ""))
    with pytest.raises(UnsupportedRequestError) as info:
        decode_request_header(data)
    err = info.value
    assert isinstance(err, UnsupportedVersionError) and err.code == 35
    assert (err.api_key, err.api_version, err.correlation_id, err.client_id) == (18, 4, 99, "kp")


def test_unknown_api_key():
    """An API key we do not declare raises UnsupportedRequestError with the correlation id."""
    with pytest.raises(UnsupportedRequestError) as info:
        decode_request_header(bytes.fromhex("03e7000000000005"))
    assert info.value.api_key == 999 and info.value.correlation_id == 5


def test_truncated_header():
    """Fewer than 8 bytes, or a cut client_id, is a decode error."""
    with pytest.raises(ProtocolDecodeError):
        decode_request_header(b"\x00\x03\x00")
    with pytest.raises(ProtocolDecodeError):
        decode_request_header(bytes.fromhex("0003000100000001000568"))


def test_api_rejects_version_outside_range():
    """Api.decode_request refuses versions outside the declared range."""
    with pytest.raises(UnsupportedVersionError):
        API_BY_KEY[ApiKey.PRODUCE].decode_request(b"", 10)
