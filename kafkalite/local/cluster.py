"""Brokers (and optionally their own ZooKeeper) started together and stopped by pid.

:class:`LocalCluster` starts a ZooKeeper it owns (if given one), spawns every broker,
then waits until each is ready; if anything fails on the way (a broker exits, a deadline
passes, Ctrl-C) it stops what it started before re-raising, so a half-started cluster is
never left behind. :meth:`LocalCluster.stop` stops the brokers one at a time, last
first, then ZooKeeper.

:func:`scratch_cluster` builds the cluster ``kafkalite-perf`` runs on: its own standalone
ZooKeeper and one broker with ``config/server.properties``'s settings or three with
``config/cluster``'s (from :mod:`kafkalite.local.settings`), every port free, every file
under one work directory.
"""

from pathlib import Path

from kafkalite.local import settings
from kafkalite.local import zookeeper as zk_local
from kafkalite.local.broker import READY_TIMEOUT_S, STOP_TIMEOUT_S, BrokerProcess
from kafkalite.local.process import free_port

__all__ = ["LocalCluster", "scratch_cluster"]


class LocalCluster:
    """Brokers sharing one ZooKeeper.

    :param brokers: the :class:`~kafkalite.local.broker.BrokerProcess` objects, in start order.
    :param zookeeper: a :class:`~kafkalite.local.zookeeper.ClusterSpec` this cluster starts
        and stops itself, or ``None`` when ZooKeeper is someone else's.
    :param detach_zookeeper: start that ZooKeeper in its own session (it outlives us).
    """

    def __init__(self, brokers, zookeeper=None, detach_zookeeper=False):
        self.brokers = list(brokers)
        self.zookeeper = zookeeper
        self.detach_zookeeper = detach_zookeeper

    @property
    def bootstrap(self):
        """Every broker's ``host:port``, comma-separated."""
        return ",".join(broker.bootstrap for broker in self.brokers)

    def broker(self, broker_id):
        """The broker with ``broker.id`` ``broker_id``.

        :raises KeyError: when there is none.
        """
        for broker in self.brokers:
            if broker.broker_id == broker_id:
                return broker
        raise KeyError(broker_id)

    def start(self, timeout=READY_TIMEOUT_S):
        """Start ZooKeeper (if owned), spawn every broker, then wait until each is ready.

        :raises BrokerStartError: (or :class:`~kafkalite.local.zookeeper.ZkCtlError`) with
            the log tail of what failed; everything started is stopped first.
        """
        try:
            if self.zookeeper is not None:
                zk_local.start_cluster(self.zookeeper, timeout=timeout, detach=self.detach_zookeeper)
            for broker in self.brokers:
                broker.start()
            for broker in self.brokers:
                broker.wait_ready(timeout)
        except BaseException:  # Ctrl-C and SIGTERM too: never leave a half-started cluster
            self.stop()
            raise
        return self

    def stop(self, log=None, timeout=STOP_TIMEOUT_S):
        """Stop every broker (one at a time, last first, by pid), then the owned ZooKeeper.

        :param timeout: seconds each broker has after SIGTERM before SIGKILL.
        """
        for broker in reversed(self.brokers):
            broker.stop(timeout, log=log)
        if self.zookeeper is not None:
            zk_local.stop_cluster(self.zookeeper)

    def log_tails(self, lines=40):
        """The end of every broker's log, one section per broker."""
        return "\n".join(f"--- {broker.name} ({broker.log_path}):\n{broker.log_tail(lines)}"
                         for broker in self.brokers)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def scratch_cluster(workdir, size=1, overrides=None):
    """ZooKeeper and ``size`` brokers (1 or 3) on free loopback ports, everything under ``workdir``.

    One broker gets ``config/server.properties``'s settings, three get ``config/cluster``'s;
    ``broker.id``, ``listeners``, ``log.dirs``, ``zookeeper.connect`` and ``metrics.port``
    (0: off) are this cluster's, then ``overrides`` apply. Broker ``N`` keeps its properties
    in ``workdir/broker-N/server.properties``, its data in ``workdir/broker-N/data`` and its
    output in ``workdir/broker-N.log``. The processes die with the thread that started them.

    :returns: a :class:`LocalCluster`, not started.
    """
    if size not in (1, settings.CLUSTER_SIZE):
        raise ValueError(f"a scratch cluster has 1 or {settings.CLUSTER_SIZE} brokers, not {size}")
    workdir = Path(workdir)
    spec = zk_local.standalone_spec(str(workdir / "zookeeper"), port=free_port())
    brokers = []
    for broker_id in range(1, size + 1):
        port = free_port()
        base = settings.SINGLE_BROKER if size == 1 else settings.cluster_broker(broker_id)
        properties = {
            **base,
            "broker.id": str(broker_id),
            "listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "log.dirs": str(workdir / f"broker-{broker_id}" / "data"),
            "zookeeper.connect": spec.connect_string,
            "metrics.port": "0",
            **{key: str(value) for key, value in (overrides or {}).items()},
        }
        brokers.append(BrokerProcess(
            workdir / f"broker-{broker_id}" / "server.properties", workdir / f"broker-{broker_id}.log", port,
            broker_id=broker_id, properties=properties, cwd=str(workdir), die_with_parent=True))
    return LocalCluster(brokers, zookeeper=spec)
