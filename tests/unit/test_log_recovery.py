"""Unit tests for crash recovery, checkpoints, LogManager and LogConfig."""

import os

import pytest

from kafkalite.log.checkpoint import read_offset_checkpoint
from kafkalite.log.config import LogConfig
from kafkalite.log.log import Log, parse_topic_partition
from kafkalite.log.manager import CLEAN_SHUTDOWN_FILE, InconsistentBrokerMetadataError, LogManager
from kafkalite.protocol.errors import InvalidConfigError
from tests.support.log import FakeClock, batch, open_log, read_all


def crash_log(path, clock, count=5, **config):
    """Append ``count`` one-record batches and drop the Log without closing it (a crash)."""
    log = open_log(path, clock, **config)
    for i in range(count):
        log.append_as_leader(memoryview(batch([b"v%d" % i])), 0)
    return log.segments[-1].log_path


def test_recovery_cuts_a_torn_tail(tmp_path):
    """Bytes of a half-written batch at the end are removed; everything before survives."""
    clock = FakeClock()
    log_path = crash_log(tmp_path / "t-0", clock)
    with open(log_path, "r+b") as handle:
        handle.truncate(os.path.getsize(log_path) - 10)
    log = Log(str(tmp_path / "t-0"), LogConfig(), clock, had_clean_shutdown=False)
    assert log.log_end_offset == 4 and log.recovered_bytes_truncated > 0
    assert [value for _, value in read_all(log)] == [b"v0", b"v1", b"v2", b"v3"]
    assert log.append_as_leader(memoryview(batch([b"next"])), 0).first_offset == 4
    log.close()


def test_recovery_cuts_at_a_crc_bad_batch(tmp_path):
    """A batch whose CRC fails is cut together with everything after it."""
    clock = FakeClock()
    log_path = crash_log(tmp_path / "t-0", clock)
    size = os.path.getsize(log_path)
    one = size // 5
    with open(log_path, "r+b") as handle:
        handle.seek(2 * one + 65)
        byte = handle.read(1)
        handle.seek(2 * one + 65)
        handle.write(bytes([byte[0] ^ 0xFF]))
    log = Log(str(tmp_path / "t-0"), LogConfig(), clock)
    assert log.log_end_offset == 2
    log.close()


def test_recovery_skips_segments_below_recovery_point_but_rebuilds_missing_index(tmp_path):
    """A deleted index file is rebuilt; a garbage index is detected and rebuilt."""
    clock = FakeClock()
    log = open_log(tmp_path / "t-0", clock, segment_bytes=400, index_interval_bytes=1)
    for i in range(20):
        log.append_as_leader(memoryview(batch([b"v%d" % i])), 0)
    expected = read_all(log)
    first = log.segments[0]
    entries = first.offset_index.entries
    log.close()
    os.unlink(first.offset_index_path)
    with open(log.segments[1].offset_index_path, "wb") as handle:
        handle.write(b"\xff" * 16)
    reopened = Log(str(tmp_path / "t-0"), LogConfig(segment_bytes=400, index_interval_bytes=1), clock,
                   recovery_point=20, had_clean_shutdown=True)
    assert reopened.segments[0].offset_index.entries == entries
    assert read_all(reopened) == expected
    reopened.close()


def test_leftover_temp_files_are_removed(tmp_path):
    """.deleted, .cleaned and .swap leftovers do not survive a restart; a lone .swap is swapped in."""
    clock = FakeClock()
    crash_log(tmp_path / "t-0", clock, count=2)
    directory = tmp_path / "t-0"
    for name in ("00000000000000000099.log.deleted", "00000000000000000098.log.cleaned",
                 "00000000000000000000.index.swap"):
        (directory / name).write_bytes(b"junk")
    log = Log(str(directory), LogConfig(), clock)
    assert not [name for name in os.listdir(directory) if name.endswith((".deleted", ".cleaned", ".swap"))]
    assert log.log_end_offset == 2
    log.close()


def test_parse_topic_partition_uses_last_dash():
    """Topic names may contain '-' and '.'; the partition follows the last '-'."""
    assert parse_topic_partition("my-topic.v2-13") == ("my-topic.v2", 13)
    with pytest.raises(ValueError):
        parse_topic_partition("nodash")


