"""A broker's own logs, read as an operator reads Kafka's: the state-change log, slow requests, levels.

Real ZooKeeper and brokers (subprocesses). Each test broker writes ``state-change.log`` in
its directory (``--log-dir``), its main log to ``broker.log``.

- A leader is killed: the controller's state-change log shows the partition going Offline
  and Online again with the new leader (Kafka's ``Changed partition ... with state
  LeaderAndIsr(...)``) and the election's strategy; the new leader's shows it starting at
  the next leader epoch; when the old leader returns, the new one logs the ISR expanding.
  None of it is in the main logs.
- ``request.timeout.ms`` below a Fetch's long poll: one WARN line naming Fetch and the client id.
- ``--log-level kafkalite.controller=DEBUG``: debug lines from the controller and no one else.
"""

import re
import signal

import pytest

from kafkalite.protocol.apis import ApiKey
from tests.integration.replication_support import create_topic, wait_for_partition, zk_get
from tests.support.cluster import wait_until
from tests.support.state_change import state_change_lines
from tests.support.wire import WireClient, is_led_by
from tests.support.wire import create_topic as wire_create_topic

SESSION_MS = 6000


def controller_id(zk_connect):
    data = zk_get(zk_connect, "/controller")
    return int(re.search(rb'"brokerid":(\d+)', data).group(1)) if data else None


def lines_matching(broker, pattern):
    regex = re.compile(pattern)
    return [line for line in state_change_lines(broker.dir) if regex.search(line)]


@pytest.mark.cluster(size=3, overrides={"zookeeper.session.timeout.ms": str(SESSION_MS),
                                        "replica.lag.time.max.ms": "3000", "auto.leader.rebalance.enable": "false"})
def test_a_killed_leader_shows_in_the_state_change_logs(cluster):
    """Kill the leader of a partition: the controller's election, the new leader's epoch, the ISR coming back."""
    zk = cluster.zk_connect
    controller = wait_until(lambda: controller_id(zk), 20, message="a controller")
    leader, follower = [b.broker_id for b in cluster.brokers if b.broker_id != controller]
    topic = "state-changes"
    create_topic(cluster.bootstrap, topic, assignment=[[leader, follower, controller]])
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == leader and len(p.isrs) == 3,
                       f"broker {leader} leading with a full ISR")

    # Creation, as Kafka writes it: New, then Online with the first leadership.
    epoch = re.escape(f"[Controller id={controller} epoch=")
    controller_broker = cluster.broker(controller)
    assert lines_matching(controller_broker, epoch + r"\d+\] Changed partition state-changes-0 state from "
                                                     r"NonExistentPartition to NewPartition")
    assert lines_matching(controller_broker, epoch + r"\d+\] Changed partition state-changes-0 from NewPartition to "
                                                     rf"OnlinePartition with state LeaderAndIsr\(leader={leader}, "
                                                     r"leaderEpoch=0, ")

    cluster.broker(leader).kill(signal.SIGKILL)
    wait_for_partition(cluster.broker(controller).bootstrap, topic, 0, lambda p: p.leader == follower,
                       f"broker {follower} leading", timeout=SESSION_MS / 1000 + 30)

    online = wait_until(lambda: lines_matching(
        controller_broker, epoch + r"\d+\] Changed partition state-changes-0 from OfflinePartition to OnlinePartition "
        rf"with state LeaderAndIsr\(leader={follower}, leaderEpoch=1, isr=List\({follower}, {controller}\), "),
        10, message="the controller's election line")
    assert len(online) == 1, online
    assert lines_matching(controller_broker, epoch + r"\d+\] Changed partition state-changes-0 state from "
                                                     r"OnlinePartition to OfflinePartition")
    assert lines_matching(controller_broker, r"Elected leaders of \d+ partitions by "
                                             r"OfflinePartitionLeaderElectionStrategy\(allowUnclean=false\)")
    assert lines_matching(controller_broker, epoch + rf"\d+\] Sending LeaderAndIsr request to broker {follower} "
                                                     r"with \d+ become-leader")

    new_leader = cluster.broker(follower)
    started = wait_until(lambda: lines_matching(
        new_leader, rf"^\[[^]]+\] INFO \[Broker id={follower}\] Leader state-changes-0 starts at leader epoch 1 from "
        rf"offset \d+ with high watermark \d+ ISR \[{follower},{controller}\] .*Previous leader epoch was 0\. "
        r"\(state.change.logger\)$"), 10, message="the new leader's become-leader line")
    assert len(started) == 1
    assert lines_matching(new_leader, rf"\[Broker id={follower}\] Handling LeaderAndIsr request correlationId \d+ "
                                      rf"from controller {controller} epoch \d+ for \d+ partitions")

    # The old leader comes back as a follower: the new leader puts it back in the ISR.
    cluster.broker(leader).restart()
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: len(p.isrs) == 3, "the old leader back in the ISR",
                       timeout=40)
    wait_until(lambda: lines_matching(new_leader, rf"\[Broker id={follower}\] Expanding ISR of partition "
                                                  rf"state-changes-0 from {follower},{controller} to "
                                                  rf"{follower},{controller},{leader} \(state"),
               10, message="the ISR expansion line")
    wait_until(lambda: lines_matching(new_leader, rf"\[Broker id={follower}\] ISR of partition state-changes-0 "
                                                  rf"updated to {follower},{controller},{leader} \(was "
                                                  rf"{follower},{controller}\) and zkVersion updated to \[\d+\]"),
               10, message="the ISR update line")
    assert lines_matching(cluster.broker(leader), rf"\[Broker id={leader}\] Follower state-changes-0 starts at "
                                                  r"leader epoch 1 ")

    # additivity=false: none of it in the main logs.
    for broker in cluster.brokers:
        text = broker.log_text()
        assert "Changed partition" not in text and "starts at leader epoch" not in text


