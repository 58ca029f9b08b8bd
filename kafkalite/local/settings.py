"""The broker settings of ``config/``, inside the package.

``config/server.properties`` and ``config/cluster/server-{1,2,3}.properties`` are the
operator-facing files (``make run``, ``make run-single``, running a broker by hand);
``kafkalite-perf`` starts its own clusters with the same settings, and must find them
when installed from a wheel, without the repository. A unit test
(``tests/unit/test_local_settings.py``) keeps these mappings equal to the files.

The addresses, directories and ZooKeeper here are the files' (``127.0.0.1:9092``,
``.run/broker-N``...); a launcher overrides them with its own.
"""

__all__ = ["CLUSTER_SIZE", "SINGLE_BROKER", "cluster_broker"]

#: ``config/server.properties``: one broker, internal topics with one replica.
SINGLE_BROKER = {
    "broker.id": "1",
    "listeners": "PLAINTEXT://127.0.0.1:9092",
    "num.network.threads": "3",
    "num.io.threads": "8",
    "socket.send.buffer.bytes": "102400",
    "socket.receive.buffer.bytes": "102400",
    "socket.request.max.bytes": "104857600",
    "metrics.port": "9192",
    "log.dirs": "/tmp/kafkalite-logs",
    "num.partitions": "1",
    "num.recovery.threads.per.data.dir": "1",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "log.retention.hours": "168",
    "log.segment.bytes": "1073741824",
    "log.retention.check.interval.ms": "300000",
    "zookeeper.connect": "127.0.0.1:2181",
    "zookeeper.connection.timeout.ms": "18000",
    "group.initial.rebalance.delay.ms": "0",
}

#: Brokers in ``config/cluster/``.
CLUSTER_SIZE = 3

# What the three files of config/cluster/ share: RF 3 with min.insync.replicas=2, for
# user topics and internal topics alike.
_CLUSTER_COMMON = {
    "zookeeper.connect": "127.0.0.1:2181",
    "zookeeper.connection.timeout.ms": "18000",
    "num.partitions": "3",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "group.initial.rebalance.delay.ms": "0",
}


def cluster_broker(broker_id):
    """``config/cluster/server-<broker_id>.properties`` (broker ``N`` listens on ``9091+N``, metrics on ``9191+N``).

    :raises ValueError: for a broker id outside ``1..CLUSTER_SIZE``.
    """
    if not 1 <= broker_id <= CLUSTER_SIZE:
        raise ValueError(f"config/cluster has brokers 1-{CLUSTER_SIZE}, not {broker_id}")
    return {
        "broker.id": str(broker_id),
        "listeners": f"PLAINTEXT://127.0.0.1:{9091 + broker_id}",
        "metrics.port": str(9191 + broker_id),
        "log.dirs": f".run/broker-{broker_id}",
        **_CLUSTER_COMMON,
    }
