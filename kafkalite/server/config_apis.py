"""Handlers of the config APIs: DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.

As Kafka 2.8 in ZooKeeper mode (``ZkAdminManager``, ``ConfigHelper``):

- a topic's config is answered and changed by any broker: the change is validated with
  the start-up validators, written to ``/config/topics/<t>`` with a change notification
  (:class:`~kafkalite.server.config_admin.ConfigAdmin`), and every broker applies it;
- a broker's own config (resource name = its id) is answered and changed only by that
  broker; the cluster default (name ``""``, stored as ``<default>``) by any broker;
  only keys kafkalite changes live are accepted (INVALID_REQUEST otherwise), bad values
  are INVALID_CONFIG;
- DescribeConfigs reports each value's source and synonyms (KIP-226) and never a
  sensitive value: ``is_sensitive`` true and a null value.

``validate_only`` validates everything and writes nothing.
"""

from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.config import key_kind
from kafkalite.config_dynamic import (
    CONFIG_TYPES,
    DEFAULT_ENTITY,
    SOURCE_DEFAULT,
    SOURCE_DYNAMIC_DEFAULT_BROKER,
    SOURCE_DYNAMIC_TOPIC,
    DynamicConfigError,
    config_type_of,
    is_sensitive,
)
from kafkalite.log.config import TOPIC_CONFIGS
from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.protocol.apis.configs import CONFIG_OPERATIONS

__all__ = ["CONFIG_API_VERSIONS", "ConfigApis"]

#: API key → (min, max) version served.
CONFIG_API_VERSIONS = {
    ApiKey.DESCRIBE_CONFIGS: (0, 4),
    ApiKey.ALTER_CONFIGS: (0, 2),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: (0, 1),
}

TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4

_SET, _DELETE, _APPEND, _SUBTRACT = 0, 1, 2, 3
_LIST_TOPIC_KEYS = frozenset({"cleanup.policy", "leader.replication.throttled.replicas",
                              "follower.replication.throttled.replicas"})


