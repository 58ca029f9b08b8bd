"""Replica fetchers: followers pull their partitions from the leaders.

One :class:`ReplicaFetcher` per source broker fetches every partition this broker
follows from that leader in one Fetch request (v12, with the follower's replica
id and, per partition, the epoch of its last batch). The leader answers a
``diverging_epoch`` when the follower's log has gone past the point where the
two logs agree, and the follower truncates there (KIP-320/KIP-595) — never by
high watermark alone. Batches are appended exactly as the leader sent them.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite.network.client import BrokerChannel
from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey

__all__ = ["ReplicaFetcherManager", "ReplicaFetcher", "FETCH_VERSION"]

FETCH_VERSION = 12
LIST_OFFSETS_VERSION = 5
LATEST_TIMESTAMP = -1
EARLIEST_TIMESTAMP = -2


class ReplicaFetcherManager:
    """Keeps one fetcher per leader broker and moves partitions between them.

    :param replica_manager: the broker's :class:`ReplicaManager`.
    :param config: the broker config (``replica_fetch_*`` settings).
    """

    log = Logger(namespace="kafkalite.replica")

    def __init__(self, reactor, replica_manager, config):
        self._reactor = reactor
        self._replica_manager = replica_manager
        self._config = config
        self._fetchers = {}

    def add_partitions(self, partitions, leader_endpoints):
        """Follow ``partitions`` (each knows its ``leader_id``) from the given ``{id: (host, port)}``."""
        for partition in partitions:
            self.remove_partitions([partition.key])
            endpoint = leader_endpoints.get(partition.leader_id)
            if endpoint is None:
                self.log.warn("{topic}-{partition}: no endpoint known for leader {leader}",
                              topic=partition.topic, partition=partition.partition, leader=partition.leader_id)
                continue
            fetcher = self._fetchers.get(partition.leader_id)
            if fetcher is not None and fetcher.endpoint != endpoint:
                fetcher.stop()
                fetcher = None
            if fetcher is None:
                fetcher = ReplicaFetcher(self._reactor, self._replica_manager, self._config, partition.leader_id,
                                         endpoint)
                self._fetchers[partition.leader_id] = fetcher
                fetcher.start()
            fetcher.add(partition)

    def on_become_follower(self, partitions, leader_endpoints):
        self.add_partitions(partitions, leader_endpoints)

    def on_become_leader(self, keys):
        self.remove_partitions(keys)

    def on_stop_replicas(self, keys):
        self.remove_partitions(keys)

    def remove_partitions(self, keys):
        for key in keys:
            for leader_id, fetcher in list(self._fetchers.items()):
                fetcher.remove(key)
                if not fetcher.partitions:
                    fetcher.stop()
                    del self._fetchers[leader_id]

    def shutdown(self):
        for fetcher in self._fetchers.values():
            fetcher.stop()
        self._fetchers.clear()


class ReplicaFetcher:
    """Fetches a set of partitions from one leader until stopped."""

    log = Logger(namespace="kafkalite.replica")

    def __init__(self, reactor, replica_manager, config, leader_id, endpoint):
        self._reactor = reactor
        self._replica_manager = replica_manager
        self._config = config
        self.leader_id = leader_id
        self.endpoint = endpoint
        self.partitions = {}
        self._channel = BrokerChannel(reactor, endpoint[0], endpoint[1],
                                      "replica-fetcher-%d" % config.broker_id)
        self._running = False
        self._wakeup = None

    def add(self, partition):
        self.partitions[partition.key] = partition
        if self._wakeup is not None and not self._wakeup.called:
            self._wakeup.callback(None)

    def remove(self, key):
        self.partitions.pop(key, None)

    def start(self):
        self._running = True
        d = defer.Deferred.fromCoroutine(self._run())
        d.addErrback(lambda f: self.log.failure("replica fetcher for broker {leader} died", f, leader=self.leader_id))

    def stop(self):
        self._running = False
        self._channel.close()
        if self._wakeup is not None and not self._wakeup.called:
            self._wakeup.callback(None)

    def _sleep(self, seconds):
        d = defer.Deferred()
        self._wakeup = d
        timer = self._reactor.callLater(seconds, lambda: d.called or d.callback(None))
        d.addBoth(lambda result: timer.cancel() if timer.active() else None)
        return d

    async def _run(self):
        backoff = self._config.replica_fetch_backoff_ms / 1000.0
        while self._running:
            active = [p for p in self.partitions.values() if p.leader_id == self.leader_id and not p.is_leader]
            if not active:
                await self._sleep(backoff)
                continue
            request = self._fetch_request(active)
            try:
                response = await self._channel.send(ApiKey.FETCH, FETCH_VERSION, request,
                                                    timeout=self._config.replica_socket_timeout_ms / 1000.0)
            except Exception as error:  # noqa: BLE001 -- any failure to fetch: back off and retry
                if self._running:
                    self.log.debug("fetch from broker {leader} failed: {error}", leader=self.leader_id, error=error)
                    await self._sleep(backoff)
                continue
            if not self._running:
                return
            if response.get("error_code"):
                await self._sleep(backoff)
                continue
            failed = False
            by_key = {p.key: p for p in active}
            for topic in response["responses"]:
                for result in topic["partitions"]:
                    partition = by_key.get((topic["topic"], result["partition_index"]))
                    if partition is None or self.partitions.get(partition.key) is not partition:
                        continue
                    try:
                        if not await self._process(partition, result):
                            failed = True
                    except Exception:  # noqa: BLE001 -- one bad partition must not stop the fetcher
                        self.log.failure("{topic}-{partition}: processing fetched data failed",
                                         topic=partition.topic, partition=partition.partition)
                        failed = True
            if failed:
                await self._sleep(backoff)

    def _fetch_request(self, partitions):
        topics = {}
        for partition in partitions:
            log = partition.log
            topics.setdefault(partition.topic, []).append({
                "partition": partition.partition, "current_leader_epoch": partition.leader_epoch,
                "fetch_offset": log.log_end_offset, "last_fetched_epoch": log.latest_epoch,
                "log_start_offset": log.log_start_offset,
                "partition_max_bytes": self._config.replica_fetch_max_bytes,
            })
        return {
            "replica_id": self._config.broker_id, "max_wait_ms": self._config.replica_fetch_wait_max_ms,
            "min_bytes": self._config.replica_fetch_min_bytes,
            "max_bytes": self._config.replica_fetch_response_max_bytes, "isolation_level": 0,
            "session_id": 0, "session_epoch": -1,
            "topics": [{"topic": t, "partitions": p} for t, p in topics.items()],
            "forgotten_topics_data": [], "rack_id": "",
        }

    async def _process(self, partition, result):
        """Apply one partition's fetch result; False when the fetcher should back off."""
        log = partition.log
        code = result["error_code"]
        if code == errors.OffsetOutOfRangeError.code:
            await self._handle_out_of_range(partition)
            return True
        if code:
            return False
        diverging = result.get("diverging_epoch")
        if diverging and diverging.get("epoch", -1) >= 0:
            epoch, local_end = log.end_offset_for_epoch(diverging["epoch"])
            target = min(diverging["end_offset"], local_end if epoch == diverging["epoch"] else diverging["end_offset"])
            if target < log.log_end_offset:
                self.log.info("{topic}-{partition}: truncating to {offset} (diverged at epoch {epoch})",
                              namespace="kafkalite.state_change", topic=partition.topic,
                              partition=partition.partition, offset=target, epoch=diverging["epoch"])
                log.truncate_to(target)
            return True
        records = result.get("records")
        if records is not None and len(records):
            log.append_as_follower(records)
        leader_hw = result["high_watermark"]
        if leader_hw >= 0:
            log.update_high_watermark(min(leader_hw, log.log_end_offset))
        if result.get("log_start_offset", -1) > log.log_start_offset:
            log.maybe_increment_log_start_offset(min(result["log_start_offset"], log.high_watermark))
        return True

    async def _handle_out_of_range(self, partition):
        """Kafka's rule: past the leader's end, truncate to it; before its start, restart there."""
        log = partition.log
        leader_end = await self._leader_offset(partition, LATEST_TIMESTAMP)
        if leader_end is None:
            return
        if leader_end < log.log_end_offset:
            log.truncate_to(leader_end)
            return
        leader_start = await self._leader_offset(partition, EARLIEST_TIMESTAMP)
        if leader_start is not None and leader_start > log.log_end_offset:
            log.truncate_fully_and_start_at(leader_start)

    async def _leader_offset(self, partition, timestamp):
        request = {"replica_id": self._config.broker_id, "isolation_level": 0, "topics": [
            {"name": partition.topic, "partitions": [
                {"partition_index": partition.partition, "current_leader_epoch": partition.leader_epoch,
                 "timestamp": timestamp}]}]}
        try:
            response = await self._channel.send(ApiKey.LIST_OFFSETS, LIST_OFFSETS_VERSION, request)
        except Exception:  # noqa: BLE001 -- the caller retries on its next fetch
            return None
        result = response["topics"][0]["partitions"][0]
        if result["error_code"]:
            return None
        return result["offset"]
