"""``TopicUncleanLeaderElectionEnable``: turning unclean election on re-elects a topic's offline partitions.

Against the documented FakeZk and a recording channel, as the other controller event tests.
"""

import json

from twisted.internet.task import Clock

from kafkalite import zkdata
from kafkalite.controller.controller import KafkaController
from kafkalite.controller.states import PartitionState
from tests.support.controller import RecordingChannel, controller_config, registered_brokers_zk


def _config():
    return controller_config(broker_id=3)


def _cluster_with_an_offline_partition():
    """Brokers 2 and 3 alive; topics ``t`` and ``other`` on [1, 2] whose ISR is [1] (broker 1 is dead)."""
    zk = registered_brokers_zk((2, 3))
    for topic in ("t", "other"):
        zk.put(zkdata.topic_path(topic), json.dumps({"version": 2, "partitions": {"0": [1, 2]}}).encode())
        zk.put(zkdata.partition_state_path(topic, 0),
               zkdata.encode_partition_state(zkdata.PartitionState(-1, 5, [1], 3)), version=0)
    return zk


def test_enabling_unclean_election_elects_only_that_topics_offline_partitions():
    """Offline until the topic allows unclean election; then the live out-of-sync replica leads; the other
    topic, whose config did not change, stays offline."""
    zk = _cluster_with_an_offline_partition()
    allowed = set()

    async def unclean(topic):
        return topic in allowed

    controller = KafkaController(zk, _config(), Clock(), channel=RecordingChannel(), topic_unclean_election=unclean)
    controller.start()
    assert controller.is_active
    assert controller.context.partition_state(("t", 0)) is PartitionState.OFFLINE

    controller.enable_topic_unclean_leader_election("t")  # the config says false still: nothing happens
    assert zk.json(zkdata.partition_state_path("t", 0))["leader"] == -1

    allowed.add("t")
    controller.enable_topic_unclean_leader_election("t")
    state = zk.json(zkdata.partition_state_path("t", 0))
    assert (state["leader"], state["isr"], state["leader_epoch"]) == (2, [2], 6)
    assert controller.context.partition_state(("t", 0)) is PartitionState.ONLINE
    assert zk.json(zkdata.partition_state_path("other", 0))["leader"] == -1


def test_an_inactive_controller_ignores_the_request():
    """Only the active controller elects: on another broker the call queues nothing."""
    zk = _cluster_with_an_offline_partition()
    zk.put(zkdata.CONTROLLER, json.dumps({"version": 1, "brokerid": 2, "timestamp": "0"}).encode())
    controller = KafkaController(zk, _config(), Clock(), channel=RecordingChannel())
    controller.start()
    assert not controller.is_active
    controller.enable_topic_unclean_leader_election("t")
    assert len(controller.events) == 0
    assert zk.json(zkdata.partition_state_path("t", 0))["leader"] == -1
