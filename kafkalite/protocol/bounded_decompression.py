"""Decompression of a batch's record section with a ceiling on the output (zip-bomb guard).

:func:`decompress_bounded` is :func:`kafkalite.protocol.compression.decompress` for data a
client sent: a few kilobytes of gzip or zstd can expand to gigabytes, so each codec is driven
so that it never produces more than ``limit`` bytes (plus one, to notice the excess) instead of
decompressing everything and measuring afterwards:

- gzip: :mod:`zlib`'s streaming decompressor with ``max_length``, member after member;
- snappy: every block's uncompressed length is in its preamble, summed before any block is
  decompressed;
- lz4: python-lz4's frame decompressor with a growing ``max_length``, frame after frame;
- zstd: decompressed into a buffer of bounded size (the frame's declared content size when it
  has one, else a guess grown by doubling up to the ceiling).
"""

import struct
import zlib

import cramjam
import lz4.frame

from kafkalite.protocol.compression import CODEC_NAMES, XERIAL_HEADER, decompress
from kafkalite.protocol.errors import CorruptMessageError, InvalidRecordError, UnsupportedCompressionTypeError

__all__ = ["DecompressedTooLargeError", "decompress_bounded"]

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_XERIAL_MAGIC = XERIAL_HEADER[:8]
_INT32 = struct.Struct(">i")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_FIRST_GUESS = 64 * 1024


class DecompressedTooLargeError(InvalidRecordError):
    """The data decompresses to more than the ceiling (``INVALID_RECORD``)."""


def decompress_bounded(codec, data, limit):
    """Decompress ``data`` written with ``codec``, refusing to produce more than ``limit`` bytes.

    :returns: a bytes-like object (bytes, bytearray or memoryview) of at most ``limit`` bytes.
    :raises DecompressedTooLargeError: the data decompresses to more than ``limit`` bytes.
    :raises CorruptMessageError: the data is not valid for the codec.
    :raises UnsupportedCompressionTypeError: an unknown codec.
    """
    if codec == 0:
        return data
    if codec not in CODEC_NAMES:
        raise UnsupportedCompressionTypeError(f"unknown compression codec {codec!r}")
    try:
        if codec == 1:
            return _gzip(data, limit)
        if codec == 2:
            return _snappy(data, limit)
        if codec == 3:
            return _lz4(data, limit)
        return _zstd(data, limit)
    except (CorruptMessageError, InvalidRecordError):
        raise
    except Exception as exc:  # each library has its own error types; all mean "corrupt input"
        raise CorruptMessageError(f"cannot decompress {CODEC_NAMES[codec]} data: {exc}") from exc


def _too_large(codec, limit):
    return DecompressedTooLargeError(
        f"{CODEC_NAMES[codec]} record data decompresses to more than the {limit} bytes allowed")


def _gzip(data, limit):
    parts = []
    produced = 0
    remaining = data
    while True:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        part = inflater.decompress(remaining, limit - produced + 1)
        produced += len(part)
        if produced > limit:
            raise _too_large(1, limit)
        parts.append(part)
        if not inflater.eof:
            if inflater.unconsumed_tail:  # stopped at max_length with output still to come
                raise _too_large(1, limit)
            raise CorruptMessageError("gzip data truncated")
        remaining = inflater.unused_data
        if not remaining:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _snappy(data, limit):
    view = memoryview(data).cast("B")
    total = 0
    if bytes(view[:8]) == _XERIAL_MAGIC and len(view) >= len(XERIAL_HEADER):
        position, end = len(XERIAL_HEADER), len(view)
        while position + 4 <= end:
            (block_length,) = _INT32.unpack_from(view, position)
            position += 4
            if block_length < 0 or position + block_length > end:
                break  # decompress() names the fault
            total += cramjam.snappy.decompress_raw_len(view[position:position + block_length])
            position += block_length
    else:
        total = cramjam.snappy.decompress_raw_len(view)
    if total > limit:
        raise _too_large(2, limit)
    return decompress(2, view)


def _lz4(data, limit):
    parts = []
    produced = 0
    remaining = data
    # python-lz4 allocates max_length up front, so ask for a likely size and grow, not for the ceiling
    chunk = max(_FIRST_GUESS, 8 * len(data))
    while True:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        while True:
            part = decompressor.decompress(remaining, max_length=min(chunk, limit - produced + 1))
            remaining = b""  # the decompressor keeps what it has not consumed yet
            produced += len(part)
            if produced > limit:
                raise _too_large(3, limit)
            parts.append(part)
            if decompressor.eof:
                break
            if decompressor.needs_input:
                raise CorruptMessageError("lz4 frame truncated")
            chunk *= 2
        remaining = decompressor.unused_data
        if not remaining:
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _zstd_content_size(data):
    """The first frame's declared content size, or None when the header does not say."""
    if len(data) < 6 or bytes(data[:4]) != _ZSTD_MAGIC:
        return None
    descriptor = data[4]
    size_flag, single_segment, dict_flag = descriptor >> 6, (descriptor >> 5) & 1, descriptor & 3
    field_size = (1 if single_segment else 0, 2, 4, 8)[size_flag]
    if not field_size:
        return None
    position = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dict_flag]
    if position + field_size > len(data):
        return None
    size = int.from_bytes(data[position:position + field_size], "little")
    return size + 256 if field_size == 2 else size


def _zstd(data, limit):
    declared = _zstd_content_size(data)
    if declared is not None and declared > limit:
        raise _too_large(4, limit)
    size = min(limit, declared if declared is not None else max(_FIRST_GUESS, 4 * len(data)))
    while True:
        # one byte more than we hope for: a full buffer means "maybe more to come"
        out = bytearray(size + 1)
        try:
            written = cramjam.zstd.decompress_into(data, out)
        except cramjam.DecompressionError as exc:
            if "whole buffer" not in str(exc):
                raise
            written = size + 1
        if written <= size:
            return memoryview(out)[:written]
        if size >= limit:
            raise _too_large(4, limit)
        size = min(limit, size * 2)
