"""The asynchronous ZooKeeper client for Twisted code: kazoo underneath, Deferreds on top.

Owns the only import of kazoo in kafkalite (DESIGN.md §3, STYLE §8). Every
operation is kazoo's ``*_async`` call whose completion (on a kazoo worker
thread) is handed to the reactor with ``reactor.callFromThread``, so every
Deferred fires, every watch runs and every session-state listener is called on
the reactor thread. Nothing here blocks the reactor: kazoo's blocking
``start``/``stop``/``close`` run on a short-lived thread.

Errors are kazoo's mapped to this module's small hierarchy
(:class:`ZkError` and subclasses), so code above never sees kazoo.

Watch semantics are ZooKeeper's (one-shot) with kazoo's twist: when the
connection drops (SUSPENDED) or the session is lost (LOST), every outstanding
watch fires once with an event of type ``"NONE"``; re-read and re-watch after
the next ``"CONNECTED"``.
"""

import collections
import logging
import threading

from kazoo.client import KazooClient
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
    RolledBackError as _KazooRolledBack,
)
from kazoo.exceptions import (
    SessionExpiredError as _KazooSessionExpired,
)
from kazoo.exceptions import (
    ZookeeperStoppedError as _KazooStopped,
)
from kazoo.protocol.states import KazooState
from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

__all__ = [
    "CONNECTED",
    "LOST",
    "SUSPENDED",
    "BadVersionError",
    "Check",
    "ConnectionLoss",
    "Create",
    "Delete",
    "NoNodeError",
    "NodeExistsError",
    "NotEmptyError",
    "SessionExpired",
    "SetData",
    "WatchEvent",
    "ZkClient",
    "ZkError",
    "ZkTimeoutError",
    "ZnodeStat",
    "split_chroot",
]

CONNECTED = "CONNECTED"
SUSPENDED = "SUSPENDED"
LOST = "LOST"


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


def _map_error(exc, path=None):
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


def _stat(kazoo_stat):
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


def _as_op(op):
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


# --------------------------------------------------------------------------- logging

_kazoo_logging_installed = False


class _TwistedLogHandler(logging.Handler):
    """Forwards kazoo's stdlib log records to twisted.logger (STYLE §15)."""

    _levels = ((logging.ERROR, LogLevel.error), (logging.WARNING, LogLevel.warn), (logging.INFO, LogLevel.info))

    def emit(self, record):
        level = next((ours for threshold, ours in self._levels if record.levelno >= threshold), LogLevel.debug)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 -- thread or callback boundary: report, never lose
            message = str(record.msg)
        Logger(namespace=record.name).emit(level, "{zk_message}", zk_message=message)


def install_kazoo_logging(level=logging.WARNING):
    """Route kazoo's stdlib logging into twisted.logger, at ``level`` and above (idempotent).

    kazoo is chatty at INFO (every connect and state change); we keep WARNING and up.
    """
    global _kazoo_logging_installed
    kazoo_logger = logging.getLogger("kazoo")
    kazoo_logger.setLevel(level)
    if not _kazoo_logging_installed:
        kazoo_logger.addHandler(_TwistedLogHandler())
        kazoo_logger.propagate = False
        _kazoo_logging_installed = True


# --------------------------------------------------------------------------- the client


