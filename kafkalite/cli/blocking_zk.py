"""Blocking ZooKeeper access for command-line tools, through the project's own ZooKeeper client.

:mod:`kafkalite.zkclient` is the one module that talks to kazoo, and it hands every result
to a Twisted reactor. Command-line tools (``kafkalite-admin --zookeeper``, the scale
benchmark of ``kafkalite-perf``) are plain blocking code, so :class:`BlockingZk` runs a
private reactor (never the global one) on a daemon thread and waits for each operation
with ``blockingCallFromThread``. Errors are :class:`~kafkalite.zkclient.ZkError` subclasses
(``NoNodeError``, ``NodeExistsError``, ``ZkTimeoutError``...).
"""

import threading

from twisted.internet import threads
from twisted.internet.selectreactor import SelectReactor

from kafkalite.zkclient import NoNodeError, ZkClient, ZkError

__all__ = ["BlockingZk"]


class BlockingZk:
    """A ZooKeeper session for blocking code.

    :param connect_string: ``host:port[,...][/chroot]``; the chroot is not created.
    :param timeout: seconds to wait for the connection and for each operation.
    """

    def __init__(self, connect_string, timeout=30.0):
        self.connect_string = connect_string
        self._timeout = timeout
        self._reactor = SelectReactor()
        self._client = ZkClient(connect_string, self._reactor, session_timeout_ms=int(timeout * 1000),
                                connection_timeout_ms=int(timeout * 1000), create_chroot=False)
        self._thread = threading.Thread(target=self._reactor.run, kwargs={"installSignalHandlers": False},
                                        name="blocking-zookeeper", daemon=True)

    def start(self):
        """Run the reactor and connect; returns ``self``.

        :raises kafkalite.zkclient.ZkError: ZooKeeper is not reached in time (the session is
            closed again).
        """
        self._thread.start()
        try:
            self._call(self._client.start)
        except ZkError:
            self.close()
            raise
        return self

    def close(self):
        """End the session and stop the private reactor."""
        if not self._thread.is_alive():
            return
        try:
            self._call(self._client.stop)
        except ZkError:
            pass
        finally:
            self._reactor.callFromThread(self._reactor.stop)
            self._thread.join(self._timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()

    def _call(self, method, *args, **kwargs):
        return threads.blockingCallFromThread(self._reactor, method, *args, **kwargs)

    def get(self, path):
        """``(data, stat)``; raises ``NoNodeError``."""
        return self._call(self._client.get, path)

    def get_or_none(self, path):
        """The znode's data, or ``None`` when it does not exist."""
        try:
            return self.get(path)[0]
        except NoNodeError:
            return None

    def children(self, path):
        """Sorted child names; ``[]`` when ``path`` does not exist."""
        try:
            return sorted(self._call(self._client.get_children, path))
        except NoNodeError:
            return []

    def exists(self, path):
        """The znode's stat, or ``None``."""
        return self._call(self._client.exists, path)

    def create(self, path, value=b"", sequence=False, makepath=True):
        """Create a persistent znode; returns its path."""
        return self._call(self._client.create, path, value, sequence=sequence, makepath=makepath)

    def set(self, path, value, version=-1):
        """Set a znode's data (version-checked unless -1)."""
        return self._call(self._client.set, path, value, version=version)

    def get_many(self, paths):
        """Read many znodes in batches: a list of ``(data, stat)`` or a ``ZkError`` in place."""
        return self._call(self._client.get_many, list(paths))