@pytest.mark.cluster(size=1, overrides={"request.timeout.ms": "500"})
def test_a_request_slower_than_request_timeout_is_logged_once(broker):
    """A Fetch long poll of 1.5 s with request.timeout.ms=500: one WARN line with Fetch and the client id."""
    assert wire_create_topic(broker.bootstrap, "slow")["error_code"] == 0
    wait_until(lambda: is_led_by(broker.bootstrap, "slow"), 20, message="a leader for slow-0")
    with WireClient(broker.bootstrap, timeout=20) as client:
        quick = client.send(ApiKey.METADATA, 9, {"topics": [{"name": "slow"}], "allow_auto_topic_creation": False,
                                                 "include_cluster_authorized_operations": False,
                                                 "include_topic_authorized_operations": False},
                            client_id="slow-fetcher")
        client.receive(ApiKey.METADATA, 9, quick)
        fetch = client.send(ApiKey.FETCH, 11, {
            "replica_id": -1, "max_wait_ms": 1500, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": "slow", "partitions": [{"partition": 0, "current_leader_epoch": -1,
                                                         "fetch_offset": 0, "log_start_offset": -1,
                                                         "partition_max_bytes": 1 << 20}]}],
            "forgotten_topics_data": [], "rack_id": ""}, client_id="slow-fetcher")
        response = client.receive(ApiKey.FETCH, 11, fetch)
    assert response["responses"][0]["partitions"][0]["error_code"] == 0

    def slow_lines():
        return [line for line in broker.log_text().splitlines() if "slow-fetcher" in line]

    lines = wait_until(slow_lines, 10, message="the slow-request line")
    assert len(lines) == 1, lines
    assert re.search(r"\[kafka\.request\.logger#warn\] Slow request: Fetch v11 from client id 'slow-fetcher' "
                     rf"\(correlation id {fetch}, 127\.0\.0\.1:\d+ on PLAINTEXT\) took 1\d{{3}} ms, more than "
                     r"request.timeout.ms=500, 1\d{3} ms of it after the handler returned \(in the purgatory\)$",
                     lines[0]), lines[0]


@pytest.mark.cluster(size=1)
def test_a_component_at_debug_logs_debug_lines_and_the_others_do_not(broker):
    """Restarted with --log-level kafkalite.controller=DEBUG: controller debug lines, no network debug lines."""
    assert "#debug]" not in broker.log_text()
    broker.stop()
    broker.log_levels = ("kafkalite.controller=DEBUG",)
    broker.restart()
    assert wire_create_topic(broker.bootstrap, "levels")["error_code"] == 0  # connections: network debug lines
    debug = wait_until(lambda: [line for line in broker.log_text().splitlines() if "#debug]" in line], 10,
                       message="a debug line")
    assert any(re.search(r"\[kafkalite\.controller\.[\w.]+#debug\] processing controller event", line)
               for line in debug), debug
    assert all(re.search(r"\[kafkalite\.controller[.#]", line) for line in debug), debug
