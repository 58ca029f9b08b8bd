"""KafkaServer: builds the broker's components, wires them together, starts and stops them.

Start order follows Kafka's: logs (recovered off the reactor thread), ZooKeeper
session and cluster id, the replica manager and request handlers, the
listeners, then the ephemeral broker registration (whose czxid is the broker
epoch) and finally the controller election. Shutdown runs it backwards and
leaves the log directories with checkpoints and a clean-shutdown marker.
"""

import dataclasses

from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from kafkalite import zkdata
from kafkalite.broker_identity import generate_broker_id, stored_or_configured_broker_id
from kafkalite.config import topic_config_defaults
from kafkalite.controller.controller import KafkaController
from kafkalite.controller.shutdown import request_controlled_shutdown
from kafkalite.coordinator.config import GroupConfig, OffsetConfig
from kafkalite.coordinator.group_coordinator import GroupCoordinator
from kafkalite.coordinator.group_metadata_manager import OFFSETS_TOPIC, GroupMetadataManager
from kafkalite.coordinator.producer_id import ProducerIdManager
from kafkalite.log.config import LogConfig
from kafkalite.log.manager import LogManager
from kafkalite.metrics_components import ComponentStateCollector
from kafkalite.metrics_groups import GroupLagCollector
from kafkalite.metrics_state import BrokerStateCollector
from kafkalite.network.server import KafkaServerFactory, listen
from kafkalite.replica.fetcher import ReplicaFetcherManager
from kafkalite.replica.isr import IsrWriter
from kafkalite.replica.manager import ReplicaManager
from kafkalite.replica.metadata_cache import BrokerEndpoint, MetadataCache
from kafkalite.replica.quota import ReplicationQuotas
from kafkalite.replica.read_replica import RackAwareReplicaSelector
from kafkalite.replica.stray_logs import delete_stray_logs
from kafkalite.server.admin_apis import AdminApis
from kafkalite.server.apis import KafkaApis
from kafkalite.server.cluster_apis import ClusterApis
from kafkalite.server.config_admin import ConfigAdmin
from kafkalite.server.config_apis import ConfigApis, topic_config_entries
from kafkalite.server.config_change_listener import ConfigChangeListener
from kafkalite.server.dynamic_config import DynamicConfigManager
from kafkalite.server.group_apis import GroupApis
from kafkalite.server.reassignment_apis import ReassignmentApis
from kafkalite.server.topic_admin import TopicAdmin
from kafkalite.status_page import StatusSource
from kafkalite.status_reassignments import ZkReassignments
from kafkalite.zkclient import NodeExistsError, NoNodeError, ZkClient

__all__ = ["KafkaServer"]


