"""The asynchronous ZooKeeper client: kazoo underneath, Deferreds on the reactor thread on top.

The only package of kafkalite that imports kazoo. Modules: ``client`` (:class:`ZkClient`:
session, watches, single operations, batched reads and writes), ``values`` (errors,
stats, transaction operations), ``multiread`` (ZooKeeper's multiRead request),
``connection`` and ``handler`` (kazoo's connection kept to ZooKeeper's Java client's
per-server timeouts, waiting without a descriptor of its own).
"""

from kafkalite.zkclient.client import CONNECTED, LOST, SUSPENDED, ZkClient, install_kazoo_logging
from kafkalite.zkclient.values import (
    BadVersionError,
    Check,
    ConnectionLoss,
    Create,
    Delete,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    SessionExpired,
    SetData,
    WatchEvent,
    ZkError,
    ZkTimeoutError,
    ZnodeStat,
    split_chroot,
)

__all__ = [
    "CONNECTED", "LOST", "SUSPENDED", "BadVersionError", "Check", "ConnectionLoss", "Create", "Delete",
    "NoNodeError", "NodeExistsError", "NotEmptyError", "SessionExpired", "SetData", "WatchEvent", "ZkClient",
    "ZkError", "ZkTimeoutError", "ZnodeStat", "install_kazoo_logging", "split_chroot",
]
