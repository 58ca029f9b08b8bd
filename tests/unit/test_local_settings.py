"""The package's broker settings and properties helpers (kafkalite.local), checked against config/.

kafkalite-perf starts its clusters from :mod:`kafkalite.local.settings` so that it works
installed from a wheel; these tests keep those settings equal to the operator-facing
files in ``config/``, so the two cannot drift.
"""

from pathlib import Path

import pytest

from kafkalite.config import parse_properties
from kafkalite.local import settings
from kafkalite.local.broker import listener_address, read_properties, write_properties
from kafkalite.local.cluster import scratch_cluster

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_single_broker_settings_equal_config_server_properties():
    """SINGLE_BROKER is exactly config/server.properties: same keys, same values."""
    assert settings.SINGLE_BROKER == parse_properties((CONFIG / "server.properties").read_text())


@pytest.mark.parametrize("broker_id", [1, 2, 3])
def test_cluster_settings_equal_config_cluster_files(broker_id):
    """cluster_broker(N) is exactly config/cluster/server-N.properties."""
    path = CONFIG / "cluster" / f"server-{broker_id}.properties"
    assert settings.cluster_broker(broker_id) == parse_properties(path.read_text())


def test_config_cluster_has_exactly_the_package_brokers():
    """config/cluster holds one file per broker of CLUSTER_SIZE, and no broker outside it exists."""
    files = sorted(path.name for path in (CONFIG / "cluster").glob("server-*.properties"))
    assert files == [f"server-{n}.properties" for n in range(1, settings.CLUSTER_SIZE + 1)]
    with pytest.raises(ValueError):
        settings.cluster_broker(settings.CLUSTER_SIZE + 1)


@pytest.mark.parametrize("listeners, expected", [
    ("PLAINTEXT://127.0.0.1:9092", ("127.0.0.1", 9092)),
    ("PLAINTEXT://:9093", ("127.0.0.1", 9093)),
    ("PLAINTEXT://0.0.0.0:9094,SSL://h:9095", ("127.0.0.1", 9094)),
    ("PLAINTEXT://broker.example:19092", ("broker.example", 19092)),
])
def test_listener_address_is_the_first_listener_reached_locally(listeners, expected):
    """The launcher waits on the first listener; wildcard and empty hosts are reached on loopback."""
    assert listener_address({"listeners": listeners}) == expected


def test_listener_address_without_a_port_is_an_error():
    """A config without a usable listener is refused before any process starts."""
    with pytest.raises(ValueError, match="listeners"):
        listener_address({})


def test_properties_round_trip_with_overrides(tmp_path):
    """write_properties writes what parse_properties reads back; read_properties applies overrides on top."""
    path = tmp_path / "sub" / "server.properties"
    write_properties(path, {"broker.id": "7", "listeners": "PLAINTEXT://127.0.0.1:1"})
    assert read_properties(path, {"broker.id": 8, "log.dirs": "/x"}) == {
        "broker.id": "8", "listeners": "PLAINTEXT://127.0.0.1:1", "log.dirs": "/x"}


def test_scratch_cluster_uses_the_package_settings_with_its_own_addresses(tmp_path):
    """A 3-broker scratch cluster has config/cluster's settings, its own ports, dirs and ZooKeeper (nothing started)."""
    cluster = scratch_cluster(tmp_path, size=3, overrides={"zookeeper.session.timeout.ms": 6000})
    assert [broker.broker_id for broker in cluster.brokers] == [1, 2, 3]
    ports = {broker.port for broker in cluster.brokers}
    assert len(ports) == 3 and not ports & {9092, 9093, 9094}
    props = cluster.broker(2).properties()
    assert props["min.insync.replicas"] == "2" and props["default.replication.factor"] == "3"
    assert props["listeners"] == f"PLAINTEXT://127.0.0.1:{cluster.broker(2).port}"
    assert props["log.dirs"] == str(tmp_path / "broker-2" / "data")
    assert props["zookeeper.connect"] == cluster.zookeeper.connect_string
    assert props["metrics.port"] == "0" and props["zookeeper.session.timeout.ms"] == "6000"
    single = scratch_cluster(tmp_path / "one", size=1).broker(1).properties()
    assert single["offsets.topic.replication.factor"] == "1" and single["num.io.threads"] == "8"
    with pytest.raises(ValueError):
        scratch_cluster(tmp_path, size=2)
