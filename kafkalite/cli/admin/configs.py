"""``kafkalite-admin configs``: Kafka's ``kafka-configs`` for topics and brokers (describe, alter).

Through ZooKeeper it does what Kafka 2.8's ``kafka-configs --zookeeper`` does: rewrite
``/config/<type>/<name>`` with the whole new config, then create a sequential
``/config/changes/config_change_`` notification (version 2, ``entity_path``) so every broker
applies it. Through the Admin API it uses IncrementalAlterConfigs (AlterConfigs, with the
current dynamic configs merged in, against a broker without it) and DescribeConfigs.

Sensitive values (Kafka's PASSWORD configs) are never printed.
"""

from kafkalite import zkdata
from kafkalite.cli.admin.client import AdminClient
from kafkalite.cli.admin.options import add_actions
from kafkalite.cli.admin.output import AdminError, raise_for_code
from kafkalite.log.config import LogConfig
from kafkalite.protocol.apis import ApiKey

__all__ = ["add_parser", "alter_configs", "is_sensitive", "parse_add_config", "run"]

RESOURCE_TYPES = {"topics": 2, "brokers": 4}
DEFAULT_ENTITY = "<default>"
SOURCE_NAMES = {0: "UNKNOWN", 1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG",
                3: "DYNAMIC_DEFAULT_BROKER_CONFIG", 4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG",
                6: "DYNAMIC_BROKER_LOGGER_CONFIG"}
SET, DELETE = 0, 1
#: Kafka's PASSWORD-typed keys besides every ``*.password``.
_SENSITIVE_KEYS = {"sasl.jaas.config", "delegation.token.master.key", "delegation.token.secret.key",
                   "password.encoder.secret", "password.encoder.old.secret", "ssl.keystore.key",
                   "ssl.keystore.certificate.chain", "ssl.truststore.certificates"}
HIDDEN = "[hidden]"
#: Broker keys Kafka's ``DynamicConfig.Broker`` type-checks when ``kafka-configs --zookeeper`` writes them.
_BROKER_QUOTA_KEYS = ("leader.replication.throttled.rate", "follower.replication.throttled.rate",
                      "replica.alter.log.dirs.io.max.bytes.per.second")


def is_sensitive(name):
    """Whether Kafka types ``name`` as a PASSWORD (listener-prefixed names included)."""
    return name.endswith(".password") or name.endswith("sasl.jaas.config") or \
        any(name == key or name.endswith("." + key) for key in _SENSITIVE_KEYS)


def add_parser(subparsers, common):
    p = subparsers.add_parser("configs", parents=[common], help="describe or alter topic and broker configs",
                              description="Kafka's kafka-configs for topics and brokers.")
    add_actions(p, ("describe", "alter"))
    p.add_argument("--entity-type", choices=sorted(RESOURCE_TYPES), required=True)
    entity = p.add_mutually_exclusive_group()
    entity.add_argument("--entity-name", help="topic name or broker id")
    entity.add_argument("--entity-default", action="store_true", help="the cluster-wide broker default")
    p.add_argument("--add-config", metavar="K=V,K2=[A,B]", help="configs to set")
    p.add_argument("--delete-config", metavar="K,K2", help="configs to remove")
    p.add_argument("--all", action="store_true", help="describe: every config, not just the dynamic ones")
    p.set_defaults(run=run)


def parse_add_config(text):
    """Kafka's ``--add-config`` syntax: ``k=v,k2=[a,b]`` → ``{"k": "v", "k2": "a,b"}``.

    Commas inside ``[...]`` belong to the value; the brackets are dropped.

    :raises AdminError: an entry without ``=``, or an unclosed ``[``.
    """
    items, depth, current = [], 0, []
    for char in text or "":
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise AdminError(f"--add-config: unbalanced brackets in {text!r}")
    items.append("".join(current))
    configs = {}
    for item in filter(None, (i.strip() for i in items)):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AdminError(f"--add-config: expected KEY=VALUE, got {item!r}")
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        configs[key.strip()] = value
    return configs


def _entity(args):
    if args.entity_default:
        if args.entity_type != "brokers":
            raise AdminError("--entity-default is only for --entity-type brokers")
        return DEFAULT_ENTITY
    name = args.entity_name
    if name is not None and args.entity_type == "brokers" and not name.lstrip("-").isdigit():
        raise AdminError(f"--entity-name: a broker is named by its integer id, not {name!r}")
    return name


