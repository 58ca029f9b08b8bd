"""Producer ids for idempotent producers, claimed in blocks from ZooKeeper.

Each broker claims the next block of 1000 ids by a version-checked write of
``/latest_producer_id_block`` (reference §4), so ids are unique across the
cluster and across restarts, and hands them out one InitProducerId at a time.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.zkclient import BadVersionError, NodeExistsError, NoNodeError

__all__ = ["ProducerIdManager", "PRODUCER_ID_BLOCK_SIZE"]

PRODUCER_ID_BLOCK_SIZE = 1000


class ProducerIdManager:
    """Hands out producer ids from blocks claimed under ``/latest_producer_id_block``.

    :param zk: a :class:`kafkalite.zkclient.ZkClient`.
    :param broker_id: recorded in the block znode.
    """

    log = Logger()

    def __init__(self, zk, broker_id):
        self._zk = zk
        self._broker_id = broker_id
        self._next = 0
        self._end = -1
        self._lock = defer.DeferredLock()

    async def generate(self):
        """Fires with a producer id no other producer in the cluster was given."""
        await self._lock.acquire()
        try:
            if self._next > self._end:
                await self._claim_block()
            producer_id = self._next
            self._next += 1
            return producer_id
        finally:
            self._lock.release()

    async def _claim_block(self):
        path = zkdata.LATEST_PRODUCER_ID_BLOCK
        while True:
            try:
                data, stat = await self._zk.get(path)
            except NoNodeError:
                data, stat = None, None
            if data:
                current = zkdata.decode_producer_id_block(data)
                start = current.block_end + 1
            else:
                start = 0
            block = zkdata.ProducerIdBlock(self._broker_id, start, start + PRODUCER_ID_BLOCK_SIZE - 1)
            encoded = zkdata.encode_producer_id_block(block)
            try:
                if stat is None:
                    await self._zk.create(path, encoded, makepath=True)
                else:
                    await self._zk.set(path, encoded, version=stat.version)
            except (BadVersionError, NodeExistsError):
                continue
            self.log.info("claimed producer id block {start}-{end}", start=block.block_start, end=block.block_end)
            self._next, self._end = block.block_start, block.block_end
            return
