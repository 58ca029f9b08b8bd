"""The controller: election through ``/controller``, one event queue, leaders for every partition.

One broker at a time wins the ephemeral ``/controller`` znode together with a
version-checked increment of ``/controller_epoch`` (one ZooKeeper multi). The
winner rebuilds its :class:`ControllerContext` from ZooKeeper, elects leaders,
writes each partition's ``state`` znode (every write fenced by a check on the
``/controller_epoch`` version) and tells the brokers — itself included, over
the Kafka protocol — with LeaderAndIsr, UpdateMetadata and StopReplica.

It reacts to brokers coming and going (new leaders from the ISR, dead replicas
out of the ISRs, unclean election only where a topic allows it), to leaders'
ISR changes announced under ``/isr_change_notification`` (re-read, propagated by
UpdateMetadata), to preferred-replica election requests (``/admin/preferred_
replica_election``, and Kafka's periodic imbalance check when
``auto.leader.rebalance.enable``) and to ControlledShutdown requests (leadership
moves off the stopping broker, which leaves the ISRs). A controller whose
session expires or whose fenced write fails resigns.

ZooKeeper watches only enqueue events; :meth:`KafkaController._run_events`
handles them one at a time, so the context is never changed concurrently.
State writes that lose to a leader's ISR write (BadVersion) re-read and retry.
"""

from collections import deque
from dataclasses import dataclass, field

from twisted.internet import defer, task
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.controller.channel import ControllerChannelManager
from kafkalite.controller.election import (
    LeaderAndIsr,
    controlled_shutdown_election,
    new_partition_state,
    offline_partition_election,
    preferred_replica_election,
    remove_replica_from_isr,
)
from kafkalite.protocol import errors
from kafkalite.zkclient import BadVersionError, ConnectionLoss, NodeExistsError, NoNodeError, ZkError, ZkTimeoutError

#: Attempts at a conditional state write that keeps losing to a leader's ISR change.
STATE_WRITE_ATTEMPTS = 3

__all__ = ["KafkaController", "ControllerContext", "LiveBrokerInfo"]

#: UpdateMetadata's leader for a partition being deleted (LeaderAndIsr.LeaderDuringDelete).
LEADER_DURING_DELETE = -2


@dataclass
class LiveBrokerInfo:
    """A registered broker: its id, epoch (the czxid of its znode) and endpoints."""

    broker_id: int
    epoch: int
    endpoints: list
    rack: str | None = None

    def endpoint(self, listener):
        for endpoint in self.endpoints:
            if endpoint[0] == listener:
                return endpoint
        return self.endpoints[0] if self.endpoints else None


@dataclass
class ControllerContext:
    """The controller's view of the cluster; changed only by the event queue."""

    epoch: int = 0
    epoch_zk_version: int = -1
    live_brokers: dict = field(default_factory=dict)
    assignments: dict = field(default_factory=dict)
    states: dict = field(default_factory=dict)
    topics_being_deleted: set = field(default_factory=set)
    shutting_down: set = field(default_factory=set)

    def partitions_of(self, topic):
        return sorted(self.assignments.get(topic, {}))

    def all_partitions(self):
        for topic, partitions in self.assignments.items():
            for partition in partitions:
                yield (topic, partition)

    def replicas(self, key):
        return self.assignments[key[0]][key[1]]


