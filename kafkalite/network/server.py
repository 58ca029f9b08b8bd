"""The broker's listening side: Twisted protocol, factory and ``listen``.

Owns adapting :class:`~kafkalite.network.connection.ServerConnection` to Twisted:
bytes from the transport go in, each decoded request is handed to the broker's
``dispatch(context, request)`` callable, and responses are written in request order
through a writer from :mod:`kafkalite.network.writer` (``sendfile`` on plain TCP).
All Kafka protocol rules live in the sans-I/O connection; this module only does I/O,
time stamps, flow control and metrics hooks.

It is also the boundary for handler failures, as Kafka's ``KafkaApis.handle`` /
``handleError`` are: an exception raised by ``dispatch`` (or its Deferred failing) is
logged once with its traceback and the request is answered with its API's error
response (UNKNOWN_SERVER_ERROR, or a ``KafkaError``'s own code); the connection stays
open. Only :class:`~kafkalite.network.connection.CloseConnection`, an API with no
error response (acks=0 produce) or a response that cannot be encoded or written
closes it.
"""

import itertools

from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from kafkalite.network.connection import (
    NO_RESPONSE,
    CloseConnection,
    ProtocolViolation,
    RequestContext,
    ServerConnection,
)
from kafkalite.network.request_log import SlowRequestLog
from kafkalite.network.writer import make_writer, set_no_delay
from kafkalite.protocol.error_responses import error_code_for

__all__ = ["NO_RESPONSE", "CloseConnection", "KafkaServerFactory", "KafkaServerProtocol", "RequestContext", "listen"]

DEFAULT_SOCKET_REQUEST_MAX_BYTES = 104857600


class KafkaServerProtocol(Protocol):
    """One client connection to the broker.

    Requests are pipelined: several may be with the dispatcher at once, and their
    responses leave in arrival order. Reading pauses while ``max_in_flight``
    requests are unanswered and resumes when the backlog halves.
    """

    log = Logger()

    def __init__(self, factory, connection_index):
        self.factory = factory
        self.connection_index = connection_index
        self.connection_id = None
        self._connection = None
        self._writer = None
        self._closing = False
        self._paused = False

    def connectionMade(self):
        factory = self.factory
        set_no_delay(self.transport)
        peer = self.transport.getPeer()
        local = self.transport.getHost()
        self._peer = peer
        # Kafka's connection id: local_host:local_port-peer_host:peer_port-index.
        self.connection_id = (
            f"{getattr(local, 'host', '')}:{getattr(local, 'port', 0)}-"
            f"{getattr(peer, 'host', '')}:{getattr(peer, 'port', 0)}-{self.connection_index}"
        )
        self._connection = ServerConnection(
            factory.socket_request_max_bytes,
            client_host=getattr(peer, "host", ""), client_port=getattr(peer, "port", 0),
            listener_name=factory.listener_name, connection_id=self.connection_id,
        )
        self._writer = make_writer(self.transport)
        factory.connections.add(self)
        self.log.debug("connection {connection_id} opened", connection_id=self.connection_id)
        if factory.metrics is not None:
            factory.metrics.connection_opened(factory.listener_name)

    def dataReceived(self, data):
        if self._closing:
            return
        try:
            requests = self._connection.receive_data(data, self.factory.reactor.seconds())
        except ProtocolViolation as e:
            self.log.warn(  # noqa: G010 -- twisted.logger spells it warn
                "closing connection {connection_id} from {peer}: {reason}",
                connection_id=self.connection_id, peer=self._peer, reason=str(e),
            )
            self._close()
            return
        dispatch = self.factory.dispatch
        for request in requests:
            try:
                result = dispatch(request.context, request.body)
            except Exception:  # noqa: BLE001 -- the handler-failure boundary (see the module docstring)
                self._failed(Failure(), request)
            else:
                if isinstance(result, defer.Deferred):
                    if not result.called:
                        request.handled_at = self.factory.reactor.seconds()
                    result.addCallbacks(self._completed, self._failed, callbackArgs=(request,),
                                        errbackArgs=(request,))
                else:
                    self._completed(result, request)
            if self._closing:
                return
        # Requests answered by the connection itself (unsupported ApiVersions) are out already.
        self._flush_output()
        if not self._paused and self._connection.in_flight >= self.factory.max_in_flight:
            self._paused = True
            self.transport.pauseProducing()

    def _completed(self, response, request):
        if self._closing:
            return
        try:
            self._connection.complete(request, response)
        except Exception:  # noqa: BLE001 -- any encoder error closes the connection
            self._close_on_failure("encoding the {api} response failed", api=request.api_name)
            return
        self._answered(request, response is not NO_RESPONSE)

    def _failed(self, failure, request):
        """The handler failed: answer with the API's error response, or close (Kafka's handleError)."""
        if self._closing:
            return
        if failure.check(CloseConnection):
            self.log.info("closing connection {connection_id} from {peer} after {api}: {reason}",
                          connection_id=self.connection_id, peer=self._peer, api=request.api_name,
                          reason=str(failure.value))
            self._close()
            return
        code = error_code_for(failure.value)
        self.log.failure("handling {api} (correlation id {correlation_id}) failed; answering error {code}", failure,
                         api=request.api_name, correlation_id=request.context.correlation_id, code=code)
        try:
            answered = self._connection.fail(request, code)
        except Exception:  # noqa: BLE001 -- an unencodable error response closes the connection
            self._close_on_failure("encoding the {api} error response failed", api=request.api_name)
            return
        if not answered:
            self.log.info("closing connection {connection_id}: {api} has no error response (acks=0)",
                          connection_id=self.connection_id, api=request.api_name)
            self._close()
            return
        self._answered(request, True)

    def _answered(self, request, responded):
        factory = self.factory
        context = request.context
        seconds = factory.reactor.seconds() - context.received_at
        slow_requests = factory.slow_requests
        if seconds > slow_requests.threshold_s:
            slow_requests.write(request, seconds)
        metrics = factory.metrics
        if metrics is not None:
            metrics.observe_request(
                factory.listener_name, request.api_name, context.api_version, seconds,
                context.frame_size + 4, request.response_size + 4 if responded else 0,
            )
        self._flush_output()

    def _close_on_failure(self, what, failure=None, **fields):
        """Log ``what`` with ``failure`` (default: the exception being handled) and close the connection."""
        self.log.failure(what + "; closing connection {connection_id}", failure,
                         connection_id=self.connection_id, **fields)
        self._close()

    def _flush_output(self):
        pieces = self._connection.take_output()
        if pieces:
            try:
                self._writer.write(pieces)
            except Exception:  # noqa: BLE001 -- any handler error closes the connection
                self._close_on_failure("writing a response failed")
                return
        if self._paused and self._connection.in_flight <= self.factory.max_in_flight // 2:
            self._paused = False
            self.transport.resumeProducing()

    def _close(self):
        """Close the connection at once, dropping unsent responses (as Kafka does)."""
        if self._closing:
            return
        self._closing = True
        self._connection.close()
        self._writer.close()
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self.log.debug("connection {connection_id} closed", connection_id=self.connection_id)
        self._closing = True
        if self._connection is not None:
            self._connection.close()
            self._writer.close()
        self.factory.connections.discard(self)
        if self.factory.metrics is not None:
            self.factory.metrics.connection_closed(self.factory.listener_name)

    def close(self):
        """Close this connection (broker shutdown)."""
        self._close()


