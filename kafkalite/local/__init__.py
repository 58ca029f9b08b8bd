"""Local processes: ZooKeeper and brokers started on this machine, stopped by pid.

The one launcher behind ``make run``/``run-single``/``stop``/``status`` (through
``python -m kafkalite.local`` and ``zk/zkctl``), the test fixtures in ``tests/support/``
and ``kafkalite-perf``'s own clusters. Standard library only (``kafkalite.config``
included), so ``zk/zkctl`` runs with any ``python3`` and the package works installed from
a wheel, without the repository.

Modules: ``process`` (pids, signals, ports, log tails), ``zookeeper`` (ZooKeeper nodes
from Debian's install) with its ``zkconfig`` templates and ``zkctl`` command line,
``broker`` (one ``python -m kafkalite`` process), ``cluster`` (ZooKeeper and brokers
started and stopped together), ``settings`` (the broker settings of ``config/``, inside
the package), ``rundir`` (the pid-file commands behind the Makefile) with ``announce``
(the lines ``make run`` prints as brokers and the controller come up), ``prometheus``
(the local Prometheus of ``make run PROMETHEUS=1``).
"""

__all__ = ["announce", "broker", "cluster", "process", "prometheus", "rundir", "settings", "zkconfig", "zkctl",
           "zookeeper"]
