"""The controller's events and the event manager that processes them one at a time.

ZooKeeper watches, session changes, timers and requests from brokers only *put* an
event (Kafka's ``ControllerEvent`` classes, frozen dataclasses here); the
:class:`ControllerEventManager` hands them, one after another, to the processor's
``process(event)`` coroutine. Nothing else changes the controller's context, so it is
never changed concurrently. An event that fails is logged and the next one runs.
"""

from collections import deque
from dataclasses import dataclass, field

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = [
    "AlterPartitionReassignments", "ListPartitionReassignments", "PartitionReassignmentIsrChange",
    "ZkPartitionReassignment", "AutoPreferredReplicaLeaderElection", "BrokerChange",
    "ControlledShutdown", "ControllerChange", "ElectLeaders",
    "ControllerEvent", "ControllerEventManager", "Expire", "IsrChangeNotification", "LeaderAndIsrResponseReceived",
    "Once", "PartitionModifications", "PreferredReplicaElection", "Reelect", "ReplicaStateStartup", "Resync", "Startup",
    "TopicChange", "TopicDeletion", "TopicDeletionStopReplicaResponseReceived", "TopicUncleanLeaderElectionEnable",
]


class ControllerEvent:
    """Base of the controller's events."""


@dataclass(frozen=True)
class Startup(ControllerEvent):
    """This broker starts: watch ``/controller`` and try to become controller."""


@dataclass(frozen=True)
class ControllerChange(ControllerEvent):
    """``/controller`` was created, changed or deleted."""


@dataclass(frozen=True)
class Reelect(ControllerEvent):
    """Try to become controller again (``/controller`` vanished, or a new session)."""


@dataclass(frozen=True)
class Expire(ControllerEvent):
    """The ZooKeeper session expired: our ephemeral ``/controller`` is gone; resign."""


@dataclass(frozen=True)
class ReplicaStateStartup(ControllerEvent):
    """After a failover's new leaders were answered: every live replica is told its partition's
    leadership, and the replicas of brokers that died while there was no controller leave the
    ISRs (``epoch``: the controller epoch of that failover)."""

    offline_replicas: tuple = field(default=(), compare=False)
    epoch: int = 0


@dataclass(frozen=True)
class Resync(ControllerEvent):
    """The same session is back after a connection drop: watches were lost; re-read everything."""


@dataclass(frozen=True)
class BrokerChange(ControllerEvent):
    """``/brokers/ids`` children changed."""


@dataclass(frozen=True)
class TopicChange(ControllerEvent):
    """``/brokers/topics`` children changed."""


@dataclass(frozen=True)
class PartitionModifications(ControllerEvent):
    """A topic's assignment znode changed (partitions added)."""

    topic: str


@dataclass(frozen=True)
class TopicDeletion(ControllerEvent):
    """``/admin/delete_topics`` children changed."""


@dataclass(frozen=True)
class TopicDeletionStopReplicaResponseReceived(ControllerEvent):
    """A broker answered (or failed to answer: ``response`` None) a StopReplica with delete."""

    broker_id: int
    response: object = field(compare=False, default=None)


@dataclass(frozen=True)
class LeaderAndIsrResponseReceived(ControllerEvent):
    """A broker could not open the logs of ``keys`` (KAFKA_STORAGE_ERROR in its LeaderAndIsr answer)."""

    broker_id: int
    keys: tuple = ()


@dataclass(frozen=True)
class IsrChangeNotification(ControllerEvent):
    """``/isr_change_notification`` children changed."""


@dataclass(frozen=True)
class PreferredReplicaElection(ControllerEvent):
    """``/admin/preferred_replica_election`` was written."""


@dataclass(frozen=True)
class AutoPreferredReplicaLeaderElection(ControllerEvent):
    """The periodic leader-imbalance check (``auto.leader.rebalance.enable``)."""


@dataclass(frozen=True)
class TopicUncleanLeaderElectionEnable(ControllerEvent):
    """``unclean.leader.election.enable`` turned on for ``topic``: its offline partitions may get a leader."""

    topic: str


@dataclass(frozen=True, eq=False)
class ControlledShutdown(ControllerEvent):
    """A broker asks to move its leaderships away; ``done`` fires with ``(error_code, [keys])``."""

    broker_id: int
    broker_epoch: int
    done: defer.Deferred = field(default_factory=defer.Deferred)


