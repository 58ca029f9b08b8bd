"""The broker test fixtures themselves: start, readiness, registration, kill, restart and stop by pid."""

import signal

import pytest

from tests.support.cluster import BrokerProcess, port_open, wait_until
from tests.support.zookeeper import kazoo_client


def _registered(zookeeper, broker_id):
    with kazoo_client(zookeeper.connect_string) as client:
        return client.exists(f"/brokers/ids/{broker_id}") is not None


def test_zookeeper_fixture_gives_each_test_its_own_chroot(zookeeper, zookeeper_session_server):
    """The zookeeper fixture is a created chroot inside the shared server."""
    assert zookeeper.connect_string == zookeeper_session_server.connect_string + zookeeper.chroot
    with kazoo_client(zookeeper_session_server.connect_string) as client:
        assert client.exists(zookeeper.chroot) is not None


def test_single_broker_is_ready_and_stops_cleanly(single_broker, zookeeper):
    """single_broker is listening and registered; stop() ends it by pid and its znode goes away."""
    assert single_broker.is_running()
    assert port_open("127.0.0.1", single_broker.port)
    assert _registered(zookeeper, 1)
    assert single_broker.bootstrap == f"127.0.0.1:{single_broker.port}"

    status = single_broker.stop()

    assert status == 0, single_broker.log_tail()
    assert single_broker.pid is None
    wait_until(lambda: not _registered(zookeeper, 1), timeout=30, message="/brokers/ids/1 to disappear")


@pytest.mark.cluster(size=3, overrides={"zookeeper.session.timeout.ms": "6000"})
def test_cluster_kill_and_restart(cluster, zookeeper):
    """A killed broker is gone by pid; once its session expired, restart() brings it back on the same port."""
    assert [broker.broker_id for broker in cluster.brokers] == [1, 2, 3]
    assert cluster.bootstrap == ",".join(broker.bootstrap for broker in cluster.brokers)
    broker = cluster.broker(2)
    port = broker.port

    broker.kill(signal.SIGKILL)

    assert not broker.is_running()
    assert broker.returncode == -signal.SIGKILL
    # As in Kafka, a broker id can register again only once the dead process's session expired.
    wait_until(lambda: not _registered(zookeeper, 2), timeout=60, message="/brokers/ids/2 to expire")
    broker.restart()
    assert broker.port == port
    assert broker.is_running()
    assert _registered(zookeeper, 2)


def test_broker_that_exits_reports_its_log(zookeeper, tmp_path):
    """wait_ready fails fast with the log tail when the broker exits (here: an invalid config value)."""
    from tests.support.cluster import BrokerStartError

    broker = BrokerProcess(1, zookeeper.connect_string, tmp_path, overrides={"log.segment.bytes": "abc"})
    broker.start()
    try:
        with pytest.raises(BrokerStartError, match="log.segment.bytes"):
            broker.wait_ready(timeout=30)
        assert broker.returncode == 1
    finally:
        broker.stop()
