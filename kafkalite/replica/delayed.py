"""The produce and fetch requests that wait in the replica manager's purgatories.

:class:`DelayedProduce` is an ``acks=all`` produce waiting until every ISR member has
its batches (or ``min.insync.replicas`` is no longer met); :class:`DelayedFetch` a long
poll waiting for ``fetch.min.bytes`` to arrive, a leadership change or its
``fetch.max.wait.ms`` (Kafka's ``DelayedProduce``/``DelayedFetch``). Both read the
:class:`~kafkalite.replica.manager.ReplicaManager`'s partitions and answer through the
Deferred they were given.
"""

from kafkalite.protocol import errors
from kafkalite.replica.purgatory import DelayedOperation
from kafkalite.replica.quota import leader_throttles

__all__ = ["DelayedFetch", "DelayedProduce"]


class DelayedProduce(DelayedOperation):
    """An ``acks=all`` produce waiting until the ISR has every appended batch."""

    def __init__(self, manager, waiting, results, done):
        self.manager = manager
        self.waiting = waiting
        self.results = results
        self.done = done

    def try_complete(self, key=None):
        for key, result in self.waiting:
            if result.error_code:
                continue
            partition = self.manager.partitions.get(key)
            if partition is None or not partition.is_leader:
                result.error_code = errors.NotLeaderOrFollowerError.code
                continue
            if not partition.isr_caught_up_to(result.required_offset):
                return False
            if len(partition.isr) < partition.log.config.min_insync_replicas:
                result.error_code = errors.NotEnoughReplicasAfterAppendError.code
        return True

    def on_complete(self, expired):
        if expired:
            for key, result in self.waiting:
                partition = self.manager.partitions.get(key)
                if result.error_code == 0 and (
                        partition is None or not partition.isr_caught_up_to(result.required_offset)):
                    result.error_code = errors.RequestTimedOutError.code
        self.done.callback(self.results)


class DelayedFetch(DelayedOperation):
    """A long-poll fetch waiting for ``min_bytes`` of data or its ``max_wait_ms``.

    :param found_nothing: True when the read that parked this follower fetch found no
        data in any partition, and no error: every partition has nothing available, and
        the first check need not measure them again.
    """

    def __init__(self, manager, replica_id, min_bytes, max_bytes, partitions, done, found_nothing=False,
                 client_metadata=None):
        self.manager = manager
        self.client_metadata = client_metadata
        self.replica_id = replica_id
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes
        self.partitions = partitions
        self.done = done
        # Bytes available per request (absent: none), once measured; None: not measured yet.
        self._available = {} if found_nothing else None
        self._found_nothing = found_nothing
        self._total = 0
        #: key -> its requests; built on the first check of one key (most parked fetches expire unchecked).
        self._by_key = None

    def try_complete(self, key=None):
        """Whether to answer now; a check of one ``key`` re-reads only that partition.

        A follower's fetch waits on thousands of partitions: re-reading all of them on every
        check of any one (each append, each ISR write) would cost the leader quadratic time.
        The bytes each partition had available, and their sum, are remembered between checks.
        """
        if self._available is None:
            self._available = {}
            for request in self.partitions:
                if self._measure(request):
                    return True
        elif self._found_nothing and key is None:
            self._found_nothing = False
        elif key is not None:
            if self._by_key is None:
                self._by_key = {}
                for request in self.partitions:
                    self._by_key.setdefault((request.topic, request.partition), []).append(request)
            for request in self._by_key.get(key, ()):
                if self._measure(request):
                    return True
        else:
            for request in self.partitions:
                if self._measure(request):
                    return True
        return self._total >= self.min_bytes

    def _measure(self, request):
        """Record what ``request``'s partition has for us; True when the fetch must be answered at once."""
        partition = self.manager.partitions.get((request.topic, request.partition))
        if partition is None or not (partition.is_leader or self.client_metadata is not None):
            return True
        log = partition.log
        bound = log.log_end_offset if self.replica_id >= 0 else log.high_watermark
        if request.fetch_offset > bound or request.fetch_offset < log.log_start_offset:
            return True
        available = 0
        # As Kafka's DelayedFetch: a partition the leader throttles for this follower adds no bytes.
        if bound > request.fetch_offset and not leader_throttles(
                self.manager.leader_quota, partition, self.replica_id):
            info = log.read(request.fetch_offset, request.max_bytes,
                            None if self.replica_id >= 0 else bound, min_one_message=True)
            if info.records is not None:
                available = info.records.length
        self._total += available - self._available.get(id(request), 0)
        self._available[id(request)] = available
        return False

    def on_complete(self, expired):
        results, _, _, throttled_bytes = self.manager._read(self.replica_id, self.max_bytes, self.partitions,
                                                            self.client_metadata)
        if throttled_bytes:
            self.manager.leader_quota.record(throttled_bytes)
        self.done.callback(results)
