"""KafkaController: the election through ``/controller``, and the controller's reactions to events.

Every broker runs one. It watches ``/controller``; when the znode is missing it tries to
create it together with a version-checked increment of ``/controller_epoch`` (one
ZooKeeper multi). The winner rebuilds its :class:`ControllerContext` from ZooKeeper in a
few batched reads, elects leaders where needed, and tells every broker — itself
included, over the Kafka protocol — what it hosts and leads. Afterwards it reacts to
events, Kafka 2.8's ``KafkaController.process``: brokers coming and going
(``onBrokerStartup``/``onBrokerFailure``), new topics and partitions
(``onNewPartitionCreation``), topic deletion, leaders' ISR changes announced under
``/isr_change_notification``, preferred-replica elections (the admin znode and the
periodic imbalance check), ControlledShutdown requests and partition reassignments (the
admin znode and the Admin API). The request and election glue is the
:class:`~kafkalite.controller.requests.ControllerRequests` mixin; reassignment, topic
deletion and the elections themselves have modules of their own.

Shape (Kafka's seams): ZooKeeper watches only put typed events on the
:class:`ControllerEventManager`, which hands them one at a time to :meth:`_process`; the
pure :class:`PartitionStateMachine` and :class:`ReplicaStateMachine` plan transitions,
:class:`StateChanges` writes them (batched, fenced by the epoch), and the event's
:class:`ControllerRequestBatch` sends one LeaderAndIsr, UpdateMetadata and StopReplica per
broker when the event is done. A controller whose fenced write finds the epoch moved,
or whose session expired, resigns.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.controller.channel import ControllerChannelManager
from kafkalite.controller.context import ControllerContext
from kafkalite.controller.events import (
    AlterPartitionReassignments,
    AutoPreferredReplicaLeaderElection,
    BrokerChange,
    ControlledShutdown,
    ControllerChange,
    ControllerEventManager,
    ElectLeaders,
    Expire,
    IsrChangeNotification,
    LeaderAndIsrResponseReceived,
    ListPartitionReassignments,
    Once,
    PartitionModifications,
    PartitionReassignmentIsrChange,
    PreferredReplicaElection,
    Reelect,
    ReplicaStateStartup,
    Resync,
    Startup,
    TopicChange,
    TopicDeletion,
    TopicDeletionStopReplicaResponseReceived,
    TopicUncleanLeaderElectionEnable,
    ZkPartitionReassignment,
)
from kafkalite.controller.leader_election import LeaderElections
from kafkalite.controller.partition_state_machine import (
    OfflineElection,
    PartitionStateMachine,
)
from kafkalite.controller.reassignment import ReassignmentManager
from kafkalite.controller.replica_state_machine import ReplicaStateMachine
from kafkalite.controller.request_batch import ControllerRequestBatch
from kafkalite.controller.requests import ControllerRequests
from kafkalite.controller.state_change_log import ControllerStateChangeLog
from kafkalite.controller.state_changes import StateChanges
from kafkalite.controller.states import PartitionState, ReplicaState
from kafkalite.controller.topic_deletion import TopicDeletionManager
from kafkalite.controller.zkstore import ControllerMovedError, ControllerZkStore
from kafkalite.protocol import errors
from kafkalite.zkclient import BadVersionError, ConnectionLoss, NodeExistsError, ZkError, ZkTimeoutError

__all__ = ["FOLLOW_UP_WAIT_S", "KafkaController"]

#: The longest a follow-up event (the replica states after a failover's new leaders) waits for
#: the brokers to answer the requests before it.
FOLLOW_UP_WAIT_S = 1.0


class KafkaController(ControllerRequests):
    """Runs the election on every broker and, on the winner, the controller's work.

    :param zk: :class:`kafkalite.zkclient.ZkClient`.
    :param config: the broker's config (``broker_id``, ``inter_broker_listener_name``,
        ``unclean_leader_election_enable``, ``delete_topic_enable``, ``auto_leader_rebalance_enable``,
        ``leader_imbalance_check_interval_seconds``, ``leader_imbalance_per_broker_percentage``).
    :param reactor: the reactor (time, and connections for the controller channel).
    :param topic_unclean_election: ``async (topic) -> bool``: the topic's
        ``unclean.leader.election.enable`` (default: the broker's).
    :param channel: the :class:`ControllerChannelManager` (one is made when not given).
    """

    log = Logger(namespace="kafkalite.controller")

    def __init__(self, zk, config, reactor, topic_unclean_election=None, channel=None):
        self.zk = zk
        self.config = config
        self.broker_id = config.broker_id
        self.reactor = reactor
        self.store = ControllerZkStore(zk)
        self.context = ControllerContext()
        self.active_controller_id = -1
        self.channel = channel or ControllerChannelManager(reactor, self.broker_id, config.inter_broker_listener_name)
        self.state_change_log = ControllerStateChangeLog(self.broker_id, self.context, reactor)
        self.batch = ControllerRequestBatch(self.broker_id, config.inter_broker_listener_name, self.state_change_log)
        self.state_changes = StateChanges(self.context, self.store, self.batch, PartitionStateMachine(self.context),
                                          ReplicaStateMachine(self.context), self._unclean_topics,
                                          self.state_change_log)
        self.topic_deletion = TopicDeletionManager(
            self.context, self.store, self.state_changes,
            lambda broker_id, response: self.events.put(TopicDeletionStopReplicaResponseReceived(broker_id, response)),
            enabled=config.delete_topic_enable)
        self.reassignment = ReassignmentManager(
            self.context, self.store, self.state_changes, lambda: self._watch(ZkPartitionReassignment()),
            lambda key: self._watch(PartitionReassignmentIsrChange(key)), self._on_reassignments_completed)
        self.elections = LeaderElections(self.context, self.store, self.state_changes, config)
        self.events = ControllerEventManager(self._process, self._on_event_error, reactor)
        self._topic_unclean_election = topic_unclean_election
        self._is_active = False
        self._watches_lost = False
        self._rebalance_loop = None
        self._after_answers = []  # events to put once this event's requests are answered
        self._handlers = {
            Startup: self._elect, Reelect: self._elect, ControllerChange: self._elect, Expire: self._expire,
            Resync: self._resync, ReplicaStateStartup: self._replica_state_startup,
            BrokerChange: self._on_broker_change, TopicChange: self._on_topic_change,
            PartitionModifications: self._on_partition_modifications, TopicDeletion: self._on_topic_deletion,
            TopicDeletionStopReplicaResponseReceived: self._on_stop_replica_response,
            IsrChangeNotification: self._on_isr_change, LeaderAndIsrResponseReceived: self._on_storage_errors,
            PreferredReplicaElection: self._on_preferred_replica_election,
            AutoPreferredReplicaLeaderElection: self._auto_rebalance, ControlledShutdown: self._controlled_shutdown,
            ZkPartitionReassignment: self._on_zk_reassignment,
            PartitionReassignmentIsrChange: self._on_reassignment_isr_change,
            AlterPartitionReassignments: self._alter_reassignments,
            ListPartitionReassignments: self._list_reassignments,
            TopicUncleanLeaderElectionEnable: self._on_topic_unclean_leader_election_enable,
            ElectLeaders: self._on_elect_leaders,
        }

    @property
    def is_active(self):
        return self._is_active

    @property
    def unclean_leader_elections(self):
        """Leaders this broker's controller elected from outside the ISR, since start-up."""
        return self.state_changes.partition_machine.unclean_elections

    # -- lifecycle and events --------------------------------------------------------------

    def start(self):
        """Watch ``/controller`` and try to become controller."""
        self.events.put(Startup())

    async def stop(self):
        self.events.stop()
        self._is_active = False
        self._stop_auto_rebalance()
        self.channel.close_all()

    def on_session_lost(self):
        """ZooKeeper session expired: resign (our ephemeral nodes are gone)."""
        self.events.put(Expire())

    def on_session_reestablished(self):
        self.events.put(Reelect())

    def on_reconnected(self):
        """The same session is back after a connection drop (SUSPENDED → CONNECTED).

        ZooKeeper fired every outstanding watch with a ``NONE`` event when the connection
        dropped and forgot them; set them all again and catch up on what was missed.
        """
        if self._watches_lost:
            self._watches_lost = False
            self.events.put(Resync())

    def _watch(self, event):
        """A ZooKeeper watcher that only puts ``event``.

        A ``NONE`` event means the connection dropped, not that the node changed: handling
        it now would fail (ZooKeeper calls fail fast while disconnected) and lose the watch
        for good, so it waits for :meth:`on_reconnected`.
        """
        def watcher(zk_event=None):
            if zk_event is not None and zk_event.type == "NONE":
                self._watches_lost = True
                return
            self.events.put(event)
        return watcher

    async def _process(self, event):
        self.batch.clear()
        try:
            await self._handlers[type(event)](event)
        finally:
            if self._is_active:
                self._send_batch()
            self.batch.clear()
            self._after_answers = []

    def _send_batch(self):
        """Send the requests collected so far; the follow-up events are put once they are answered.

        :returns: the batch's :class:`~kafkalite.controller.request_batch.BatchAnswers`.
        """
        answers = self.batch.send(self.context, self.channel, self._leader_and_isr_answered)
        follow_ups, self._after_answers = self._after_answers, []
        if follow_ups:
            # A broker that is alive but does not answer (stopped, overloaded) must not hold them
            # back for long: they are put at most FOLLOW_UP_WAIT_S later. Queued from the reactor,
            # not run inside the callback that delivered the last answer.
            put = Once(lambda: self._put_all(follow_ups))
            timer = self.reactor.callLater(FOLLOW_UP_WAIT_S, put)
            answers.all().addCallback(lambda _: (timer.cancel() if timer.active() else None,
                                                 self.reactor.callLater(0, put)))
        return answers

    def _put_all(self, events):
        for event in events:
            self.events.put(event)

    async def _on_event_error(self, event, failure):
        done = getattr(event, "done", None)
        if isinstance(event, ControlledShutdown) and not done.called:
            code = errors.NotControllerError.code if failure.check(ControllerMovedError) \
                else errors.UnknownServerError.code
            done.callback((code, []))
        elif done is not None and not done.called:
            if failure.check(ControllerMovedError):
                done.errback(errors.NotControllerError("The controller moved while handling the request."))
            else:
                done.errback(errors.UnknownServerError(failure.getErrorMessage()))
        if failure.check(ControllerMovedError):
            self.log.info("controller moved while handling {event}; resigning", event=event)
            await self._resign()
        elif failure.check(ConnectionLoss, ZkTimeoutError):
            # Resynchronised from scratch once the connection is back (on_reconnected).
            self._watches_lost = True
            self.log.warn("controller event {event} interrupted by a ZooKeeper outage: {error}",
                          event=event, error=failure.getErrorMessage())
        else:
            self.log.failure("controller event {event} failed", failure, event=event)

    # -- election --------------------------------------------------------------------------

    async def _elect(self, event=None):
        try:
            stat = await self.zk.exists(zkdata.CONTROLLER, watch=self._watch(ControllerChange()))
        except ZkError as error:
            self._watches_lost = True
            self.log.warn("could not watch /controller ({error}); retrying when ZooKeeper is back", error=error)
            return
        if stat is not None:
            await self._learn_controller()
            return
        epoch, epoch_version = await self.store.read_controller_epoch()
        try:
            new_version = await self.store.claim_controller(self.broker_id, int(self.reactor.seconds() * 1000),
                                                            epoch + 1, epoch_version)
        except (NodeExistsError, BadVersionError):
            await self._learn_controller()
            return
        self.context.reset(epoch + 1, new_version)
        self.active_controller_id = self.broker_id
        self._is_active = True
        self.log.info("broker {id} is now controller with epoch {epoch}", id=self.broker_id, epoch=epoch + 1)
        await self._on_controller_failover()
        self._start_auto_rebalance()

    async def _learn_controller(self):
        controller_id = await self.store.read_controller_id()
        if controller_id is None:
            self.events.put(Reelect())
            return
        self.active_controller_id = controller_id
        if self._is_active and controller_id != self.broker_id:
            await self._resign()

    async def _expire(self, event=None):
        if self._is_active:
            self.log.warn("ZooKeeper session lost: resigning as controller")
        await self._resign()

    async def _resign(self):
        if not self._is_active:
            return
        self._is_active = False
        self._stop_auto_rebalance()
        self.channel.close_all()
        self.context.reset()
        self.reassignment.reset()
        self.log.info("broker {id} resigned as controller", id=self.broker_id)

    async def _resync(self, event=None):
        await self._elect()
        if not self._is_active:
            return
        await self._on_broker_change()
        await self._on_topic_change()
        for topic in list(self.context.assignments):
            await self._on_partition_modifications(PartitionModifications(topic))
        await self._on_topic_deletion()
        await self._on_isr_change()
        await self._on_preferred_replica_election()
        await self.reassignment.rewatch()

    # -- failover: rebuild the context, then tell every broker -------------------------------

    async def _on_controller_failover(self):
        started = self.reactor.seconds()
        context = self.context
        broker_ids = await self.zk.get_children(zkdata.BROKER_IDS, watch=self._watch(BrokerChange()))
        topics = await self.zk.get_children(zkdata.BROKER_TOPICS, watch=self._watch(TopicChange()))
        context.live_brokers = await self.store.read_brokers(int(b) for b in broker_ids)
        for topic, assignment in (await self.store.read_assignments(topics)).items():
            self._add_topic(topic, assignment)
        await self._assign_missing_topic_ids(list(context.assignments))
        await self._watch_topics(list(context.assignments))
        context.leaderships = await self.store.read_partition_states(list(context.all_partitions()))
        for broker in context.live_brokers.values():
            self.channel.add_broker(broker)
        # Kafka's initial states: a partition with a state znode is Online when its leader is
        # live, Offline otherwise, New without one; a replica is Online on a live broker, and
        # ReplicaDeletionIneligible on a dead one until it goes Offline below.
        offline_replicas = []
        for key in context.all_partitions():
            leadership = context.leaderships.get(key)
            if leadership is None:
                context.partition_states[key] = PartitionState.NEW
            elif leadership.leader in context.live_brokers:
                context.partition_states[key] = PartitionState.ONLINE
            else:
                context.partition_states[key] = PartitionState.OFFLINE
            for replica in context.replicas(key):
                if context.is_live(replica):
                    context.replica_states[(key, replica)] = ReplicaState.ONLINE
                else:
                    context.replica_states[(key, replica)] = ReplicaState.DELETION_INELIGIBLE
                    offline_replicas.append((key, replica))
        self.log.info("controller context loaded in {seconds:.2f} s: {brokers} live brokers, {topics} topics, "
                      "{partitions} partitions", seconds=self.reactor.seconds() - started,
                      brokers=len(context.live_brokers), topics=len(context.assignments),
                      partitions=len(context.partition_states))
        # Leaders first, and told at once: the replica state machine's start-up (every live
        # replica told its leadership, the dead ones out of the ISRs) follows as an event of its
        # own once the brokers have answered these requests. Kafka runs it first, in this event;
        # doing it after gets every partition a live leader seconds sooner at 10,000 partitions
        # (the brokers apply their new leaderships while the controller is not competing with
        # them for the CPU, nor with its own broker for the reactor), and an elected leader's ISR
        # already leaves out the dead replicas, so their Offline transition only writes the
        # partitions they followed. The brokers' metadata learns the new leaders now (they come
        # with their LeaderAndIsr); every partition follows with the replica states.
        await self._elect_offline_partitions()
        self.batch.add_update_metadata(context, context.live_brokers)
        self._after_answers.append(ReplicaStateStartup(tuple(offline_replicas), epoch=context.epoch))
        # Now, not after the chores below: nothing else here is as urgent.
        answers = self._send_batch()
        answers.leader_and_isr.addCallback(self._log_failover_answered, "LeaderAndIsr", context.epoch, started)
        answers.update_metadata.addCallback(self._log_failover_answered, "UpdateMetadata", context.epoch, started)
        self.log.info("controller failover: leaders elected and sent in {seconds:.2f} s",
                      seconds=self.reactor.seconds() - started)
        # Every state was just read: pending notifications say nothing new.
        paths, _ = await self.store.read_isr_change_notifications(self._watch(IsrChangeNotification()))
        await self.store.delete_paths(paths)
        await self._on_topic_deletion()
        await self._on_preferred_replica_election()

    def _log_failover_answered(self, answers, kind, epoch, elected_at):
        """When every broker applied the failover's new leaders: LeaderAndIsr answered, every partition
        is led by a live broker; UpdateMetadata answered, every broker's metadata says so (the scale
        benchmark reads these lines)."""
        failed = sum(1 for _, response in answers if response is None)
        self.log.info("controller failover of epoch {epoch}: the brokers answered the new leaders' {kind} "
                      "{seconds:.3f} s after the election ({failed} of {count} failed)", epoch=epoch, kind=kind,
                      seconds=self.reactor.seconds() - elected_at, failed=failed, count=len(answers))

    async def _replica_state_startup(self, event):
        context = self.context
        if not self._is_active or event.epoch != context.epoch:
            return  # a failover's follow-up arriving after this controller resigned (or was elected again)
        await self.state_changes.replicas(
            [(k, r) for k in context.all_partitions() for r in context.replicas(k) if context.is_live(r)],
            ReplicaState.ONLINE)
        # Still as read at the failover, but every write is version-checked: a leader's ISR
        # change since then makes it re-read and re-plan that partition.
        # Events may have run since the failover: a broker back meanwhile has its replicas online.
        await self.state_changes.replicas([(k, r) for k, r in event.offline_replicas
                                           if k in context.leaderships and not context.is_live(r)],
                                          ReplicaState.OFFLINE, refresh=False)
        self.batch.add_update_metadata(context, context.live_brokers, context.all_partitions())
        await self.reassignment.resume_after_failover()

    async def _assign_missing_topic_ids(self, topics):
        """As Kafka 2.8's controller: a topic without an id (written by an older tool) gets one."""
        missing = [t for t in topics if t in self.context.assignments and t not in self.context.topic_ids]
        if missing:
            for topic in missing:
                self.context.topic_ids[topic] = zkdata.new_topic_id()
            await self.store.write_topics(self.context, missing)
            self.log.info("gave {count} topics an id: {topics}", count=len(missing), topics=missing[:10])

    def _add_topic(self, topic, assignment):
        """Record a topic's :class:`zkdata.TopicAssignment`, and the reassignments it records."""
        self.context.add_topic(topic, assignment.partitions, assignment.adding_replicas, assignment.removing_replicas,
                               assignment.topic_id)
        self.context.partitions_being_reassigned.update(
            (topic, p) for p in set(assignment.adding_replicas) | set(assignment.removing_replicas))

    async def _watch_topics(self, topics):
        """Watch each topic's assignment znode (partitions added) — one-shot, re-armed on each change."""
        await defer.gatherResults([self.zk.exists(zkdata.topic_path(topic),
                                                  watch=self._watch(PartitionModifications(topic)))
                                   for topic in topics], consumeErrors=True)

    async def _elect_offline_partitions(self):
        """Kafka's ``triggerOnlinePartitionStateChange``: New and Offline partitions get leaders where possible."""
        keys = self.context.partitions_in(PartitionState.NEW, PartitionState.OFFLINE)
        await self.state_changes.partitions(keys, PartitionState.ONLINE, OfflineElection())

    async def _unclean_topics(self, topics):
        allowed = set()
        for topic in sorted(topics):
            if self._topic_unclean_election is not None:
                if await self._topic_unclean_election(topic):
                    allowed.add(topic)
            elif self.config.unclean_leader_election_enable:
                allowed.add(topic)
        return allowed

    # -- brokers -------------------------------------------------------------------------

    async def _on_broker_change(self, event=None):
        if not self._is_active:
            return
        context = self.context
        ids = await self.zk.get_children(zkdata.BROKER_IDS, watch=self._watch(BrokerChange()))
        current = await self.store.read_brokers(int(b) for b in ids)
        old = context.live_brokers
        new = sorted(b for b in current if b not in old)
        dead = sorted(b for b in old if b not in current)
        bounced = sorted(b for b in current if b in old and old[b].epoch != current[b].epoch)
        if not (new or dead or bounced):
            return
        self.log.info("brokers changed: new {new}, dead {dead}, bounced {bounced}", new=new, dead=dead,
                      bounced=bounced)
        for broker_id in dead + bounced:
            self.channel.remove_broker(broker_id)
            context.shutting_down.discard(broker_id)
        context.forget_offline_replicas(dead + bounced + new)
        # A bounced broker is handled as a failure and then a start-up (Kafka does the same),
        # failing while it is not yet live again, so nothing stops replicas it has just loaded.
        context.live_brokers = {b: info for b, info in current.items() if b not in bounced}
        if dead or bounced:
            await self._on_brokers_failed(dead + bounced)
        context.live_brokers = current
        for broker_id in new + bounced:
            self.channel.add_broker(current[broker_id])
        if new or bounced:
            await self._on_brokers_started(new + bounced)
        else:
            self.batch.add_update_metadata(context, context.live_brokers)

    async def _on_brokers_failed(self, failed):
        """Kafka's ``onBrokerFailure``: new leaders where they led, and their replicas leave the ISRs."""
        context = self.context
        led = [k for k in context.all_partitions()
               if not context.is_being_deleted(k) and k in context.leaderships
               and context.leaderships[k].leader in failed]
        await self.state_changes.partitions(led, PartitionState.OFFLINE)
        await self._elect_offline_partitions()
        replicas = [(k, b) for k, b in context.replicas_on_brokers(failed) if not context.is_being_deleted(k)]
        await self.state_changes.replicas(replicas, ReplicaState.OFFLINE)

    async def _on_brokers_started(self, started):
        """Kafka's ``onBrokerStartup``: the others learn of them, they learn what they host."""
        context = self.context
        self.batch.add_update_metadata(context, [b for b in context.live_brokers if b not in started])
        self.batch.add_update_metadata(context, started, context.all_partitions())
        replicas = [(k, b) for k, b in context.replicas_on_brokers(started) if not context.is_being_deleted(k)]
        await self.state_changes.replicas(replicas, ReplicaState.ONLINE)
        await self._elect_offline_partitions()
        await self.reassignment.on_brokers_started(started)
        await self.topic_deletion.resume(started)

    # -- topics and partitions -----------------------------------------------------------

    async def _on_topic_change(self, event=None):
        if not self._is_active:
            return
        context = self.context
        topics = set(await self.zk.get_children(zkdata.BROKER_TOPICS, watch=self._watch(TopicChange())))
        for topic in [t for t in context.assignments if t not in topics]:
            context.remove_topic(topic)
        new_topics = sorted(t for t in topics if t not in context.assignments)
        if not new_topics:
            return
        await self._watch_topics(new_topics)
        new_keys = []
        for topic, assignment in (await self.store.read_assignments(new_topics)).items():
            self._add_topic(topic, assignment)
            new_keys.extend(context.partitions_of(topic))
        await self._assign_missing_topic_ids(new_topics)
        await self._on_new_partitions(new_keys)

    async def _on_partition_modifications(self, event):
        if not self._is_active or event.topic not in self.context.assignments:
            return
        await self._watch_topics([event.topic])
        assignment = (await self.store.read_assignments([event.topic])).get(event.topic)
        if assignment is None:
            return
        known = self.context.assignments[event.topic]
        added = sorted(p for p in assignment.partitions if p not in known)
        for partition in added:
            known[partition] = list(assignment.partitions[partition])
        await self._on_new_partitions([(event.topic, p) for p in added])

    async def _on_new_partitions(self, keys):
        """Kafka's ``onNewPartitionCreation``: New, then Online with their first leaders."""
        if not keys:
            return
        replicas = [(k, r) for k in keys for r in self.context.replicas(k)]
        await self.state_changes.partitions(keys, PartitionState.NEW)
        await self.state_changes.replicas(replicas, ReplicaState.NEW)
        await self.state_changes.partitions(keys, PartitionState.ONLINE, OfflineElection())
        await self.state_changes.replicas(replicas, ReplicaState.ONLINE)

    async def _on_topic_deletion(self, event=None):
        if not self._is_active:
            return
        topics = await self.store.read_topic_deletions(self._watch(TopicDeletion()))
        await self.topic_deletion.enqueue(topics)

    async def _on_stop_replica_response(self, event):
        if self._is_active:
            await self.topic_deletion.on_stop_replica_response(event.broker_id, event.response)

    # -- replicas whose log could not be opened -------------------------------------------

    def _leader_and_isr_answered(self, broker_id, response):
        response = response or {}
        storage_error = errors.KafkaStorageError.code
        failed = [(e["topic_name"], e["partition_index"]) for e in response.get("partition_errors") or ()
                  if e["error_code"] == storage_error]
        for topic in response.get("topics") or ():  # v5: by topic id
            errors_of_topic = [e for e in topic["partition_errors"] if e["error_code"] == storage_error]
            if errors_of_topic:
                name = self.context.topic_name_of(zkdata.topic_id_from_uuid(topic["topic_id"]))
                failed.extend((name, e["partition_index"]) for e in errors_of_topic if name is not None)
        failed = tuple(sorted(failed))
        if failed:
            self.events.put(LeaderAndIsrResponseReceived(broker_id, failed))

    async def _on_storage_errors(self, event):
        """Kafka's ``onReplicasBecomeOffline`` for replicas on failed storage: they leave the ISRs
        and, where they led, another replica is elected; they are not elected again until their
        broker restarts."""
        context = self.context
        if not self._is_active or not context.is_live(event.broker_id):
            return
        keys = [k for k in event.keys if event.broker_id in context.replicas(k) and not context.is_being_deleted(k)]
        for key in keys:
            context.offline_replicas.setdefault(key, set()).add(event.broker_id)
        self.log.warn("broker {broker} could not open {count} replicas (KAFKA_STORAGE_ERROR): {keys}",
                      broker=event.broker_id, count=len(keys), keys=["%s-%d" % k for k in keys[:10]])
        led = [k for k in keys if k in context.leaderships and context.leaderships[k].leader == event.broker_id]
        await self.state_changes.partitions(led, PartitionState.OFFLINE)
        await self._elect_offline_partitions()
        await self.state_changes.replicas([(k, event.broker_id) for k in keys], ReplicaState.OFFLINE)

    # -- ISR change notifications ----------------------------------------------------------

    async def _on_isr_change(self, event=None):
        """Leaders changed ISRs: re-read those partitions' states and tell every broker."""
        if not self._is_active:
            return
        context = self.context
        paths, keys = await self.store.read_isr_change_notifications(self._watch(IsrChangeNotification()))
        keys = sorted(k for k in keys if k in context.leaderships and not context.is_being_deleted(k))
        if keys:
            context.leaderships.update(await self.store.read_partition_states(keys))
            self.log.info("ISR changed for {count} partitions", count=len(keys))
            self.batch.add_update_metadata(context, context.live_brokers, keys)
            self._send_batch()  # the brokers learn it before the notifications are cleaned up
        await self.store.delete_paths(paths)
        # A leader added a broker that died meanwhile (its failure was handled before the write).
        dead_in_isr = [(k, r) for k in keys for r in context.leaderships[k].isr if not context.is_live(r)]
        await self.state_changes.replicas(dead_in_isr, ReplicaState.OFFLINE)
