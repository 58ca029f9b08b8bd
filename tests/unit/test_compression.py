"""Unit tests for kafkalite.protocol.compression: round trips and wire compatibility.

Compatibility is checked against kafka-python's own codec functions (test-only use
of the installed library), in both directions, for every codec.
"""

import gzip
import struct

import kafka.codec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkalite.protocol import compression
from kafkalite.protocol.compression import XERIAL_BLOCK_SIZE, XERIAL_HEADER, codec_for_name, compress, decompress
from kafkalite.protocol.errors import CorruptMessageError, UnsupportedCompressionTypeError

CODECS = [0, 1, 2, 3, 4]
# Compressible and larger than one xerial block (32 KiB) and one lz4 block (64 KiB).
LARGE = b"".join(b"record-%07d|" % i + bytes(range(i % 50)) for i in range(6000))

KAFKA_PYTHON_ENCODERS = {
    1: kafka.codec.gzip_encode,
    2: lambda data: kafka.codec.snappy_encode(data, xerial_compatible=True),
    3: kafka.codec.lz4_encode,
    4: kafka.codec.zstd_encode,
}
KAFKA_PYTHON_DECODERS = {
    1: kafka.codec.gzip_decode,
    2: kafka.codec.snappy_decode,
    3: kafka.codec.lz4_decode,
    4: kafka.codec.zstd_decode,
}


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("data", [b"", b"x", b"hello kafka " * 100, LARGE], ids=["empty", "one", "small", "large"])
def test_round_trip(codec, data):
    """Every codec decompresses exactly what it compressed, for empty, tiny and multi-block inputs."""
    assert decompress(codec, compress(codec, data)) == data


@settings(max_examples=150, deadline=None)
@given(codec=st.sampled_from(CODECS), data=st.binary(max_size=3000))
def test_round_trip_arbitrary_bytes(codec, data):
    """Arbitrary (mostly incompressible) bytes survive every codec."""
    assert decompress(codec, compress(codec, data)) == data


@pytest.mark.parametrize("codec", CODECS)
def test_accepts_memoryview_and_bytearray(codec):
    """Inputs may be memoryviews or bytearrays, as the broker hands out slices of request buffers."""
    data = bytearray(b"abc" * 1000)
    compressed = compress(codec, memoryview(data))
    assert decompress(codec, memoryview(bytearray(compressed))) == bytes(data)


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_compressed_is_smaller_for_repetitive_data(codec):
    """The codecs actually compress (guards against an accidental pass-through)."""
    data = b"a" * 100_000
    assert len(compress(codec, data)) < 10_000


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_kafka_python_decodes_ours(codec):
    """kafka-python's decoder reads what we write, for every codec (we -> client)."""
    assert KAFKA_PYTHON_DECODERS[codec](compress(codec, LARGE)) == LARGE


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_we_decode_kafka_python(codec):
    """We read what kafka-python's encoder writes, for every codec (client -> us)."""
    assert decompress(codec, KAFKA_PYTHON_ENCODERS[codec](LARGE)) == LARGE


def test_snappy_uses_xerial_framing():
    """Snappy output is xerial snappy-java framing: 16-byte header, then int32-prefixed blocks of <= 32 KiB."""
    out = compress(2, LARGE)
    assert out[:16] == b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1) == XERIAL_HEADER
    position, blocks, total = 16, 0, 0
    while position < len(out):
        (length,) = struct.unpack_from(">i", out, position)
        block = kafka.codec.snappy_decode(out[position + 4:position + 4 + length])  # raw block
        assert len(block) <= XERIAL_BLOCK_SIZE
        total += len(block)
        position += 4 + length
        blocks += 1
    assert position == len(out)
    assert total == len(LARGE)
    assert blocks == -(-len(LARGE) // XERIAL_BLOCK_SIZE)


def test_snappy_accepts_raw_block():
    """A plain raw snappy block (no xerial header), as some clients send, decompresses too."""
    raw = kafka.codec.snappy_encode(LARGE, xerial_compatible=False)
    assert not raw.startswith(b"\x82SNAPPY")
    assert decompress(2, raw) == LARGE


def test_lz4_frame_has_independent_blocks():
    """LZ4 output is a frame (magic 0x184D2204) with the block-independence flag, as Kafka's Java reader needs."""
    out = compress(3, LARGE)
    assert out[:4] == b"\x04\x22\x4d\x18"
    flg = out[4]
    assert flg >> 6 == 1  # frame version 01
    assert flg & 0x20  # blocks are independent


def test_gzip_is_standard_gzip():
    """gzip output is a standard gzip member that the stdlib reads."""
    assert gzip.decompress(compress(1, LARGE)) == LARGE


@pytest.mark.parametrize("codec", [-1, 5, 7])
def test_unknown_codec(codec):
    """An unknown codec id raises UNSUPPORTED_COMPRESSION_TYPE in both directions."""
    with pytest.raises(UnsupportedCompressionTypeError):
        compress(codec, b"x")
    with pytest.raises(UnsupportedCompressionTypeError):
        decompress(codec, b"x")


@pytest.mark.parametrize("codec", [1, 2, 3, 4])
def test_garbage_is_corrupt_message(codec):
    """Bytes a codec cannot decode raise CorruptMessageError, whatever the library's own error type."""
    with pytest.raises(CorruptMessageError):
        decompress(codec, b"\xff\xfe definitely not compressed data \x00\x01" * 3)


def test_truncated_xerial_stream_is_corrupt():
    """A xerial stream whose last block is cut short raises CorruptMessageError."""
    out = compress(2, LARGE)
    with pytest.raises(CorruptMessageError):
        decompress(2, out[:-10])


def test_codec_names():
    """compression.type names map to codec ids and back."""
    assert [codec_for_name(compression.CODEC_NAMES[c]) for c in CODECS] == CODECS
    with pytest.raises(UnsupportedCompressionTypeError):
        codec_for_name("brotli")
