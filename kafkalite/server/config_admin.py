"""Writing config changes the way Kafka's ``AdminZkClient`` does in ZooKeeper mode.

``/config/<type>/<name>`` gets the entity's whole new config (``{"version":1,"config":{..}}``),
then a persistent sequential ``/config/changes/config_change_`` notification (version 2,
``{"version":2,"entity_path":"<type>/<name>"}``) tells every broker to re-read it. The
writer does not validate: the API handlers do, with the same validators as start-up.
"""

from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.protocol import errors
from kafkalite.zkclient import ConnectionLoss, NodeExistsError, NoNodeError, SessionExpired, ZkTimeoutError

__all__ = ["ConfigAdmin"]


class ConfigAdmin:
    """Reads and writes entity configs in ZooKeeper.

    :param zk: the :class:`~kafkalite.zkclient.ZkClient`.
    """

    log = Logger()

    def __init__(self, zk):
        self._zk = zk

    async def entity_config(self, entity_type, entity_name):
        """Fires with ``/config/<type>/<name>`` as ``{key: str}`` (``{}`` when absent).

        :raises RequestTimedOutError: ZooKeeper is unavailable.
        """
        try:
            data, _ = await self._zk.get(zkdata.config_entity_path(entity_type, entity_name))
        except NoNodeError:
            return {}
        except (ConnectionLoss, SessionExpired, ZkTimeoutError) as error:
            raise errors.RequestTimedOutError("ZooKeeper is unavailable (%s); retry" % error) from error
        try:
            return zkdata.decode_topic_config(data)
        except zkdata.ZnodeDataError:
            return {}

    async def change_entity_config(self, entity_type, entity_name, config):
        """Replace the config of ``<type>/<name>`` with ``config`` and notify every broker.

        :raises RequestTimedOutError: ZooKeeper is unavailable (nothing or only the config was
            written; retrying writes both again).
        """
        path = zkdata.config_entity_path(entity_type, entity_name)
        data = zkdata.encode_topic_config(config)
        try:
            try:
                await self._zk.set(path, data)
            except NoNodeError:
                try:
                    await self._zk.create(path, data, makepath=True)
                except NodeExistsError:
                    await self._zk.set(path, data)
            await self._zk.create(zkdata.config_change_path(),
                                  zkdata.encode_config_change(entity_type, entity_name),
                                  sequence=True, makepath=True)
        except (ConnectionLoss, SessionExpired, ZkTimeoutError) as error:
            raise errors.RequestTimedOutError("ZooKeeper is unavailable (%s); retry" % error) from error
        self.log.info("config of {type}/{name} changed to {config}", type=entity_type, name=entity_name,
                      config={k: ("<redacted>" if "password" in k or "jaas" in k else v) for k, v in config.items()})
