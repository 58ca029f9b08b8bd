"""Wire primitives of the Kafka protocol: fixed-width ints, varints, strings, bytes, uuids.

Owns the byte-level readers and writers every schema is built from, in both the
classic encoding (int16 string lengths, int32 bytes/array lengths, -1 = null) and
the flexible "compact" encoding of KIP-482 (unsigned varint of ``len + 1``, 0 =
null), plus ``ProtocolDecodeError``.

Conventions used throughout the codec:

- a *reader* is ``read(buf, pos) -> (value, new_pos)`` where ``buf`` is a
  ``memoryview`` of unsigned bytes;
- a *writer* is ``write(out, pieces, value)`` appending to the ``bytearray``
  ``out`` (``pieces`` is only touched by the records writer, see ``codec``).

Nothing here imports Twisted or does I/O.
"""

import struct
from uuid import UUID

from kafkalite.protocol.errors import InvalidRequestError

__all__ = [
    "FIXED_FORMATS",
    "INT16",
    "INT32",
    "ZERO_UUID",
    "ProtocolDecodeError",
    "read_classic_string",
    "read_compact_string",
    "read_uuid",
    "read_uvarint",
    "read_varint",
    "read_varlong",
    "skip_tagged_fields",
    "write_classic_string",
    "write_compact_string",
    "write_uuid",
    "write_uvarint",
    "write_varint",
    "write_varlong",
]


class ProtocolDecodeError(InvalidRequestError):
    """Bytes from a peer do not decode: truncated, garbage, or an invalid value.

    The broker answers this by closing the connection, as Kafka does for a
    request it cannot parse. It is an ``InvalidRequestError`` (code 42).
    """


# Fixed-width primitives, big-endian, as ``struct`` format characters.
FIXED_FORMATS = {
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "uint16": "H",
    "uint32": "I",
    "float64": "d",
    "bool": "?",
}

INT16 = struct.Struct(">h")
INT32 = struct.Struct(">i")
ZERO_UUID = UUID(int=0)


def read_uvarint(buf, pos):
    """Read an unsigned varint (at most 5 bytes for Kafka's uses, 10 accepted)."""
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    result = b & 0x7F
    shift = 7
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtocolDecodeError("unsigned varint too long")


def write_uvarint(out, value):
    """Append ``value`` (>= 0) as an unsigned varint."""
    if value < 0:
        raise ValueError(f"unsigned varint cannot be negative: {value!r}")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def read_varint(buf, pos):
    """Read a zigzag-encoded signed 32-bit varint."""
    raw, pos = read_uvarint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def write_varint(out, value):
    """Append a zigzag-encoded signed 32-bit varint."""
    write_uvarint(out, ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def read_varlong(buf, pos):
    """Read a zigzag-encoded signed 64-bit varint."""
    raw, pos = read_uvarint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def write_varlong(out, value):
    """Append a zigzag-encoded signed 64-bit varint."""
    write_uvarint(out, ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


def read_uuid(buf, pos):
    """Read a 16-byte UUID as ``uuid.UUID``."""
    end = pos + 16
    if end > len(buf):
        raise ProtocolDecodeError("truncated uuid")
    return UUID(bytes=bytes(buf[pos:end])), end


def write_uuid(out, pieces, value):
    """Append a UUID given as ``uuid.UUID``, 16 bytes, or None (the zero UUID)."""
    if value is None:
        out += ZERO_UUID.bytes
    elif isinstance(value, UUID):
        out += value.bytes
    else:
        if len(value) != 16:
            raise ValueError(f"a uuid is 16 bytes, got {len(value)}")
        out += value


def _take(buf, pos, n):
    end = pos + n
    if end > len(buf):
        raise ProtocolDecodeError(f"length {n} runs past the end of the buffer")
    return end


def read_classic_string(buf, pos):
    """Read an int16-length string; returns None for length -1."""
    (n,) = INT16.unpack_from(buf, pos)
    pos += 2
    if n < 0:
        if n != -1:
            raise ProtocolDecodeError(f"negative string length {n}")
        return None, pos
    end = _take(buf, pos, n)
    return str(buf[pos:end], "utf-8"), end


def read_compact_string(buf, pos):
    """Read a compact (uvarint ``len + 1``) string; returns None for 0."""
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    end = _take(buf, pos, n - 1)
    return str(buf[pos:end], "utf-8"), end


def write_classic_string(out, value):
    """Append an int16-length string (None → -1)."""
    if value is None:
        out += b"\xff\xff"
        return
    data = value.encode("utf-8")
    if len(data) > 0x7FFF:
        raise ValueError("string too long for an int16 length")
    out += INT16.pack(len(data))
    out += data


def write_compact_string(out, value):
    """Append a compact string (None → 0)."""
    if value is None:
        out.append(0)
        return
    data = value.encode("utf-8")
    write_uvarint(out, len(data) + 1)
    out += data


def read_classic_bytes_slice(buf, pos):
    """Read an int32-length byte run; returns ``(memoryview slice or None, pos)``."""
    (n,) = INT32.unpack_from(buf, pos)
    pos += 4
    if n < 0:
        if n != -1:
            raise ProtocolDecodeError(f"negative bytes length {n}")
        return None, pos
    end = _take(buf, pos, n)
    return buf[pos:end], end


def read_compact_bytes_slice(buf, pos):
    """Read a compact byte run; returns ``(memoryview slice or None, pos)``."""
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    end = _take(buf, pos, n - 1)
    return buf[pos:end], end


def skip_tagged_fields(buf, pos):
    """Skip a whole tagged-field section (used by request header v2)."""
    count, pos = read_uvarint(buf, pos)
    for _ in range(count):
        _tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos = _take(buf, pos, size)
    return pos


__all__ += ["read_classic_bytes_slice", "read_compact_bytes_slice"]
