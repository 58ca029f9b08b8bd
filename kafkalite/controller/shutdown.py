"""The broker's side of a controlled shutdown: ask the controller to move leadership away.

Before a broker stops serving (``controlled.shutdown.enable``), it sends
ControlledShutdown v3 to the current controller, found through ``/controller``
and its registration, and repeats, ``controlled.shutdown.retry.backoff.ms``
apart, until the controller answers that no partition with other replicas is
led by this broker any more, or ``controlled.shutdown.max.retries`` attempts
have failed. Meanwhile the broker keeps serving, so its followers catch up and
the controller's LeaderAndIsr requests reach it.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.network.client import BrokerChannel
from kafkalite.protocol.apis import ApiKey
from kafkalite.zkclient import NoNodeError, ZkError

__all__ = ["request_controlled_shutdown", "CONTROLLED_SHUTDOWN_VERSION"]

CONTROLLED_SHUTDOWN_VERSION = 3
REQUEST_TIMEOUT_S = 30.0

log = Logger(namespace="kafkalite.controller.shutdown")


async def _controller_endpoint(zk, listener_name):
    try:
        data, _ = await zk.get(zkdata.CONTROLLER)
        controller_id = zkdata.decode_controller(data).broker_id
        data, _ = await zk.get(zkdata.broker_path(controller_id))
    except (NoNodeError, ZkError, ValueError):
        return None
    registration = zkdata.decode_broker_registration(data, controller_id)
    endpoints = registration.parsed_endpoints()
    for endpoint in endpoints:
        if endpoint.listener_name == listener_name:
            return controller_id, endpoint.host, endpoint.port
    return (controller_id, endpoints[0].host, endpoints[0].port) if endpoints else None


def _sleep(reactor, seconds):
    d = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


async def request_controlled_shutdown(zk, reactor, config, broker_epoch):
    """Ask the controller to move this broker's leaderships away; True once it has.

    :param zk: the broker's :class:`kafkalite.zkclient.ZkClient` (to find the controller).
    :param config: the broker config (``broker_id``, ``inter_broker_listener_name``,
        ``controlled_shutdown_max_retries``, ``controlled_shutdown_retry_backoff_ms``).
    """
    attempts = max(1, config.controlled_shutdown_max_retries)
    for attempt in range(1, attempts + 1):
        found = await _controller_endpoint(zk, config.inter_broker_listener_name)
        if found is not None:
            controller_id, host, port = found
            channel = BrokerChannel(reactor, host, port, "controlled-shutdown-%d" % config.broker_id)
            try:
                response = await channel.send(
                    ApiKey.CONTROLLED_SHUTDOWN, CONTROLLED_SHUTDOWN_VERSION,
                    {"broker_id": config.broker_id, "broker_epoch": broker_epoch}, timeout=REQUEST_TIMEOUT_S)
            except Exception as error:  # noqa: BLE001 -- any failure counts as a failed attempt
                log.warn("controlled shutdown attempt {n} to controller {id} failed: {error}", n=attempt,
                         id=controller_id, error=error)
                response = None
            finally:
                channel.close()
            if response is not None:
                remaining = response.get("remaining_partitions") or []
                if response["error_code"] == 0 and not remaining:
                    log.info("controlled shutdown succeeded after {n} attempt(s)", n=attempt)
                    return True
                log.info("controlled shutdown attempt {n}: error {code}, {count} partitions still led here",
                         n=attempt, code=response["error_code"], count=len(remaining))
        else:
            log.warn("controlled shutdown attempt {n}: no controller", n=attempt)
        if attempt < attempts:
            await _sleep(reactor, config.controlled_shutdown_retry_backoff_ms / 1000.0)
    log.warn("controlled shutdown did not complete after {n} attempts; shutting down anyway", n=attempts)
    return False
