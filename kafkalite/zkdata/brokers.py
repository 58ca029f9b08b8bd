"""Broker registrations (``/brokers/ids/<id>``, versions 1-5 with endpoints and racks) and ``/controller``.

Part of :mod:`kafkalite.zkdata` (which re-exports every public name).
"""

import dataclasses
import re

from kafkalite.zkdata._codec import ZnodeDataError, _ascii_int, _dumps, _field, _int_or_str, _loads

__all__ = [
    "SECURITY_PROTOCOLS", "Endpoint", "BrokerRegistration", "encode_broker_registration",
    "decode_broker_registration", "ControllerInfo", "encode_controller", "decode_controller",
    "encode_controller_epoch", "decode_controller_epoch",
]

# --------------------------------------------------------------------------- broker registration

#: Security protocol name → id, as in Kafka's ``SecurityProtocol`` (UpdateMetadata carries the id).
SECURITY_PROTOCOLS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}

# Kafka's EndPoint.uriParseExp: LISTENER://host:port, host optionally [bracketed] (IPv6), maybe empty.
_ENDPOINT_RE = re.compile(r"^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$")


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One advertised listener of a broker.

    :ivar listener_name: upper-cased listener name, e.g. ``PLAINTEXT`` or ``REPLICATION``.
    :ivar host: host name or address (``""`` when the listener binds every interface).
    :ivar port: TCP port.
    :ivar security_protocol: ``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``.
    """

    listener_name: str
    host: str
    port: int
    security_protocol: str = "PLAINTEXT"

    @property
    def connection_string(self):
        """``LISTENER://host:port`` (IPv6 hosts in brackets), Kafka's ``EndPoint.connectionString``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.listener_name}://{host}:{self.port}"

    @classmethod
    def parse(cls, connection_string, security_protocol_map=None):
        """Parse ``LISTENER://host:port``; the protocol comes from the map, else the listener's name.

        :raises ValueError: for a malformed string or an unknown protocol.
        """
        match = _ENDPOINT_RE.match(connection_string)
        if not match:
            raise ZnodeDataError(f"unable to parse {connection_string!r} to a broker endpoint")
        listener_name = match.group(1).upper()
        if security_protocol_map is not None:
            protocol = {k.upper(): v for k, v in security_protocol_map.items()}.get(listener_name)
            if protocol is None:
                raise ZnodeDataError(f"no security protocol for listener {listener_name} in {security_protocol_map}")
        else:
            protocol = listener_name
        if protocol not in SECURITY_PROTOCOLS:
            raise ZnodeDataError(f"unknown security protocol {protocol!r} for listener {listener_name}")
        return cls(listener_name, match.group(2), int(match.group(3)), protocol)


@dataclasses.dataclass(frozen=True)
class BrokerRegistration:
    """The content of ``/brokers/ids/<id>`` (JSON v5 in Kafka 2.8; v1–v4 decode too).

    ``endpoints`` keeps Kafka's ``"LISTENER://host:port"`` strings;
    :meth:`parsed_endpoints` resolves them with ``listener_security_protocol_map``.
    The znode's czxid (not stored here) is the broker epoch.
    """

    broker_id: int | None
    endpoints: tuple
    listener_security_protocol_map: dict | None = None
    rack: str | None = None
    jmx_port: int = -1
    timestamp: int = 0
    version: int = 5
    features: dict = dataclasses.field(default_factory=dict)
    host: str | None = None
    port: int = -1

    @classmethod
    def for_endpoints(cls, broker_id, endpoints, timestamp, rack=None, jmx_port=-1, features=None, version=5):
        """Build a registration from :class:`Endpoint` objects, filling host/port and the protocol map.

        ``host``/``port`` are the first PLAINTEXT endpoint's (null / -1 if there is none),
        for pre-0.10 clients, as Kafka does.
        """
        endpoints = tuple(endpoints)
        plaintext = next((e for e in endpoints if e.security_protocol == "PLAINTEXT"), None)
        return cls(
            broker_id=broker_id,
            endpoints=tuple(e.connection_string for e in endpoints),
            listener_security_protocol_map={e.listener_name: e.security_protocol for e in endpoints},
            rack=rack,
            jmx_port=jmx_port,
            timestamp=int(timestamp),
            version=version,
            features=dict(features or {}),
            host=plaintext.host if plaintext else None,
            port=plaintext.port if plaintext else -1,
        )

    def parsed_endpoints(self):
        """The endpoints as :class:`Endpoint` objects (v1: the top-level host/port as PLAINTEXT)."""
        if self.version == 1 or not self.endpoints:
            if self.host is None or self.port < 0:
                return ()
            return (Endpoint("PLAINTEXT", self.host, self.port, "PLAINTEXT"),)
        return tuple(Endpoint.parse(e, self.listener_security_protocol_map) for e in self.endpoints)

    def endpoint(self, listener_name):
        """The :class:`Endpoint` for ``listener_name``, or ``None``."""
        for endpoint in self.parsed_endpoints():
            if endpoint.listener_name == listener_name.upper():
                return endpoint
        return None


