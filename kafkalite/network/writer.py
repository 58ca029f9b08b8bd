"""Writing response pieces to a transport, with zero-copy file regions.

Owns getting a sequence of pieces — bytes-like objects and
:class:`~kafkalite.protocol.regions.FileRegion` — onto the wire in exactly that
order. Two writers share one interface (``write(pieces)``, ``close()``):

- :class:`SocketWriter`, for plain TCP transports: it owns the socket's output
  entirely and never uses the transport's buffer. Bytes go out with
  ``socket.sendmsg`` (one gather-write per batch of pieces), file regions with
  ``os.sendfile``, neither copied into Python. When the socket would block, the
  writer registers itself as the transport's pull producer and asks it to watch for
  writability (``startWriting``); Twisted's ``doWrite`` finds its own buffer empty and
  calls our ``resumeProducing``, and we carry on. Because the transport's buffer
  stays empty, nothing can overtake our bytes, and a graceful ``loseConnection``
  waits for us (Twisted does not close while a producer is registered).
- :class:`TransportWriter`, for everything else (TLS, test transports): bytes go
  through ``transport.write``, regions are read with ``os.pread`` first.
"""

import os

from twisted.internet import interfaces, tcp
from twisted.logger import Logger
from zope.interface import implementer

from kafkalite.protocol.regions import FileRegion

__all__ = ["SocketWriter", "TransportWriter", "make_writer", "sendfile_capable", "set_no_delay"]

# sendmsg accepts at most IOV_MAX (1024 on Linux) buffers per call.
_MAX_IOV = 512
_PREAD_CHUNK = 1 << 20


def set_no_delay(transport):
    """Disable Nagle's algorithm, as Kafka does on every socket: a small response (an acks=all
    produce, a heartbeat) must not wait ~40 ms for the peer's delayed ACK."""
    setter = getattr(transport, "setTcpNoDelay", None)
    if setter is not None:
        setter(True)


def sendfile_capable(transport):
    """Whether ``transport`` is a plain (non-TLS) Twisted TCP connection we can sendfile on."""
    return (
        hasattr(os, "sendfile")
        and isinstance(transport, tcp.Connection)
        and not getattr(transport, "TLS", False)
        and getattr(transport, "socket", None) is not None
    )


def make_writer(transport):
    """Return the best writer for ``transport``."""
    if sendfile_capable(transport):
        return SocketWriter(transport)
    return TransportWriter(transport)


class TransportWriter:
    """Write pieces through ``transport.write``; file regions are read into memory first.

    :param transport: any ``ITransport``.
    """

    def __init__(self, transport):
        self._transport = transport
        self._closed = False

    def write(self, pieces):
        """Write ``pieces`` in order."""
        if self._closed:
            return
        batch = []
        for piece in pieces:
            if type(piece) is FileRegion:
                fd = piece.file.fileno()
                position = piece.position
                end = position + piece.length
                while position < end:
                    chunk = os.pread(fd, min(_PREAD_CHUNK, end - position), position)
                    if not chunk:
                        raise EOFError(f"file region {piece!r} extends past the end of its file")
                    batch.append(chunk)
                    position += len(chunk)
            else:
                batch.append(piece)
        if batch:
            self._transport.writeSequence([bytes(p) if not isinstance(p, bytes) else p for p in batch])

    @property
    def pending(self):
        """Bytes queued in this writer (always 0: the transport buffers)."""
        return 0

    def close(self):
        """Stop writing."""
        self._closed = True


