"""RecordingChannel: a stand-in for :class:`kafkalite.controller.channel.ControllerChannelManager`.

The controller's unit tests give it this channel instead of connections to brokers: it
records every LeaderAndIsr, UpdateMetadata and StopReplica the controller sends (in
order, with the broker id and the request body) and answers each at once with
``{"error_code": 0}`` — or with what :attr:`RecordingChannel.answers` holds for that
request kind — so code waiting on answers (topic deletion) runs on. With ``hold=True``
the answers wait until :meth:`RecordingChannel.release`, as a busy broker's would.
"""

import json
from types import SimpleNamespace

from twisted.internet import defer

from kafkalite import zkdata
from tests.support.fake_zk import FakeZk

__all__ = ["RecordingChannel", "controller_config", "registered_brokers_zk", "three_broker_zk"]


def controller_config(**overrides):
    """The broker config fields a :class:`KafkaController` reads (broker 1, Kafka's defaults)."""
    values = {"broker_id": 1, "inter_broker_listener_name": "PLAINTEXT", "unclean_leader_election_enable": False,
              "delete_topic_enable": True, "auto_leader_rebalance_enable": False,
              "leader_imbalance_check_interval_seconds": 300, "leader_imbalance_per_broker_percentage": 10}
    values.update(overrides)
    return SimpleNamespace(**values)


def registered_brokers_zk(broker_ids):
    """A :class:`FakeZk` at controller epoch 3 with ``broker_ids`` registered (no topics yet)."""
    zk = FakeZk()
    zk.put(zkdata.CONTROLLER_EPOCH, zkdata.encode_controller_epoch(3), version=3)
    zk.put(zkdata.BROKER_IDS, b"")
    zk.put(zkdata.ISR_CHANGE_NOTIFICATION, b"")
    for broker_id in broker_ids:
        endpoint = zkdata.Endpoint("PLAINTEXT", "127.0.0.1", 9090 + broker_id, "PLAINTEXT")
        registration = zkdata.BrokerRegistration.for_endpoints(broker_id, [endpoint], 0)
        zk.put(zkdata.broker_path(broker_id), zkdata.encode_broker_registration(registration))
    return zk


def three_broker_zk():
    """A :class:`FakeZk` of brokers 1-3, controller epoch 3 and topic ``t``: partition 0 on [1,2,3]
    led by 1, partition 1 on [2,3,1] led by 2, full ISRs."""
    zk = registered_brokers_zk((1, 2, 3))
    zk.put(zkdata.topic_path("t"), json.dumps({"version": 2, "partitions": {"0": [1, 2, 3], "1": [2, 3, 1]},
                                               "adding_replicas": {}, "removing_replicas": {}}).encode())
    for partition, leader, isr in ((0, 1, [1, 2, 3]), (1, 2, [2, 3, 1])):
        zk.put(zkdata.partition_state_path("t", partition),
               zkdata.encode_partition_state(zkdata.PartitionState(leader, 0, isr, 3)), version=0)
    return zk


class RecordingChannel:
    """Records what would be sent to whom; brokers added and removed are tracked too."""

    def __init__(self, hold=False):
        self.sent = []
        self.brokers = set()
        #: request kind -> response to answer with (default ``{"error_code": 0}``).
        self.answers = {}
        self.hold = hold
        self._held = []

    def add_broker(self, info):
        self.brokers.add(info.broker_id)

    def remove_broker(self, broker_id):
        self.brokers.discard(broker_id)

    def close_all(self):
        self.brokers.clear()

    def _send(self, kind, broker_id, request):
        self.sent.append((kind, broker_id, request))
        answer = self.answers.get(kind, {"error_code": 0})
        if not self.hold:
            return defer.succeed(answer)
        held = defer.Deferred()
        self._held.append((held, answer))
        return held

    def release(self):
        """Answer every request held so far (``hold=True``); later ones are held again."""
        held, self._held = self._held, []
        for d, answer in held:
            d.callback(answer)

    def send_leader_and_isr(self, broker_id, request):
        return self._send("LeaderAndIsr", broker_id, request)

    def send_update_metadata(self, broker_id, request):
        return self._send("UpdateMetadata", broker_id, request)

    def send_stop_replica(self, broker_id, request):
        return self._send("StopReplica", broker_id, request)

    def of(self, kind):
        """``[(broker_id, request)]`` of the requests of ``kind`` sent so far."""
        return [(broker, request) for name, broker, request in self.sent if name == kind]

    def partitions(self, kind, broker_id):
        """``[(topic, partition)]`` named in the requests of ``kind`` sent to ``broker_id``."""
        return [(topic["topic_name"], state["partition_index"])
                for broker, request in self.of(kind) if broker == broker_id
                for topic in request["topic_states"] for state in topic["partition_states"]]