class KafkaServer:
    """One broker process.

    :param config: a :class:`kafkalite.config.BrokerConfig`.
    :param reactor: the reactor everything runs on.
    :param metrics: an optional :class:`kafkalite.metrics.BrokerMetrics`.
    """

    log = Logger()

    def __init__(self, config, reactor, metrics=None):
        self.config = config
        self.reactor = reactor
        self.metrics = metrics
        self.broker_id = config.broker_id
        self.broker_epoch = -1
        self.cluster_id = None
        self.default_log_config = LogConfig().with_overrides(topic_config_defaults(config))
        self.io_pool = ThreadPool(minthreads=1, maxthreads=4, name="kafkalite-io")
        self.log_manager = LogManager(list(config.log_dirs), self.default_log_config, self.now_ms)
        self.metadata_cache = MetadataCache(self.broker_id)
        self.zk = None
        self.replica_manager = None
        self.fetchers = None
        self.replication_quotas = None
        self.topic_admin = None
        self.dynamic_config = None
        self.config_changes = None
        self.producer_ids = None
        self.controller = None
        self.group_coordinator = None
        self.apis = None
        #: the operator's status page's :class:`~kafkalite.status_page.StatusSource` (set by startup).
        self.status = None
        self.started_at_ms = self.now_ms()
        self._ports = []
        self._factories = []
        self._loops = []
        self._registered = False
        self._shutting_down = False
        #: a key of kafkalite.metrics_components.BROKER_STATES (Kafka's BrokerState gauge)
        self.broker_state = "starting"

    def now_ms(self):
        return int(self.reactor.seconds() * 1000)

    def in_pool(self, fn, *args):
        """Run blocking disk work (fsync, recovery, deletion) in the I/O thread pool."""
        return threads.deferToThreadPool(self.reactor, self.io_pool, fn, *args)

    def off_reactor(self, fn, *args):
        """Run CPU-heavy request work (Fetch v0–v3's down-conversion) in the reactor's thread pool,
        apart from the I/O pool's fsyncs."""
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), fn, *args)

    # -- startup -------------------------------------------------------------------------

    async def startup(self):
        """Fires once the broker is registered and serving."""
        config = self.config
        self.io_pool.start()
        self.log.info("broker {id} starting; loading logs from {dirs}", id=self.broker_id, dirs=config.log_dirs)
        await self.in_pool(self.log_manager.load)
        if config.log_cleaner_enable:
            # compaction runs in the log cleaner's own threads; LogManager.shutdown stops them
            self.log_manager.start_cleaner(config.log_cleaner_threads, config.log_cleaner_dedupe_buffer_size,
                                           config.log_cleaner_backoff_ms)

        self.zk = ZkClient(config.zookeeper_connect, self.reactor,
                           session_timeout_ms=config.zookeeper_session_timeout_ms,
                           connection_timeout_ms=config.zookeeper_connection_timeout_ms,
                           request_latency_observer=(
                               self.metrics.observe_zookeeper_request if self.metrics is not None else None))
        await self.zk.start()
        await self._ensure_persistent_paths()
        config = await self._resolve_broker_id()
        self.cluster_id = await self._get_or_create_cluster_id()
        self.log_manager.write_meta_properties(self.broker_id, self.cluster_id)

        # Dynamic broker configs (/config/brokers/<id> and <default>) before any log gets its config.
        self.dynamic_config = DynamicConfigManager(
            config, self.zk, self.log_manager, on_default_log_config=self._default_log_config_changed,
            on_unclean_election_enabled=self._unclean_election_enabled, topics=self.metadata_cache.topic_names,
            broker_id=self.broker_id)
        await self.dynamic_config.load_broker_configs()
        self.default_log_config = self.dynamic_config.default_log_config
        self.topic_admin = TopicAdmin(self.zk, self.default_log_config, self.reactor,
                                      outage_wait_s=config.zookeeper_session_timeout_ms / 1000.0)
        self.producer_ids = ProducerIdManager(self.zk, self.broker_id)
        # The replication throttles follow the dynamic configs from now on (rates and throttled replicas).
        self.replication_quotas = ReplicationQuotas(self.reactor, self.broker_id, config.replication_quota_window_num,
                                                    config.replication_quota_window_size_seconds)
        self.replication_quotas.apply(self.dynamic_config.throttles)
        self.dynamic_config.throttles.add_listener(self.replication_quotas.apply)
        self.replica_manager = ReplicaManager(
            self.broker_id, self.log_manager, self.metadata_cache, self.reactor, self.topic_admin.topic_config,
            metrics=self.metrics, leader_quota=self.replication_quotas.leader)
        if config.replica_selector_class is not None:
            self.replica_manager.replica_selector = RackAwareReplicaSelector()
        self.fetchers = ReplicaFetcherManager(self.reactor, self.replica_manager, config,
                                              quota=self.replication_quotas.follower)
        self.replica_manager.add_leadership_listener(self.fetchers)
        group_manager = GroupMetadataManager(
            self.reactor, OffsetConfig.from_broker_config(config), self._offsets_log, self._append_offsets,
            self._high_watermark)
        self.group_coordinator = GroupCoordinator(self.reactor, GroupConfig.from_broker_config(config), group_manager)
        self.replica_manager.add_leadership_listener(self.group_coordinator)
        self.controller = KafkaController(self.zk, config, self.reactor,
                                          topic_unclean_election=self._topic_unclean_election)
        if self.metrics is not None:
            self.metrics.registry.register(
                BrokerStateCollector(self.replica_manager, self.controller, self.log_manager, self.zk))
            self.metrics.registry.register(GroupLagCollector(self.replica_manager, group_manager))
            self.metrics.registry.register(ComponentStateCollector(
                lambda: self.broker_state, self.controller, group_manager, self.replica_manager.fetch_sessions,
                self.fetchers))
        self.status = StatusSource(self.status_identity, self.metadata_cache, self.replica_manager, group_manager,
                                   ZkReassignments(self.zk, self.reactor), self.reactor)
        self.apis = KafkaApis(
            config, self.cluster_id, self.replica_manager, self.metadata_cache, self.controller,
            self.group_coordinator, self.topic_admin, self.producer_ids, extra_handlers=(
                GroupApis(self.group_coordinator, self.metadata_cache, self.topic_admin, self.zk, config),
                AdminApis(config, self.controller, self.topic_admin, self.metadata_cache, self.reactor,
                          lambda overrides: topic_config_entries(self.dynamic_config, overrides)),
                ReassignmentApis(self.controller),
                ConfigApis(self.broker_id, self.dynamic_config, self.topic_admin, ConfigAdmin(self.zk),
                           self.metadata_cache),
                ClusterApis(config, self.cluster_id, self.replica_manager, self.log_manager, self.metadata_cache,
                            self.controller, self.reactor)),
            run_blocking=self.off_reactor)

        factory = KafkaServerFactory(self.reactor, self.apis.dispatch,
                                     socket_request_max_bytes=config.socket_request_max_bytes,
                                     metrics=self.metrics, request_timeout_ms=config.request_timeout_ms)
        for endpoint in config.listeners:
            port = listen(self.reactor, (endpoint.host, endpoint.port, endpoint.listener_name), factory)
            self._ports.append(port)
            self.log.info("listening on {listener}://{host}:{port}", listener=endpoint.listener_name,
                          host=endpoint.host, port=port.getHost().port)
        self._factories.append(factory)
        self.metadata_cache.register_self([BrokerEndpoint(e.listener_name, e.host, e.port)
                                           for e in self._advertised_endpoints()])

        # Before registering: no replica can be given to this broker while it looks.
        await delete_stray_logs(self.zk, self.log_manager, self.broker_id)
        await self._register()
        self.zk.add_state_listener(self._on_zk_state)
        self.controller.start()
        self.replica_manager.start_isr_expiration(
            IsrWriter(self.zk, self.reactor, self.replica_manager.state_change_log), config.replica_lag_time_max_ms)
        self._start_periodic_tasks()
        self.group_coordinator.startup()
        self.config_changes = ConfigChangeListener(self.zk, self.dynamic_config.entity_changed,
                                                   self.dynamic_config.reload_all)
        self.config_changes.start()
        self.log.info("broker {id} started (cluster {cluster}, epoch {epoch})", id=self.broker_id,
                      cluster=self.cluster_id, epoch=self.broker_epoch)

    def status_identity(self):
        """This broker's facts for the status page (:func:`kafkalite.status_model.build_status`'s ``identity``)."""
        def endpoint(e):
            return {"listener": e.listener_name, "host": e.host, "port": e.port}
        bound = [dict(endpoint(e), port=port.getHost().port) for e, port in zip(self.config.listeners, self._ports)]
        return {
            "broker_id": self.broker_id, "cluster_id": self.cluster_id, "broker_epoch": self.broker_epoch,
            "started_at_ms": self.started_at_ms, "rack": self.config.broker_rack,
            "listeners": bound, "advertised": [endpoint(e) for e in self._advertised_endpoints()],
            "zookeeper": {"state": self.zk.state if self.zk is not None else "NOT STARTED",
                          "connect": self.config.zookeeper_connect},
            "is_active_controller": bool(self.controller is not None and self.controller.is_active),
        }

    async def _resolve_broker_id(self):
        """The configured, stored or (``broker.id=-1``) generated broker id; returns the config carrying it."""
        config = self.config
        broker_id = stored_or_configured_broker_id(config.broker_id, self.log_manager.read_meta_properties(),
                                                   config.broker_id_generation_enable)
        if broker_id is None:
            broker_id = await generate_broker_id(self.zk, config.reserved_broker_max_id)
            self.log.info("generated broker id {id} from {path}", id=broker_id, path=zkdata.BROKER_SEQID)
        if broker_id != config.broker_id:
            self.config = config = dataclasses.replace(config, broker_id=broker_id)
        self.broker_id = self.metadata_cache.broker_id = broker_id
        return config

    async def _ensure_persistent_paths(self):
        for path in zkdata.PERSISTENT_PATHS:
            await self.zk.ensure_path(path)

    async def _get_or_create_cluster_id(self):
        stored = self.log_manager.read_meta_properties()
        try:
            data, _ = await self.zk.get(zkdata.CLUSTER_ID)
            return zkdata.decode_cluster_id(data)
        except NoNodeError:
            pass
        new_id = stored.get("cluster.id") if stored else None
        new_id = new_id or zkdata.new_cluster_id()
        try:
            await self.zk.create(zkdata.CLUSTER_ID, zkdata.encode_cluster_id(new_id), makepath=True)
            return new_id
        except NodeExistsError:
            data, _ = await self.zk.get(zkdata.CLUSTER_ID)
            return zkdata.decode_cluster_id(data)

    def _registration(self):
        endpoints = [zkdata.Endpoint(e.listener_name, e.host, e.port, e.security_protocol)
                     for e in self._advertised_endpoints()]
        return zkdata.BrokerRegistration.for_endpoints(
            self.broker_id, endpoints, self.now_ms(), rack=self.config.broker_rack)

    def _advertised_endpoints(self):
        """Advertised listeners, with port 0 replaced by the port actually bound."""
        bound = {}
        for endpoint, port in zip(self.config.listeners, self._ports):
            bound[endpoint.listener_name] = port.getHost().port
        result = []
        for endpoint in self.config.advertised_listeners:
            if endpoint.port == 0 and endpoint.listener_name in bound:
                endpoint = type(endpoint)(endpoint.listener_name, endpoint.host, bound[endpoint.listener_name],
                                          endpoint.security_protocol)
            result.append(endpoint)
        return result

    async def _register(self):
        """Create the ephemeral ``/brokers/ids/<id>``; its czxid becomes the broker epoch.

        After a crash the previous process's node lives on until its session expires;
        rather than fail as Kafka does, wait (up to a session timeout and a margin) for it
        to go, so a restart right after ``kill -9`` just works.
        """
        path = zkdata.broker_path(self.broker_id)
        data = zkdata.encode_broker_registration(self._registration())
        deadline = self.reactor.seconds() + self.config.zookeeper_session_timeout_ms / 1000.0 * 2 + 5
        while True:
            try:
                await self.zk.create(path, data, ephemeral=True, makepath=True)
                break
            except NodeExistsError:
                pass
            gone = _WatchOrDelay(self.reactor, 1.0)
            try:
                stat = await self.zk.exists(path, watch=gone.fire)
            except NoNodeError:
                stat = None
            if stat is None:
                continue
            if stat.ephemeral_owner == self.zk.session_id:
                break
            if self.reactor.seconds() > deadline:
                raise RuntimeError(
                    "broker id %d is registered in ZooKeeper by another live session; "
                    "is another broker running with the same broker.id?" % self.broker_id)
            self.log.info("waiting for the previous registration of broker {id} to expire", id=self.broker_id)
            await gone.deferred
        _, stat = await self.zk.get(path)
        self.broker_epoch = stat.czxid
        self.replica_manager.broker_epoch = stat.czxid
        self._registered = True
        self.broker_state = "running"

    def _on_zk_state(self, state):
        if self.metrics is not None:
            self.metrics.zookeeper_state_changed(state)
        if self._shutting_down:
            return
        if state == "LOST":
            self.log.warn("ZooKeeper session expired")
            self._registered = False
            if self.controller is not None:
                self.controller.on_session_lost()
        elif state == "CONNECTED" and not self._registered and not self._shutting_down:
            d = defer.Deferred.fromCoroutine(self._reregister())
            d.addErrback(lambda f: self.log.failure("re-registration failed", f))
        elif state == "CONNECTED" and self.controller is not None:
            self.controller.on_reconnected()
            if self.config_changes is not None:
                self.config_changes.on_reconnected()

    async def _reregister(self):
        if self._registered:
            return
        await self._register()
        self.controller.on_session_reestablished()
        if self.config_changes is not None:
            self.config_changes.on_session_reestablished()

    # -- topic configs and live config changes ---------------------------------------------

    @property
    def replication_throttles(self):
        """The replication throttles in force (:class:`~kafkalite.server.dynamic_config.ReplicationThrottles`:
        ``rates``, ``replicas`` per topic, ``add_listener``); :attr:`replication_quotas` enforces them."""
        return self.dynamic_config.throttles if self.dynamic_config is not None else None

    def _default_log_config_changed(self, log_config):
        self.default_log_config = log_config
        if self.topic_admin is not None:
            self.topic_admin.set_default_log_config(log_config)

    def _unclean_election_enabled(self, topic):
        if self.controller is not None:
            self.controller.enable_topic_unclean_leader_election(topic)

    async def _topic_unclean_election(self, topic):
        return (await self.topic_admin.topic_config(topic)).unclean_leader_election_enable

    # -- the group metadata manager's collaborators -------------------------------------

    def _offsets_log(self, partition):
        """The local log of ``__consumer_offsets``-``partition``, or None."""
        replica = self.replica_manager.partitions.get((OFFSETS_TOPIC, partition))
        return replica.log if replica is not None else None

    def _append_offsets(self, partition, batch):
        """Append ``batch`` to ``__consumer_offsets``-``partition`` with acks=all; fires with the error code."""
        results = self.replica_manager.append_records(
            -1, self.config.offsets_commit_timeout_ms, [(OFFSETS_TOPIC, partition, memoryview(batch))], 9)
        if not isinstance(results, defer.Deferred):
            results = defer.succeed(results)
        return results.addCallback(lambda results: results[(OFFSETS_TOPIC, partition)].error_code)

    def _high_watermark(self, topic, partition):
        """The high watermark of a partition this broker leads (None otherwise), for consumer lag."""
        replica = self.replica_manager.partitions.get((topic, partition))
        if replica is None or not replica.is_leader:
            return None
        return replica.log.high_watermark

    # -- periodic work -------------------------------------------------------------------

    def _start_periodic_tasks(self):
        config = self.config
        self._every(config.log_retention_check_interval_ms, self._retention)
        self._every(config.replica_high_watermark_checkpoint_interval_ms, self._checkpoint_high_watermarks)
        self._every(config.log_flush_offset_checkpoint_interval_ms, self._checkpoint_recovery_points)

    def _every(self, interval_ms, fn):
        """Run ``fn`` every ``interval_ms``; a failure is logged and ``fn`` runs again next period.

        A bare LoopingCall stops for good at the first failure: one EMFILE while writing a
        checkpoint would end checkpoints until a restart.
        """
        name = fn.__name__

        def run_once():
            d = defer.maybeDeferred(fn)
            d.addErrback(self._periodic_task_failed, name, interval_ms)
            return d
        loop = task.LoopingCall(run_once)
        loop.clock = self.reactor
        d = loop.start(interval_ms / 1000.0, now=False)
        d.addErrback(lambda f: self.log.failure("periodic task {name} stopped", f, name=name))
        self._loops.append(loop)

    def _periodic_task_failed(self, failure, name, interval_ms):
        from kafkalite.protocol.errors import KafkaStorageError  # here: keeps this hunk apart from the imports

        if failure.check(OSError, KafkaStorageError):
            self.log.error("periodic task {name} failed, retrying in {interval} ms: {error}", name=name,
                           interval=interval_ms, error=failure.getErrorMessage())
        else:
            self.log.failure("periodic task {name} failed, retrying in {interval} ms", failure, name=name,
                             interval=interval_ms)

    def _retention(self):
        deleted = self.log_manager.cleanup_logs()
        if deleted:
            self.log.info("retention deleted {count} segments", count=deleted)

    def _checkpoint_high_watermarks(self):
        return self.in_pool(self.log_manager.checkpoint_high_watermarks)

    def _checkpoint_recovery_points(self):
        def flush_and_checkpoint():
            try:
                self.log_manager.flush_logs()
            finally:
                # a log whose flush failed keeps its recovery point, so the others still get checkpointed
                self.log_manager.checkpoint_recovery_points()
                self.log_manager.checkpoint_log_start_offsets()
        return self.in_pool(flush_and_checkpoint)

    # -- shutdown ------------------------------------------------------------------------

    async def shutdown(self):
        """Stop serving, resign, close the ZooKeeper session and close the logs cleanly."""
        if self._shutting_down:
            return
        self._shutting_down = True
        self.log.info("broker {id} shutting down", id=self.broker_id)
        if self.config.controlled_shutdown_enable and self._registered and self.zk is not None:
            # Still serving: followers catch up and the controller's LeaderAndIsr reaches us.
            self.broker_state = "pending_controlled_shutdown"
            try:
                await request_controlled_shutdown(self.zk, self.reactor, self.config, self.broker_epoch)
            except Exception:  # noqa: BLE001 -- a failed controlled shutdown must not block the shutdown
                self.log.failure("controlled shutdown failed")
        self.broker_state = "shutting_down"
        if self.config_changes is not None:
            self.config_changes.stop()
        for loop in self._loops:
            if loop.running:
                loop.stop()
        for port in self._ports:
            await port.stopListening()
        for factory in self._factories:
            factory.close_connections()
        if self.controller is not None:
            await self.controller.stop()
        if self.fetchers is not None:
            self.fetchers.shutdown()
        if self.group_coordinator is not None:
            self.group_coordinator.shutdown()
        if self.replica_manager is not None:
            self.replica_manager.shutdown()
        if self.zk is not None:
            try:
                await self.zk.stop()
            except Exception:  # noqa: BLE001 -- shutdown goes on; the logs must still close cleanly
                self.log.failure("closing the ZooKeeper session failed")
        await self.in_pool(self.log_manager.shutdown)
        self.io_pool.stop()
        self.log.info("broker {id} shut down cleanly", id=self.broker_id)


class _WatchOrDelay:
    """A Deferred fired by a ZooKeeper watch (``fire``) or after ``seconds``, whichever is first."""

    def __init__(self, reactor, seconds):
        self.deferred = defer.Deferred()
        self._timer = reactor.callLater(seconds, self.fire)

    def fire(self, event=None):
        if self._timer.active():
            self._timer.cancel()
        if not self.deferred.called:
            self.deferred.callback(None)
