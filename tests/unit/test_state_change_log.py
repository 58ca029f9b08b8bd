"""The state-change log: Kafka's prefixes and wording, batches formatted only when enabled, the file layout.

The controller runs against the in-memory ZooKeeper and recording channel of the
controller tests, the replica manager over a real LogManager in a temporary directory;
lines are captured from ``state.change.logger`` (:mod:`tests.support.state_change`).
"""

import logging
import re

import pytest
from twisted.internet.task import Clock

from kafkalite import zkdata
from kafkalite.cli.log_setup import open_state_change_log
from kafkalite.controller.controller import KafkaController
from kafkalite.controller.events import BrokerChange
from kafkalite.state_change_logger import LOGGER_NAME, TRACE, StateChangeLogger, format_leader_and_isr
from tests.support.controller import RecordingChannel, controller_config, three_broker_zk
from tests.support.replica import ReplicaBroker, partition_state, stop_replica_request
from tests.support.state_change import captured_state_changes


def test_prefixes_are_kafkas():
    """``[Controller id=N epoch=E]`` for the controller, ``[Broker id=N]`` for a broker."""
    assert StateChangeLogger(1, True).with_controller_epoch(7).prefix == "[Controller id=1 epoch=7] "
    assert StateChangeLogger(2, False).prefix == "[Broker id=2] "
    with pytest.raises(ValueError):
        StateChangeLogger(2, False, controller_epoch=3)


def test_a_batch_is_one_line_per_row_and_is_not_built_when_disabled():
    """each() writes a line per row at an enabled level and never reads the rows at a disabled one."""
    logger = StateChangeLogger(1, False)

    def exploding_rows():
        raise AssertionError("rows read although TRACE is off")
        yield  # pragma: no cover

    with captured_state_changes(logging.INFO) as lines:
        logger.each(TRACE, "never %s", exploding_rows())
        logger.each(logging.INFO, "partition %s-%d", [("t", 0), ("t", 1)])
        logger.trace("not written %d", 1)
    assert lines == ["[Broker id=1] partition t-0", "[Broker id=1] partition t-1"]


def test_leader_and_isr_renders_as_kafkas_to_string():
    expected = "LeaderAndIsr(leader=2, leaderEpoch=5, isr=List(2, 3), zkVersion=9)"
    assert format_leader_and_isr(2, 5, (2, 3), 9) == expected


def test_state_change_file_has_kafkas_layout_a_line_each_and_rotates(tmp_path):
    """``[time] LEVEL message (state.change.logger)`` on every line of a batch; a size cap rotates the file."""
    handler = open_state_change_log(str(tmp_path / "logs"), max_bytes=400, backups=2)
    logger = logging.getLogger(LOGGER_NAME)
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        StateChangeLogger(3, False).each(logging.INFO, "Leader t-%d starts", [(0,), (1,)])
        lines = (tmp_path / "logs" / "state-change.log").read_text().splitlines()
        stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] INFO \[Broker id=3\] "
        assert len(lines) == 2
        assert re.fullmatch(stamp + r"Leader t-0 starts \(state.change.logger\)", lines[0])
        assert re.fullmatch(stamp + r"Leader t-1 starts \(state.change.logger\)", lines[1])
        StateChangeLogger(3, False).warn("%s", "x" * 300)
        StateChangeLogger(3, False).warn("%s", "y" * 300)
        assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
            "state-change.log", "state-change.log.1", "state-change.log.2"]
        assert "WARN [Broker id=3] yyy" in (tmp_path / "logs" / "state-change.log").read_text()
    finally:
        handler.close()
        logger.handlers[:], level, logger.propagate = saved[0], saved[1], saved[2]
        logger.setLevel(level)


# --- the controller ---------------------------------------------------------------------------


@pytest.fixture
def controller():
    channel = RecordingChannel()
    controller = KafkaController(three_broker_zk(), controller_config(), Clock(), channel=channel)
    controller.start()
    assert controller.is_active and controller.context.epoch == 4
    return controller


