"""Replica fetchers: followers pull their partitions from the leaders.

One :class:`ReplicaFetcher` per source broker fetches every partition this broker
follows from that leader in one Fetch request (v12, with the follower's replica
id and, per partition, the epoch of its last batch). The leader answers a
``diverging_epoch`` when the follower's log has gone past the point where the
two logs agree, and the follower truncates there (KIP-320/KIP-595) — never by
high watermark alone. Batches are appended exactly as the leader sent them.

Each fetcher keeps an incremental fetch session with its leader (KIP-227,
:class:`kafkalite.replica.fetch_session.FetchSessionHandler`): the first request lists
every partition and creates the session; later ones list only the partitions whose
fetch offset, log start offset or epochs changed, and forget the ones no longer
followed. A response lists only the partitions the leader has something new for; the
others stay as they are. A failed request, or a session error (70/71), starts over
with a full request.

With a follower replication quota (:class:`kafkalite.replica.quota.ReplicationQuota`), a
throttled partition that has not caught up with the leader's high watermark is left out
of the request while the quota is exceeded (Kafka's ``shouldFollowerThrottle``; the
session forgets it until it is listed again), and the bytes fetched for throttled
partitions are recorded.
"""

from twisted.internet import defer
from twisted.logger import Logger

from kafkalite.log.log import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP
from kafkalite.network.client import BrokerChannel
from kafkalite.protocol import errors
from kafkalite.protocol.apis import ApiKey
from kafkalite.replica.fetch_session import FetchSessionHandler

__all__ = ["ReplicaFetcherManager", "ReplicaFetcher", "FETCH_VERSION"]

FETCH_VERSION = 12
LIST_OFFSETS_VERSION = 5
#: Top-level errors that only mean "start the session over": the next (full) fetch goes at once.
SESSION_ERRORS = frozenset({errors.FetchSessionIdNotFoundError.code, errors.InvalidFetchSessionEpochError.code})


class ReplicaFetcherManager:
    """Keeps one fetcher per leader broker and moves partitions between them.

    :param replica_manager: the broker's :class:`ReplicaManager`.
    :param config: the broker config (``replica_fetch_*`` settings).
    :param quota: the follower's :class:`~kafkalite.replica.quota.ReplicationQuota` (None: never throttled).
    """

    log = Logger(namespace="kafkalite.replica")

    def __init__(self, reactor, replica_manager, config, quota=None):
        self._reactor = reactor
        self._replica_manager = replica_manager
        self._config = config
        self._quota = quota
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
                                         endpoint, quota=self._quota)
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

    def max_lag(self):
        """The largest lag, in records, of a partition we follow behind its leader's high watermark
        (Kafka's ReplicaFetcherManager MaxLag; 0 when caught up or following nothing)."""
        return max((lag for fetcher in self._fetchers.values() for lag in fetcher.lag.values()), default=0)

    def shutdown(self):
        for fetcher in self._fetchers.values():
            fetcher.stop()
        self._fetchers.clear()


