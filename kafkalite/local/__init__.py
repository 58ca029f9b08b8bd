"""Local processes: ZooKeeper started on this machine, stopped by pid.

Standard library only, so ``zk/zkctl`` runs with any ``python3`` and the package works
installed from a wheel, without the repository.

Modules: ``process`` (pids, signals, ports, log tails), ``zookeeper`` (ZooKeeper nodes
from Debian's install) with its ``zkconfig`` templates and ``zkctl`` command line.
"""

__all__ = ["process", "zkconfig", "zkctl", "zookeeper"]