def run(args, out):
    from kafkalite.cli.admin.main import connection

    entity = _entity(args)
    if args.action == "alter":
        if entity is None:
            raise AdminError("--alter needs --entity-name or --entity-default")
        added = parse_add_config(args.add_config)
        deleted = [k.strip() for k in (args.delete_config or "").split(",") if k.strip()]
        if not added and not deleted:
            raise AdminError("--alter needs --add-config and/or --delete-config")
        both = sorted(set(added) & set(deleted))
        if both:
            raise AdminError(f"cannot both add and delete {', '.join(both)}")
    with connection(args) as cluster:
        zk_mode = not isinstance(cluster, AdminClient)
        if args.action == "describe":
            (_describe_zk if zk_mode else _describe_admin)(cluster, args, entity, out)
        else:
            alter_configs(cluster, args.entity_type, entity, added, deleted)
            what = {"topics": "topic", "brokers": "broker"}[args.entity_type]
            if entity == DEFAULT_ENTITY:
                out.line("Completed updating default config for brokers in the cluster.")
            else:
                out.line(f"Completed updating config for {what} {entity}.")
            out.data = {"entity_type": args.entity_type, "entity_name": entity, "added": added, "deleted": deleted}


def alter_configs(cluster, entity_type, entity, added, deleted):
    """Set ``added`` and remove ``deleted`` configs of one entity, by either route."""
    if isinstance(cluster, AdminClient):
        _alter_admin(cluster, entity_type, entity, added, deleted)
    else:
        _alter_zk(cluster, entity_type, entity, added, deleted)


# -- ZooKeeper ---------------------------------------------------------------------------------


def _alter_zk(cluster, entity_type, entity, added, deleted):
    """Kafka 2.8's ``ConfigCommand.alterConfigWithZk``: validate, then write config and notification."""
    if entity_type == "topics":
        zkdata.validate_topic_name(entity)
        if cluster.zk.exists(zkdata.topic_path(entity)) is None:
            raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: Topic '{entity}' does not exist.")
    secrets = sorted(k for k in added if is_sensitive(k))
    if secrets:
        raise AdminError(f"INVALID_CONFIG: {', '.join(secrets)} must be set through --bootstrap-server "
                         "(brokers keep passwords encrypted)")
    current = cluster.entity_config(entity_type, entity)
    missing = [k for k in deleted if k not in current]
    if missing:
        raise AdminError(f"INVALID_CONFIG: Invalid config(s): {','.join(missing)}")
    config = {k: v for k, v in current.items() if k not in deleted}
    config.update(added)
    if entity_type == "topics":
        LogConfig().with_overrides(config)
    else:
        _check_broker_quotas(added)
    cluster.set_entity_config(entity_type, entity, config)


def _check_broker_quotas(added):
    for key in _BROKER_QUOTA_KEYS:
        if key not in added:
            continue
        try:
            value = int(added[key])
        except ValueError:
            raise AdminError(f"INVALID_CONFIG: Invalid value {added[key]} for configuration {key}: "
                             "Not a number of type LONG") from None
        if value < 0:
            raise AdminError(f"INVALID_CONFIG: Invalid value {value} for configuration {key}: "
                             "Value must be at least 0")


def _describe_zk(cluster, args, entity, out):
    names = [entity] if entity is not None else cluster.zk.children(f"{zkdata.CONFIG}/{args.entity_type}")
    if args.entity_type == "topics" and entity is None:
        names = sorted(set(names) | set(cluster.topics()))
    if args.entity_type == "topics" and entity is not None and cluster.zk.exists(zkdata.topic_path(entity)) is None:
        raise AdminError(f"UNKNOWN_TOPIC_OR_PARTITION: Topic '{entity}' does not exist.")
    entities = []
    for name in names:
        config = {k: (None if is_sensitive(k) else v) for k, v in cluster.entity_config(args.entity_type, name).items()}
        entities.append({"entity_type": args.entity_type, "entity_name": name, "configs": [
            {"name": k, "value": v, "sensitive": v is None and is_sensitive(k)} for k, v in sorted(config.items())]})
        shown = ",".join(f"{k}={HIDDEN if v is None else v}" for k, v in sorted(config.items()))
        out.line(f"Configs for {args.entity_type[:-1] if args.entity_type == 'topics' else 'brokers'} "
                 f"'{name}' are {shown}")
    out.data = {"entities": entities}


# -- Admin API ---------------------------------------------------------------------------------


def _resource(entity_type, entity):
    return RESOURCE_TYPES[entity_type], "" if entity == DEFAULT_ENTITY else entity


