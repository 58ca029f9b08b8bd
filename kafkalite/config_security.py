"""Failing closed on security settings kafkalite does not serve yet.

A listener declared ``SSL`` or ``SASL_*`` would otherwise be served as plaintext, and an
``authorizer.class.name`` would be silently ignored: both would give an operator a false
sense of protection. Until the security work lands, start-up stops instead, with one
line naming the key (:func:`unserved_security_setting`, called by :mod:`kafkalite.config`).

Layering: stdlib only, like :mod:`kafkalite.config`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["SERVED_SECURITY_PROTOCOLS", "unserved_security_setting"]

#: The security protocols a kafkalite listener can serve today.
SERVED_SECURITY_PROTOCOLS = ("PLAINTEXT",)

_NOT_SERVED = "kafkalite serves only PLAINTEXT listeners until security support lands"


def unserved_security_setting(
    values: Mapping[str, object], listener_sets: Iterable[tuple[str, Iterable]]
) -> tuple[str, object, str] | None:
    """Return ``(key, value, reason)`` for the first security setting we cannot honour, else None.

    :param values: the parsed configuration values keyed by Kafka name (``authorizer.class.name``,
        ``security.inter.broker.protocol``).
    :param listener_sets: ``(key, endpoints)`` pairs, e.g. ``("listeners", config's endpoints)``;
        each endpoint has ``listener_name``, ``security_protocol`` and ``connection_string()``.
    """
    authorizer = values.get("authorizer.class.name")
    if authorizer:
        return ("authorizer.class.name", authorizer,
                "kafkalite has no authorizer yet; leave it empty (every client may do everything)")
    inter_broker = values.get("security.inter.broker.protocol")
    if inter_broker and inter_broker not in SERVED_SECURITY_PROTOCOLS:
        return ("security.inter.broker.protocol", inter_broker, _NOT_SERVED)
    for key, endpoints in listener_sets:
        for endpoint in endpoints:
            if endpoint.security_protocol not in SERVED_SECURITY_PROTOCOLS:
                return (key, endpoint.connection_string(),
                        f"listener {endpoint.listener_name} maps to security protocol {endpoint.security_protocol} "
                        f"(listener.security.protocol.map); {_NOT_SERVED}")
    return None
