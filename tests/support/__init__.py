"""What the test suites share: real processes and clients, and the documented fakes.

Real things (integration, client and fault tests):

- ``zookeeper`` — ZooKeeper servers and ensembles from Debian's install, chroots, session expiry;
- ``cluster`` — brokers as subprocesses through the package's launcher (``kafkalite.local``);
- ``clients`` — confluent-kafka helpers (create topics, produce, consume, group offsets);
- ``wire`` — a blocking protocol client for exact bytes on the wire;
- ``systemd_units`` — deploy/'s systemd units and example configs, read as systemd and ZooKeeper read them.

Fakes for unit tests, one per interface, each module's docstring saying what it stands for:

- ``fake_zk.FakeZk`` — :class:`kafkalite.zkclient.ZkClient` (controller, ISR writer, legacy offsets);
- ``controller.RecordingChannel`` — the controller's channel to the brokers;
- ``replica`` — the replica layer's collaborators (``FakeLog``, topic configs, a recording ISR
  writer) and a driver wiring a real ``ReplicaManager``;
- ``coordinator`` — the group coordinator's collaborators (the ``__consumer_offsets`` partitions,
  metadata cache, topic admin);
- ``log`` — the storage engine's clock and builders;
- ``network`` — the network layer's dispatch, metrics and endpoint stand-ins, and wire helpers.

No ``test_*`` module imports another: what two tests share lives here.
"""
