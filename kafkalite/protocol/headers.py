"""Request and response headers, and the rule for which header version an API uses.

Owns request header v0/v1/v2 and response header v0/v1:

- request header v1: ``api_key int16, api_version int16, correlation_id int32,
  client_id`` (nullable string, int16 length); v2 (flexible versions) adds a
  tagged-field section after it — ``client_id`` keeps the classic encoding; v0
  has no ``client_id`` and is used only by ControlledShutdown v0.
- response header v0: ``correlation_id int32``; v1 (flexible versions) adds a
  tagged-field section. ApiVersions responses always use v0 (KIP-511), so a
  client can parse the reply before it knows the broker's versions.

``decode_request_header`` raises ``UnsupportedRequestError`` for an unknown API
key or a version outside our range; it carries the key, version and correlation
id (the first 8 bytes are always readable) so the broker can still answer
ApiVersions with UNSUPPORTED_VERSION in a v0 body.
"""

import struct
from typing import NamedTuple

from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.errors import UnsupportedVersionError
from kafkalite.protocol.types import (
    ProtocolDecodeError,
    read_classic_string,
    skip_tagged_fields,
    write_classic_string,
)

__all__ = [
    "RequestHeader",
    "UnsupportedRequestError",
    "decode_request_header",
    "decode_response_header",
    "encode_request_header",
    "encode_response_header",
    "request_header_version",
    "response_header_version",
]

_KEY_VERSION_CORRELATION = struct.Struct(">hhi")
_INT32 = struct.Struct(">i")


class RequestHeader(NamedTuple):
    """A decoded request header; the body starts at ``body_offset`` of the same buffer."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int


class UnsupportedRequestError(UnsupportedVersionError):
    """The request names an API key we do not know or a version outside its range.

    :ivar api_key: the requested key (an ``int``, maybe not a known ``ApiKey``).
    :ivar api_version: the requested version.
    :ivar correlation_id: to answer with (ApiVersions gets an error-35 v0 body).
    :ivar client_id: best-effort read of the client id, or None.
    """

    def __init__(self, message, api_key, api_version, correlation_id, client_id=None):
        super().__init__(message)
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id
        self.client_id = client_id


def request_header_version(api_key, api_version):
    """Request header version (0, 1 or 2) for a known API key and version."""
    if api_key == ApiKey.CONTROLLED_SHUTDOWN and api_version == 0:
        return 0
    return 2 if API_BY_KEY[api_key].is_flexible(api_version) else 1


def response_header_version(api_key, api_version):
    """Response header version (0 or 1); ApiVersions always uses 0."""
    if api_key == ApiKey.API_VERSIONS:
        return 0
    return 1 if API_BY_KEY[api_key].is_flexible(api_version) else 0


def decode_request_header(buf, offset=0):
    """Decode the request header at ``offset`` of ``buf`` (a frame without its size prefix).

    :returns: ``RequestHeader``.
    :raises ProtocolDecodeError: when the header itself is truncated or malformed.
    :raises UnsupportedRequestError: for an unknown API key or unsupported version.
    """
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    try:
        api_key, api_version, correlation_id = _KEY_VERSION_CORRELATION.unpack_from(mv, offset)
    except struct.error as e:
        raise ProtocolDecodeError("request header shorter than 8 bytes") from e
    pos = offset + 8
    api = API_BY_KEY.get(api_key)
    if api is None or not api.supports(api_version):
        try:
            client_id, _ = read_classic_string(mv, pos)
        except (struct.error, ProtocolDecodeError, UnicodeDecodeError):  # best effort only
            client_id = None
        what = f"unknown API key {api_key}" if api is None else f"{api.name} v{api_version}"
        raise UnsupportedRequestError(f"unsupported request: {what}", api_key, api_version, correlation_id, client_id)
    header_version = request_header_version(api_key, api_version)
    client_id = None
    try:
        if header_version >= 1:
            client_id, pos = read_classic_string(mv, pos)
        if header_version >= 2:
            pos = skip_tagged_fields(mv, pos)
    except ProtocolDecodeError:
        raise
    except (struct.error, IndexError, UnicodeDecodeError) as e:
        raise ProtocolDecodeError(f"malformed request header: {e}") from e
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


def encode_request_header(api_key, api_version, correlation_id, client_id=None):
    """Encode the request header an API/version uses; returns ``bytes``."""
    out = bytearray(_KEY_VERSION_CORRELATION.pack(api_key, api_version, correlation_id))
    header_version = request_header_version(api_key, api_version)
    if header_version >= 1:
        write_classic_string(out, client_id)
    if header_version >= 2:
        out.append(0)  # no tagged fields
    return bytes(out)


def encode_response_header(correlation_id, api_key, api_version):
    """Encode the response header an API/version uses; returns ``bytes``."""
    if response_header_version(api_key, api_version) == 1:
        return _INT32.pack(correlation_id) + b"\x00"
    return _INT32.pack(correlation_id)


def decode_response_header(buf, api_key, api_version, offset=0):
    """Decode a response header; returns ``(correlation_id, body_offset)``.

    :raises ProtocolDecodeError: when truncated or malformed.
    """
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    try:
        (correlation_id,) = _INT32.unpack_from(mv, offset)
        pos = offset + 4
        if response_header_version(api_key, api_version) == 1:
            pos = skip_tagged_fields(mv, pos)
    except ProtocolDecodeError:
        raise
    except (struct.error, IndexError) as e:
        raise ProtocolDecodeError(f"malformed response header: {e}") from e
    return correlation_id, pos


def encode_response_message(correlation_id, api_key, api_version, body):
    """Encode header + body of a response; returns ``(pieces, size)``.

    ``pieces`` is a list of bytes-like objects and ``FileRegion``s (adjacent bytes
    joined); ``size`` is their total length, i.e. the value of the int32 frame
    size the network layer writes in front.
    """
    header = encode_response_header(correlation_id, api_key, api_version)
    pieces = API_BY_KEY[api_key].encode_response(body, api_version, prefix=header)
    return pieces, sum(len(p) for p in pieces)


def encode_response_frame(correlation_id, api_key, api_version, body):
    """Like ``encode_response_message`` but with the int32 size prefix in the first piece.

    :returns: ``(pieces, size)`` where ``size`` includes the 4-byte prefix.
    """
    header = b"\x00\x00\x00\x00" + encode_response_header(correlation_id, api_key, api_version)
    pieces = API_BY_KEY[api_key].encode_response(body, api_version, prefix=header)
    size = sum(len(p) for p in pieces)
    first = pieces[0]
    if isinstance(first, bytearray):
        first[0:4] = _INT32.pack(size - 4)
    else:
        pieces[0] = _INT32.pack(size - 4) + bytes(first)[4:]
    return pieces, size


def encode_request_message(correlation_id, api_key, api_version, body, client_id=None):
    """Encode header + body of a request to ``bytes`` (no size prefix); for our own clients."""
    header = encode_request_header(api_key, api_version, correlation_id, client_id)
    pieces = API_BY_KEY[api_key].encode_request(body, api_version)
    return header + b"".join(bytes(p) for p in pieces)


__all__ += ["encode_request_message", "encode_response_frame", "encode_response_message"]
