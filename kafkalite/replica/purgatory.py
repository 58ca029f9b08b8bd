"""The purgatory: requests parked until a condition holds or their time runs out.

A delayed operation (a long-poll fetch, an ``acks=all`` produce) watches one or
more keys (topic-partitions). Whoever changes the state behind a key (an append,
a high-watermark move, a leadership change) calls :meth:`Purgatory.check` for it,
and every operation watching that key gets a chance to complete. Nothing polls:
an operation that cannot complete waits for the next check or its timeout.
"""

from twisted.logger import Logger

__all__ = ["DelayedOperation", "Purgatory"]


class DelayedOperation:
    """A request that completes once :meth:`try_complete` says so, or on timeout.

    Subclasses implement :meth:`try_complete` (return True when the operation can
    finish now) and :meth:`on_complete` (build the result, called exactly once,
    with ``expired`` telling whether the deadline passed first).
    """

    completed = False
    _timer = None
    _purgatory = None

    def try_complete(self, key=None):
        """Whether the operation can finish now; ``key`` is the watched key whose state changed
        (None: check everything)."""
        raise NotImplementedError

    def on_complete(self, expired):
        raise NotImplementedError

    def force_complete(self, expired=False):
        """Complete now, once; safe to call repeatedly."""
        if self.completed:
            return False
        self.completed = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._purgatory is not None:
            self._purgatory._forget(self)
        self.on_complete(expired)
        return True


class Purgatory:
    """Holds delayed operations by watch key; operations expire through ``reactor.callLater``.

    :param reactor: provides ``callLater`` (``IReactorTime``).
    :param name: for logs and metrics (``Produce``, ``Fetch``).
    """

    log = Logger()

    def __init__(self, reactor, name):
        self._reactor = reactor
        self.name = name
        self._watchers = {}
        self._keys_of = {}

    def __len__(self):
        return len(self._keys_of)

    def try_complete_else_watch(self, operation, keys, timeout_ms):
        """Complete ``operation`` at once if it can, else park it under ``keys``.

        :returns: True if it completed immediately.
        """
        if operation.try_complete():
            operation.force_complete()
            return True
        operation._purgatory = self
        keys = tuple(keys)
        self._keys_of[operation] = keys
        for key in keys:
            self._watchers.setdefault(key, []).append(operation)
        operation._timer = self._reactor.callLater(max(timeout_ms, 0) / 1000.0, self._expire, operation)
        return False

    def check(self, key):
        """Give every operation watching ``key`` a chance to complete.

        :returns: how many completed.
        """
        watchers = self._watchers.get(key)
        if not watchers:
            return 0
        done = 0
        for operation in list(watchers):
            if operation.completed:
                continue
            try:
                ready = operation.try_complete(key)
            except Exception:  # noqa: BLE001 -- a broken operation completes rather than hang forever
                self.log.failure("delayed {name} operation failed its check", name=self.name)
                ready = True
            if ready and operation.force_complete():
                done += 1
        return done

    def complete_all(self):
        """Complete every parked operation now (shutdown)."""
        for operation in list(self._keys_of):
            operation.force_complete(expired=True)

    def _expire(self, operation):
        operation._timer = None
        operation.force_complete(expired=True)

    def _forget(self, operation):
        for key in self._keys_of.pop(operation, ()):
            watchers = self._watchers.get(key)
            if watchers is None:
                continue
            try:
                watchers.remove(operation)
            except ValueError:
                pass
            if not watchers:
                del self._watchers[key]