class ReplicaFetcher:
    """Fetches a set of partitions from one leader until stopped.

    :param endpoint: the leader's ``(host, port)``.
    :param channel: what requests go through (``send``, ``close``); by default a
        :class:`~kafkalite.network.client.BrokerChannel` to ``endpoint``.
    :param quota: the follower's :class:`~kafkalite.replica.quota.ReplicationQuota` (None: never throttled).
    """

    log = Logger(namespace="kafkalite.replica")

    def __init__(self, reactor, replica_manager, config, leader_id, endpoint, channel=None, quota=None):
        self._reactor = reactor
        self._replica_manager = replica_manager
        self._config = config
        self.leader_id = leader_id
        self.endpoint = endpoint
        self.partitions = {}
        if channel is None:
            channel = BrokerChannel(reactor, endpoint[0], endpoint[1], "replica-fetcher-%d" % config.broker_id)
        self._channel = channel
        self._running = False
        self._wakeup = None
        self._wake_pending = False
        #: the incremental fetch session with this leader (KIP-227).
        self.session = FetchSessionHandler()
        self._quota = quota
        #: key -> the leader's high watermark minus our log end after our last append (Kafka's fetch state
        #: lag); absent until something was appended. 0: caught up, never throttled.
        self.lag = {}

    def add(self, partition):
        self.partitions[partition.key] = partition
        self.lag.pop(partition.key, None)
        self._wake_soon()

    def _wake_soon(self):
        # On the next reactor turn, not now: a LeaderAndIsr adds thousands of partitions one at
        # a time, and the next request (the first creates the session) should list them all.
        if self._wakeup is not None and not self._wakeup.called and not self._wake_pending:
            self._wake_pending = True
            self._reactor.callLater(0, self._wake)

    def _wake(self):
        self._wake_pending = False
        if self._wakeup is not None and not self._wakeup.called:
            self._wakeup.callback(None)

    def remove(self, key):
        self.partitions.pop(key, None)
        self.lag.pop(key, None)

    def start(self):
        self._running = True
        self._wakeup = defer.Deferred()  # the first round waits for the partitions added this turn
        self._wake_soon()
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
        leader_id = self.leader_id
        await self._wakeup
        while self._running:
            # The partitions still following this leader (which is not us, so none of them is led here).
            active = {key: p for key, p in self.partitions.items() if p.leader_id == leader_id} \
                if leader_id != self._config.broker_id else {}
            quota = self._quota
            if active and quota is not None and quota.throttled and quota.is_exceeded():
                active = self._unthrottled(active, quota.throttled)
            if not active:
                await self._sleep(backoff)
                continue
            session = self.session
            request = self._fetch_request(active)
            try:
                response = await self._channel.send(ApiKey.FETCH, FETCH_VERSION, request,
                                                    timeout=self._config.replica_socket_timeout_ms / 1000.0)
            except Exception as error:  # noqa: BLE001 -- any failure to fetch: back off and retry
                session.handle_error()
                if self._running:
                    self.log.debug("fetch from broker {leader} failed: {error}", leader=self.leader_id, error=error)
                    await self._sleep(backoff)
                continue
            if not self._running:
                return
            listed = [(topic["topic"], result) for topic in response["responses"] for result in topic["partitions"]]
            code = response.get("error_code", 0)
            was_full = session.is_full
            if not session.handle_response(code, response.get("session_id", 0),
                                           [(topic, result["partition_index"]) for topic, result in listed]):
                self.log.info("fetch session {session} with broker {leader} starts over: {reason}",
                              session=request["session_id"], leader=self.leader_id,
                              reason=errors.error_for_code(code).name if code else "unexpected partitions listed")
                if code not in SESSION_ERRORS:
                    await self._sleep(backoff)
                continue
            if was_full and session.session_id:
                self.log.info("fetch session {session} with broker {leader} started for {count} partitions",
                              session=session.session_id, leader=self.leader_id, count=len(session))
            failed = False
            for topic, result in listed:
                partition = active.get((topic, result["partition_index"]))
                if partition is None or self.partitions.get(partition.key) is not partition:
                    continue
                try:
                    if not await self._process(partition, result):
                        failed = True
                except Exception:  # noqa: BLE001 -- one bad partition must not stop the fetcher
                    self.log.failure("{topic}-{partition}: processing fetched data failed",
                                     topic=partition.topic, partition=partition.partition)
                    # What the leader last told us may not have been applied: have it told again.
                    session.handle_error()
                    failed = True
            if failed:
                await self._sleep(backoff)

    def _unthrottled(self, active, throttled):
        """``active`` without the throttled partitions that have not caught up (the quota is exceeded)."""
        lag = self.lag
        return {key: partition for key, partition in active.items()
                if not (key[1] in throttled.get(key[0], ()) and lag.get(key, 1) > 0)}

    def _fetch_request(self, active):
        """The next Fetch request for ``active`` (``{key: partition}``): full, or only what changed."""
        max_bytes = self._config.replica_fetch_max_bytes
        wanted = {}
        for key, partition in active.items():
            log = partition.log
            wanted[key] = (log.log_end_offset, log.log_start_offset, partition.leader_epoch, log.latest_epoch,
                           max_bytes)
        session = self.session
        session_id, epoch = session.session_id, session.epoch
        to_send, forgotten = session.build(wanted)
        topics = {}
        for key in to_send:
            fetch_offset, log_start_offset, leader_epoch, last_fetched_epoch, partition_max_bytes = wanted[key]
            topics.setdefault(key[0], []).append({
                "partition": key[1], "current_leader_epoch": leader_epoch, "fetch_offset": fetch_offset,
                "last_fetched_epoch": last_fetched_epoch, "log_start_offset": log_start_offset,
                "partition_max_bytes": partition_max_bytes,
            })
        forgotten_topics = {}
        for topic, index in forgotten:
            forgotten_topics.setdefault(topic, []).append(index)
        return {
            "replica_id": self._config.broker_id, "max_wait_ms": self._config.replica_fetch_wait_max_ms,
            "min_bytes": self._config.replica_fetch_min_bytes,
            "max_bytes": self._config.replica_fetch_response_max_bytes, "isolation_level": 0,
            "session_id": session_id, "session_epoch": epoch,
            "topics": [{"topic": t, "partitions": p} for t, p in topics.items()],
            "forgotten_topics_data": [{"topic": t, "partitions": p} for t, p in forgotten_topics.items()],
            "rack_id": "",
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
        leader_hw = result["high_watermark"]
        if records is not None and len(records):
            log.append_as_follower(records)
            metrics = self._replica_manager.metrics
            if metrics is not None:
                metrics.observe_replication_bytes_in(len(records))
            key = partition.key
            self.lag[key] = max(0, leader_hw - log.log_end_offset)
            quota = self._quota
            if quota is not None and quota.throttled and key[1] in quota.throttled.get(key[0], ()):
                quota.record(len(records))
        leader_hw_before = log.high_watermark
        if leader_hw >= 0 and log.update_high_watermark(min(leader_hw, log.log_end_offset)) != leader_hw_before:
            # Consumers long-polling on this follower (KIP-392) wait for its high watermark.
            self._replica_manager.fetch_purgatory.check(partition.key)
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
