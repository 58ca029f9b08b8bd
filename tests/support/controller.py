"""RecordingChannel: a stand-in for :class:`kafkalite.controller.channel.ControllerChannelManager`.

The controller's unit tests give it this channel instead of connections to brokers: it
records every LeaderAndIsr, UpdateMetadata and StopReplica the controller sends (in
order, with the broker id and the request body) and answers each at once with
``{"error_code": 0}`` — or with what :attr:`RecordingChannel.answers` holds for that
request kind — so code waiting on answers (topic deletion) runs on. With ``hold=True``
the answers wait until :meth:`RecordingChannel.release`, as a busy broker's would.
"""

from twisted.internet import defer

__all__ = ["RecordingChannel"]


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
