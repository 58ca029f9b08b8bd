"""kazoo's wait on its sockets without a descriptor of its own (``poll_select``)."""

import os
import resource
import selectors
import socket

import pytest

from kafkalite.zkclient.handler import poll_select


def test_poll_select_reports_readable_and_writable_like_select():
    """A fresh socket pair is writable, not readable; after a send the peer is readable."""
    left, right = socket.socketpair()
    try:
        assert poll_select([left, right], [left], [], 0) == ([], [left], [])
        left.send(b"x")
        readable, writable, errors = poll_select([right], [], [], 1.0)
        assert (readable, writable, errors) == ([right], [], [])
    finally:
        left.close()
        right.close()


def test_poll_select_works_with_no_descriptor_left():
    """With the soft descriptor limit reached, waiting still works (kazoo's own select opens an epoll fd)."""
    left, right = socket.socketpair()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        left.send(b"x")
        lowest_free = os.dup(0)  # the kernel hands out the lowest free descriptor number
        os.close(lowest_free)
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))  # no new descriptor can be opened
        with pytest.raises(OSError):
            selectors.DefaultSelector()
        assert poll_select([right], [], [], 1.0)[0] == [right]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        left.close()
        right.close()