class KafkaController:
    """Runs the election on every broker and, on the winner, the controller's work.

    :param zk: :class:`kafkalite.zkclient.ZkClient`.
    :param config: the broker's config (``broker_id``, ``inter_broker_listener_name``,
        ``unclean_leader_election_enable``).
    :param reactor: the reactor (time and connections for the controller channel).
    :param broker_epoch: a callable giving this broker's current epoch.
    """

    log = Logger(namespace="kafkalite.controller")
    state_change_log = Logger(namespace="kafkalite.state_change")

    def __init__(self, zk, config, reactor, topic_unclean_election=None):
        self.zk = zk
        self.config = config
        self.broker_id = config.broker_id
        self.reactor = reactor
        self.context = ControllerContext()
        self.active_controller_id = -1
        self.channel = ControllerChannelManager(reactor, self.broker_id, config.inter_broker_listener_name)
        self._events = deque()
        self._running = False
        self._stopped = False
        self._is_active = False
        self._watched_topics = set()
        self._watches_lost = False
        self._rebalance_loop = None
        #: async (topic) -> bool: whether the topic allows unclean leader election.
        self._topic_unclean_election = topic_unclean_election

    @property
    def is_active(self):
        return self._is_active

    # -- event queue ---------------------------------------------------------------------

    def enqueue(self, name, handler, *args):
        """Queue ``handler(*args)`` (a coroutine function) to run after the events before it."""
        if self._stopped:
            return
        self._events.append((name, handler, args))
        if not self._running:
            self._running = True
            d = defer.Deferred.fromCoroutine(self._run_events())
            d.addErrback(lambda f: self.log.failure("controller event loop died", f))

    async def _run_events(self):
        try:
            while self._events and not self._stopped:
                name, handler, args = self._events.popleft()
                try:
                    await handler(*args)
                except ControllerMovedError:
                    self.log.info("controller moved while handling {event}; resigning", event=name)
                    await self._resign()
                except (ConnectionLoss, ZkTimeoutError) as error:
                    # Resynchronised from scratch once the connection is back (on_reconnected).
                    self._watches_lost = True
                    self.log.warn("controller event {event} interrupted by a ZooKeeper outage: {error}",
                                  event=name, error=error)
                except Exception:  # noqa: BLE001 -- one failed event must not stop the queue
                    self.log.failure("controller event {event} failed", event=name)
        finally:
            self._running = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self):
        """Watch ``/controller`` and try to become controller."""
        self.enqueue("Startup", self._elect)

    async def stop(self):
        self._stopped = True
        self._is_active = False
        self._stop_auto_rebalance()
        self.channel.close_all()

    def on_session_lost(self):
        """ZooKeeper session expired: resign at once (our ephemeral nodes are gone)."""
        if self._is_active:
            self.log.warn("ZooKeeper session lost: resigning as controller")
        self.enqueue("SessionExpired", self._resign)

    def on_session_reestablished(self):
        self.enqueue("Reelect", self._elect)

    def on_reconnected(self):
        """The same session is back after a connection drop (SUSPENDED → CONNECTED).

        ZooKeeper fired every outstanding watch with a ``NONE`` event when the connection
        dropped and forgot them; set them all again and catch up on what was missed.
        """
        if self._watches_lost:
            self._watches_lost = False
            self.enqueue("Resync", self._resync)

    async def _resync(self):
        await self._elect()
        if not self._is_active:
            return
        self._watched_topics.clear()
        await self._on_broker_change()
        await self._on_topic_change()
        for topic in list(self.context.assignments):
            await self._on_partition_modification(topic)
        await self._on_delete_topics()
        await self._on_isr_change()
        await self._on_preferred_replica_election()

    def _watch(self, name, handler):
        """A ZooKeeper watcher that only enqueues ``handler``.

        A ``NONE`` event means the connection dropped, not that the node changed: handling
        it now would fail (ZooKeeper calls fail fast while disconnected) and lose the watch
        for good, so it waits for :meth:`on_reconnected`.
        """
        def watcher(event=None):
            if event is not None and event.type == "NONE":
                self._watches_lost = True
                return
            self.enqueue(name, handler)
        return watcher

    async def _elect(self):
        try:
            stat = await self.zk.exists(zkdata.CONTROLLER, watch=self._watch("ControllerChange", self._elect))
        except ZkError as error:
            self._watches_lost = True
            self.log.warn("could not watch /controller ({error}); retrying when ZooKeeper is back", error=error)
            return
        if stat is not None:
            await self._learn_controller()
            return
        epoch, epoch_version = await self._read_controller_epoch()
        new_epoch = epoch + 1
        try:
            results = await self.zk.transaction([
                ("create", zkdata.CONTROLLER,
                 zkdata.encode_controller(self.broker_id, int(self.reactor.seconds() * 1000)), True),
                ("set", zkdata.CONTROLLER_EPOCH, zkdata.encode_controller_epoch(new_epoch), epoch_version),
            ])
        except (NodeExistsError, BadVersionError):
            await self._learn_controller()
            return
        new_version = results[1].version
        self.context = ControllerContext(epoch=new_epoch, epoch_zk_version=new_version)
        self.active_controller_id = self.broker_id
        self._is_active = True
        self.log.info("broker {id} is now controller with epoch {epoch}", id=self.broker_id, epoch=new_epoch)
        await self._on_failover()
        self._start_auto_rebalance()

    async def _read_controller_epoch(self):
        try:
            data, stat = await self.zk.get(zkdata.CONTROLLER_EPOCH)
            return zkdata.decode_controller_epoch(data), stat.version
        except NoNodeError:
            try:
                await self.zk.create(zkdata.CONTROLLER_EPOCH, zkdata.encode_controller_epoch(0))
            except NodeExistsError:
                pass
            data, stat = await self.zk.get(zkdata.CONTROLLER_EPOCH)
            return zkdata.decode_controller_epoch(data), stat.version

    async def _learn_controller(self):
        try:
            data, _ = await self.zk.get(zkdata.CONTROLLER)
            controller_id = zkdata.decode_controller(data).broker_id
        except NoNodeError:
            self.enqueue("Reelect", self._elect)
            return
        was_active = self._is_active
        self.active_controller_id = controller_id
        if was_active and controller_id != self.broker_id:
            await self._resign()

    async def _resign(self):
        if not self._is_active:
            return
        self._is_active = False
        self._stop_auto_rebalance()
        self.channel.close_all()
        self.context = ControllerContext()
        self._watched_topics.clear()
        self.log.info("broker {id} resigned as controller", id=self.broker_id)

    # -- failover: rebuild the context and push state ------------------------------------

    async def _on_failover(self):
        await self._refresh_brokers()
        await self._refresh_topics()
        await self._load_partition_states()
        for broker in self.context.live_brokers.values():
            self.channel.add_broker(broker)
        await self._elect_leaders_where_needed(self.context.all_partitions())
        # Replicas on brokers that died while there was no controller leave the ISRs (Kafka's
        # replica state machine start-up moves them to OfflineReplica).
        live = self.context.live_brokers
        for key, state in list(self.context.states.items()):
            if key[0] not in self.context.topics_being_deleted and state.leader in live:
                await self._remove_from_isr(key, {r for r in state.isr if r not in live})
        self._send_update_metadata(self.context.live_brokers, self.context.all_partitions())
        self._send_leader_and_isr(self.context.all_partitions())
        await self._on_delete_topics()
        await self._on_isr_change()
        await self._on_preferred_replica_election()

    async def _refresh_brokers(self):
        ids = await self.zk.get_children(zkdata.BROKER_IDS, watch=self._watch("BrokerChange", self._on_broker_change))
        brokers = {}
        for child in ids:
            info = await self._read_broker(int(child))
            if info is not None:
                brokers[info.broker_id] = info
        self.context.live_brokers = brokers

    async def _read_broker(self, broker_id):
        try:
            data, stat = await self.zk.get(zkdata.broker_path(broker_id))
        except NoNodeError:
            return None
        registration = zkdata.decode_broker_registration(data, broker_id)
        endpoints = [(e.listener_name, e.host, e.port, e.security_protocol) for e in registration.parsed_endpoints()]
        return LiveBrokerInfo(broker_id, stat.czxid, endpoints, registration.rack)

    async def _refresh_topics(self):
        topics = await self.zk.get_children(
            zkdata.BROKER_TOPICS, watch=self._watch("TopicChange", self._on_topic_change))
        assignments = {}
        for topic in topics:
            assignment = await self._read_assignment(topic)
            if assignment is not None:
                assignments[topic] = assignment
        self.context.assignments = assignments

    async def _read_assignment(self, topic):
        """Read (and watch) a topic's partition assignment."""
        watch = None
        if topic not in self._watched_topics:
            self._watched_topics.add(topic)
            watch = self._topic_watcher(topic)
        try:
            data, _ = await self.zk.get(zkdata.topic_path(topic), watch=watch)
        except NoNodeError:
            self._watched_topics.discard(topic)
            return None
        try:
            return {int(p): list(r) for p, r in zkdata.decode_topic_assignment(data).partitions.items()}
        except ValueError:
            self.log.warn("ignoring topic {topic}: malformed assignment {data!r}", topic=topic, data=data)
            return None

    def _topic_watcher(self, topic):
        def watcher(event=None):
            self._watched_topics.discard(topic)
            if event is not None and event.type == "NONE":
                self._watches_lost = True
                return
            self.enqueue("PartitionModifications", self._on_partition_modification, topic)
        return watcher

    async def _load_partition_states(self):
        states = {}
        for key in self.context.all_partitions():
            state = await self._read_state(key)
            if state is not None:
                states[key] = state
        self.context.states = states

    async def _read_state(self, key):
        try:
            data, stat = await self.zk.get(zkdata.partition_state_path(*key))
        except NoNodeError:
            return None
        decoded = zkdata.decode_partition_state(data)
        return LeaderAndIsr(decoded.leader, decoded.leader_epoch, tuple(decoded.isr), decoded.controller_epoch,
                            stat.version)

    # -- elections -----------------------------------------------------------------------

    async def _elect_leaders_where_needed(self, keys):
        """New partitions get their first state; partitions without a live leader get a new one."""
        live = self.context.live_brokers
        changed = []
        for key in list(keys):
            if key[0] in self.context.topics_being_deleted:
                continue
            replicas = self.context.replicas(key)
            current = self.context.states.get(key)
            if current is None:
                state = new_partition_state(replicas, live, self.context.epoch)
                if state is None:
                    self.state_change_log.warn(
                        "{topic}-{partition}: no live replica among {replicas}; stays offline",
                        topic=key[0], partition=key[1], replicas=replicas)
                    continue
                await self._create_state(key, state)
                changed.append(key)
            elif current.leader not in live or current.leader in self.context.shutting_down:
                unclean = self.config.unclean_leader_election_enable
                if self._topic_unclean_election is not None:
                    unclean = await self._topic_unclean_election(key[0])
                outcome = {}

                def elect(state, replicas=replicas, unclean=unclean, outcome=outcome):
                    if state.leader in live and state.leader not in self.context.shutting_down:
                        return None
                    elected = offline_partition_election(replicas, state, self._eligible_brokers(), unclean,
                                                         self.context.epoch)
                    outcome["elected"] = elected is not None
                    if elected is None and state.leader != -1:
                        return state.with_leader(-1, state.isr, self.context.epoch)
                    return elected

                if await self._update_state(key, elect) is not None:
                    changed.append(key)
                if not outcome.get("elected", True):
                    self.state_change_log.warn(
                        "{topic}-{partition}: no eligible leader (isr {isr}, live {live}, unclean {unclean}); "
                        "offline", topic=key[0], partition=key[1], isr=list(self.context.states[key].isr),
                        live=sorted(live), unclean=unclean)
        return changed

    async def _create_state(self, key, state):
        topic, partition = key
        for path in (zkdata.partitions_path(topic), zkdata.partition_path(topic, partition)):
            try:
                await self.zk.create(path, b"")
            except NodeExistsError:
                pass
        data = zkdata.encode_partition_state(zkdata.PartitionState(
            state.leader, state.leader_epoch, list(state.isr), state.controller_epoch))
        try:
            await self._fenced([("create", zkdata.partition_state_path(topic, partition), data, False)])
            stored = LeaderAndIsr(state.leader, state.leader_epoch, state.isr, state.controller_epoch, 0)
        except NodeExistsError:
            stored = await self._read_state(key)
        self.context.states[key] = stored
        self.state_change_log.info(
            "{topic}-{partition}: NewPartition -> OnlinePartition, leader {leader}, isr {isr}",
            topic=topic, partition=partition, leader=stored.leader, isr=list(stored.isr))

    async def _write_state(self, key, state):
        """Conditionally write a partition's new state (fenced by controller epoch and zk version)."""
        current = self.context.states[key]
        data = zkdata.encode_partition_state(zkdata.PartitionState(
            state.leader, state.leader_epoch, list(state.isr), state.controller_epoch))
        try:
            results = await self._fenced(
                [("set", zkdata.partition_state_path(*key), data, current.zk_version)])
        except BadVersionError:
            # A leader changed the ISR meanwhile; re-read and let the caller's next event retry.
            fresh = await self._read_state(key)
            if fresh is not None:
                self.context.states[key] = fresh
            raise
        version = results[-1].version
        self.context.states[key] = LeaderAndIsr(state.leader, state.leader_epoch, state.isr,
                                                state.controller_epoch, version)
        self.state_change_log.info(
            "{topic}-{partition}: leader {leader} epoch {epoch} isr {isr}", topic=key[0], partition=key[1],
            leader=state.leader, epoch=state.leader_epoch, isr=list(state.isr))

    async def _update_state(self, key, compute):
        """Write ``compute(current)`` for ``key``; on BadVersion re-read and compute again.

        ``compute`` returns the new :class:`LeaderAndIsr` or None (nothing to change).
        Returns the state written, or None.
        """
        for _ in range(STATE_WRITE_ATTEMPTS):
            current = self.context.states.get(key)
            if current is None:
                return None
            new_state = compute(current)
            if new_state is None:
                return None
            try:
                await self._write_state(key, new_state)
                return self.context.states[key]
            except BadVersionError:
                continue  # _write_state re-read the znode
        self.log.warn("{topic}-{partition}: gave up writing state after {n} version conflicts", topic=key[0],
                      partition=key[1], n=STATE_WRITE_ATTEMPTS)
        return None

    async def _fenced(self, operations):
        """Run ZooKeeper ``operations`` in a multi with a check on our controller epoch version."""
        ops = [("check", zkdata.CONTROLLER_EPOCH, self.context.epoch_zk_version)] + operations
        try:
            results = await self.zk.transaction(ops)
        except BadVersionError:
            if await self._epoch_moved():
                raise ControllerMovedError() from None
            raise
        return results[1:]

    async def _epoch_moved(self):
        try:
            _, stat = await self.zk.get(zkdata.CONTROLLER_EPOCH)
        except NoNodeError:
            return True
        return stat.version != self.context.epoch_zk_version

    # -- broker changes ------------------------------------------------------------------

    async def _on_broker_change(self):
        if not self._is_active:
            return
        old = self.context.live_brokers
        ids = await self.zk.get_children(zkdata.BROKER_IDS, watch=self._watch("BrokerChange", self._on_broker_change))
        current = {}
        for child in ids:
            broker_id = int(child)
            known = old.get(broker_id)
            info = await self._read_broker(broker_id)
            if info is not None:
                current[broker_id] = info
            elif known is not None:
                pass
        new = [b for b in current if b not in old or old[b].epoch != current[b].epoch]
        dead = [b for b in old if b not in current or old[b].epoch != current[b].epoch]
        if not new and not dead:
            return
        self.log.info("brokers changed: new {new}, dead {dead}", new=sorted(new), dead=sorted(dead))
        for broker_id in dead:
            self.channel.remove_broker(broker_id)
            self.context.shutting_down.discard(broker_id)
        self.context.live_brokers = current
        for broker_id in new:
            self.channel.add_broker(current[broker_id])
        affected = set()
        if dead:
            affected |= await self._on_brokers_failed(set(dead) - set(new), set(dead) & set(new))
        # Offline partitions may have a live replica again.
        offline = [k for k, s in self.context.states.items()
                   if s.leader not in current and k[0] not in self.context.topics_being_deleted]
        unstarted = [k for k in self.context.all_partitions() if k not in self.context.states]
        affected |= set(await self._elect_leaders_where_needed(offline + unstarted))
        self._send_update_metadata(current, self.context.all_partitions())
        if new:
            # A returning broker learns every partition it hosts.
            self._send_leader_and_isr(
                [k for k in self.context.all_partitions() if set(self.context.replicas(k)) & set(new)],
                only_brokers=set(new))
        if affected:
            self._send_leader_and_isr(affected)

    async def _on_brokers_failed(self, dead, bounced):
        """Elect new leaders for partitions the dead brokers led; drop them from other ISRs."""
        gone = dead | bounced
        affected = set()
        for key in list(self.context.states):
            if key[0] in self.context.topics_being_deleted or not set(self.context.replicas(key)) & gone:
                continue
            # As Kafka does, read the state afresh: a leader may have just added the broker back to
            # the ISR (it fetched once more while shutting down) and our cached copy would miss it.
            fresh = await self._read_state(key)
            if fresh is not None:
                self.context.states[key] = fresh
            if await self._remove_from_isr(key, gone) is not None:
                affected.add(key)
        return affected

    async def _remove_from_isr(self, key, brokers):
        """Take ``brokers`` out of the partition's ISR (epoch + 1); a dead leader is left to the election."""
        def remove(state):
            if state.leader in brokers:
                return None  # the offline election deals with it
            isr = [r for r in state.isr if r not in brokers]
            if not isr or len(isr) == len(state.isr):
                return None
            return state.with_leader(state.leader, isr, self.context.epoch)

        return await self._update_state(key, remove)

    # -- ISR change notifications --------------------------------------------------------

    async def _on_isr_change(self):
        """Leaders changed ISRs: re-read those partitions' state and tell every broker."""
        if not self._is_active:
            return
        try:
            children = await self.zk.get_children(
                zkdata.ISR_CHANGE_NOTIFICATION, watch=self._watch("IsrChangeNotification", self._on_isr_change))
        except NoNodeError:
            return
        keys = set()
        for child in sorted(children):
            path = "%s/%s" % (zkdata.ISR_CHANGE_NOTIFICATION, child)
            try:
                data, _ = await self.zk.get(path)
                keys |= {(tp.topic, tp.partition) for tp in zkdata.decode_isr_change(data)}
            except NoNodeError:
                continue
            except ValueError:
                self.log.warn("ignoring malformed ISR change notification {path}", path=path)
            await self._delete_quietly(path)
        keys = sorted(k for k in keys if k in self.context.states and k[0] not in self.context.topics_being_deleted)
        dead_in_isr = []
        for key in keys:
            fresh = await self._read_state(key)
            if fresh is not None:
                self.context.states[key] = fresh
                if any(r not in self.context.live_brokers for r in fresh.isr):
                    dead_in_isr.append(key)
        if keys:
            self.log.info("ISR changed for {keys}", keys=["%s-%d" % k for k in keys])
            self._send_update_metadata(self.context.live_brokers, keys)
        # A leader added a broker that died meanwhile (its failure was handled before the write).
        removed = []
        for key in dead_in_isr:
            dead = {r for r in self.context.states[key].isr if r not in self.context.live_brokers}
            if await self._remove_from_isr(key, dead) is not None:
                removed.append(key)
        if removed:
            self._send_leader_and_isr(removed)
            self._send_update_metadata(self.context.live_brokers, removed)

    # -- preferred replica election ------------------------------------------------------

    def _eligible_brokers(self):
        """Live brokers that are not shutting down: the ones that may become leaders."""
        return {b: info for b, info in self.context.live_brokers.items() if b not in self.context.shutting_down}

    async def _elect_preferred(self, keys):
        """Move leadership of ``keys`` to their preferred replicas where possible; returns those moved."""
        eligible = self._eligible_brokers()
        moved = []
        for key in keys:
            if key not in self.context.states or key[0] in self.context.topics_being_deleted:
                continue
            replicas = self.context.replicas(key)

            def elect(state, replicas=replicas):
                return preferred_replica_election(replicas, state, eligible, self.context.epoch)

            if await self._update_state(key, elect) is not None:
                moved.append(key)
        if moved:
            self._send_leader_and_isr(moved)
            self._send_update_metadata(self.context.live_brokers, moved)
        return moved

    async def _on_preferred_replica_election(self):
        """An admin asked for preferred leaders through ``/admin/preferred_replica_election``."""
        if not self._is_active:
            return
        path = zkdata.PREFERRED_REPLICA_ELECTION
        stat = await self.zk.exists(path, watch=self._watch("PreferredReplicaElection",
                                                            self._on_preferred_replica_election))
        if stat is None:
            return
        try:
            data, _ = await self.zk.get(path)
            requested = [(tp.topic, tp.partition) for tp in zkdata.decode_preferred_replica_election(data)]
        except NoNodeError:
            return
        except ValueError:
            self.log.warn("ignoring malformed {path}", path=path)
            requested = []
        moved = await self._elect_preferred(sorted(requested))
        self.log.info("preferred replica election for {count} partitions moved {moved}", count=len(requested),
                      moved=["%s-%d" % k for k in moved])
        await self._delete_quietly(path)

    def _start_auto_rebalance(self):
        if not self.config.auto_leader_rebalance_enable or self._rebalance_loop is not None:
            return
        self._rebalance_loop = task.LoopingCall(
            self.enqueue, "AutoPreferredReplicaLeaderElection", self._auto_rebalance)
        self._rebalance_loop.clock = self.reactor
        d = self._rebalance_loop.start(self.config.leader_imbalance_check_interval_seconds, now=False)
        d.addErrback(lambda f: self.log.failure("leader imbalance check stopped", f))

    def _stop_auto_rebalance(self):
        if self._rebalance_loop is not None and self._rebalance_loop.running:
            self._rebalance_loop.stop()
        self._rebalance_loop = None

    async def _auto_rebalance(self):
        """Kafka's imbalance check: per preferred broker, elect when too many of its partitions lead elsewhere."""
        if not self._is_active:
            return
        keys = imbalanced_partitions(self.context, self.config.leader_imbalance_per_broker_percentage)
        if keys:
            self.log.info("leader imbalance: electing preferred leaders for {keys}",
                          keys=["%s-%d" % k for k in keys])
            await self._elect_preferred(keys)

    # -- controlled shutdown -------------------------------------------------------------

    def controlled_shutdown(self, broker_id, broker_epoch):
        """Handle a ControlledShutdown request; fires with ``(error_code, remaining_keys)``."""
        done = defer.Deferred()
        if not self._is_active:
            done.callback((errors.NotControllerError.code, []))
            return done

        async def run():
            try:
                result = await self._controlled_shutdown(broker_id, broker_epoch)
            except Exception as error:  # noqa: BLE001 -- answer the broker, then let the queue handle it
                if not done.called:
                    code = errors.NotControllerError.code if isinstance(error, ControllerMovedError) \
                        else errors.UnknownServerError.code
                    done.callback((code, []))
                raise
            if not done.called:
                done.callback(result)

        self.enqueue("ControlledShutdown", run)
        return done

    async def _controlled_shutdown(self, broker_id, broker_epoch):
        if not self._is_active:
            return errors.NotControllerError.code, []
        info = self.context.live_brokers.get(broker_id)
        if info is None:
            return errors.BrokerNotAvailableError.code, []
        if broker_epoch not in (-1, None) and broker_epoch < info.epoch:
            return errors.StaleBrokerEpochError.code, []
        self.context.shutting_down.add(broker_id)
        self.log.info("controlled shutdown of broker {id}", id=broker_id)
        eligible = self._eligible_brokers()
        led, followed = [], []
        for key in sorted(self.context.states):
            if key[0] in self.context.topics_being_deleted:
                continue
            replicas = self.context.replicas(key)
            if broker_id not in replicas or len(replicas) <= 1:
                continue
            state = self.context.states[key]
            if state.leader == broker_id:
                def elect(current, replicas=replicas):
                    if current.leader != broker_id:
                        return None
                    return controlled_shutdown_election(
                        replicas, current, eligible, self.context.shutting_down, self.context.epoch)

                if await self._update_state(key, elect) is not None:
                    led.append(key)
            elif broker_id in state.isr:
                def shrink(current):
                    if current.leader == broker_id or broker_id not in current.isr or len(current.isr) <= 1:
                        return None
                    return remove_replica_from_isr(current, broker_id, self.context.epoch)

                if await self._update_state(key, shrink) is not None:
                    followed.append(key)
        changed = led + followed
        if changed:
            self._send_leader_and_isr(changed)
            self._send_update_metadata(self.context.live_brokers, changed)
        if followed:
            self.channel.send_stop_replica(broker_id, self._stop_replica_request(broker_id, followed, delete=False))
        remaining = [k for k, s in self.context.states.items()
                     if s.leader == broker_id and len(self.context.replicas(k)) > 1]
        self.log.info("controlled shutdown of broker {id}: moved {moved}, remaining {remaining}", id=broker_id,
                      moved=len(led), remaining=["%s-%d" % k for k in sorted(remaining)])
        return 0, sorted(remaining)


    # -- topic changes -------------------------------------------------------------------

    async def _on_topic_change(self):
        if not self._is_active:
            return
        topics = await self.zk.get_children(
            zkdata.BROKER_TOPICS, watch=self._watch("TopicChange", self._on_topic_change))
        new_topics = [t for t in topics if t not in self.context.assignments]
        removed = [t for t in self.context.assignments if t not in topics]
        for topic in removed:
            self._forget_topic(topic)
        new_keys = []
        for topic in new_topics:
            assignment = await self._read_assignment(topic)
            if assignment is None:
                continue
            self.context.assignments[topic] = assignment
            new_keys.extend((topic, p) for p in sorted(assignment))
        if new_keys:
            await self._start_partitions(new_keys)

    async def _on_partition_modification(self, topic):
        if not self._is_active:
            return
        assignment = await self._read_assignment(topic)
        if assignment is None:
            return
        known = self.context.assignments.get(topic, {})
        added = [(topic, p) for p in sorted(assignment) if p not in known]
        self.context.assignments[topic] = {**assignment, **known}
        if added:
            await self._start_partitions(added)

    async def _start_partitions(self, keys):
        changed = await self._elect_leaders_where_needed(keys)
        self._send_leader_and_isr(changed)
        self._send_update_metadata(self.context.live_brokers, self.context.all_partitions())

    def _forget_topic(self, topic):
        for partition in list(self.context.assignments.get(topic, {})):
            self.context.states.pop((topic, partition), None)
        self.context.assignments.pop(topic, None)
        self.context.topics_being_deleted.discard(topic)
        self._watched_topics.discard(topic)

    # -- topic deletion ------------------------------------------------------------------

    async def _on_delete_topics(self):
        if not self._is_active:
            return
        try:
            topics = await self.zk.get_children(
                zkdata.ADMIN_DELETE_TOPICS, watch=self._watch("TopicDeletion", self._on_delete_topics))
        except NoNodeError:
            return
        for topic in topics:
            if topic not in self.context.assignments:
                await self._delete_quietly(zkdata.delete_topic_path(topic))
                continue
            if not self.config.delete_topic_enable:
                await self._delete_quietly(zkdata.delete_topic_path(topic))
                continue
            await self._delete_topic(topic)

    async def _delete_topic(self, topic):
        self.context.topics_being_deleted.add(topic)
        keys = [(topic, p) for p in self.context.partitions_of(topic)]
        self.log.info("deleting topic {topic}", topic=topic)
        # Brokers drop the partitions from their metadata, then delete the replicas.
        self._send_update_metadata(self.context.live_brokers, keys, deleting=True)
        replies = []
        for broker_id in self.context.live_brokers:
            hosted = [k for k in keys if broker_id in self.context.replicas(k)]
            if hosted:
                replies.append(self.channel.send_stop_replica(
                    broker_id, self._stop_replica_request(broker_id, hosted, delete=True)))
        if replies:
            await defer.DeferredList(replies, consumeErrors=True)
        await self._delete_quietly(zkdata.topic_path(topic), recursive=True)
        await self._delete_quietly(zkdata.config_topic_path(topic))
        await self._delete_quietly(zkdata.delete_topic_path(topic))
        self._forget_topic(topic)

    async def _delete_quietly(self, path, recursive=False):
        try:
            await self.zk.delete(path, recursive=recursive)
        except NoNodeError:
            pass

    # -- requests to brokers -------------------------------------------------------------

    def _partition_state(self, key, deleting=False):
        state = self.context.states.get(key)
        replicas = self.context.replicas(key)
        if state is None:
            state = LeaderAndIsr(-1, -1, (), self.context.epoch, -1)
        return {
            "topic_name": key[0], "partition_index": key[1], "controller_epoch": state.controller_epoch,
            "leader": LEADER_DURING_DELETE if deleting else state.leader, "leader_epoch": state.leader_epoch,
            "isr": list(state.isr), "zk_version": state.zk_version, "replicas": list(replicas),
            "offline_replicas": [r for r in replicas if r not in self.context.live_brokers],
            "adding_replicas": [], "removing_replicas": [], "is_new": False,
        }

    def _send_update_metadata(self, brokers, keys, deleting=False):
        states = [self._partition_state(k, deleting) for k in keys if deleting or k in self.context.states]
        live = []
        for info in self.context.live_brokers.values():
            live.append({
                "id": info.broker_id, "rack": info.rack,
                "endpoints": [{"port": port, "host": host, "listener": listener,
                               "security_protocol": zkdata.SECURITY_PROTOCOLS.get(protocol, 0)}
                              for listener, host, port, protocol in info.endpoints],
            })
        for broker_id in list(brokers):
            info = self.context.live_brokers.get(broker_id)
            if info is None:
                continue
            request = {
                "controller_id": self.broker_id, "controller_epoch": self.context.epoch,
                "broker_epoch": info.epoch, "topic_states": _group_by_topic(states), "live_brokers": live,
            }
            self.channel.send_update_metadata(broker_id, request)

    def _send_leader_and_isr(self, keys, only_brokers=None):
        per_broker = {}
        for key in keys:
            if key not in self.context.states or key[0] in self.context.topics_being_deleted:
                continue
            for replica in self.context.replicas(key):
                if replica in self.context.live_brokers and (only_brokers is None or replica in only_brokers):
                    per_broker.setdefault(replica, []).append(key)
        for broker_id, broker_keys in per_broker.items():
            states = [self._partition_state(k) for k in broker_keys]
            leaders = {s["leader"] for s in states}
            live_leaders = []
            for leader in sorted(leaders):
                info = self.context.live_brokers.get(leader)
                if info is None:
                    continue
                endpoint = info.endpoint(self.config.inter_broker_listener_name)
                live_leaders.append({"broker_id": leader, "host_name": endpoint[1], "port": endpoint[2]})
            request = {
                "controller_id": self.broker_id, "controller_epoch": self.context.epoch,
                "broker_epoch": self.context.live_brokers[broker_id].epoch, "type": 0,
                "topic_states": _group_by_topic(states), "live_leaders": live_leaders,
            }
            self.channel.send_leader_and_isr(broker_id, request)

    def _stop_replica_request(self, broker_id, keys, delete):
        by_topic = {}
        for topic, partition in keys:
            by_topic.setdefault(topic, []).append(
                {"partition_index": partition, "leader_epoch": -2 if delete else -1, "delete_partition": delete})
        return {
            "controller_id": self.broker_id, "controller_epoch": self.context.epoch,
            "broker_epoch": self.context.live_brokers[broker_id].epoch, "delete_partitions": delete,
            "topic_states": [{"topic_name": t, "partition_states": p} for t, p in by_topic.items()],
        }


