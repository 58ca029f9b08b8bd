"""Leader-side ISR changes: version-checked state writes, notifications, and the periodic shrink.

An in-memory ZooKeeper (the controller tests' fake) and a fake clock; no sockets.
"""

import json

from twisted.internet import defer
from twisted.internet.task import Clock

from kafkalite import zkdata
from kafkalite.replica.isr import NOTIFICATION_DELAY_S, IsrWriter
from kafkalite.replica.manager import ReplicaManager
from kafkalite.replica.partition import Partition
from tests.support.fake_zk import FakeZk
from tests.support.replica import FakeLog
from tests.support.state_change import captured_state_changes

LAG_MS = 10_000


def fake_zk():
    """A FakeZk holding the persistent paths a broker creates at start-up."""
    zk = FakeZk()
    zk.put(zkdata.ISR_CHANGE_NOTIFICATION, b"")
    return zk


def run(coroutine, clock):
    """Drive a coroutine: the writer sends its batches on the next reactor turn (``clock.advance(0)``)
    and the fake ZooKeeper answers synchronously."""
    d = defer.Deferred.fromCoroutine(coroutine)
    for _ in range(3):
        clock.advance(0)
    assert d.called
    return d.result


def led_partition(zk, partition_index=0, isr=(1, 2, 3), leo=10, now=0):
    path = zkdata.partition_state_path("t", partition_index)
    zk.put(path, zkdata.encode_partition_state(zkdata.PartitionState(1, 4, list(isr), 2)), version=6)
    partition = Partition("t", partition_index, 1, FakeLog(leo))
    partition.make_leader({"leader": 1, "leader_epoch": 4, "isr": list(isr), "replicas": [1, 2, 3],
                           "zk_version": 6, "controller_epoch": 2}, now)
    return partition


def notifications(zk):
    prefix = zkdata.ISR_CHANGE_NOTIFICATION + "/"
    return [json.loads(data) for path, (data, _, _) in sorted(zk.nodes.items()) if path.startswith(prefix)]


def test_write_isr_is_version_checked_keeps_the_epoch_and_is_announced_once_per_batch():
    """Two shrinks: state znodes rewritten at the same leader epoch, one notification naming both."""
    zk, clock = fake_zk(), Clock()
    writer = IsrWriter(zk, clock)
    first, second = led_partition(zk, 0), led_partition(zk, 1)
    assert run(writer.write_isr(first, [1, 2]), clock) is True
    assert run(writer.write_isr(second, [1]), clock) is True
    assert first.isr == [1, 2] and first.zk_version == 7 and not first.isr_update_in_flight
    state = json.loads(zk.nodes[zkdata.partition_state_path("t", 0)][0])
    assert (state["leader"], state["leader_epoch"], state["isr"], state["controller_epoch"]) == (1, 4, [1, 2], 2)
    assert notifications(zk) == []
    with captured_state_changes() as lines:
        clock.advance(NOTIFICATION_DELAY_S)
    assert notifications(zk) == [{"version": 1, "partitions": [{"topic": "t", "partition": 0},
                                                               {"topic": "t", "partition": 1}]}]
    # ... and written to the state-change log with the notification, a line per partition.
    assert lines == ["[Broker id=1] ISR of partition t-0 updated to 1,2 (was 1,2,3) and zkVersion updated to [7]",
                     "[Broker id=1] ISR of partition t-1 updated to 1 (was 1,2,3) and zkVersion updated to [7]"]


def test_lost_write_adopts_the_znode_when_it_still_names_us_leader():
    """BadVersion (the controller dropped a dead replica): re-read, adopt its ISR and version, no notification."""
    zk, clock = fake_zk(), Clock()
    partition = led_partition(zk)
    zk._set(zkdata.partition_state_path("t", 0),
            zkdata.encode_partition_state(zkdata.PartitionState(1, 4, [1, 2], 2)), 6)
    assert run(IsrWriter(zk, clock).write_isr(partition, [1, 3]), clock) is False
    assert partition.isr == [1, 2] and partition.zk_version == 7
    clock.advance(1)
    assert notifications(zk) == []


def test_lost_write_to_a_new_leader_changes_nothing_locally():
    """BadVersion because another broker leads now: wait for its LeaderAndIsr, keep our state."""
    zk, clock = fake_zk(), Clock()
    partition = led_partition(zk)
    zk._set(zkdata.partition_state_path("t", 0),
            zkdata.encode_partition_state(zkdata.PartitionState(2, 5, [2, 3], 3)), 6)
    assert run(IsrWriter(zk, clock).write_isr(partition, [1, 2]), clock) is False
    assert partition.isr == [1, 2, 3] and partition.zk_version == 6


def test_writes_of_one_turn_go_out_in_one_batch_and_a_lost_answer_counts_as_written():
    """Three shrinks asked in one reactor turn are one transactions() call; a write whose znode already
    holds exactly our ISR (our earlier write landed, its answer was lost) is applied and announced."""
    zk, clock = fake_zk(), Clock()
    calls = []
    transactions = zk.transactions
    zk.transactions = lambda groups, **kw: calls.append(len(groups)) or transactions(groups, **kw)
    writer = IsrWriter(zk, clock)
    partitions = [led_partition(zk, i) for i in range(3)]
    zk._set(zkdata.partition_state_path("t", 2), zkdata.encode_partition_state(zkdata.PartitionState(1, 4, [1, 2], 2)),
            6)
    pending = [defer.Deferred.fromCoroutine(writer.write_isr(p, [1, 2])) for p in partitions]
    clock.advance(0)
    clock.advance(0)
    assert calls == [3] and all(d.called for d in pending)
    assert [d.result for d in pending] == [True, True, True]
    assert partitions[2].isr == [1, 2] and partitions[2].zk_version == 7
    clock.advance(NOTIFICATION_DELAY_S)
    assert notifications(zk)[0]["partitions"] == [{"topic": "t", "partition": i} for i in range(3)]


def test_periodic_check_shrinks_lagging_followers_and_moves_the_high_watermark():
    """Every half lag time: a follower silent past the lag leaves the ISR and the HW advances without it."""
    zk, clock = fake_zk(), Clock()
    manager = ReplicaManager(1, None, None, clock, None)
    partition = led_partition(zk, leo=10, now=0)
    manager.partitions[partition.key] = partition
    manager.start_isr_expiration(IsrWriter(zk, clock), LAG_MS)
    clock.advance(1)
    partition.update_follower(2, 10, 0, 1_000)
    partition.update_follower(3, 4, 0, 1_000)
    assert partition.high_watermark == 4
    clock.advance(LAG_MS / 2000)        # 5 s: nobody has lagged for 10 s yet
    assert partition.isr == [1, 2, 3]
    partition.update_follower(2, 10, 0, 9_000)
    clock.advance(LAG_MS / 2000 + 1)    # 11 s: follower 3 not caught up since 0
    assert partition.isr == [1, 2]
    assert json.loads(zk.nodes[zkdata.partition_state_path("t", 0)][0])["isr"] == [1, 2]
    assert partition.high_watermark == 10
    manager.shutdown()