class ConfigApis:
    """The config handlers, given the collaborators they use.

    :param broker_id: this broker's id.
    :param dynamic_config: the :class:`~kafkalite.server.dynamic_config.DynamicConfigManager`
        (``layers``, ``default_log_config``).
    :param topic_admin: the :class:`~kafkalite.server.topic_admin.TopicAdmin` (``topic_exists``,
        ``topic_overrides``).
    :param config_admin: the :class:`~kafkalite.server.config_admin.ConfigAdmin` writing changes.
    :param metadata_cache: the broker's metadata cache (``partitions``).
    """

    log = Logger()

    def __init__(self, broker_id, dynamic_config, topic_admin, config_admin, metadata_cache):
        self.broker_id = broker_id
        self.dynamic_config = dynamic_config
        self.topic_admin = topic_admin
        self.config_admin = config_admin
        self.metadata_cache = metadata_cache

    def handlers(self):
        return {
            ApiKey.DESCRIBE_CONFIGS: self.handle_describe_configs,
            ApiKey.ALTER_CONFIGS: self.handle_alter_configs,
            ApiKey.INCREMENTAL_ALTER_CONFIGS: self.handle_incremental_alter_configs,
        }

    # -- DescribeConfigs -------------------------------------------------------------------

    async def handle_describe_configs(self, context, request):
        include_synonyms = request.get("include_synonyms", False)
        results = []
        for resource in request["resources"]:
            keys = resource.get("configuration_keys")
            entry = {"error_code": 0, "error_message": None, "resource_type": resource["resource_type"],
                     "resource_name": resource["resource_name"], "configs": []}
            results.append(entry)
            try:
                if resource["resource_type"] == TOPIC_RESOURCE:
                    configs = await self._describe_topic(resource["resource_name"])
                elif resource["resource_type"] == BROKER_RESOURCE:
                    configs = self._describe_broker(resource["resource_name"])
                else:
                    raise errors.InvalidRequestError("Unsupported resource type %d" % resource["resource_type"])
            except errors.KafkaError as error:
                entry["error_code"] = error.code
                entry["error_message"] = error.message
                continue
            entry["configs"] = [_entry(*c, include_synonyms) for c in configs if not keys or c[0] in keys]
        return {"throttle_time_ms": 0, "results": results}

    async def _check_topic_exists(self, topic):
        zkdata.validate_topic_name(topic)
        if self.metadata_cache.partitions(topic) is None and not await self.topic_admin.topic_exists(topic):
            raise errors.UnknownTopicOrPartitionError("Topic '%s' does not exist." % topic)

    async def _describe_topic(self, topic):
        """``(name, value, source, read_only, sensitive, type, synonyms)`` per topic key."""
        await self._check_topic_exists(topic)
        return topic_config_entries(self.dynamic_config, await self.topic_admin.topic_overrides(topic))

    def _describe_broker(self, name):
        layers = self.dynamic_config.layers
        if name == "":
            # Kafka: the empty name describes the cluster-wide dynamic defaults only.
            return [(key, None if _hidden(key) else value, SOURCE_DYNAMIC_DEFAULT_BROKER, False, _hidden(key),
                     config_type_of(key), [(key, None if _hidden(key) else value, SOURCE_DYNAMIC_DEFAULT_BROKER)])
                    for key, value in sorted(layers.cluster_default.items())]
        self._check_own_broker(name)
        return [(e.name, e.value, e.source, e.read_only, e.is_sensitive, e.config_type, list(e.synonyms))
                for e in layers.describe()]

    def _check_own_broker(self, name):
        try:
            broker_id = int(name)
        except ValueError:
            raise errors.InvalidRequestError("Broker id must be an integer, but it is: %s" % name) from None
        if broker_id != self.broker_id:
            raise errors.InvalidRequestError(
                "Unexpected broker id, expected %d or empty string, but received %s" % (self.broker_id, name))

    # -- AlterConfigs / IncrementalAlterConfigs ------------------------------------------

    async def handle_alter_configs(self, context, request):
        async def new_config(resource, current):
            configs = resource["configs"]
            _refuse_duplicates(configs)
            return {c["name"]: c["value"] for c in configs if c["value"] is not None}
        return await self._alter(request, new_config, read_current=False)

    async def handle_incremental_alter_configs(self, context, request):
        async def new_config(resource, current):
            configs = resource["configs"]
            _refuse_duplicates(configs)
            updated = dict(current)
            for config in configs:
                _apply_operation(updated, config, resource["resource_type"])
            return updated
        return await self._alter(request, new_config, read_current=True)

    async def _alter(self, request, new_config, read_current):
        validate_only = request.get("validate_only", False)
        responses = []
        for resource in request["resources"]:
            entry = {"error_code": 0, "error_message": None, "resource_type": resource["resource_type"],
                     "resource_name": resource["resource_name"]}
            responses.append(entry)
            try:
                resource_type, name = resource["resource_type"], resource["resource_name"]
                if resource_type == TOPIC_RESOURCE:
                    await self._check_topic_exists(name)
                    entity = ("topics", name)
                elif resource_type == BROKER_RESOURCE:
                    if name != "":
                        self._check_own_broker(name)
                    entity = ("brokers", name or DEFAULT_ENTITY)
                else:
                    raise errors.InvalidRequestError("Unsupported resource type %d" % resource_type)
                current = await self.config_admin.entity_config(*entity) if read_current else {}
                config = await new_config(resource, current)
                self._validate(entity, config)
                if not validate_only:
                    await self.config_admin.change_entity_config(entity[0], entity[1], config)
            except errors.KafkaError as error:
                entry["error_code"] = error.code
                entry["error_message"] = error.message
        return {"throttle_time_ms": 0, "responses": responses}

    def _validate(self, entity, config):
        entity_type, name = entity
        if entity_type == "topics":
            # Kafka's LogConfig.validate: unknown names and bad values are INVALID_CONFIG.
            self.dynamic_config.default_log_config.with_overrides(config)
            return
        try:
            self.dynamic_config.layers.validate_change(name, config)
        except DynamicConfigError as error:
            error_type = errors.InvalidConfigError if error.invalid_value else errors.InvalidRequestError
            raise error_type(str(error)) from None


