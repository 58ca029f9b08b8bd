"""``broker.id=-1``: ids generated from ``/brokers/seqid`` above ``reserved.broker.max.id``, kept in meta.properties."""

from tests.support.cluster import BrokerProcess, wait_until
from tests.support.zookeeper import kazoo_client


def _registered(zookeeper, broker_id):
    with kazoo_client(zookeeper.connect_string, start_timeout=30) as zk:
        return zk.exists("/brokers/ids/%d" % broker_id) is not None


def _meta(broker):
    lines = (broker.log_dir / "meta.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _started(broker, zookeeper, broker_id):
    broker.start().wait_ready(registered=False)
    wait_until(lambda: _registered(zookeeper, broker_id), 60, message="broker %d to register" % broker_id)


def test_generated_ids_are_stored_and_reused(zookeeper, tmp_path):
    """Two brokers with broker.id=-1 become 1001 and 1002; a restart keeps the id; a different configured
    id then stops start-up with one line."""
    first = BrokerProcess(1, zookeeper.connect_string, tmp_path / "a", overrides={"broker.id": "-1"})
    second = BrokerProcess(2, zookeeper.connect_string, tmp_path / "b",
                           overrides={"broker.id": "-1", "reserved.broker.max.id": "1000"})
    try:
        _started(first, zookeeper, 1001)
        _started(second, zookeeper, 1002)
        meta = _meta(first)
        assert meta["version"] == "0" and meta["broker.id"] == "1001" and meta["cluster.id"]
        assert _meta(second)["broker.id"] == "1002"
        assert "generated broker id 1001" in first.log_text()

        first.stop()
        wait_until(lambda: not _registered(zookeeper, 1001), 30, message="broker 1001 to deregister")
        _started(first, zookeeper, 1001)
        with kazoo_client(zookeeper.connect_string, start_timeout=30) as zk:
            assert zk.get("/brokers/seqid")[1].version == 2  # no id drawn by the restart
        first.stop()

        first.overrides["broker.id"] = "7"
        first.start()
        assert first.wait_exit(60) == 1
        assert "Configured broker.id 7 doesn't match stored broker.id 1001 in meta.properties" in first.log_text()
    finally:
        first.stop()
        second.stop()


def test_inconsistent_meta_properties_across_log_dirs_stop_start_up(zookeeper, tmp_path):
    """Two log dirs naming different broker ids: the broker refuses to start, saying why."""
    broker = BrokerProcess(1, zookeeper.connect_string, tmp_path / "c", overrides={"broker.id": "-1"})
    other = tmp_path / "c" / "other"
    broker.overrides["log.dirs"] = "%s,%s" % (broker.log_dir, other)
    for path, broker_id in ((broker.log_dir, 1001), (other, 1002)):
        path.mkdir(parents=True)
        (path / "meta.properties").write_text("version=0\nbroker.id=%d\n" % broker_id)
    try:
        broker.start()
        assert broker.wait_exit(60) == 1
        assert "BrokerMetadata is not consistent across log.dirs" in broker.log_text()
    finally:
        broker.stop()
