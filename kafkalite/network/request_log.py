"""``kafka.request.logger``: the line a broker writes for a request slower than ``request.timeout.ms``.

A client gives up on a request after its own ``request.timeout.ms`` (30 s by default, the
same default as the broker key of that name) and retries it; a broker that answers later
than that has worked for nobody. :class:`SlowRequestLog` writes one WARN line per such
request, naming the API and version, the client id, the correlation id, the client's
address and how long the request took — and, for a request the handler answered later
(a Produce waiting for ``acks=all``, a Fetch long poll), how much of that it spent parked
in the purgatory. The network layer compares the duration it already computes for the
request metrics with :attr:`SlowRequestLog.threshold_s` and calls
:meth:`SlowRequestLog.write` when it is over: one comparison per request.
"""

from twisted.logger import Logger

__all__ = ["REQUEST_LOGGER", "SlowRequestLog"]

#: The logger namespace, Kafka's request logger's name (``--log-level kafka.request.logger=ERROR`` silences it).
REQUEST_LOGGER = "kafka.request.logger"


class SlowRequestLog:
    """Logs requests that took longer than ``threshold_ms``.

    :param threshold_ms: the broker's ``request.timeout.ms``; None or negative: never log.
    """

    def __init__(self, threshold_ms):
        # An instance attribute: as a class attribute, twisted.logger would name the namespace after the class.
        self.log = Logger(namespace=REQUEST_LOGGER)
        self.threshold_ms = threshold_ms
        #: in seconds, the unit of the reactor's clock (infinite: never).
        self.threshold_s = float("inf") if threshold_ms is None or threshold_ms < 0 else threshold_ms / 1000.0

    def write(self, request, seconds):
        """Log ``request``, which took ``seconds`` from receipt to response ready.

        :param request: the :class:`~kafkalite.network.connection.Request`; its ``handled_at``
            (when the handler returned a Deferred) tells the time parked in the purgatory.
        """
        context = request.context
        parked = ""
        handled_at = request.handled_at
        if handled_at is not None:
            parked = ", %d ms of it after the handler returned (in the purgatory)" % (
                (context.received_at + seconds - handled_at) * 1000)
        self.log.warn(  # noqa: G010 -- twisted.logger spells it warn
            "Slow request: {api} v{version} from client id {client_id!r} (correlation id {correlation_id}, "
            "{host}:{port} on {listener}) took {ms} ms, more than request.timeout.ms={limit}{parked}",
            api=request.api_name, version=context.api_version, client_id=context.client_id,
            correlation_id=context.correlation_id, host=context.client_host, port=context.client_port,
            listener=context.listener_name, ms=int(seconds * 1000), limit=self.threshold_ms, parked=parked)
