"""``kafkalite-admin``: the operator's command-line tool, with subcommands named as Kafka's tools.

Modules: ``main`` (argument parsing and dispatch), ``client`` (a small blocking Kafka Admin
API client), ``zk`` (blocking ZooKeeper access for ``--zookeeper`` mode), ``output`` (tables,
``--json`` and the one-line errors), and one module per subcommand: ``topics``, ``configs``,
``reassign``, ``election``, ``groups``, ``cluster``, ``logdirs``.
"""

__all__ = []
