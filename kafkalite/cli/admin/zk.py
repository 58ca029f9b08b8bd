"""``--zookeeper``: the cluster's ZooKeeper, opened for ``kafkalite-admin`` as Kafka's ``--zookeeper`` tools open it.

:func:`open_zookeeper` connects a :class:`~kafkalite.cli.blocking_zk.BlockingZk` and checks
that it leads to a Kafka cluster (the chroot exists and holds ``/brokers``), so that a wrong
``--zookeeper`` is one clear line rather than topics created in an empty namespace.
"""

from contextlib import contextmanager

from kafkalite.cli.admin.output import AdminError
from kafkalite.cli.blocking_zk import BlockingZk
from kafkalite.zkclient import ZkError, split_chroot

__all__ = ["open_zookeeper"]


@contextmanager
def open_zookeeper(connect_string, timeout):
    """A started :class:`BlockingZk` on a Kafka cluster's ZooKeeper, closed on exit.

    :raises AdminError: a malformed connect string, ZooKeeper not reached within ``timeout``,
        a missing chroot or no ``/brokers`` znode.
    """
    hosts, chroot = split_chroot(connect_string)
    if not hosts or any(":" not in h for h in hosts.split(",")):
        raise AdminError(f"--zookeeper: expected host:port[,host:port...][/chroot], got {connect_string!r}")
    zk = BlockingZk(connect_string, timeout)
    try:
        zk.start()
    except ZkError as error:
        raise AdminError(f"cannot reach ZooKeeper at {connect_string}: {error}") from None
    try:
        if chroot and zk.exists("/") is None:
            raise AdminError(f"ZooKeeper chroot {chroot} does not exist (is --zookeeper right?)")
        if zk.exists("/brokers") is None:
            raise AdminError(f"no Kafka cluster at {connect_string} (no /brokers znode)")
        yield zk
    finally:
        zk.close()