def topic_config_entries(dynamic_config, overrides):
    """A topic's effective configs as DescribeConfigs (and CreateTopics v5+) report them:
    ``(name, value, source, read_only, sensitive, type, synonyms)`` per topic key, given its
    ``overrides`` and the broker's dynamic config layers."""
    layers = dynamic_config.layers
    defaults = dynamic_config.default_log_config.to_topic_properties()
    configs = []
    for name, spec in TOPIC_CONFIGS.items():
        broker_key = spec.synonym if spec.synonym and key_kind(spec.synonym) is not None else None
        synonyms = layers.synonyms(broker_key) if broker_key else []
        if name in overrides:
            value, source = overrides[name], SOURCE_DYNAMIC_TOPIC
            synonyms = [(name, value, SOURCE_DYNAMIC_TOPIC)] + synonyms
        else:
            value = defaults[name]
            source = synonyms[0][2] if synonyms else SOURCE_DEFAULT
        if name in _LIST_TOPIC_KEYS:
            config_type = CONFIG_TYPES["list"]
        else:
            config_type = config_type_of(broker_key) if broker_key else CONFIG_TYPES["str"]
        configs.append((name, value, source, False, False, config_type, synonyms))
    return configs


def _refuse_duplicates(configs):
    names = [c["name"] for c in configs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise errors.InvalidRequestError("Error due to duplicate config keys: %s" % duplicates)


def _is_list_key(name, resource_type):
    if resource_type == TOPIC_RESOURCE:
        return name in _LIST_TOPIC_KEYS
    return key_kind(name) == "list"


def _apply_operation(config, change, resource_type):
    """IncrementalAlterConfigs' SET / DELETE / APPEND / SUBTRACT on ``config`` (Kafka's
    ``prepareIncrementalConfigs``): APPEND and SUBTRACT only for list-typed keys."""
    name, operation, value = change["name"], change["config_operation"], change["value"]
    if operation not in CONFIG_OPERATIONS:
        raise errors.InvalidRequestError("Unknown config operation %d for config key: %s" % (operation, name))
    if operation == _SET:
        if value is None:
            raise errors.InvalidRequestError("Null value not supported for SET of config key: %s" % name)
        config[name] = value
    elif operation == _DELETE:
        config.pop(name, None)
    else:
        verb = "append" if operation == _APPEND else "subtract"
        if not _is_list_key(name, resource_type):
            raise errors.InvalidRequestError("Config value %s is not allowed for config key: %s" % (verb, name))
        current = [item.strip() for item in config.get(name, _list_default(name, resource_type)).split(",")
                   if item.strip()]
        items = [item.strip() for item in (value or "").split(",") if item.strip()]
        if operation == _APPEND:
            current += [item for item in items if item not in current]
        else:
            current = [item for item in current if item not in items]
        config[name] = ",".join(current)


def _list_default(name, resource_type):
    # APPEND to an unset key starts from its default (Kafka: the default of the key's type).
    if resource_type == TOPIC_RESOURCE and name == "cleanup.policy":
        return "delete"
    return ""


def _hidden(key):
    return is_sensitive(key)


def _entry(name, value, source, read_only, sensitive, config_type, synonyms, include_synonyms):
    return {"name": name, "value": None if sensitive else value, "read_only": read_only,
            "is_default": source == SOURCE_DEFAULT, "config_source": source, "is_sensitive": sensitive,
            "synonyms": [{"name": n, "value": None if sensitive else v, "source": s} for n, v, s in synonyms]
            if include_synonyms else [],
            "config_type": config_type, "documentation": None}
