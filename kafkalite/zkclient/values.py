"""ZooKeeper values and errors as code above kazoo sees them.

Owns :class:`ZkError` and its subclasses (kazoo's exceptions mapped onto them by
:func:`map_error`), :class:`ZnodeStat`, :class:`WatchEvent`, the transaction
operations (:class:`Create`, :class:`SetData`, :class:`Check`, :class:`Delete`)
and :func:`split_chroot`.
"""

import collections

from kazoo.exceptions import (
    BadVersionError as _KazooBadVersion,
)
from kazoo.exceptions import (
    ConnectionClosedError as _KazooConnectionClosed,
)
from kazoo.exceptions import (
    ConnectionDropped as _KazooConnectionDropped,
)
from kazoo.exceptions import (
    ConnectionLoss as _KazooConnectionLoss,
)
from kazoo.exceptions import (
    KazooException as _KazooException,
)
from kazoo.exceptions import (
    NodeExistsError as _KazooNodeExists,
)
from kazoo.exceptions import (
    NoNodeError as _KazooNoNode,
)
from kazoo.exceptions import (
    NotEmptyError as _KazooNotEmpty,
)
from kazoo.exceptions import (
    OperationTimeoutError as _KazooOperationTimeout,
)
from kazoo.exceptions import (
    SessionExpiredError as _KazooSessionExpired,
)
from kazoo.exceptions import (
    ZookeeperStoppedError as _KazooStopped,
)

__all__ = [
    "BadVersionError", "Check", "ConnectionLoss", "Create", "Delete", "NoNodeError", "NodeExistsError",
    "NotEmptyError", "SessionExpired", "SetData", "WatchEvent", "ZkError", "ZkTimeoutError", "ZnodeStat",
    "as_op", "map_error", "split_chroot", "to_stat",
]


# --------------------------------------------------------------------------- errors


class ZkError(Exception):
    """Base class of every ZooKeeper failure reported by :class:`ZkClient`.

    :ivar path: the path the operation was about, when known.
    """

    def __init__(self, message="", path=None):
        super().__init__(message or self.__class__.__name__)
        self.path = path


class NoNodeError(ZkError):
    """The node (or, for create, its parent) does not exist."""


class NodeExistsError(ZkError):
    """The node already exists."""


class BadVersionError(ZkError):
    """A conditional write's expected version did not match the node's."""


class NotEmptyError(ZkError):
    """The node has children and cannot be deleted."""


class ConnectionLoss(ZkError):
    """The connection dropped (or the client is not connected); the outcome of the operation is unknown."""


class SessionExpired(ZkError):
    """The session expired or the client was stopped; ephemeral nodes are gone."""


class ZkTimeoutError(ZkError):
    """The client did not connect within ``connection_timeout_ms``."""


_ERROR_MAP = (
    (_KazooNoNode, NoNodeError),
    (_KazooNodeExists, NodeExistsError),
    (_KazooBadVersion, BadVersionError),
    (_KazooNotEmpty, NotEmptyError),
    (_KazooConnectionClosed, SessionExpired),
    (_KazooSessionExpired, SessionExpired),
    (_KazooStopped, SessionExpired),
    (_KazooConnectionLoss, ConnectionLoss),
    (_KazooConnectionDropped, ConnectionLoss),
    (_KazooOperationTimeout, ConnectionLoss),
)


def map_error(exc, path=None):
    """Our :class:`ZkError` for a kazoo exception (others are returned unchanged)."""
    for kazoo_class, our_class in _ERROR_MAP:
        if isinstance(exc, kazoo_class):
            return our_class(f"{our_class.__name__}: {path}" if path else "", path=path)
    if isinstance(exc, _KazooException):
        return ZkError(f"{type(exc).__name__}: {exc} ({path})", path=path)
    return exc


# --------------------------------------------------------------------------- values


class ZnodeStat(collections.namedtuple(
    "ZnodeStat",
    "czxid mzxid ctime mtime version cversion aversion ephemeralOwner dataLength numChildren pzxid",
)):
    """A znode's Stat. ``version`` is the dataVersion (Kafka's zkVersion); ``czxid`` of a broker's
    registration is its broker epoch."""

    __slots__ = ()

    @property
    def ephemeral_owner(self):
        """Session id owning an ephemeral node (0 for persistent nodes)."""
        return self.ephemeralOwner


def to_stat(kazoo_stat):
    return None if kazoo_stat is None else ZnodeStat(*kazoo_stat)


WatchEvent = collections.namedtuple("WatchEvent", "type path state")
WatchEvent.__doc__ = """A fired watch: ``type`` is ``CREATED``, ``DELETED``, ``CHANGED``, ``CHILD`` or
``NONE`` (connection dropped or session lost), ``path`` the watched path (``None`` for
``NONE``), ``state`` the ZooKeeper connection state."""

Create = collections.namedtuple("Create", "path value ephemeral sequence", defaults=(b"", False, False))
Create.__doc__ = "A create in a :meth:`ZkClient.transaction`; its result is the created path."
SetData = collections.namedtuple("SetData", "path value version", defaults=(-1,))
SetData.__doc__ = "A set-data in a :meth:`ZkClient.transaction`; its result is the new :class:`ZnodeStat`."
Check = collections.namedtuple("Check", "path version")
Check.__doc__ = "A version check in a :meth:`ZkClient.transaction`; its result is ``True``."
Delete = collections.namedtuple("Delete", "path version", defaults=(-1,))
Delete.__doc__ = "A delete in a :meth:`ZkClient.transaction`; its result is ``True``."

_TUPLE_OPS = {"create": Create, "set": SetData, "set_data": SetData, "check": Check, "delete": Delete}


def as_op(op):
    if isinstance(op, (Create, SetData, Check, Delete)):
        return op
    if isinstance(op, tuple) and op and op[0] in _TUPLE_OPS:
        return _TUPLE_OPS[op[0]](*op[1:])
    raise ValueError(f"not a transaction operation: {op!r}")


def split_chroot(hosts):
    """Split ``"h1:2181,h2:2181/kafka"`` into ``("h1:2181,h2:2181", "/kafka")`` (chroot ``""`` if none)."""
    index = hosts.find("/")
    if index < 0:
        return hosts, ""
    chroot = "/" + hosts[index:].strip("/")
    return hosts[:index], "" if chroot == "/" else chroot
