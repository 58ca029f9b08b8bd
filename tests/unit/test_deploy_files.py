"""The systemd units and example configs of ``deploy/`` say what deploy/README.md promises.

Read as files (no systemd, no processes): the hardening, limits, restart policy and stop
timeout of both units, that the broker's example config is valid with a chrooted
three-node ``zookeeper.connect``, and that the ensemble config and the units agree on
paths. ``tests/integration/test_deploy_units.py`` runs the units' command lines for real.
"""

import pytest

from kafkalite.config import load_config
from kafkalite.controller.shutdown import REQUEST_TIMEOUT_S
from tests.support.systemd_units import (
    CONFIG_DIR,
    SYSTEMD_DIR,
    exec_start_argv,
    read_unit,
    read_zoo_cfg,
    service_option,
)

BROKER_UNIT = SYSTEMD_DIR / "kafkalite@.service"
ZOOKEEPER_UNIT = SYSTEMD_DIR / "zookeeper.service"

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "",
}


def _broker_config():
    return load_config(str(CONFIG_DIR / "server.properties"), canonical_host_name=lambda: "kafka1")


@pytest.mark.parametrize("path", [BROKER_UNIT, ZOOKEEPER_UNIT], ids=["kafkalite@", "zookeeper"])
def test_units_are_hardened_restarted_and_limited(path):
    """Both units run as a dedicated user with the hardening options, a file limit and restart on failure."""
    unit = read_unit(path)
    for key, value in HARDENING.items():
        assert service_option(unit, key) == value, key
    assert service_option(unit, "User") not in ("", "root")
    assert service_option(unit, "Type") == "simple"  # in the foreground: systemd tracks the JVM / broker itself
    assert service_option(unit, "Restart") == "on-failure"
    assert int(service_option(unit, "LimitNOFILE")) >= 65536
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in unit["Unit"]["Wants"][-1]


def test_broker_unit_runs_the_server_as_kafkalite_with_its_log_dirs_writable():
    """kafkalite@N runs kafkalite-server on /etc/kafkalite/server-N.properties; the example log.dirs are writable."""
    unit = read_unit(BROKER_UNIT)
    assert service_option(unit, "User") == "kafkalite"
    argv = exec_start_argv(unit, instance="2")
    assert argv[0].endswith("/bin/kafkalite-server")
    assert argv[1:] == ["/etc/kafkalite/server-2.properties", "--log-dir", "/var/log/kafkalite/broker-2"]
    # systemd creates the state-change log's directory, writable under ProtectSystem=strict
    assert service_option(unit, "LogsDirectory") == "kafkalite/broker-%i"
    writable = service_option(unit, "ReadWritePaths").split()
    for log_dir in _broker_config().log_dirs:
        assert any(log_dir == path or log_dir.startswith(path.rstrip("/") + "/") for path in writable), log_dir


def test_broker_unit_leaves_time_for_a_controlled_shutdown():
    """SIGTERM (the controlled shutdown) is what stop sends, and TimeoutStopSec outlasts every retry."""
    unit = read_unit(BROKER_UNIT)
    config = _broker_config()
    assert config.controlled_shutdown_enable
    assert service_option(unit, "KillSignal") == "SIGTERM"
    worst_case_s = config.controlled_shutdown_max_retries * (
        REQUEST_TIMEOUT_S + config.controlled_shutdown_retry_backoff_ms / 1000)
    assert int(service_option(unit, "TimeoutStopSec")) >= worst_case_s + 30  # and time to close the logs


def test_zookeeper_unit_runs_debians_quorum_peer_in_the_foreground():
    """The ZooKeeper unit runs QuorumPeerMain from Debian's jars on /etc/zookeeper/conf/zoo.cfg as zookeeper."""
    unit = read_unit(ZOOKEEPER_UNIT)
    assert service_option(unit, "User") == "zookeeper"
    argv = exec_start_argv(unit)
    assert argv[0] == "/usr/bin/java"
    assert "-Xmx512m" in argv  # $ZK_HEAP_OPTS from Environment=
    classpath = argv[argv.index("-cp") + 1].split(":")
    assert classpath[0] == "/etc/zookeeper/conf"
    assert "/usr/share/java/zookeeper.jar" in classpath
    assert argv[-2:] == ["org.apache.zookeeper.server.quorum.QuorumPeerMain", "/etc/zookeeper/conf/zoo.cfg"]
    assert "143" in service_option(unit, "SuccessExitStatus").split()  # the JVM's exit status on SIGTERM
    zoo = read_zoo_cfg(CONFIG_DIR / "zoo.cfg")
    assert zoo["dataDir"] in service_option(unit, "ReadWritePaths").split()


def test_example_zoo_cfg_is_a_three_node_ensemble_that_allows_the_brokers_session_timeout():
    """zoo.cfg lists three servers on zk1-zk3 and its session bounds contain the brokers' session timeout."""
    zoo = read_zoo_cfg(CONFIG_DIR / "zoo.cfg")
    assert {key: value for key, value in zoo.items() if key.startswith("server.")} == {
        "server.1": "zk1:2888:3888", "server.2": "zk2:2888:3888", "server.3": "zk3:2888:3888"}
    assert zoo["clientPort"] == "2181"
    tick = int(zoo["tickTime"])
    session_ms = _broker_config().zookeeper_session_timeout_ms
    assert 2 * tick <= session_ms <= 20 * tick  # ZooKeeper's default min/maxSessionTimeout
    assert "srvr" in zoo["4lw.commands.whitelist"].split(",")


def test_example_broker_config_is_valid_and_chrooted_on_the_ensemble():
    """server.properties loads without unknown keys; zookeeper.connect names zk1-zk3 with the /kafkalite chroot."""
    config = _broker_config()
    assert config.unknown_keys == ()
    assert config.zookeeper_chroot == "/kafkalite"
    assert config.zookeeper_connect == "zk1:2181,zk2:2181,zk3:2181/kafkalite"
    assert config.default_replication_factor == 3
    assert config.min_insync_replicas == 2
    assert not config.unclean_leader_election_enable
