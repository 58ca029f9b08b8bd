"""Blocking reads of ``/controller`` for the scale benchmark, through the project's own ZooKeeper client.

:mod:`kafkalite.zkclient` is the one module that talks to kazoo, and it hands every
result to a Twisted reactor. The benchmark is plain blocking code, so
:class:`ZooKeeperView` runs a private reactor (not the global one) on a daemon thread and
waits for each read with ``blockingCallFromThread``.
"""

import threading
from dataclasses import dataclass

from twisted.internet import threads
from twisted.internet.selectreactor import SelectReactor

from kafkalite import zkdata
from kafkalite.zkclient import NoNodeError, ZkClient

__all__ = ["ControllerElection", "ZooKeeperView"]


@dataclass(frozen=True)
class ControllerElection:
    """Who holds ``/controller`` and since when.

    :ivar broker_id: the controller.
    :ivar elected_at: the znode's ctime in seconds since the epoch (the ZooKeeper
        server's clock: on this machine, ours).
    """

    broker_id: int
    elected_at: float


class ZooKeeperView:
    """A read-only ZooKeeper session for blocking code.

    :param connect_string: ``host:port[,...][/chroot]``.
    :param timeout: seconds to wait for the connection and for each read.
    """

    def __init__(self, connect_string, timeout=30.0):
        self._reactor = SelectReactor()
        self._timeout = timeout
        self._client = ZkClient(connect_string, self._reactor, session_timeout_ms=int(timeout * 1000),
                                connection_timeout_ms=int(timeout * 1000), create_chroot=False)
        self._thread = threading.Thread(target=self._reactor.run, kwargs={"installSignalHandlers": False},
                                        name="perf-zookeeper-view", daemon=True)

    def start(self):
        """Run the reactor and connect.

        :raises kafkalite.zkclient.ZkError: when ZooKeeper is not reached in time.
        """
        self._thread.start()
        threads.blockingCallFromThread(self._reactor, self._client.start)
        return self

    def controller(self):
        """The current :class:`ControllerElection`, or ``None`` while nobody holds ``/controller``."""
        try:
            data, stat = threads.blockingCallFromThread(self._reactor, self._client.get, zkdata.CONTROLLER)
        except NoNodeError:
            return None
        return ControllerElection(zkdata.decode_controller(data).broker_id, stat.ctime / 1000.0)

    def close(self):
        """End the session and stop the private reactor."""
        if not self._thread.is_alive():
            return
        try:
            threads.blockingCallFromThread(self._reactor, self._client.stop)
        finally:
            self._reactor.callFromThread(self._reactor.stop)
            self._thread.join(self._timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()
