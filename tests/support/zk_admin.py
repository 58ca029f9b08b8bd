"""Admin writes to ZooKeeper as Kafka's ``--zookeeper`` tools make them, for the tests (through kazoo).

Owns :func:`write_entity_config`: an entity's ``/config/<type>/<name>`` and, when asked, the
version 2 change notification that ``kafka-configs --zookeeper`` 2.x writes after it.
"""

import json

__all__ = ["write_entity_config"]


def write_entity_config(zk, entity_path, config, notify=False):
    """``/config/<entity_path>`` := ``{"version":1,"config":config}``; with ``notify``, then a
    ``{"version":2,"entity_path":...}`` notification under ``/config/changes``.

    :param zk: a started kazoo client.
    """
    path = "/config/" + entity_path
    data = json.dumps({"version": 1, "config": config}).encode()
    if zk.exists(path):
        zk.set(path, data)
    else:
        zk.create(path, data, makepath=True)
    if notify:
        zk.create("/config/changes/config_change_", json.dumps({"version": 2, "entity_path": entity_path}).encode(),
                  sequence=True)
