"""Blocking reads of ``/controller`` for the scale benchmark (a :class:`~kafkalite.cli.blocking_zk.BlockingZk`)."""

from dataclasses import dataclass

from kafkalite import zkdata
from kafkalite.cli.blocking_zk import BlockingZk
from kafkalite.zkclient import NoNodeError

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


class ZooKeeperView(BlockingZk):
    """A ZooKeeper session for the benchmark's blocking code, reading who holds ``/controller``.

    :param connect_string: ``host:port[,...][/chroot]``.
    :param timeout: seconds to wait for the connection and for each read.
    """

    def controller(self):
        """The current :class:`ControllerElection`, or ``None`` while nobody holds ``/controller``."""
        try:
            data, stat = self.get(zkdata.CONTROLLER)
        except NoNodeError:
            return None
        return ControllerElection(zkdata.decode_controller(data).broker_id, stat.ctime / 1000.0)