def test_manager_checkpoints_and_clean_restart(tmp_path):
    """Shutdown writes the three checkpoints and the clean marker; load reads them back."""
    clock = FakeClock()
    dirs = [str(tmp_path / "d1"), str(tmp_path / "d2")]
    manager = LogManager(dirs, LogConfig(), clock)
    manager.load()
    logs = [manager.get_or_create_log("a-b.c", p) for p in range(4)]
    assert {manager.log_dir_of("a-b.c", p) for p in range(4)} == set(dirs)
    for log in logs:
        log.append_as_leader(memoryview(batch([b"x", b"y"])), 0)
        log.update_high_watermark(1)
    logs[0].maybe_increment_log_start_offset(1)
    manager.shutdown()
    assert all(os.path.exists(os.path.join(d, CLEAN_SHUTDOWN_FILE)) for d in dirs)
    d0 = manager.log_dir_of("a-b.c", 0)
    assert read_offset_checkpoint(os.path.join(d0, "replication-offset-checkpoint"))[("a-b.c", 0)] == 1
    assert read_offset_checkpoint(os.path.join(d0, "recovery-point-offset-checkpoint"))[("a-b.c", 0)] == 2
    assert read_offset_checkpoint(os.path.join(d0, "log-start-offset-checkpoint")) == {("a-b.c", 0): 1}

    again = LogManager(dirs, LogConfig(), clock)
    again.load()
    assert all(again.had_clean_shutdown.values())
    assert not any(os.path.exists(os.path.join(d, CLEAN_SHUTDOWN_FILE)) for d in dirs)
    log = again.get_log("a-b.c", 0)
    assert (log.log_start_offset, log.high_watermark, log.log_end_offset) == (1, 1, 2)
    again.shutdown()


def test_manager_delete_log_removes_dir_later(tmp_path):
    """delete_log renames to <tp>.<hex>-delete and cleanup_logs removes it after the delay."""
    clock = FakeClock()
    manager = LogManager([str(tmp_path)], LogConfig(file_delete_delay_ms=1000), clock)
    manager.load()
    manager.get_or_create_log("t", 0).append_as_leader(memoryview(batch([b"x"])), 0)
    assert manager.delete_log("t", 0)
    names = os.listdir(tmp_path)
    assert any(name.startswith("t-0.") and name.endswith("-delete") for name in names)
    manager.cleanup_logs()
    assert any(name.endswith("-delete") for name in os.listdir(tmp_path))
    clock.now += 1000
    manager.cleanup_logs()
    assert not any(name.endswith("-delete") for name in os.listdir(tmp_path))
    assert manager.get_log("t", 0) is None


def test_meta_properties_checks_ids(tmp_path):
    """meta.properties is written once; a different broker.id or cluster.id is refused."""
    manager = LogManager([str(tmp_path)], LogConfig(), FakeClock())
    assert manager.read_meta_properties() is None
    manager.write_meta_properties(3, "abcd")
    assert manager.read_meta_properties() == {"version": "0", "broker.id": "3", "cluster.id": "abcd"}
    manager.write_meta_properties(3, "abcd")
    with pytest.raises(InconsistentBrokerMetadataError):
        manager.write_meta_properties(4, "abcd")
    with pytest.raises(InconsistentBrokerMetadataError):
        manager.write_meta_properties(3, "other")


def test_log_config_overrides_and_properties():
    """Topic overrides are parsed and validated with Kafka-style messages; properties round-trip."""
    config = LogConfig().with_overrides({"segment.bytes": "1024", "cleanup.policy": "compact,delete",
                                         "message.timestamp.type": "LogAppendTime", "preallocate": "true"})
    assert config.segment_bytes == 1024 and config.cleanup_policy == ("compact", "delete")
    assert config.is_log_append_time and config.preallocate
    with pytest.raises(InvalidConfigError, match="segment.bytes.*at least 14"):
        LogConfig().with_overrides({"segment.bytes": "-5"})
    with pytest.raises(InvalidConfigError, match="Unknown topic config name: nope"):
        LogConfig().with_overrides({"nope": "1"})
    with pytest.raises(InvalidConfigError, match="cleanup.policy"):
        LogConfig().with_overrides({"cleanup.policy": "forever"})
    properties = config.to_topic_properties()
    assert properties["cleanup.policy"] == "compact,delete" and properties["message.format.version"] == "2.8-IV1"
    assert LogConfig().with_overrides(dict(properties)) == config
    broker = LogConfig().with_broker_overrides({"log.retention.hours": "1", "log.segment.bytes": "2048",
                                                "broker.id": "1"})
    assert (broker.retention_ms, broker.segment_bytes) == (3600000, 2048)