class ZkClient:
    """An asynchronous ZooKeeper session for code running on a Twisted reactor.

    :param hosts: ``host:port[,host:port...][/chroot]`` (Kafka's ``zookeeper.connect``).
    :param reactor: provides ``callFromThread`` and ``callLater``.
    :param session_timeout_ms: requested session timeout (Kafka's ``zookeeper.session.timeout.ms``).
    :param connection_timeout_ms: how long :meth:`start` waits for the first connection.
    :param create_chroot: create the chroot path (if any) before starting, as Kafka does.
    :param reconnect_max_delay_s: cap of kazoo's reconnect backoff (kazoo's default is an hour).
    :param operation_timeout_ms: an operation not answered in this time errbacks with
        :class:`ConnectionLoss` (default: the session timeout).

    Operations fail fast with :class:`ConnectionLoss` while the session is not
    CONNECTED (kazoo would otherwise queue them until a reconnect that may never
    come), and with :class:`SessionExpired` once :meth:`stop` was called. As with
    any ZooKeeper ConnectionLoss, a write's outcome is then unknown: re-read.
    """

    log = Logger()

    def __init__(self, hosts, reactor, session_timeout_ms=18000, connection_timeout_ms=18000,
                 create_chroot=True, reconnect_max_delay_s=1.0, operation_timeout_ms=None):
        install_kazoo_logging()
        self._operation_timeout_s = (operation_timeout_ms or session_timeout_ms) / 1000.0
        self._hosts = hosts
        self._reactor = reactor
        self._session_timeout_ms = session_timeout_ms
        self._connection_timeout_ms = connection_timeout_ms
        self._create_chroot = create_chroot
        self._state_listeners = []
        self._state = LOST
        self._stopping = False
        self._pending_connect = None
        self._stop_waiters = []
        self._stop_outcome = None
        self._kazoo = KazooClient(
            hosts=hosts,
            timeout=session_timeout_ms / 1000.0,
            # Reconnect forever in kazoo's own thread with a short backoff cap; operations
            # themselves are never retried here (callers decide), so nothing waits on a retry loop.
            connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 2, "max_delay": reconnect_max_delay_s},
            command_retry={"max_tries": 0},
            logger=logging.getLogger("kazoo.client"),
        )
        self._kazoo.add_listener(self._on_kazoo_state)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def hosts(self):
        """The connect string given at construction."""
        return self._hosts

    @property
    def state(self):
        """``"CONNECTED"``, ``"SUSPENDED"`` or ``"LOST"`` as last seen on the reactor thread."""
        return self._state

    @property
    def connected(self):
        """Whether the session is connected now."""
        return self._state == CONNECTED

    @property
    def session_id(self):
        """The current session id (int), or ``None`` when there is no session."""
        client_id = self._kazoo.client_id
        return client_id[0] if client_id else None

    @property
    def session_password(self):
        """The current session password (bytes), or ``None`` (for fault-injection tests)."""
        client_id = self._kazoo.client_id
        return client_id[1] if client_id else None

    def start(self):
        """Connect, without blocking the reactor.

        :returns: a Deferred firing with ``None`` once CONNECTED (after creating the
            chroot if asked), or errbacking with :class:`ZkTimeoutError` after
            ``connection_timeout_ms`` (kazoo is then stopped).
        """
        return defer.Deferred.fromCoroutine(self._start())

    async def _start(self):
        if self._state == CONNECTED:
            return
        self._stopping = False
        _, chroot = split_chroot(self._hosts)
        if chroot and self._create_chroot:
            await self._in_thread(self._ensure_chroot_blocking, chroot)
        connected = defer.Deferred()
        self._pending_connect = connected
        timeout = self._reactor.callLater(self._connection_timeout_ms / 1000.0, self._connect_timed_out, connected)
        try:
            self._kazoo.start_async()
        except Exception as e:
            timeout.cancel()
            raise _map_error(e) from e
        try:
            await connected
        finally:
            self._pending_connect = None
            if timeout.active():
                timeout.cancel()

    def _ensure_chroot_blocking(self, chroot):
        """Create the chroot with a separate, chroot-less session (runs on a thread)."""
        plain_hosts, _ = split_chroot(self._hosts)
        helper = KazooClient(hosts=plain_hosts, timeout=self._session_timeout_ms / 1000.0,
                             logger=logging.getLogger("kazoo.client"))
        try:
            helper.start(timeout=self._connection_timeout_ms / 1000.0)
        except Exception as e:
            helper.close()
            raise ZkTimeoutError(f"could not connect to {plain_hosts} to create chroot {chroot}: {e}") from e
        try:
            helper.ensure_path(chroot)
        finally:
            helper.stop()
            helper.close()

    def _connect_timed_out(self, connected):
        if connected.called:
            return
        self.log.warn("ZooKeeper {hosts} not connected after {ms} ms", hosts=self._hosts,  # noqa: G010
                      ms=self._connection_timeout_ms)
        self._stop_once().addErrback(lambda f: self.log.failure("stopping kazoo after a connect timeout", f))
        connected.errback(ZkTimeoutError(f"not connected to {self._hosts} after {self._connection_timeout_ms} ms"))

    def stop(self):
        """Close the session (its ephemeral nodes go) and free kazoo's threads and sockets.

        :returns: a Deferred firing with ``None`` when done. A stopped client is not restarted.
        """
        self._stopping = True
        return self._stop_once()

    def _stop_once(self):
        """Stop kazoo on a thread, once; every caller gets its own Deferred for that one stop."""
        done = defer.Deferred()
        if self._stop_outcome is not None:
            self._relay_stop(done, self._stop_outcome)
            return done
        self._stop_waiters.append(done)
        if len(self._stop_waiters) == 1:
            self._in_thread(self._stop_blocking).addBoth(self._stop_finished)
        return done

    def _stop_finished(self, outcome):
        self._stop_outcome = outcome
        waiters, self._stop_waiters = self._stop_waiters, []
        for waiter in waiters:
            self._relay_stop(waiter, outcome)

    @staticmethod
    def _relay_stop(waiter, outcome):
        if isinstance(outcome, Failure):
            waiter.errback(outcome)
        else:
            waiter.callback(None)

    def _stop_blocking(self):
        try:
            self._kazoo.stop()
        finally:
            self._kazoo.close()

    def _in_thread(self, fn, *args):
        """Run blocking ``fn`` on a fresh daemon thread; the Deferred fires on the reactor thread."""
        d = defer.Deferred()

        def run():
            try:
                result = fn(*args)
            except BaseException:  # noqa: BLE001 -- thread or callback boundary: report, never lose
                failure = Failure()
                self._reactor.callFromThread(d.errback, failure)
            else:
                self._reactor.callFromThread(d.callback, result)

        threading.Thread(target=run, name="kafkalite-zk-blocking", daemon=True).start()
        return d

    # -- session state ---------------------------------------------------------------------

    def add_state_listener(self, listener):
        """Call ``listener(state)`` on the reactor thread on every session state change.

        States: ``"CONNECTED"`` (also after a reconnect, and with a new session after
        ``"LOST"``), ``"SUSPENDED"`` (connection dropped; the session may survive),
        ``"LOST"`` (session expired or client stopped: ephemeral nodes are gone).
        """
        self._state_listeners.append(listener)

    def remove_state_listener(self, listener):
        """Stop calling ``listener``."""
        if listener in self._state_listeners:
            self._state_listeners.remove(listener)

    def _on_kazoo_state(self, kazoo_state):
        # Runs on kazoo's connection thread: never block, only hand over.
        state = {KazooState.CONNECTED: CONNECTED, KazooState.SUSPENDED: SUSPENDED}.get(kazoo_state, LOST)
        self._reactor.callFromThread(self._deliver_state, state)

    def _deliver_state(self, state):
        self._state = state
        pending = self._pending_connect
        if state == CONNECTED and pending is not None and not pending.called:
            pending.callback(None)
        for listener in list(self._state_listeners):
            try:
                listener(state)
            except Exception:  # noqa: BLE001 -- thread or callback boundary: report, never lose
                self.log.failure("ZooKeeper state listener {listener} failed", listener=listener)

    # -- operations ------------------------------------------------------------------------

    def _deferred(self, async_result, path, convert=None):
        """A Deferred for a kazoo IAsyncResult, fired on the reactor thread (or timed out)."""
        d = defer.Deferred()

        def fire(method, value):
            if not d.called:
                if timeout.active():
                    timeout.cancel()
                method(value)

        def timed_out():
            if not d.called:
                d.errback(ConnectionLoss(f"no answer from ZooKeeper in {self._operation_timeout_s}s ({path})",
                                         path=path))

        def completed(result):
            # Runs on a kazoo thread (or right here, if already complete).
            if result.successful():
                value = result.value
                try:
                    value = convert(value) if convert else value
                except BaseException:  # noqa: BLE001 -- thread or callback boundary: report, never lose
                    self._reactor.callFromThread(fire, d.errback, Failure())
                    return
                self._reactor.callFromThread(fire, d.callback, value)
            else:
                self._reactor.callFromThread(fire, d.errback, Failure(_map_error(result.exception, path)))

        timeout = self._reactor.callLater(self._operation_timeout_s, timed_out)
        async_result.rawlink(completed)
        return d

    def _not_ready(self, path):
        """The error for an operation attempted while not connected, or ``None`` when connected."""
        if self._stopping:
            return SessionExpired(f"ZooKeeper client stopped ({path})", path=path)
        if self._state != CONNECTED:
            return ConnectionLoss(f"ZooKeeper session is {self._state} ({path})", path=path)
        return None

    def _call(self, fn, path, *args, convert=None, **kwargs):
        error = self._not_ready(path)
        if error is not None:
            return defer.fail(error)
        try:
            async_result = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 -- thread or callback boundary: report, never lose
            return defer.fail(_map_error(e, path))
        return self._deferred(async_result, path, convert)

    def _watcher(self, watch):
        if watch is None:
            return None

        def on_kazoo_watch(event):
            self._reactor.callFromThread(self._fire_watch, watch, WatchEvent(event.type, event.path, event.state))

        return on_kazoo_watch

    def _fire_watch(self, watch, event):
        try:
            watch(event)
        except Exception:  # noqa: BLE001 -- thread or callback boundary: report, never lose
            self.log.failure("ZooKeeper watch {watch} failed on {event}", watch=watch, event=event)

    def get(self, path, watch=None):
        """Read a node.

        :param watch: ``watch(WatchEvent)``, called once on the reactor thread when the
            node changes or is deleted.
        :returns: Deferred firing with ``(data: bytes, ZnodeStat)``; errbacks with
            :class:`NoNodeError`, :class:`ConnectionLoss`, :class:`SessionExpired`.
        """
        return self._call(self._kazoo.get_async, path, path, self._watcher(watch),
                          convert=lambda value: (value[0] if value[0] is not None else b"", _stat(value[1])))

    def get_children(self, path, watch=None):
        """List a node's children (names, not paths).

        :param watch: called once when a child is added or removed, or the node deleted.
        :returns: Deferred firing with a list of names; errbacks with :class:`NoNodeError`...
        """
        return self._call(self._kazoo.get_children_async, path, path, self._watcher(watch), convert=list)

    def exists(self, path, watch=None):
        """Whether a node exists.

        :param watch: called once when the node is created, changed or deleted.
        :returns: Deferred firing with a :class:`ZnodeStat`, or ``None`` if absent.
        """
        return self._call(self._kazoo.exists_async, path, path, self._watcher(watch), convert=_stat)

    def create(self, path, value=b"", ephemeral=False, sequence=False, makepath=False):
        """Create a node.

        :param makepath: create missing parents (persistent, empty) first.
        :returns: Deferred firing with the created path (with its sequence suffix when
            ``sequence``); errbacks with :class:`NodeExistsError`, :class:`NoNodeError`
            (parent missing), :class:`ConnectionLoss`, :class:`SessionExpired`.
        """
        return self._call(self._kazoo.create_async, path, path, bytes(value), ephemeral=ephemeral,
                          sequence=sequence, makepath=makepath)

    def set(self, path, value, version=-1):
        """Write a node's data, if its dataVersion is ``version`` (``-1``: any).

        :returns: Deferred firing with the new :class:`ZnodeStat`; errbacks with
            :class:`BadVersionError`, :class:`NoNodeError`...
        """
        return self._call(self._kazoo.set_async, path, path, bytes(value), version, convert=_stat)

    def delete(self, path, version=-1, recursive=False):
        """Delete a node (and, if ``recursive``, its descendants first; version applies to ``path``).

        :returns: Deferred firing with ``True``; errbacks with :class:`NoNodeError`,
            :class:`NotEmptyError`, :class:`BadVersionError`...
        """
        if recursive:
            return defer.Deferred.fromCoroutine(self._delete_recursive(path, version))
        return self._call(self._kazoo.delete_async, path, path, version)

    async def _delete_recursive(self, path, version):
        try:
            children = await self.get_children(path)
        except NoNodeError:
            return True
        for child in children:
            await self._delete_recursive(f"{path.rstrip('/')}/{child}", -1)
        try:
            await self.delete(path, version)
        except NoNodeError:
            pass
        return True

    def ensure_path(self, path):
        """Create ``path`` and any missing parents (persistent, empty); fine if it exists.

        :returns: Deferred firing with ``True``.
        """
        return self._call(self._kazoo.ensure_path_async, path, path, convert=lambda _: True)

    def sync(self, path="/"):
        """Make this session's view catch up with the leader before the next read.

        :returns: Deferred firing with the path.
        """
        return self._call(self._kazoo.sync_async, path, path)

    def transaction(self, ops):
        """Run operations atomically (ZooKeeper multi): all succeed or none.

        :param ops: :class:`Create`, :class:`SetData`, :class:`Check`, :class:`Delete`, or
            tuples ``("create", path, value[, ephemeral[, sequence]])``, ``("set", path,
            value[, version])``, ``("check", path, version)``, ``("delete", path[, version])``.
        :returns: Deferred firing with one result per operation (created path,
            :class:`ZnodeStat`, ``True``, ``True``); on failure, errbacks with the first
            failing operation's error (:class:`BadVersionError`, :class:`NodeExistsError`,
            :class:`NoNodeError`...), whose ``op_index`` says which operation it was.
        """
        error = self._not_ready(None)
        if error is not None:
            return defer.fail(error)
        try:
            ops = [_as_op(op) for op in ops]
            tx = self._kazoo.transaction()
            for op in ops:
                if isinstance(op, Create):
                    tx.create(op.path, bytes(op.value), ephemeral=op.ephemeral, sequence=op.sequence)
                elif isinstance(op, SetData):
                    tx.set_data(op.path, bytes(op.value), op.version)
                elif isinstance(op, Check):
                    tx.check(op.path, op.version)
                else:
                    tx.delete(op.path, op.version)
            async_result = tx.commit_async()
        except Exception as e:  # noqa: BLE001 -- thread or callback boundary: report, never lose
            return defer.fail(_map_error(e))
        return self._deferred(async_result, None, convert=lambda results: self._transaction_results(ops, results))

    @staticmethod
    def _transaction_results(ops, results):
        for index, (op, result) in enumerate(zip(ops, results, strict=False)):
            if isinstance(result, Exception) and not isinstance(result, _KazooRolledBack):
                error = _map_error(result, op.path)
                error.op_index = index
                raise error
        if any(isinstance(result, Exception) for result in results):
            raise ZkError("transaction rolled back")
        return [_stat(result) if isinstance(op, SetData) else result for op, result in zip(ops, results, strict=False)]
