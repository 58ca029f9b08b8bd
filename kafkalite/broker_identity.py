"""The broker's id: configured, or stored in ``meta.properties``, or generated (Kafka's ``getOrGenerateBrokerId``).

With ``broker.id=-1`` (Kafka's default) and ``broker.id.generation.enable``, a broker
whose log dirs hold no ``meta.properties`` takes the next id from ZooKeeper: it writes
``/brokers/seqid`` (creating it when missing) and adds the znode's new data version to
``reserved.broker.max.id``, so generated ids (1001, 1002, …) never collide with
configured ones. The broker then records the id in every log dir's ``meta.properties``
(``version=0``, ``broker.id``, ``cluster.id``), and later starts reuse it. A configured id
that disagrees with the stored one stops start-up (Kafka's InconsistentBrokerIdException).
"""

from kafkalite import zkdata
from kafkalite.log.manager import InconsistentBrokerMetadataError
from kafkalite.zkclient import NodeExistsError, NoNodeError

__all__ = ["InconsistentBrokerIdError", "generate_broker_id", "stored_or_configured_broker_id"]


class InconsistentBrokerIdError(InconsistentBrokerMetadataError):
    """The configured ``broker.id`` is not the one the log dirs' ``meta.properties`` hold."""


def stored_or_configured_broker_id(configured, stored, generation_enable):
    """The broker id to use, or None when one must be generated.

    :param configured: ``broker.id`` (-1: unset).
    :param stored: the log dirs' ``meta.properties`` (``{"broker.id": ...}``) or None.
    :raises InconsistentBrokerIdError: ``configured`` is set and differs from the stored id.
    """
    stored_id = stored.get("broker.id") if stored else None
    stored_id = int(stored_id) if stored_id not in (None, "") else None
    if configured >= 0 and stored_id is not None and stored_id != configured:
        raise InconsistentBrokerIdError(
            "Configured broker.id %d doesn't match stored broker.id %d in meta.properties. If you moved your data, "
            "make sure your configured broker.id matches. If you intend to create a new broker, you should remove "
            "all data in your data directories (log.dirs)." % (configured, stored_id))
    if stored_id is not None:
        return stored_id
    if configured < 0 and generation_enable:
        return None
    return configured


async def generate_broker_id(zk, reserved_broker_max_id):
    """Kafka's ``generateBrokerSequenceId`` + ``reserved.broker.max.id``: fires with a new id."""
    while True:
        try:
            stat = await zk.set(zkdata.BROKER_SEQID, b"", version=-1)
            return stat.version + reserved_broker_max_id
        except NoNodeError:
            try:
                await zk.create(zkdata.BROKER_SEQID, b"", makepath=True)
            except NodeExistsError:
                pass