@implementer(interfaces.IPullProducer)
class SocketWriter:
    """Write pieces straight to a plain TCP socket, regions with ``os.sendfile``.

    :param transport: a ``twisted.internet.tcp.Connection`` without TLS.
    """

    log = Logger()

    def __init__(self, transport):
        self._transport = transport
        self._socket = transport.socket
        self._fd = transport.socket.fileno()
        self._queue = []  # pieces not yet fully written; the head may be partly written
        self._head = 0  # index of the first unwritten piece in _queue
        self._offset = 0  # bytes of _queue[_head] already written
        self._pending = 0
        self._registered = False
        self._flushing = False
        self._closed = False

    @property
    def pending(self):
        """Bytes accepted but not yet handed to the kernel."""
        return self._pending

    def write(self, pieces):
        """Queue ``pieces`` and write as much as the socket takes now."""
        if self._closed or not pieces:
            return
        for piece in pieces:
            if type(piece) is not FileRegion and not isinstance(piece, memoryview):
                piece = memoryview(piece)
            self._pending += piece.length if type(piece) is FileRegion else piece.nbytes
            self._queue.append(piece)
        if not self._registered:
            self._flush()

    def resumeProducing(self):
        """Called by the transport when the socket may be writable again."""
        if not self._flushing:
            self._flush()

    def stopProducing(self):
        """Called by the transport when the connection is lost."""
        self._registered = False
        self._drop()

    def close(self):
        """Drop everything queued and stop writing (the connection is going away)."""
        self._drop()
        self._unregister()

    def _unregister(self):
        if self._registered:
            self._registered = False
            self._transport.unregisterProducer()

    def _drop(self):
        self._closed = True
        self._queue = []
        self._head = 0
        self._offset = 0
        self._pending = 0

    def _flush(self):
        self._flushing = True
        try:
            blocked = self._write_queue()
        except OSError as e:
            # The peer is gone (EPIPE/ECONNRESET): Twisted's reader will see it too.
            self.log.info("write to {peer} failed: {error}", peer=self._transport.getPeer(), error=e)
            self.close()
            self._transport.abortConnection()
            return
        finally:
            self._flushing = False
        if blocked:
            if not self._registered:
                self._registered = True
                # registerProducer calls resumeProducing at once; _flushing is False again
                # but the socket is full, so that call just hits EAGAIN and returns.
                self._transport.registerProducer(self, False)
            if self._registered:
                self._transport.startWriting()
        else:
            self._unregister()

    def _write_queue(self):
        """Write until the queue is empty (→ False) or the socket is full (→ True)."""
        queue = self._queue
        sock = self._socket
        while self._head < len(queue):
            piece = queue[self._head]
            if type(piece) is FileRegion:
                remaining = piece.length - self._offset
                try:
                    sent = os.sendfile(self._fd, piece.file.fileno(), piece.position + self._offset, remaining)
                except BlockingIOError:
                    return True
                except InterruptedError:
                    continue
                if sent == 0 and remaining:
                    raise EOFError(f"file region {piece!r} extends past the end of its file")
                self._advance(sent)
                if sent < remaining:
                    return True
                continue
            # Gather consecutive byte pieces into one sendmsg.
            buffers = [piece[self._offset :] if self._offset else piece]
            index = self._head + 1
            while index < len(queue) and len(buffers) < _MAX_IOV and type(queue[index]) is not FileRegion:
                buffers.append(queue[index])
                index += 1
            wanted = sum(b.nbytes for b in buffers)
            try:
                sent = sock.sendmsg(buffers)
            except BlockingIOError:
                return True
            except InterruptedError:
                continue
            self._advance(sent)
            if sent < wanted:
                return True
        self._queue = []
        self._head = 0
        self._offset = 0
        return False

    def _advance(self, sent):
        """Mark ``sent`` more bytes as written."""
        self._pending -= sent
        queue = self._queue
        while sent:
            piece = queue[self._head]
            size = piece.length if type(piece) is FileRegion else piece.nbytes
            left = size - self._offset
            if sent >= left:
                sent -= left
                queue[self._head] = None
                self._head += 1
                self._offset = 0
            else:
                self._offset += sent
                sent = 0
        # Skip zero-length pieces so the head always has bytes left.
        while self._head < len(queue):
            piece = queue[self._head]
            size = piece.length if type(piece) is FileRegion else piece.nbytes
            if size:
                break
            self._head += 1
        if self._head > 1024 and self._head * 2 > len(queue):
            del queue[: self._head]
            self._head = 0
