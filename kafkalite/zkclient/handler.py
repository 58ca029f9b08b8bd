"""kazoo's threading handler with a ``select`` that needs no file descriptor of its own.

kazoo's connection thread waits on its sockets through ``handler.select``, which in kazoo
2.x opens a new epoll selector — a file descriptor — on every call. A broker that runs out
of descriptors (10,000 partitions near ``ulimit -n``) then loses its ZooKeeper connection
on the next wait ("socket connection error: Too many open files"), exactly when it most
needs its session. ``poll()`` waits on the same sockets with no descriptor of its own.

It also keeps kazoo's connection to ZooKeeper's Java client's timeouts
(:mod:`kafkalite.zkclient.connection`): TCP connects within the budget of the attempt in
progress instead of kazoo's whole session timeout, and waits on the connected server's socket
no longer than the read timeout allows, leaving the server when it has been silent that long.
"""

import select

from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.handlers.utils import fileobj_to_fd

__all__ = ["PollingHandler", "poll_select"]

_READ = select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR
_WRITE = select.POLLOUT | select.POLLHUP | select.POLLERR


def poll_select(rlist, wlist, xlist, timeout=None):
    """``select.select``'s interface (readable, writable, [] lists) on ``poll()``."""
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be non-negative")
    poller = select.poll()
    by_fd = {}
    for objects, mask in ((rlist, select.POLLIN | select.POLLPRI), (wlist, select.POLLOUT)):
        for fileobj in objects:
            fd = fileobj_to_fd(fileobj)
            entry = by_fd.setdefault(fd, [0, [], []])
            entry[0] |= mask
            entry[1 if mask & select.POLLIN else 2].append(fileobj)
    for fd, (mask, _, _) in by_fd.items():
        poller.register(fd, mask)
    ready = poller.poll(None if timeout is None else timeout * 1000.0)
    readable, writable = [], []
    for fd, events in ready:
        _, readers, writers = by_fd[fd]
        if events & _READ:
            readable.extend(readers)
        if events & _WRITE:
            writable.extend(writers)
    return readable, writable, []


class PollingHandler(SequentialThreadingHandler):
    """kazoo's threading handler, waiting with :func:`poll_select`.

    ``connection`` (set by :func:`kafkalite.zkclient.connection.install`) caps the timeout of
    the TCP connects kazoo asks for with its per-server budget, and the waits on the
    connected server's socket with its read timeout.
    """

    connection = None

    def create_connection(self, *args, timeout=None, **kwargs):
        if self.connection is not None:
            timeout = self.connection.connect_budget_s(timeout)
        return super().create_connection(*args, timeout=timeout, **kwargs)

    def select(self, rlist, wlist, xlist, timeout=None):
        connection = self.connection
        if connection is None:
            return poll_select(rlist, wlist, xlist, timeout)
        timeout = connection.read_budget_s(timeout, rlist)
        readable, writable, errors = poll_select(rlist, wlist, xlist, timeout)
        # checked whatever else is ready (a steady flow of requests must not hide a silent server);
        # raised inside kazoo's socket handling, so the connection is dropped and the next server tried
        connection.check_heard(readable)
        return readable, writable, errors