class KafkaServerFactory(Factory):
    """Builds :class:`KafkaServerProtocol` for one listener.

    :param reactor: provides ``IReactorTime`` (request time stamps).
    :param dispatch: ``dispatch(context, request_dict)`` returning a response dict,
        a Deferred firing with one, or :data:`NO_RESPONSE`. Raising (or failing the
        Deferred with) :class:`CloseConnection` closes the connection; any other
        exception is answered with the API's error response.
    :param listener_name: the listener name put in every :class:`RequestContext`.
    :param socket_request_max_bytes: the largest request accepted; larger closes.
    :param metrics: optional object with ``observe_request(listener, api_name, api_version,
        seconds, request_bytes, response_bytes)``, ``connection_opened(listener)`` and
        ``connection_closed(listener)`` (:class:`kafkalite.metrics.BrokerMetrics`).
    :param max_in_flight: unanswered requests per connection before reading pauses.
    :param request_timeout_ms: ``request.timeout.ms``: a request answered later is logged
        (:class:`~kafkalite.network.request_log.SlowRequestLog`); None: never.
    """

    protocol = KafkaServerProtocol

    def __init__(self, reactor, dispatch, listener_name="PLAINTEXT",
                 socket_request_max_bytes=DEFAULT_SOCKET_REQUEST_MAX_BYTES, metrics=None, max_in_flight=100,
                 request_timeout_ms=None):
        self.reactor = reactor
        self.dispatch = dispatch
        self.listener_name = listener_name
        self.socket_request_max_bytes = socket_request_max_bytes
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.request_timeout_ms = request_timeout_ms
        self.slow_requests = SlowRequestLog(request_timeout_ms)
        self.connections = set()
        self._connection_index = itertools.count()

    def with_listener(self, listener_name):
        """Return a new factory sharing everything but the listener name."""
        return KafkaServerFactory(
            self.reactor, self.dispatch, listener_name, self.socket_request_max_bytes, self.metrics,
            self.max_in_flight, self.request_timeout_ms,
        )

    def buildProtocol(self, addr):
        return self.protocol(self, next(self._connection_index))

    def close_connections(self):
        """Close every open connection (broker shutdown)."""
        for protocol in list(self.connections):
            protocol.close()


def listen(reactor, endpoint, factory):
    """Listen for Kafka connections on one ``listeners`` entry.

    :param reactor: provides ``IReactorTCP``.
    :param endpoint: ``(host, port, listener_name)``; an empty host means every
        interface (Kafka's ``PLAINTEXT://:9092``).
    :param factory: a :class:`KafkaServerFactory`; it is rebound to ``listener_name``.
    :return: the listening port (``IListeningPort``; ``getHost().port`` gives the
        real port when 0 was asked for).
    """
    host, port, listener_name = endpoint
    if factory.listener_name != listener_name:
        factory = factory.with_listener(listener_name)
    interface = host or ""
    if interface.startswith("[") and interface.endswith("]"):
        interface = interface[1:-1]
    return reactor.listenTCP(port, factory, interface=interface)
