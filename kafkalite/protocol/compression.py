"""Record-batch compression codecs, byte-compatible with Kafka's clients and brokers.

Owns ``compress(codec, data)`` and ``decompress(codec, data)`` for the codec ids of
a v2 batch's attributes (reference §3.1):

- 1 gzip: a standard gzip member (several concatenated members decode too);
- 2 snappy: the **xerial snappy-java stream framing** that Kafka's Java client
  writes (``\\x82SNAPPY\\x00``, int32 version 1, int32 min-compatible version 1,
  then int32-length-prefixed raw snappy blocks of at most 32 KiB input each).
  ``decompress`` also accepts a single raw snappy block, which some clients send;
- 3 lz4: the LZ4 *frame* format with independent 64 KiB blocks, as Kafka's
  ``KafkaLZ4BlockOutputStream`` writes (Java's reader cannot follow linked blocks);
- 4 zstd: zstd frames (the content size may be absent, as with streaming writers).

gzip, snappy and zstd use cramjam; lz4 uses python-lz4 because cramjam's frame
encoder cannot be told to write independent blocks. Codec 0 (none) passes data
through. Any other codec raises ``UnsupportedCompressionTypeError``; data a
codec cannot decode raises ``CorruptMessageError``.
"""

import struct

import cramjam
import lz4.frame

from kafkalite.protocol.errors import CorruptMessageError, UnsupportedCompressionTypeError

__all__ = [
    "CODEC_NAMES",
    "XERIAL_BLOCK_SIZE",
    "XERIAL_HEADER",
    "codec_for_name",
    "compress",
    "decompress",
]

#: codec id → the name Kafka's ``compression.type`` uses.
CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_VERSIONS = struct.Struct(">ii")
#: The 16-byte stream header snappy-java writes: magic, version 1, min-compatible version 1.
XERIAL_HEADER = _XERIAL_MAGIC + _XERIAL_VERSIONS.pack(1, 1)
#: Uncompressed bytes per xerial block, snappy-java's default (and kafka-python's).
XERIAL_BLOCK_SIZE = 32 * 1024
_INT32 = struct.Struct(">i")

_LZ4_BLOCK_SIZE = lz4.frame.BLOCKSIZE_MAX64KB


def codec_for_name(name):
    """The codec id for a ``compression.type`` name ("gzip", "lz4", ...).

    :raises UnsupportedCompressionTypeError: an unknown name.
    """
    for codec, codec_name in CODEC_NAMES.items():
        if codec_name == name:
            return codec
    raise UnsupportedCompressionTypeError(f"unknown compression type {name!r}")


def compress(codec, data):
    """Compress ``data`` (bytes-like) with ``codec`` and return bytes.

    :raises UnsupportedCompressionTypeError: ``codec`` is not 0–4.
    """
    if codec == 0:
        return bytes(data)
    if codec == 1:
        return bytes(cramjam.gzip.compress(data))
    if codec == 2:
        return _xerial_compress(data)
    if codec == 3:
        return lz4.frame.compress(
            data, block_size=_LZ4_BLOCK_SIZE, block_linked=False, content_checksum=False, store_size=False)
    if codec == 4:
        return bytes(cramjam.zstd.compress(data))
    raise UnsupportedCompressionTypeError(f"unknown compression codec {codec!r}")


def decompress(codec, data):
    """Decompress ``data`` (bytes-like) written with ``codec`` and return bytes.

    :raises UnsupportedCompressionTypeError: ``codec`` is not 0–4.
    :raises CorruptMessageError: ``data`` is not valid for the codec.
    """
    if codec == 0:
        return bytes(data)
    if codec not in CODEC_NAMES:
        raise UnsupportedCompressionTypeError(f"unknown compression codec {codec!r}")
    try:
        if codec == 1:
            return bytes(cramjam.gzip.decompress(data))
        if codec == 2:
            return _xerial_decompress(data)
        if codec == 3:
            return lz4.frame.decompress(data)
        return bytes(cramjam.zstd.decompress(data))
    except CorruptMessageError:
        raise
    except Exception as exc:  # each library has its own error types; all mean "corrupt input"
        raise CorruptMessageError(f"cannot decompress {CODEC_NAMES[codec]} data: {exc}") from exc


def _xerial_compress(data):
    view = memoryview(data).cast("B")
    parts = [XERIAL_HEADER]
    for start in range(0, len(view), XERIAL_BLOCK_SIZE):
        block = bytes(cramjam.snappy.compress_raw(view[start:start + XERIAL_BLOCK_SIZE]))
        parts.append(_INT32.pack(len(block)))
        parts.append(block)
    return b"".join(parts)


def _xerial_decompress(data):
    view = memoryview(data).cast("B")
    if bytes(view[:8]) != _XERIAL_MAGIC or len(view) < len(XERIAL_HEADER):
        return bytes(cramjam.snappy.decompress_raw(view))
    position = len(XERIAL_HEADER)
    end = len(view)
    parts = []
    while position < end:
        if end - position < 4:
            raise CorruptMessageError("truncated xerial snappy block length")
        (block_length,) = _INT32.unpack_from(view, position)
        position += 4
        if block_length < 0 or position + block_length > end:
            raise CorruptMessageError(f"xerial snappy block of {block_length} bytes overruns the data")
        parts.append(bytes(cramjam.snappy.decompress_raw(view[position:position + block_length])))
        position += block_length
    return b"".join(parts)