@dataclass(frozen=True, eq=False)
class ElectLeaders(ControllerEvent):
    """An admin client's ElectLeaders (Kafka's ``ReplicaLeaderElection`` with the AdminClient trigger):
    ``election_type`` 0 preferred / 1 unclean, ``keys`` the partitions (None: all); ``done`` fires with
    ``{(topic, partition): ElectionResult}``."""

    election_type: int
    keys: tuple | None = None
    done: defer.Deferred = field(default_factory=defer.Deferred)


class ControllerEventManager:
    """A queue of controller events processed one at a time, in order.

    :param process: ``async process(event)``, called for each event after the ones before it.
    :param on_error: ``async on_error(event, failure)`` for an event whose processing raised
        (``failure`` a :class:`Failure` with the traceback); its own failure is logged.
    :param clock: ``IReactorTime``; when given, events slower than :attr:`slow_event_s` are logged.
    """

    log = Logger(namespace="kafkalite.controller")

    #: Events that take longer than this (seconds) are logged with their duration.
    slow_event_s = 0.5

    def __init__(self, process, on_error, clock=None):
        self._process = process
        self._on_error = on_error
        self._clock = clock
        self._queue = deque()
        self._running = False
        self._stopped = False
        #: the event being processed (None when idle), for logs and tests.
        self.current = None

    def __len__(self):
        return len(self._queue)

    def put(self, event):
        """Queue ``event``; it runs after every event queued before it."""
        if self._stopped:
            return
        self._queue.append(event)
        if not self._running:
            self._running = True
            d = defer.Deferred.fromCoroutine(self._drain())
            d.addErrback(lambda f: self.log.failure("controller event loop died", f))

    def clear(self):
        """Drop the events not yet processed."""
        self._queue.clear()

    def stop(self):
        """Process nothing more (the event in progress finishes)."""
        self._stopped = True
        self._queue.clear()

    async def _drain(self):
        try:
            while self._queue and not self._stopped:
                event = self._queue.popleft()
                self.current = event
                started = self._clock.seconds() if self._clock is not None else None
                self.log.debug("processing controller event {event} ({queued} queued behind it)",
                               event=type(event).__name__, queued=len(self._queue))
                try:
                    await self._process(event)
                except Exception:  # noqa: BLE001 -- one failed event must not stop the queue
                    failure = Failure()
                    try:
                        await self._on_error(event, failure)
                    except Exception:  # noqa: BLE001 -- the error handler itself must not stop the queue
                        self.log.failure("handling the failure of controller event {event} failed", event=event)
                finally:
                    self.current = None
                    if started is not None and self._clock.seconds() - started > self.slow_event_s:
                        self.log.info("controller event {event} took {seconds:.2f} s ({queued} queued behind it)",
                                      event=type(event).__name__, seconds=self._clock.seconds() - started,
                                      queued=len(self._queue))
        finally:
            self._running = False


class Once:
    """Calls ``function`` the first time it is called; later calls do nothing."""

    def __init__(self, function):
        self._function = function

    def __call__(self):
        function, self._function = self._function, None
        if function is not None:
            function()


@dataclass(frozen=True)
class ZkPartitionReassignment(ControllerEvent):
    """``/admin/reassign_partitions`` was created, changed or deleted."""


@dataclass(frozen=True)
class PartitionReassignmentIsrChange(ControllerEvent):
    """The state znode of a partition being reassigned changed (its ISR may hold the target now)."""

    key: tuple


@dataclass(frozen=True, eq=False)
class AlterPartitionReassignments(ControllerEvent):
    """AlterPartitionReassignments: ``requested`` ``{key: replicas or None}``; ``done`` fires with
    ``{key: (error_code, message)}``."""

    requested: dict
    done: defer.Deferred = field(default_factory=defer.Deferred)


@dataclass(frozen=True, eq=False)
class ListPartitionReassignments(ControllerEvent):
    """ListPartitionReassignments of ``keys`` (None: all); ``done`` fires with ``{key: ReplicaAssignment}``."""

    keys: object = None
    done: defer.Deferred = field(default_factory=defer.Deferred)
