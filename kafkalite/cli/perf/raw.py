"""The machine's own limits: a loopback socket into a page-cache file, and a file out with sendfile.

Produce cannot be faster than a loopback TCP stream written into a file that stays in the
page cache, and consume cannot be faster than ``os.sendfile`` from such a file to a
socket; ``kafkalite-perf`` prints every workload also as a ratio to the matching limit
(DESIGN.md section 11).
"""

import os
import socket
import threading
import time
from dataclasses import dataclass

__all__ = ["MB", "RawLimit", "measure_file_to_socket", "measure_raw_limits", "measure_socket_to_file"]

MB = 1_000_000
_CHUNK = 1 << 20


@dataclass
class RawLimit:
    """One raw-limit measurement: ``bytes`` moved in ``seconds`` (best of the repeats)."""

    name: str
    bytes: int
    seconds: float

    @property
    def mb_per_s(self):
        return self.bytes / MB / self.seconds


def _listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server


def _receive(server, sink, done):
    """Accept one connection and pour it into ``sink`` (a raw file, or None to discard)."""
    try:
        connection, _ = server.accept()
        with connection:
            buf = bytearray(_CHUNK)
            view = memoryview(buf)
            while True:
                count = connection.recv_into(buf)
                if not count:
                    break
                if sink is not None:
                    sink.write(view[:count])
    finally:
        done.append(time.perf_counter())


def measure_socket_to_file(total_bytes, path):
    """Push ``total_bytes`` through a loopback TCP connection into the file ``path`` (no fsync).

    A receiver thread does what a broker does on produce: ``recv_into`` a buffer,
    ``write`` it to a file that stays in the page cache. The sender writes 1 MiB
    chunks with ``sendall``. Both sides' system calls release the GIL.

    :returns: a :class:`RawLimit` named "socket_to_file".
    """
    payload = bytes(range(256)) * (_CHUNK // 256)
    server = _listener()
    done = []
    with server, open(path, "wb", buffering=0) as sink:
        receiver = threading.Thread(target=_receive, args=(server, sink, done), daemon=True)
        receiver.start()
        start = time.perf_counter()
        with socket.create_connection(server.getsockname()) as sender:
            remaining = total_bytes
            while remaining > 0:
                piece = payload if remaining >= len(payload) else payload[:remaining]
                sender.sendall(piece)
                remaining -= len(piece)
            sender.shutdown(socket.SHUT_WR)
            receiver.join()
    if not done:
        raise RuntimeError("socket->file receiver did not finish")
    written = os.path.getsize(path)
    if written != total_bytes:
        raise RuntimeError(f"socket->file wrote {written} of {total_bytes} bytes")
    return RawLimit("socket_to_file", total_bytes, done[0] - start)


def measure_file_to_socket(path):
    """Send the whole file ``path`` to a loopback TCP receiver with ``os.sendfile``.

    The receiver discards what it reads, as a consumer piped to a counter does.
    Run it on a file that is in the page cache (the one just written by
    :func:`measure_socket_to_file`).

    :returns: a :class:`RawLimit` named "file_to_socket".
    """
    size = os.path.getsize(path)
    server = _listener()
    done = []
    with server, open(path, "rb") as source:
        receiver = threading.Thread(target=_receive, args=(server, None, done), daemon=True)
        receiver.start()
        start = time.perf_counter()
        with socket.create_connection(server.getsockname()) as sender:
            offset = 0
            while offset < size:
                sent = os.sendfile(sender.fileno(), source.fileno(), offset, min(size - offset, 8 * _CHUNK))
                if sent == 0:
                    raise RuntimeError("sendfile sent nothing before the end of the file")
                offset += sent
            sender.shutdown(socket.SHUT_WR)
            receiver.join()
    if not done:
        raise RuntimeError("file->socket receiver did not finish")
    return RawLimit("file_to_socket", size, done[0] - start)


def measure_raw_limits(total_bytes, repeats, workdir):
    """Best of ``repeats`` runs of both raw limits; the scratch file is removed afterwards.

    :returns: ``{"socket_to_file": RawLimit, "file_to_socket": RawLimit}``.
    """
    path = os.path.join(workdir, "raw-limit.bin")
    best = {}
    try:
        for _ in range(repeats):
            for result in (measure_socket_to_file(total_bytes, path), measure_file_to_socket(path)):
                if result.name not in best or result.seconds < best[result.name].seconds:
                    best[result.name] = result
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return best