def test_controller_logs_the_election_the_isr_removal_and_the_requests(controller):
    """Broker 2 dies: t-1 (led by 2) goes Offline then Online with leader 3, t-0 loses 2 from its ISR;
    every line carries the controller's prefix and the new epoch."""
    del controller.zk.nodes[zkdata.broker_path(2)]
    with captured_state_changes(TRACE) as lines:
        controller.events.put(BrokerChange())
        assert not any("Changed partition" in line for line in lines)  # after the event's requests went out
        controller.reactor.advance(0)
    prefix = "[Controller id=1 epoch=4] "
    assert all(line.startswith(prefix) for line in lines), lines
    text = "\n".join(line[len(prefix):] for line in lines)
    assert "Changed partition t-1 state from OnlinePartition to OfflinePartition" in text
    assert re.search(r"^Changed partition t-1 from OfflinePartition to OnlinePartition with state "
                     r"LeaderAndIsr\(leader=3, leaderEpoch=1, isr=List\(3, 1\), zkVersion=\d+\)$", text, re.M)
    assert "Elected leaders of 1 partitions by OfflinePartitionLeaderElectionStrategy(allowUnclean=false)" in text
    assert "Changed state of replica 2 for partition t-0 from OnlineReplica to OfflineReplica" in text
    assert re.search(r"^Removed replicas from the ISR of partition t-0: LeaderAndIsr\(leader=1, leaderEpoch=0, "
                     r"isr=List\(1, 2, 3\), zkVersion=\d+\) -> LeaderAndIsr\(leader=1, leaderEpoch=1, "
                     r"isr=List\(1, 3\), zkVersion=\d+\)$", text, re.M)
    assert re.search(r"^Sending LeaderAndIsr request to broker 3 with 1 become-leader and \d+ become-follower "
                     r"partitions$", text, re.M)
    assert re.search(r"^Sending become-leader LeaderAndIsr request \(leader=3, leaderEpoch=1, .*\) to broker 3 "
                     r"for partition t-1$", text, re.M)
    assert re.search(r"^Sending UpdateMetadata request to brokers Set\(1, 3\) for \d+ partitions$", text, re.M)


def test_controller_at_info_writes_no_trace_lines(controller):
    """At INFO (the default) the per-replica and per-request-partition TRACE lines are not written."""
    del controller.zk.nodes[zkdata.broker_path(2)]
    with captured_state_changes(logging.INFO) as lines:
        controller.events.put(BrokerChange())
        controller.reactor.advance(0)
    assert lines and not any("Changed state of replica" in line or "Sending become-" in line for line in lines)
    assert any("to OnlinePartition with state" in line for line in lines)


# --- a broker ----------------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path):
    broker = ReplicaBroker(tmp_path, broker_id=1)
    yield broker
    broker.close()


def test_broker_logs_becoming_leader_and_follower_with_epochs(broker):
    """A LeaderAndIsr making broker 1 leader of t-0 and follower of t-1: a line each, Kafka's words."""
    with captured_state_changes(TRACE) as lines:
        broker.leader_and_isr(partition_state("t", 0, leader=1, leader_epoch=3),
                              partition_state("t", 1, leader=2, leader_epoch=5, isr=(2, 1)), controller_epoch=2)
        assert not any("starts at leader epoch" in line for line in lines)  # written after the response
        broker.clock.advance(0)
    assert all(line.startswith("[Broker id=1] ") for line in lines), lines
    text = "\n".join(line[len("[Broker id=1] "):] for line in lines)
    assert "Handling LeaderAndIsr request correlationId -1 from controller 1 epoch 2 for 2 partitions" in text
    assert ("Leader t-0 starts at leader epoch 3 from offset 0 with high watermark 0 ISR [1,2,3] addingReplicas [] "
            "removingReplicas []. Previous leader epoch was -1.") in text
    assert ("Follower t-1 starts at leader epoch 5 from offset 0 with high watermark 0 (leader 2). Previous "
            "leader epoch was -1.") in text
    assert re.search(r"^Received LeaderAndIsr request \(topic=t, partition=0, .*leaderEpoch=3.*\) correlation id -1 "
                     r"from controller 1 epoch 2$", text, re.M)
    assert "Completed LeaderAndIsr request correlationId -1 from controller 1 epoch 2 for partition t-1" in text


def test_broker_warns_of_stale_epochs_and_logs_stop_replica(broker):
    """An old leader epoch is ignored with a WARN line naming both epochs; StopReplica is logged."""
    broker.lead("t", 0, leader_epoch=4)
    with captured_state_changes(logging.INFO) as lines:
        broker.leader_and_isr(partition_state("t", 0, leader=1, leader_epoch=4))
        broker.manager.stop_replicas(stop_replica_request([("t", 0)]), correlation_id=9)
    assert ("[Broker id=1] Ignoring LeaderAndIsr request from controller 1 with correlation id -1 epoch 1 for "
            "partition t-0 since its associated leader epoch 4 is not higher than the current leader epoch 4") in lines
    assert ("[Broker id=1] Handling StopReplica request correlationId 9 from controller 1 epoch 1 for 1 partitions"
            in lines)


def test_leader_logs_isr_shrink_with_the_out_of_sync_replicas(broker):
    """Followers silent for replica.lag.time.max.ms leave the ISR: one line naming old and new ISR."""
    broker.lead("t", 0)
    with captured_state_changes(logging.INFO) as lines:
        broker.clock.advance(10.0)
        broker.clock.advance(10.0)
    shrink = [line for line in lines if "Shrinking ISR" in line]
    assert shrink == ["[Broker id=1] Shrinking ISR of partition t-0 from 1,2,3 to 1. Leader: (highWatermark: 0, "
                      "endOffset: 0). Out of sync replicas: (brokerId: 2, endOffset: -1), "
                      "(brokerId: 3, endOffset: -1)."]