def _broker_for(cluster, entity_type, entity):
    if entity_type == "brokers" and entity not in (None, DEFAULT_ENTITY):
        return cluster.node(int(entity))
    return cluster.any_broker()


def describe_admin_configs(cluster, entity_type, entity):
    """DescribeConfigs for one entity: its entries as returned (synonyms included)."""
    resource_type, name = _resource(entity_type, entity)
    response = _broker_for(cluster, entity_type, entity).request(ApiKey.DESCRIBE_CONFIGS, {
        "resources": [{"resource_type": resource_type, "resource_name": name, "configuration_keys": None}],
        "include_synonyms": True})
    result = response["results"][0]
    raise_for_code(result["error_code"], result.get("error_message"), f"{entity_type} {entity}")
    return result["configs"]


def _dynamic_source(entity_type, entity):
    if entity_type == "topics":
        return 1
    return 3 if entity == DEFAULT_ENTITY else 2


def _describe_admin(cluster, args, entity, out):
    if entity is None:
        if args.entity_type == "topics":
            names = sorted(t["name"] for t in cluster.metadata()["topics"])
        else:
            names = [str(n) for n in sorted(cluster.all_brokers())] + [DEFAULT_ENTITY]
    else:
        names = [entity]
    entities = []
    for name in names:
        source = _dynamic_source(args.entity_type, name)
        configs = [c for c in describe_admin_configs(cluster, args.entity_type, name)
                   if args.all or c.get("config_source") == source]
        rows = []
        for c in sorted(configs, key=lambda c: c["name"]):
            sensitive = c["is_sensitive"] or is_sensitive(c["name"])
            rows.append({"name": c["name"], "value": None if sensitive else c["value"], "sensitive": sensitive,
                         "source": SOURCE_NAMES.get(c.get("config_source"), "UNKNOWN"),
                         "synonyms": [{"name": s["name"], "source": SOURCE_NAMES.get(s["source"], "UNKNOWN"),
                                       "value": None if sensitive else s["value"]} for s in c.get("synonyms") or []]})
        entities.append({"entity_type": args.entity_type, "entity_name": name, "configs": rows})
        kind = "All" if args.all else "Dynamic"
        if name == DEFAULT_ENTITY:
            out.line(f"{'All' if args.all else 'Default'} configs for brokers in the cluster are:")
        else:
            out.line(f"{kind} configs for {args.entity_type[:-1]} {name} are:")
        for row in rows:
            synonyms = ", ".join(f"{s['source']}:{s['name']}={HIDDEN if row['sensitive'] else s['value']}"
                                 for s in row["synonyms"])
            value = HIDDEN if row["sensitive"] else row["value"]
            out.line(f"  {row['name']}={value} sensitive={str(row['sensitive']).lower()} synonyms={{{synonyms}}}")
    out.data = {"entities": entities}


def _alter_admin(cluster, entity_type, entity, added, deleted):
    resource_type, name = _resource(entity_type, entity)
    broker = _broker_for(cluster, entity_type, entity)
    if broker.version_for(ApiKey.INCREMENTAL_ALTER_CONFIGS) is not None:
        configs = [{"name": k, "config_operation": SET, "value": v} for k, v in added.items()]
        configs += [{"name": k, "config_operation": DELETE, "value": None} for k in deleted]
        response = broker.request(ApiKey.INCREMENTAL_ALTER_CONFIGS, {"resources": [
            {"resource_type": resource_type, "resource_name": name, "configs": configs}], "validate_only": False})
    else:
        # AlterConfigs replaces the entity's whole dynamic config: start from what is set now.
        source = _dynamic_source(entity_type, entity)
        current = {c["name"]: c["value"] for c in describe_admin_configs(cluster, entity_type, entity)
                   if c.get("config_source") == source and not c["is_sensitive"]}
        missing = [k for k in deleted if k not in current]
        if missing:
            raise AdminError(f"INVALID_CONFIG: Invalid config(s): {','.join(missing)}")
        current = {k: v for k, v in current.items() if k not in deleted}
        current.update(added)
        response = broker.request(ApiKey.ALTER_CONFIGS, {"resources": [
            {"resource_type": resource_type, "resource_name": name,
             "configs": [{"name": k, "value": v} for k, v in current.items()]}], "validate_only": False})
    result = response["responses"][0]
    raise_for_code(result["error_code"], result.get("error_message"), f"{entity_type} {entity}")
