"""unclean.leader.election.enable turned on live brings an offline partition back, as Kafka's
``TopicUncleanLeaderElectionEnable`` does.

A topic on replicas [1, 2] with unclean election off: broker 2 is stopped until the ISR
shrinks to [1], broker 1 is killed, broker 2 resumes. The partition stays offline
(leader -1) — until the topic's config is changed through the Admin API, when the
controller elects the stale replica at once, without any broker coming or going.
"""

import signal

import pytest

from kafkalite.protocol.recordcodec import Record, build_batch
from tests.integration.replication_support import create_topic, wait_for_partition, zk_state
from tests.support import wire
from tests.support.cluster import wait_until

OVERRIDES = {"controlled.shutdown.retry.backoff.ms": "200",
             "zookeeper.session.timeout.ms": "8000", "replica.lag.time.max.ms": "1000",
             "auto.leader.rebalance.enable": "false", "unclean.leader.election.enable": "false"}


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES)
def test_enabling_unclean_election_live_elects_the_stale_replica(cluster):
    """An offline partition gets its out-of-sync replica as leader once the topic allows unclean election."""
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

    topic = "stranded"
    create_topic(cluster.bootstrap, topic, assignment=[[1, 2]])
    wait_for_partition(cluster.bootstrap, topic, 0, lambda p: p.leader == 1 and len(p.isrs) == 2, "ISR [1, 2]")
    cluster.broker(2).kill(signal.SIGSTOP)
    try:
        batch = build_batch([Record(b"k", b"only-on-1")])
        assert wire.produce(cluster.broker(1).bootstrap, topic, 0, batch, acks=1)["error_code"] == 0
        wait_until(lambda: zk_state(cluster.zk_connect, topic)["isr"] == [1], 20, message="the ISR to shrink to [1]")
        cluster.broker(1).kill(signal.SIGKILL)
    finally:
        cluster.broker(2).kill(signal.SIGCONT)

    survivors = ",".join(cluster.broker(b).bootstrap for b in (2, 3))
    wait_until(lambda: zk_state(cluster.zk_connect, topic)["leader"] == -1, 30, message="the partition offline")

    admin = AdminClient({"bootstrap.servers": survivors})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("unclean.leader.election.enable", "true", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(60)
    wait_for_partition(survivors, topic, 0, lambda p: p.leader == 2, "the stale replica elected", timeout=20)
    assert zk_state(cluster.zk_connect, topic)["isr"] == [2]
