"""Entity configs (``/config/<type>/<name>``) and config change notifications (versions 1 and 2).

Part of :mod:`kafkalite.zkdata` (which re-exports every public name).
"""

import dataclasses

from kafkalite.zkdata._codec import ZnodeDataError, _dumps, _field, _loads

__all__ = [
    "encode_topic_config", "decode_topic_config", "ConfigChange", "encode_config_change", "decode_config_change",
]

# --------------------------------------------------------------------------- configs


def encode_topic_config(config):
    """``{"version":1,"config":{..}}`` for ``/config/<type>/<name>``; every value is a string."""
    return _dumps({"version": 1, "config": {str(k): _config_value(v) for k, v in dict(config).items()}})


def _config_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode_topic_config(data):
    """Decode a ``/config/<type>/<name>`` znode to ``{key: str}``; no data means no overrides.

    Numbers and booleans written by hand are turned into Kafka's string form.
    """
    if data is None or len(data) == 0:
        return {}
    what = "config"
    obj = _loads(data, what)
    config = obj.get("config") or {}
    if not isinstance(config, dict):
        raise ZnodeDataError(f"{what}: field 'config' should be an object, got {config!r}")
    result = {}
    for key, value in config.items():
        if isinstance(value, (dict, list)) or value is None:
            raise ZnodeDataError(f"{what}: value of {key!r} should be a string, got {value!r}")
        result[key] = _config_value(value)
    return result


@dataclasses.dataclass(frozen=True)
class ConfigChange:
    """A ``/config/changes/config_change_<seq>`` notification: which entity's config changed.

    :ivar entity_path: ``topics/<t>``, ``brokers/<id>``, ``users/<u>/clients/<c>``...
    """

    entity_path: str

    @property
    def entity_type(self):
        """``topics``, ``brokers``, ``clients``, ``users`` or ``ips``."""
        return self.entity_path.split("/", 1)[0]

    @property
    def entity_name(self):
        """The rest of the path after the type."""
        parts = self.entity_path.split("/", 1)
        return parts[1] if len(parts) > 1 else ""


def encode_config_change(entity_type, entity_name):
    """Version 2: ``{"version":2,"entity_path":"<type>/<name>"}``."""
    return _dumps({"version": 2, "entity_path": f"{entity_type}/{entity_name}"})


def decode_config_change(data):
    """Decode a config change notification (v2, or v1 with entity_type/entity_name)."""
    what = "config change notification"
    obj = _loads(data, what)
    version = _field(obj, "version", int, what)
    if version == 1:
        return ConfigChange(f"{_field(obj, 'entity_type', str, what)}/{_field(obj, 'entity_name', str, what)}")
    if version == 2:
        return ConfigChange(_field(obj, "entity_path", str, what))
    raise ZnodeDataError(f"{what}: unsupported version {version}")


