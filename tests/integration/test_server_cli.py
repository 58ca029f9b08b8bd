"""``python -m kafkalite``: clean exits on SIGINT/SIGTERM, and one clear line for a bad config."""

import signal
import subprocess
import sys

import pytest

from tests.support.cluster import REPO_ROOT, BrokerProcess


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_shuts_down_cleanly(zookeeper, tmp_path, sig):
    """SIGINT or SIGTERM exits 0 and leaves the clean-shutdown marker and checkpoints behind."""
    broker = BrokerProcess(1, zookeeper.connect_string, tmp_path).start().wait_ready()
    broker.kill(sig)
    assert broker.process.wait(60) == 0, broker.log_tail()
    assert (broker.log_dir / ".kafka_cleanshutdown").exists()
    assert (broker.log_dir / "meta.properties").exists()
    assert (broker.log_dir / "recovery-point-offset-checkpoint").exists()


@pytest.mark.parametrize("override, message", [
    ("log.segment.bytes=abc", "Invalid value abc for configuration log.segment.bytes"),
    ("num.partitions=0", "Invalid value 0 for configuration num.partitions"),
    ("listeners=nonsense", "listeners"),
    ("listeners=SSL://127.0.0.1:0", "configuration listeners: listener SSL maps to security protocol SSL"),
    ("authorizer.class.name=kafka.security.authorizer.AclAuthorizer", "configuration authorizer.class.name"),
])
def test_invalid_config_is_one_line_naming_the_key(tmp_path, override, message):
    """An invalid value stops start-up with exit 1 and one line on stderr that names the key."""
    config = tmp_path / "server.properties"
    config.write_text("broker.id=1\nzookeeper.connect=127.0.0.1:1\nlog.dirs=%s\n" % (tmp_path / "logs"))
    result = subprocess.run([sys.executable, "-m", "kafkalite", str(config), "--override", override],
                            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_missing_config_file(tmp_path):
    """A config path that does not exist is one line and exit 1, not a traceback."""
    result = subprocess.run([sys.executable, "-m", "kafkalite", str(tmp_path / "nope.properties")],
                            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nope.properties" in result.stderr
