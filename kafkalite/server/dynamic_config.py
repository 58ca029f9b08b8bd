"""Live configuration: applying topic and dynamic broker configs to the running broker.

Kafka 2.8's ``DynamicConfigManager`` handlers (``TopicConfigHandler``,
``BrokerConfigHandler``) and ``DynamicBrokerConfig`` in one place:

- :class:`DynamicConfigManager` holds this broker's :class:`BrokerConfigLayers` and,
  when a topic's ``/config/topics/<t>`` or a ``/config/brokers/<id|<default>>`` changes
  (:meth:`~DynamicConfigManager.entity_changed`, called by the
  :class:`~kafkalite.server.config_change_listener.ConfigChangeListener`), re-reads it
  and applies it: the topic's logs get their new :class:`LogConfig` (segment size and age,
  retention — run at once —, cleanup policy, ``min.insync.replicas``,
  ``max.message.bytes``, timestamps...), new broker defaults reach every log without its
  own override, the topic creator and logs created later;
- when ``unclean.leader.election.enable`` turns on, the controller is asked to re-elect
  the offline partitions (only the active controller acts);
- :class:`ReplicationThrottles` is the one place the replication throttles are read
  from and subscribed to (rates per broker, throttled replica lists per topic); the
  broker's :class:`kafkalite.replica.quota.ReplicationQuotas` listens and enforces them.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.config import topic_config_defaults
from kafkalite.config_dynamic import DEFAULT_ENTITY, BrokerConfigLayers
from kafkalite.log.config import LogConfig
from kafkalite.protocol import errors
from kafkalite.zkclient import NoNodeError

__all__ = ["DynamicConfigManager", "ReplicationThrottles"]

_THROTTLED_REPLICA_KEYS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")


class ReplicationThrottles:
    """The replication throttles in force; listeners hear of every change.

    :ivar rates: ``{"leader.replication.throttled.rate": bytes/s, "follower...": bytes/s}``
        of this broker (``2**63 - 1`` when unthrottled).
    :ivar replicas: ``{topic: {"leader.replication.throttled.replicas": "0:1,1:2" or "*", ...}}``
        of the topics that set them.
    """

    def __init__(self):
        self.rates = {}
        self.replicas = {}
        self._listeners = []

    def add_listener(self, listener):
        """Call ``listener(self)`` after each change."""
        self._listeners.append(listener)

    def _set(self, rates=None, topic=None, replicas=None):
        changed = False
        if rates is not None and rates != self.rates:
            self.rates = dict(rates)
            changed = True
        if topic is not None:
            current = self.replicas.get(topic, {})
            if replicas != current:
                if replicas:
                    self.replicas[topic] = dict(replicas)
                else:
                    self.replicas.pop(topic, None)
                changed = True
        if changed:
            for listener in list(self._listeners):
                listener(self)


class DynamicConfigManager:
    """Applies topic and broker config changes to this broker.

    :param static_config: the start-up :class:`~kafkalite.config.BrokerConfig`.
    :param zk: the :class:`~kafkalite.zkclient.ZkClient` to read config znodes with.
    :param log_manager: the :class:`~kafkalite.log.manager.LogManager` whose logs get the configs.
    :param on_default_log_config: ``f(LogConfig)`` told the new broker defaults of topic configs
        (the topic creator's validation and defaults).
    :param on_unclean_election_enabled: ``f(topic)`` called when a topic's
        ``unclean.leader.election.enable`` may have turned on (the controller re-elects).
    :param topics: ``() -> iterable`` of every topic known (for a cluster-wide unclean switch).
    :param broker_id: this broker's id when it differs from ``static_config.broker_id`` (generated).
    """

    log = Logger()

    def __init__(self, static_config, zk, log_manager, on_default_log_config=None,
                 on_unclean_election_enabled=None, topics=None, broker_id=None):
        self._zk = zk
        self._broker_id = static_config.broker_id if broker_id is None else broker_id
        self._log_manager = log_manager
        self._on_default_log_config = on_default_log_config
        self._on_unclean = on_unclean_election_enabled
        self._topics = topics or (lambda: ())
        self.layers = BrokerConfigLayers(static_config)
        self.throttles = ReplicationThrottles()
        self.throttles._set(rates=self.layers.throttle_rates())
        self.default_log_config = self._log_defaults(self.layers)

    @property
    def broker_id(self):
        return self._broker_id

    @property
    def effective_config(self):
        """The broker's effective :class:`~kafkalite.config.BrokerConfig` (dynamic keys applied)."""
        return self.layers.effective()

    @staticmethod
    def _log_defaults(layers):
        return LogConfig().with_overrides(topic_config_defaults(layers.effective()))

    # -- reading config znodes ---------------------------------------------------------------

    async def read_entity_config(self, entity_type, entity_name):
        """``/config/<type>/<name>`` as ``{key: str}`` (``{}`` when absent or unreadable)."""
        try:
            data, _ = await self._zk.get(zkdata.config_entity_path(entity_type, entity_name))
        except NoNodeError:
            return {}
        try:
            return zkdata.decode_topic_config(data)
        except zkdata.ZnodeDataError as error:
            self.log.warn("ignoring unreadable config of {type}/{name}: {error}", type=entity_type,
                          name=entity_name, error=error)
            return {}

    async def load_broker_configs(self):
        """Read ``/config/brokers/<default>`` and ``/config/brokers/<id>`` and apply them (start-up)."""
        default, own = await defer.gatherResults([
            defer.ensureDeferred(self.read_entity_config("brokers", DEFAULT_ENTITY)),
            defer.ensureDeferred(self.read_entity_config("brokers", str(self.broker_id)))], consumeErrors=True)
        await self._apply_broker_layers(default, own)

    async def reload_all(self):
        """Re-read every config this broker applies: its broker layers, then every hosted topic's
        (one batched read, whatever the number of topics)."""
        await self.load_broker_configs()
        logs_by_topic = self._logs_by_topic()
        overrides = await self._read_topic_overrides(sorted(logs_by_topic))
        changed = sum(self._apply_topic(topic, overrides.get(topic, {}), logs, quiet=True)
                      for topic, logs in logs_by_topic.items())
        self.log.info("topic configs re-read for {topics} topics: {changed} logs changed",
                      topics=len(logs_by_topic), changed=changed)
        await self._reload_other_throttles(logs_by_topic)

    async def _reload_other_throttles(self, hosted):
        """The throttled replica lists of the topics not hosted here, as Kafka reads every topic's
        config at start-up: a replica moved onto this broker later is throttled from its first fetch."""
        try:
            configured = await self._zk.get_children(zkdata.CONFIG + "/topics")
        except NoNodeError:
            configured = []
        others = sorted(set(configured) - set(hosted))
        overrides = await self._read_topic_overrides(others)
        for topic in others:
            config = overrides.get(topic, {})
            self.throttles._set(topic=topic, replicas={k: config[k] for k in _THROTTLED_REPLICA_KEYS if config.get(k)})
        for topic in set(self.throttles.replicas) - set(configured) - set(hosted):
            self.throttles._set(topic=topic, replicas={})

    # -- notifications -----------------------------------------------------------------------

    async def entity_changed(self, entity_type, entity_name):
        """A ``/config/changes`` notification named ``<entity_type>/<entity_name>``: apply it."""
        if entity_type == "topics":
            await self.topic_changed(entity_name)
        elif entity_type == "brokers":
            if entity_name == DEFAULT_ENTITY:
                await self._apply_broker_layers(await self.read_entity_config("brokers", DEFAULT_ENTITY), None)
            elif entity_name == str(self.broker_id):
                await self._apply_broker_layers(None, await self.read_entity_config("brokers", entity_name))
        else:
            # client/user/ip quotas: not served yet
            self.log.debug("ignoring config change of {type}/{name}", type=entity_type, name=entity_name)

    async def topic_changed(self, topic):
        """Re-read ``/config/topics/<topic>`` and apply it to the topic's logs here."""
        overrides = await self.read_entity_config("topics", topic)
        self._apply_topic(topic, overrides, self._logs_by_topic().get(topic, ()))

    def _apply_topic(self, topic, overrides, logs, quiet=False):
        """Apply ``topic``'s ``overrides`` to its ``logs`` here; returns how many logs changed."""
        self.throttles._set(topic=topic, replicas={k: overrides[k] for k in _THROTTLED_REPLICA_KEYS
                                                   if overrides.get(k)})
        config = self._topic_log_config(topic, overrides)
        changed = self._apply_to_logs(topic, config, logs)
        if changed and not quiet:
            self.log.info("applied config of topic {topic} to {count} logs: {overrides}", topic=topic,
                          count=changed, overrides=overrides)
        if config.unclean_leader_election_enable and self._on_unclean is not None:
            self._on_unclean(topic)
        return changed

    def _logs_by_topic(self):
        """``{topic: [logs]}`` of every log here, built in one pass."""
        result = {}
        for (topic, _), log in list(self._log_manager.logs.items()):
            result.setdefault(topic, []).append(log)
        return result

    def _topic_log_config(self, topic, overrides):
        try:
            return self.default_log_config.with_overrides(overrides)
        except errors.KafkaError as error:
            self.log.warn("ignoring invalid config of topic {topic}: {error}", topic=topic, error=error)
            return self.default_log_config

    def _apply_to_logs(self, topic, config, logs):
        """Give ``topic``'s ``logs`` ``config``; retention runs at once when it changed. Returns the count changed."""
        changed = 0
        for log in logs:
            if log.config == config:
                continue
            old = log.config
            log.update_config(config)
            changed += 1
            if (config.retention_ms, config.retention_bytes, config.cleanup_policy) != (
                    old.retention_ms, old.retention_bytes, old.cleanup_policy):
                try:
                    deleted = log.delete_retention_segments()
                except (OSError, errors.KafkaStorageError) as error:
                    self.log.error("retention of {topic} after a config change failed: {error}", topic=topic,
                                   error=error)
                else:
                    if deleted:
                        self.log.info("retention deleted {count} segments of {topic} after a config change",
                                      count=deleted, topic=topic)
        return changed

    async def _apply_broker_layers(self, cluster_default, per_broker):
        old_layers = self.layers
        layers = old_layers.with_dynamic(cluster_default, per_broker)
        for layer, key, reason in layers.rejected:
            self.log.warn("ignoring dynamic broker config {key} of brokers/{layer}: {reason}", key=key,
                          layer=layer, reason=reason)
        if layers.dynamic() == old_layers.dynamic():
            self.layers = layers
            return
        self.layers = layers
        self.log.info("dynamic broker config now {dynamic}", dynamic=layers.dynamic())
        self.throttles._set(rates=layers.throttle_rates())
        new_default = self._log_defaults(layers)
        old_default = self.default_log_config
        if new_default == old_default:
            return
        self.default_log_config = new_default
        self._log_manager.default_config = new_default
        if self._on_default_log_config is not None:
            self._on_default_log_config(new_default)
        logs_by_topic = self._logs_by_topic()
        overrides = await self._read_topic_overrides(sorted(logs_by_topic))
        for topic, logs in logs_by_topic.items():
            self._apply_to_logs(topic, self._topic_log_config(topic, overrides.get(topic, {})), logs)
        if new_default.unclean_leader_election_enable and not old_default.unclean_leader_election_enable \
                and self._on_unclean is not None:
            for topic in sorted(self._topics()):
                self._on_unclean(topic)

    async def _read_topic_overrides(self, topics):
        """Every topic's ``/config/topics/<t>`` in batched reads."""
        if not topics:
            return {}
        results = await self._zk.get_many([zkdata.config_topic_path(t) for t in topics])
        overrides = {}
        for topic, result in zip(topics, results, strict=True):
            if isinstance(result, Exception) or result is None:
                continue
            data = result[0] if isinstance(result, tuple) else result
            try:
                overrides[topic] = zkdata.decode_topic_config(data)
            except zkdata.ZnodeDataError:
                continue
        return overrides