def encode_broker_registration(registration):
    """JSON for ``/brokers/ids/<id>``; v5 by default (``version`` picks v4 for IBP < 2.7)."""
    version = registration.version
    value = {
        "version": version,
        "host": registration.host,
        "port": registration.port,
        "endpoints": list(registration.endpoints),
        "jmx_port": registration.jmx_port,
        "timestamp": str(registration.timestamp),
    }
    if version >= 4:
        value["listener_security_protocol_map"] = dict(registration.listener_security_protocol_map or {})
    if registration.rack is not None and version >= 3:
        value["rack"] = registration.rack
    if version >= 5:
        value["features"] = dict(registration.features)
    return _dumps(value)


def decode_broker_registration(data, broker_id=None):
    """Decode ``/brokers/ids/<id>`` (versions 1–5) into a :class:`BrokerRegistration`.

    :param broker_id: the id from the znode's name (the JSON does not carry it).
    :raises ValueError: malformed JSON, missing fields, or an unparsable endpoint.
    """
    what = f"broker registration{'' if broker_id is None else f' /brokers/ids/{broker_id}'}"
    obj = _loads(data, what)
    version = _field(obj, "version", int, what)
    if version < 1:
        raise ZnodeDataError(f"{what}: unsupported version {version}")
    host = obj.get("host")
    port = obj.get("port", -1)
    if port is None:
        port = -1
    if version == 1:
        host = _field(obj, "host", str, what)
        port = _field(obj, "port", int, what)
        endpoints = ()
    else:
        endpoints = tuple(_field(obj, "endpoints", list, what))
        if not all(isinstance(e, str) for e in endpoints):
            raise ZnodeDataError(f"{what}: endpoints should be strings, got {endpoints!r}")
    protocol_map = obj.get("listener_security_protocol_map")
    if protocol_map is not None and not isinstance(protocol_map, dict):
        raise ZnodeDataError(f"{what}: listener_security_protocol_map should be an object")
    rack = obj.get("rack")
    if rack is not None and not isinstance(rack, str):
        raise ZnodeDataError(f"{what}: rack should be a string, got {rack!r}")
    features = obj.get("features") or {}
    if not isinstance(features, dict):
        raise ZnodeDataError(f"{what}: features should be an object")
    registration = BrokerRegistration(
        broker_id=broker_id,
        endpoints=endpoints,
        listener_security_protocol_map=protocol_map,
        rack=rack,
        jmx_port=_field(obj, "jmx_port", int, what, -1),
        timestamp=_int_or_str(obj, "timestamp", what, 0),
        version=version,
        features=features,
        host=host if isinstance(host, str) else None,
        port=port if isinstance(port, int) else -1,
    )
    registration.parsed_endpoints()  # validate now rather than surprise a reader later
    return registration


# --------------------------------------------------------------------------- controller


@dataclasses.dataclass(frozen=True)
class ControllerInfo:
    """The content of the ephemeral ``/controller`` znode."""

    broker_id: int
    timestamp: int = 0


def encode_controller(broker_id, timestamp):
    """``{"version":1,"brokerid":<id>,"timestamp":"<ms>"}``."""
    return _dumps({"version": 1, "brokerid": int(broker_id), "timestamp": str(int(timestamp))})


def decode_controller(data):
    """Decode ``/controller``. Pre-0.8.2 brokers wrote a bare integer; that is accepted too."""
    try:
        return ControllerInfo(_ascii_int(data, "controller"))
    except ValueError:
        pass
    obj = _loads(data, "controller")
    return ControllerInfo(_field(obj, "brokerid", int, "controller"), _int_or_str(obj, "timestamp", "controller", 0))


def encode_controller_epoch(epoch):
    """``/controller_epoch`` holds a plain ASCII integer."""
    return str(int(epoch)).encode("ascii")


def decode_controller_epoch(data):
    """Decode ``/controller_epoch``."""
    return _ascii_int(data, "controller epoch")


