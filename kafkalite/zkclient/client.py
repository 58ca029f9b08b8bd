"""The asynchronous ZooKeeper client for Twisted code: kazoo underneath, Deferreds on top.

With :mod:`kafkalite.zkclient.values` and :mod:`kafkalite.zkclient.multiread`, owns the
only imports of kazoo in kafkalite (DESIGN.md §3, STYLE §8). Every
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

import logging
import threading
import time

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState
from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from kafkalite.zkclient import connection as server_share
from kafkalite.zkclient.handler import PollingHandler
from kafkalite.zkclient.multiread import MultiRead
from kafkalite.zkclient.results import first_failure, multi_results, pack, raise_first_error, read_results
from kafkalite.zkclient.values import (
    Check,
    ConnectionLoss,
    Create,
    NoNodeError,
    SessionExpired,
    SetData,
    WatchEvent,
    ZkError,
    ZkTimeoutError,
    as_op,
    map_error,
    split_chroot,
    to_stat,
)

__all__ = ["CONNECTED", "LOST", "SUSPENDED", "ZkClient", "install_kazoo_logging"]

CONNECTED = "CONNECTED"
SUSPENDED = "SUSPENDED"
LOST = "LOST"

#: Nodes read by one multiRead request (responses stay well under ZooKeeper's 1 MB jute.maxbuffer).
READ_BATCH = 500
#: Operations combined into one multi by :meth:`ZkClient.transactions`.
WRITE_BATCH = 1000


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

    kazoo is chatty at INFO (every connect and state change); we keep WARNING and up, unless
    the operator set kazoo's level (``kafkalite-server --log-level kazoo=DEBUG``) before.
    """
    global _kazoo_logging_installed
    kazoo_logger = logging.getLogger("kazoo")
    if kazoo_logger.level == logging.NOTSET:
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
    :param request_latency_observer: optional callable given each answered request's latency in
        seconds (from sending to ZooKeeper's answer), on the reactor thread; a multi or a batch of
        :meth:`get_many` counts as one request, as it is one on the wire.

    Operations fail fast with :class:`ConnectionLoss` while the session is not
    CONNECTED (kazoo would otherwise queue them until a reconnect that may never
    come), and with :class:`SessionExpired` once :meth:`stop` was called. As with
    any ZooKeeper ConnectionLoss, a write's outcome is then unknown: re-read.
    """

    log = Logger()

    def __init__(self, hosts, reactor, session_timeout_ms=18000, connection_timeout_ms=18000,
                 create_chroot=True, reconnect_max_delay_s=1.0, operation_timeout_ms=None,
                 request_latency_observer=None):
        install_kazoo_logging()
        self._request_latency_observer = request_latency_observer
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
            handler=PollingHandler(),
        )
        # each server gets a share of the session, as in ZooKeeper's Java client (see connection.py)
        server_share.install(self._kazoo)
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
            raise map_error(e) from e
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
        started = time.monotonic()
        observer = self._request_latency_observer

        def fire(method, value, latency):
            if observer is not None:
                observer(latency)
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
            latency = time.monotonic() - started
            if result.successful():
                value = result.value
                try:
                    value = convert(value) if convert else value
                except BaseException:  # noqa: BLE001 -- thread or callback boundary: report, never lose
                    self._reactor.callFromThread(fire, d.errback, Failure(), latency)
                    return
                self._reactor.callFromThread(fire, d.callback, value, latency)
            else:
                self._reactor.callFromThread(fire, d.errback, Failure(map_error(result.exception, path)), latency)

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
            return defer.fail(map_error(e, path))
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
                          convert=lambda value: (value[0] if value[0] is not None else b"", to_stat(value[1])))

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
        return self._call(self._kazoo.exists_async, path, path, self._watcher(watch), convert=to_stat)

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
        return self._call(self._kazoo.set_async, path, path, bytes(value), version, convert=to_stat)

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
        try:
            ops = [as_op(op) for op in ops]
        except ValueError as error:
            return defer.fail(error)
        return self._multi(ops).addCallback(raise_first_error)

    def _multi(self, ops):
        """One ZooKeeper multi of :func:`as_op` operations; fires with ``(ops, results)`` where a
        failed multi's results hold the failing operation's :class:`ZkError` (``op_index`` set)."""
        error = self._not_ready(None)
        if error is not None:
            return defer.fail(error)
        try:
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
            return defer.fail(map_error(e))
        return self._deferred(async_result, None, convert=lambda results: (ops, multi_results(ops, results)))

    # -- batches ---------------------------------------------------------------------------

    def get_many(self, paths, batch=READ_BATCH):
        """Read many nodes with few requests: ZooKeeper's multiRead, ``batch`` nodes a request, pipelined.

        No watches are set. Each read stands alone: a missing node does not fail the others.

        :returns: Deferred firing with one entry per path, in order: ``(data, ZnodeStat)`` or the
            :class:`ZkError` for that node (:class:`NoNodeError` when it does not exist);
            errbacks as a whole only when ZooKeeper cannot be asked (:class:`ConnectionLoss`...).
        """
        paths = list(paths)
        if not paths:
            return defer.succeed([])
        error = self._not_ready(None)
        if error is not None:
            return defer.fail(error)
        chroot = self._kazoo.chroot
        requests = []
        for start in range(0, len(paths), batch):
            chunk = paths[start:start + batch]
            async_result = self._kazoo.handler.async_result()
            try:
                # kazoo has no multiRead of its own; its request queue takes any request object.
                self._kazoo._call(MultiRead([chroot + p if chroot else p for p in chunk]), async_result)
            except Exception as e:  # noqa: BLE001 -- thread or callback boundary: report, never lose
                return defer.fail(map_error(e))
            requests.append(self._deferred(async_result, chunk[0],
                                           convert=lambda results, chunk=chunk: read_results(chunk, results)))
        return defer.gatherResults(requests, consumeErrors=True).addCallback(
            lambda parts: [entry for part in parts for entry in part]).addErrback(first_failure)

    def transactions(self, groups, guard=None, batch=WRITE_BATCH):
        """Run many small atomic groups of operations in as few ZooKeeper multis as possible.

        Each group (a list of operations, as for :meth:`transaction`) is applied wholly or not
        at all, and only while ``guard`` (a :class:`Check`, e.g. of the controller epoch's
        version) holds. Groups are packed into multis of about ``batch`` operations, each led
        by the guard, and sent pipelined. A multi fails as a whole when one group in it
        fails: that group (the one holding the first failing operation) gets its error, and
        the others are sent again — once more together, then each alone.

        :returns: Deferred firing with one entry per group: the list of its results (as
            :meth:`transaction`'s) or the :class:`ZkError` it failed with (``op_index``: the
            failing operation's index within the group); errbacks with the
            guard's error (``op_index`` 0) if the guard fails, or when ZooKeeper cannot be asked.
        """
        return defer.Deferred.fromCoroutine(self._transactions([[as_op(op) for op in g] for g in groups],
                                                               as_op(guard) if guard is not None else None, batch))

    async def _transactions(self, groups, guard, batch):
        results = [None] * len(groups)
        pending = list(range(len(groups)))
        attempt = 0
        while pending:
            size = batch if attempt < 2 else 1  # third time and after: each group alone
            attempt += 1
            chunks = pack(pending, groups, size)
            outcomes = await defer.gatherResults(
                [self._multi(([guard] if guard is not None else []) + [op for i in chunk for op in groups[i]])
                 for chunk in chunks], consumeErrors=True).addErrback(first_failure)
            pending = []
            for chunk, (_ops, outcome) in zip(chunks, outcomes, strict=True):
                failure = next((r for r in outcome if isinstance(r, ZkError)), None)
                failed_at = failure.op_index if failure is not None else -1
                if guard is not None and failed_at == 0:
                    raise failure
                offset = 1 if guard is not None else 0
                for index in chunk:
                    size_of = len(groups[index])
                    if failure is None:
                        results[index] = outcome[offset:offset + size_of]
                    elif offset <= failed_at < offset + size_of:
                        failure.op_index = failed_at - offset  # from now on: the index within its group
                        results[index] = failure
                    else:
                        pending.append(index)  # rolled back with the failing group: send again
                    offset += size_of
        return results