def imbalanced_partitions(context, imbalance_percentage):
    """Partitions to move back to their preferred leader, by Kafka's per-broker imbalance rule.

    For each broker, of the partitions whose preferred (first) replica it is, the share
    led by another broker; above ``imbalance_percentage`` percent, those whose preferred
    replica is live, not shutting down and in the ISR are returned.
    """
    by_preferred = {}
    for key in context.all_partitions():
        if key[0] in context.topics_being_deleted or key not in context.states:
            continue
        replicas = context.replicas(key)
        if replicas:
            by_preferred.setdefault(replicas[0], []).append(key)
    chosen = []
    for broker_id, keys in sorted(by_preferred.items()):
        not_preferred = [k for k in keys if context.states[k].leader != broker_id]
        if not keys or len(not_preferred) * 100 <= imbalance_percentage * len(keys):
            continue
        if broker_id not in context.live_brokers or broker_id in context.shutting_down:
            continue
        chosen.extend(k for k in not_preferred if broker_id in context.states[k].isr)
    return sorted(chosen)


class ControllerMovedError(Exception):
    """Our controller epoch is no longer the current one: another broker took over."""


def _group_by_topic(states):
    grouped = {}
    for state in states:
        grouped.setdefault(state["topic_name"], []).append(state)
    return [{"topic_name": topic, "topic_id": None, "partition_states": partitions}
            for topic, partitions in grouped.items()]
