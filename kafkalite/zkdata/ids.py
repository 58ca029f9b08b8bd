"""Cluster and topic ids: Kafka's base64 UUIDs, ``/cluster/id``, and the protocol's form of a topic id.

Part of :mod:`kafkalite.zkdata` (which re-exports every public name).
"""

import base64
import os
import uuid

from kafkalite.zkdata._codec import ZnodeDataError, _dumps, _field, _loads

__all__ = [
    "new_uuid_base64", "topic_id_to_uuid", "topic_id_from_uuid", "new_cluster_id", "new_topic_id",
    "encode_cluster_id", "decode_cluster_id",
]

# --------------------------------------------------------------------------- cluster id and uuids


def new_uuid_base64(random_bytes=os.urandom):
    """A random (version 4) UUID as 22 characters of URL-safe base64 without padding.

    Kafka's ``Uuid.randomUuid().toString`` / ``CoreUtils.generateUuidAsBase64``.
    Ids starting with ``-`` are drawn again: command-line tools read them as options
    (Kafka later made the same choice), and the all-zero id is reserved.

    :param random_bytes: ``n -> bytes`` source of randomness (inject for determinism).
    """
    while True:
        raw = uuid.UUID(bytes=bytes(random_bytes(16)), version=4).bytes
        text = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        if not text.startswith("-") and raw != bytes(16):
            return text


def topic_id_to_uuid(topic_id):
    """A base64 topic id (as the topic znode holds it) as the ``uuid.UUID`` the protocol carries;
    None (no id) stays None.

    :raises ZnodeDataError: not 22 characters of base64 for 16 bytes.
    """
    if topic_id is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(topic_id + "=" * (-len(topic_id) % 4))
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 16:
        raise ZnodeDataError(f"topic id {topic_id!r} is not a base64 UUID")
    return uuid.UUID(bytes=raw)


def topic_id_from_uuid(value):
    """The base64 form of a protocol topic id; None for None or the all-zero UUID (no id)."""
    if value is None:
        return None
    raw = value.bytes if isinstance(value, uuid.UUID) else bytes(value)
    if raw == bytes(16):
        return None
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def new_cluster_id(random_bytes=os.urandom):
    """A new cluster id for ``/cluster/id`` and ``meta.properties``."""
    return new_uuid_base64(random_bytes)


def new_topic_id(random_bytes=os.urandom):
    """A new topic id (KIP-516) for the topic znode's ``topic_id``."""
    return new_uuid_base64(random_bytes)


def encode_cluster_id(cluster_id):
    """``{"version":"1","id":"<id>"}`` (``version`` is a string here, as Kafka writes it)."""
    return _dumps({"version": "1", "id": cluster_id})


def decode_cluster_id(data):
    """Decode ``/cluster/id`` to the id string."""
    return _field(_loads(data, "cluster id"), "id", str, "cluster id")


