"""The controller channel: one connection per live broker, one request in flight each.

The controller talks to every broker, itself included, over the Kafka protocol
on the inter-broker listener, as Kafka does, so a single broker and a cluster
run the same code. Requests to one broker go out in the order they were queued.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite.network.client import BrokerChannel
from kafkalite.protocol.apis import ApiKey

__all__ = ["ControllerChannelManager", "LEADER_AND_ISR_VERSION", "UPDATE_METADATA_VERSION",
           "STOP_REPLICA_VERSION"]

# The versions a 2.7-IV2 controller sends (reference §2): named partitions, no topic ids.
LEADER_AND_ISR_VERSION = 5
UPDATE_METADATA_VERSION = 7
STOP_REPLICA_VERSION = 3


class _BrokerQueue:
    """Requests to one broker, sent one after another."""

    def __init__(self, channel):
        self.channel = channel
        self.tail = defer.succeed(None)


class ControllerChannelManager:
    """Connections from the controller to the brokers.

    :param reactor: for connections and timeouts.
    :param controller_id: used as the client id.
    :param listener_name: the inter-broker listener to connect to.
    """

    log = Logger(namespace="kafkalite.controller")

    def __init__(self, reactor, controller_id, listener_name):
        self._reactor = reactor
        self._client_id = "controller-%d" % controller_id
        self._listener_name = listener_name
        self._brokers = {}

    def add_broker(self, info):
        """Open a channel to a live broker (a :class:`LiveBrokerInfo`)."""
        self.remove_broker(info.broker_id)
        endpoint = info.endpoint(self._listener_name)
        channel = BrokerChannel(self._reactor, endpoint[1], endpoint[2], self._client_id)
        self._brokers[info.broker_id] = _BrokerQueue(channel)

    def remove_broker(self, broker_id):
        queue = self._brokers.pop(broker_id, None)
        if queue is not None:
            queue.channel.close()

    def close_all(self):
        for broker_id in list(self._brokers):
            self.remove_broker(broker_id)

    def send(self, broker_id, api_key, version, request):
        """Queue ``request`` for ``broker_id``; fires with the response, or None if it failed."""
        queue = self._brokers.get(broker_id)
        if queue is None:
            return defer.succeed(None)
        result = defer.Deferred()

        def send_now(_):
            if self._brokers.get(broker_id) is not queue:
                result.callback(None)
                return None
            d = queue.channel.send(api_key, version, request)

            def failed(failure):
                self.log.warn("{api} to broker {broker} failed: {error}", api=api_key.name, broker=broker_id,
                              error=failure.getErrorMessage())
                return None

            d.addErrback(failed)
            d.addCallback(self._check_response, api_key, broker_id)
            d.addBoth(lambda response: result.callback(response))
            return d

        queue.tail.addCallback(send_now)
        return result

    def _check_response(self, response, api_key, broker_id):
        if response is not None and response.get("error_code"):
            self.log.warn("{api} to broker {broker} answered error {code}", api=api_key.name, broker=broker_id,
                          code=response["error_code"])
        return response

    def send_leader_and_isr(self, broker_id, request):
        return self.send(broker_id, ApiKey.LEADER_AND_ISR, LEADER_AND_ISR_VERSION, request)

    def send_update_metadata(self, broker_id, request):
        return self.send(broker_id, ApiKey.UPDATE_METADATA, UPDATE_METADATA_VERSION, request)

    def send_stop_replica(self, broker_id, request):
        return self.send(broker_id, ApiKey.STOP_REPLICA, STOP_REPLICA_VERSION, request)
