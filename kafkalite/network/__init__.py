"""The network layer: Kafka framing, broker connections and the broker client.

Modules: ``framing`` (length-prefixed frames, sans I/O), ``connection`` (one server
connection's request/response order, sans I/O), ``writer`` (response pieces onto the
wire, ``os.sendfile`` for file regions), ``server`` (Twisted protocol, factory,
``listen``), ``client`` (requests to other brokers). Headers, the API table and error
responses come from ``kafkalite.protocol``.
"""

__all__ = ["client", "connection", "framing", "server", "writer"]
