"""Watching ``/config/changes``: Kafka 2.8's ``ZkNodeChangeNotificationListener`` for configs.

Whoever changes a config (AlterConfigs on any broker, ``kafka-configs --zookeeper``, an
operator by hand) writes ``/config/<type>/<name>`` and then a persistent sequential
``/config/changes/config_change_NNNNNNNNNN`` naming the entity, in either format
Kafka accepts (v1 ``entity_type``/``entity_name``, v2 ``entity_path``). Every broker
watches the children of ``/config/changes`` and, for each notification newer than the
last one it processed, in sequence order, has the entity's config re-read and applied.
Notifications older than 15 minutes are deleted (by any broker, as Kafka's do).

On start and after a new ZooKeeper session it first re-reads every config it applies
(changes made while it was away leave notifications that may already be purged); after
a connection drop in the same session it only re-arms the watch and catches up.
"""

import time

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.zkclient import NoNodeError, ZkError

__all__ = ["CHANGE_EXPIRATION_MS", "ConfigChangeListener"]

#: Kafka's ``ConfigChangeNotificationListener`` change expiration: 15 minutes.
CHANGE_EXPIRATION_MS = 15 * 60 * 1000


class ConfigChangeListener:
    """Processes ``/config/changes`` notifications in order, one batch at a time.

    :param zk: the :class:`~kafkalite.zkclient.ZkClient`.
    :param entity_changed: ``async (entity_type, entity_name)``: re-read and apply that entity's config.
    :param reload_all: ``async ()``: re-read every config this broker applies.
    :param now_ms: wall-clock milliseconds (compared with the notifications' ZooKeeper ctime).
    :param expiration_ms: notifications older than this are deleted.
    """

    log = Logger()

    def __init__(self, zk, entity_changed, reload_all, now_ms=None, expiration_ms=CHANGE_EXPIRATION_MS):
        self._zk = zk
        self._entity_changed = entity_changed
        self._reload_all = reload_all
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._expiration_ms = expiration_ms
        #: sequence number of the last notification processed (-1: none yet).
        self.last_processed = -1
        self._running = False
        self._pending = None  # None, "process" or "reload": the work asked for while running
        self._stopped = False
        self._watch_lost = False
        self.idle = defer.succeed(None)  # fires when the work asked for so far is done (tests)

    def start(self):
        """Re-read every config, then process every notification present (and watch for more)."""
        self._request("reload")

    def stop(self):
        self._stopped = True

    def on_session_reestablished(self):
        """A new ZooKeeper session: the watch is gone and changes may have been purged meanwhile."""
        self._request("reload")

    def on_reconnected(self):
        """The same session is back: re-arm the watch if the drop removed it, and catch up."""
        if self._watch_lost:
            self._watch_lost = False
            self._request("process")

    def _on_watch(self, event=None):
        if event is not None and getattr(event, "type", None) == "NONE":
            self._watch_lost = True  # the connection dropped; handled by on_reconnected
            return
        self._request("process")

    def _request(self, kind):
        if self._stopped:
            return
        if self._pending != "reload":
            self._pending = kind
        if not self._running:
            self._running = True
            self.idle = defer.Deferred.fromCoroutine(self._run())
            self.idle.addErrback(lambda f: self.log.failure("config change processing stopped", f))

    async def _run(self):
        try:
            while self._pending is not None and not self._stopped:
                kind, self._pending = self._pending, None
                try:
                    if kind == "reload":
                        await self._reload_all()
                    await self.process_notifications()
                except ZkError as error:
                    # ZooKeeper unavailable: on_reconnected / on_session_reestablished ask again.
                    self._watch_lost = True
                    self.log.warn("processing config changes interrupted: {error}", error=error)
        finally:
            self._running = False

    async def process_notifications(self):
        """Apply every notification newer than :attr:`last_processed`, in order, then purge old ones."""
        children = await self._zk.get_children(zkdata.CONFIG_CHANGES, watch=self._on_watch)
        prefix = zkdata.CONFIG_CHANGE_PREFIX
        notifications = sorted((int(name[len(prefix):]), name) for name in children
                               if name.startswith(prefix) and name[len(prefix):].isdigit())
        ctimes = {}
        for sequence, name in notifications:
            path = f"{zkdata.CONFIG_CHANGES}/{name}"
            if sequence <= self.last_processed:
                continue
            try:
                data, stat = await self._zk.get(path)
            except NoNodeError:
                continue
            ctimes[name] = stat.ctime
            try:
                change = zkdata.decode_config_change(data)
            except zkdata.ZnodeDataError as error:
                self.log.warn("ignoring unreadable config change {name}: {error}", name=name, error=error)
            else:
                try:
                    await self._entity_changed(change.entity_type, change.entity_name)
                except ZkError:
                    raise  # retried from this notification once ZooKeeper is back
                except Exception:  # noqa: BLE001 -- one bad change must not stop the ones after it
                    self.log.failure("applying config change {name} ({path}) failed", name=name,
                                     path=change.entity_path)
            self.last_processed = sequence
        await self._purge(notifications, ctimes)

    async def _purge(self, notifications, ctimes):
        """Delete processed notifications older than the expiration (Kafka's ``purgeObsoleteNotifications``)."""
        oldest_kept = self._now_ms() - self._expiration_ms
        for sequence, name in notifications:
            if sequence > self.last_processed:
                break
            path = f"{zkdata.CONFIG_CHANGES}/{name}"
            ctime = ctimes.get(name)
            if ctime is None:
                stat = await self._zk.exists(path)
                if stat is None:
                    continue
                ctime = stat.ctime
            if ctime < oldest_kept:
                try:
                    await self._zk.delete(path)
                except NoNodeError:
                    pass  # another broker purged it first
