"""A small fake wire codec for the network layer's unit tests (helpers only, no tests).

Request header: v1 layout (int16 api_key, int16 api_version, int32 correlation_id,
int16-length client_id). Request body: raw bytes, returned as ``{"payload": bytes}``;
a body starting with ``b"BAD"`` fails to decode. Response header: the correlation id.
Response body: the pieces listed in ``response["pieces"]``.
"""

import struct
from types import SimpleNamespace

from kafkalite.network.codec import WireCodec


def decode_request_header(buf):
    """Decode a v1 request header."""
    api_key, api_version, correlation_id, client_id_length = struct.unpack_from(">hhih", buf, 0)
    client_id = None if client_id_length < 0 else bytes(buf[10 : 10 + client_id_length]).decode()
    offset = 10 + max(client_id_length, 0)
    if offset > len(buf):
        raise ValueError("truncated header")
    return SimpleNamespace(api_key=api_key, api_version=api_version, correlation_id=correlation_id,
                           client_id=client_id, body_offset=offset)


def encode_request_header(api_key, api_version, correlation_id, client_id):
    """Encode a v1 request header."""
    raw = client_id.encode()
    return struct.pack(">hhih", api_key, api_version, correlation_id, len(raw)) + raw


def encode_response_header(correlation_id, api_key, api_version):
    """Encode response header v0."""
    return struct.pack(">i", correlation_id)


class FakeApi:
    """An api whose bodies are raw payload bytes."""

    def __init__(self, key, min_version, max_version, name=None, first_flexible_version=None):
        self.key = key
        self.min_version = min_version
        self.max_version = max_version
        self.first_flexible_version = first_flexible_version
        if name is not None:
            self.name = name

    def decode_request(self, buf, version, offset):
        """Return ``{"payload": bytes}``; ``b"BAD..."`` is malformed."""
        payload = bytes(buf[offset:])
        if payload.startswith(b"BAD"):
            raise ValueError("malformed body")
        return {"payload": payload}

    def encode_request(self, msg, version):
        """Return the request's payload as one piece."""
        return [msg["payload"]]

    def decode_response(self, buf, version, offset):
        """Return ``{"payload": bytes}``; ``b"BAD..."`` is malformed."""
        payload = bytes(buf[offset:])
        if payload.startswith(b"BAD"):
            raise ValueError("malformed response")
        return {"payload": payload}

    def encode_response(self, msg, version):
        """Return the pieces listed in the response."""
        if "fail" in msg:
            raise ValueError("cannot encode")
        return list(msg["pieces"])


def fake_codec():
    """Return a codec knowing Produce 3–9, Fetch 0–12 (flexible from 12), Metadata 0–11 and ApiVersions 0–3."""
    apis = {
        0: FakeApi(0, 3, 9),
        1: FakeApi(1, 0, 12, first_flexible_version=12),
        3: FakeApi(3, 0, 11, name="Metadata"),
        18: FakeApi(18, 0, 3, first_flexible_version=3),
    }
    return WireCodec(decode_request_header, encode_response_header, encode_request_header, apis)


def request_frame(api_key, api_version, correlation_id, payload=b"", client_id="test-client"):
    """Return a whole size-prefixed request frame."""
    body = encode_request_header(api_key, api_version, correlation_id, client_id) + payload
    return struct.pack(">i", len(body)) + body


def split_frames(data):
    """Split size-prefixed frames from ``data`` into a list of bodies."""
    frames = []
    pos = 0
    while pos < len(data):
        (size,) = struct.unpack_from(">i", data, pos)
        frames.append(bytes(data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    assert pos == len(data)
    return frames
