"""Every API's schema, compiled: ``ApiKey``, ``Api`` and ``API_BY_KEY``.

Importing this package registers all declared APIs (one module per group of APIs).
"""

from kafkalite.protocol.apis import (  # noqa: F401  (registers the APIs)
    admin,
    client,
    cluster_admin,
    configs,
    controller,
    groups,
    reassignment,
)
from kafkalite.protocol.apis.registry import API_BY_KEY, Api, ApiKey, pieces_size, pieces_to_bytes

__all__ = ["API_BY_KEY", "Api", "ApiKey", "pieces_size", "pieces_to_bytes"]
