"""Kafka's length-prefixed framing, sans I/O.

Owns turning a byte stream into frames (``FrameDecoder``) and the size prefix of
outgoing messages. Every Kafka request and response is a big-endian int32 size
followed by that many bytes (reference §0). Nothing here does I/O.
"""

import struct

__all__ = ["FrameDecoder", "FrameTooLarge", "InvalidFrameSize", "size_prefix"]

_INT32 = struct.Struct(">i")


class FrameTooLarge(Exception):
    """A frame's declared size exceeds the limit (``socket.request.max.bytes``)."""

    def __init__(self, size, limit):
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class InvalidFrameSize(Exception):
    """A frame declared a negative size."""

    def __init__(self, size):
        super().__init__(f"invalid frame size {size}")
        self.size = size


def size_prefix(size):
    """Return the 4-byte big-endian size prefix for a message of ``size`` bytes."""
    return _INT32.pack(size)


class FrameDecoder:
    """Split a byte stream into frames.

    Each complete frame is returned as its own ``bytearray`` (the broker rewrites
    record batch headers in place inside it). Buffering is linear: once a frame's
    size is known a buffer of exactly that size is allocated and incoming chunks
    are copied into it once, so a multi-megabyte request arriving in thousands of
    chunks costs one copy, not a quadratic series of concatenations.

    :param max_frame_size: the largest frame accepted; a larger declared size
        raises :class:`FrameTooLarge` (Kafka closes the connection).
    """

    __slots__ = ("_filled", "_frame", "_prefix", "max_frame_size")

    def __init__(self, max_frame_size):
        self.max_frame_size = max_frame_size
        self._prefix = bytearray()
        self._frame = None
        self._filled = 0

    @property
    def buffered(self):
        """Bytes received that are not yet part of a returned frame."""
        return len(self._prefix) + self._filled

    def feed(self, data):
        """Consume ``data`` and return the list of frames it completed.

        :raises FrameTooLarge: a frame declared a size above ``max_frame_size``.
        :raises InvalidFrameSize: a frame declared a negative size.
        """
        frames = []
        view = memoryview(data)
        end = len(view)
        pos = 0
        while pos < end:
            frame = self._frame
            if frame is None:
                if not self._prefix and end - pos >= 4:
                    (size,) = _INT32.unpack_from(view, pos)
                    pos += 4
                else:
                    take = min(4 - len(self._prefix), end - pos)
                    self._prefix += view[pos : pos + take]
                    pos += take
                    if len(self._prefix) < 4:
                        break
                    (size,) = _INT32.unpack(self._prefix)
                    self._prefix.clear()
                if size < 0:
                    raise InvalidFrameSize(size)
                if size > self.max_frame_size:
                    raise FrameTooLarge(size, self.max_frame_size)
                if end - pos >= size:
                    frames.append(bytearray(view[pos : pos + size]))
                    pos += size
                    continue
                frame = self._frame = bytearray(size)
                self._filled = 0
            filled = self._filled
            take = min(len(frame) - filled, end - pos)
            frame[filled : filled + take] = view[pos : pos + take]
            pos += take
            self._filled = filled + take
            if self._filled == len(frame):
                frames.append(frame)
                self._frame = None
                self._filled = 0
        return frames
