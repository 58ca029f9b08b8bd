"""Topic ids on disk: ``partition.metadata``, a log of an earlier topic of the same name, stray logs.

Real files in a temporary directory, no broker: the LogManager records the id the
controller sends and replaces a log whose recorded id differs (the topic was created
again); :func:`stray_reason` says which logs a starting broker drops.
"""

import pytest

from kafkalite import zkdata
from kafkalite.log.config import LogConfig
from kafkalite.log.manager import LogManager
from kafkalite.log.partition_metadata import PartitionMetadataError, read_topic_id, write_topic_id
from kafkalite.protocol.recordcodec import Record, build_batch
from kafkalite.replica.stray_logs import stray_reason


@pytest.fixture
def manager(tmp_path):
    return LogManager([str(tmp_path)], LogConfig(), lambda: 0)


def test_partition_metadata_is_kafkas_two_lines(tmp_path):
    """``version: 0`` and ``topic_id: <base64>``, read back; absent is None; anything else is refused."""
    assert read_topic_id(str(tmp_path)) is None
    write_topic_id(str(tmp_path), "yZ3t8kJxQ9y2zqV0m4Rj5w")
    assert (tmp_path / "partition.metadata").read_text() == "version: 0\ntopic_id: yZ3t8kJxQ9y2zqV0m4Rj5w\n"
    assert read_topic_id(str(tmp_path)) == "yZ3t8kJxQ9y2zqV0m4Rj5w"
    (tmp_path / "partition.metadata").write_text("version: 1\ntopic_id: x\n")
    with pytest.raises(PartitionMetadataError):
        read_topic_id(str(tmp_path))


def test_a_log_of_an_earlier_topic_of_that_name_is_replaced(manager):
    """Same id: the log and its records stay; another id: a new, empty log in its place."""
    log, replaced = manager.get_or_create_topic_log("t", 0, "first-id-aaaaaaaaaaaaa")
    assert not replaced and read_topic_id(log.directory) == "first-id-aaaaaaaaaaaaa"
    log.append_as_leader(bytearray(build_batch([Record(b"k", b"old")])), 0)
    same, replaced = manager.get_or_create_topic_log("t", 0, "first-id-aaaaaaaaaaaaa")
    assert same is log and not replaced and log.log_end_offset == 1
    new, replaced = manager.get_or_create_topic_log("t", 0, "second-id-bbbbbbbbbbbb")
    assert replaced and new is not log and new.log_end_offset == 0
    assert read_topic_id(new.directory) == "second-id-bbbbbbbbbbbb"
    unknown, replaced = manager.get_or_create_topic_log("t", 0, None)
    assert unknown is new and not replaced


@pytest.mark.parametrize(("assignment", "recorded", "reason"), [
    (None, None, "topic t no longer exists"),
    (zkdata.TopicAssignment({0: (1, 2)}, topic_id="new"), "old", "topic t was created again (id new, the log's old)"),
    (zkdata.TopicAssignment({0: (1, 2)}), None, "partition 0 of t is not assigned to broker 3"),
    (zkdata.TopicAssignment({1: (3,)}), None, "partition 0 of t is not assigned to broker 3"),
    (zkdata.TopicAssignment({0: (1, 3)}, topic_id="same"), "same", None),
    (zkdata.TopicAssignment({0: (1, 3)}, topic_id="new"), None, None),  # no id on disk yet: kept
    (zkdata.TopicAssignment({0: (1, 2)}, adding_replicas={0: (3,)}), None, None),  # being moved here: kept
])
def test_which_logs_a_starting_broker_drops(assignment, recorded, reason):
    """Gone, created again, or no longer assigned here (adding counts as assigned)."""
    assert stray_reason(("t", 0), 3, assignment, recorded) == reason
