"""ReplicaManager: the partitions this broker hosts, and the produce and fetch paths.

It applies the controller's LeaderAndIsr and StopReplica requests, appends
produced batches to leader logs (whole batches, rewritten in place, never
decoded), serves fetches as file regions, and parks ``acks=all`` produces and
long-poll fetches in the purgatories until the high watermark or log end
offset they wait for arrives (DESIGN.md §4). As leader it shrinks the ISR every
half ``replica.lag.time.max.ms`` and expands it when a follower catches up,
through :class:`kafkalite.replica.isr.IsrWriter`; a smaller ISR may move the
high watermark and complete parked ``acks=all`` produces.
"""

from dataclasses import dataclass

from twisted.internet import defer, task
from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.protocol import errors
from kafkalite.protocol.records import COMPRESSION_ZSTD, validate_batch
from kafkalite.replica.delayed import DelayedFetch, DelayedProduce
from kafkalite.replica.fetch_session import FetchSessionCache
from kafkalite.replica.metadata_cache import iter_partition_states
from kafkalite.replica.partition import Partition
from kafkalite.replica.purgatory import Purgatory
from kafkalite.replica.read_replica import preferred_read_replica
from kafkalite.replica.state_change_log import BrokerStateChangeLog

# The errors Kafka does not count as failed produce/fetch requests (ReplicaManager's
# appendToLocalLog and readFromLocalLog mark FailedProduce/FetchRequestsPerSec for the others).
_EXPECTED_PRODUCE_ERRORS = frozenset(error.code for error in (
    errors.UnknownTopicOrPartitionError, errors.NotLeaderOrFollowerError, errors.MessageTooLargeError,
    errors.RecordListTooLargeError, errors.CorruptMessageError, errors.KafkaStorageError))
_EXPECTED_FETCH_ERRORS = frozenset(error.code for error in (
    errors.UnknownTopicOrPartitionError, errors.NotLeaderOrFollowerError, errors.UnknownLeaderEpochError,
    errors.FencedLeaderEpochError, errors.ReplicaNotAvailableError, errors.KafkaStorageError,
    errors.OffsetOutOfRangeError))

__all__ = ["ReplicaManager", "ProduceResult", "FetchRequestPartition", "FetchResult"]

CONSUMER_REPLICA_ID = -1
#: StopReplica v3 leader epoch meaning "delete whatever the epoch" (EpochDuringDelete).
EPOCH_DURING_DELETE = -2
NO_EPOCH = -1


@dataclass
class ProduceResult:
    error_code: int = 0
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    error_message: str | None = None
    required_offset: int = -1
    #: ``(batch_index, message)`` for each record refused (Produce v8+'s ``record_errors``).
    record_errors: tuple = ()


@dataclass
class FetchRequestPartition:
    topic: str
    partition: int
    fetch_offset: int
    max_bytes: int
    current_leader_epoch: int = -1
    log_start_offset: int = -1
    last_fetched_epoch: int = -1


@dataclass
class FetchResult:
    error_code: int = 0
    high_watermark: int = -1
    last_stable_offset: int = -1
    log_start_offset: int = -1
    records: object = None
    diverging_epoch: tuple | None = None
    preferred_read_replica: int = -1


class ReplicaManager:
    """The partitions hosted here and the data paths over them.

    :param broker_id: this broker.
    :param log_manager: a :class:`kafkalite.log.manager.LogManager`.
    :param metadata_cache: the :class:`MetadataCache` (to tell unknown topics from moved ones).
    :param reactor: ``IReactorTime``.
    :param topic_config: ``async (topic) -> LogConfig`` giving a topic's effective log config.
    :param metrics: optional broker metrics (:class:`kafkalite.metrics.BrokerMetrics`) with
        ``observe_messages_in(topic, records, bytes)``, ``observe_bytes_out(topic, bytes)``,
        ``observe_produce_partition(topic)``, ``observe_failed_produce(topic)``, ``observe_fetch_partition(topic)``,
        ``observe_failed_fetch(topic)`` (``topic`` None for a partition not hosted here), ``isr_changed(shrunk)``
        and ``remove_topic(topic)``.
    :param leader_quota: the leader's :class:`kafkalite.replica.quota.ReplicationQuota` (None: never throttled).
    """

    log = Logger()

    def __init__(self, broker_id, log_manager, metadata_cache, reactor, topic_config, metrics=None,
                 leader_quota=None):
        self.broker_id = broker_id
        self.broker_epoch = -1
        self.log_manager = log_manager
        self.metadata_cache = metadata_cache
        self._reactor = reactor
        self._topic_config = topic_config
        self.metrics = metrics
        self.leader_quota = leader_quota
        self.partitions = {}
        self.controller_epoch = 0
        self.produce_purgatory = Purgatory(reactor, "Produce")
        self.fetch_purgatory = Purgatory(reactor, "Fetch")
        self.delete_records_purgatory = Purgatory(reactor, "DeleteRecords")
        #: KIP-392's replica selector (``replica.selector.class``), or None: consumers read from leaders.
        self.replica_selector = None
        #: incremental fetch sessions (KIP-227) of the fetchers that fetch from us.
        self.fetch_sessions = FetchSessionCache()
        #: objects told about leadership changes, see :meth:`add_leadership_listener`.
        self._leadership_listeners = []
        #: writes ISR shrinks and expansions (a :class:`kafkalite.replica.isr.IsrWriter`); None: never.
        self.isr_writer = None
        self.replica_lag_time_max_ms = 30000
        self._isr_expiration = None
        #: the broker's lines in the state-change log (LeaderAndIsr, StopReplica, ISR changes).
        self.state_change_log = BrokerStateChangeLog(broker_id)

    def now_ms(self):
        return int(self._reactor.seconds() * 1000)

    def add_leadership_listener(self, listener):
        """Tell ``listener`` of every leadership change, after it is applied.

        ``listener.on_become_leader(keys)``, ``listener.on_become_follower(partitions,
        leader_endpoints)`` (``{broker_id: (host, port)}``) and
        ``listener.on_stop_replicas(keys)``; keys are ``(topic, partition)``.
        """
        self._leadership_listeners.append(listener)

    # -- controller requests -------------------------------------------------------------

    async def become_leader_or_follower(self, request, correlation_id=-1):
        """Apply a decoded LeaderAndIsr request; returns the response dict."""
        scl = self.state_change_log
        if request["controller_epoch"] < self.controller_epoch:
            scl.stale_controller_epoch("LeaderAndIsr", request, correlation_id, self.controller_epoch)
            return self._leader_and_isr_error(request, errors.StaleControllerEpochError.code)
        broker_epoch = request.get("broker_epoch", -1)
        if broker_epoch not in (-1, None) and broker_epoch < self.broker_epoch:
            return self._leader_and_isr_error(request, errors.StaleBrokerEpochError.code)
        self.controller_epoch = request["controller_epoch"]
        states = list(iter_partition_states(request, "ungrouped_partition_states"))
        scl.leader_and_isr_received(request, correlation_id, states)
        results = []
        to_apply = []
        stale = []
        for state in states:
            key = (state["topic_name"], state["partition_index"])
            if self.broker_id not in state["replicas"]:
                results.append((key, errors.UnknownTopicOrPartitionError.code))
                continue
            current = self.partitions.get(key)
            if current is not None and state["leader_epoch"] <= current.leader_epoch:
                stale.append((key, state["leader_epoch"], current.leader_epoch))
                results.append((key, errors.StaleControllerEpochError.code))
                continue
            to_apply.append((key, state))
        scl.stale_leader_epochs(request, correlation_id, stale)
        topics = sorted({key[0] for key, _ in to_apply})
        # All topics' configs at once: one ZooKeeper round trip, not one per topic.
        configs = dict(zip(topics, await defer.gatherResults([defer.ensureDeferred(self._topic_config(t))
                                                               for t in topics], consumeErrors=True),
                           strict=True))
        now = self.now_ms()
        new_followers = []
        new_leaders = []
        # What the state-change log says of each partition, taken now and written after the response.
        log_rows = scl.enabled(scl.INFO)
        leader_rows = []
        follower_rows = []
        for key, state in to_apply:
            partition = self.partitions.get(key)
            if partition is None:
                try:
                    log, replaced = self.log_manager.get_or_create_topic_log(
                        key[0], key[1], zkdata.topic_id_from_uuid(state.get("topic_id")), configs[key[0]])
                except (errors.KafkaStorageError, OSError) as error:
                    # e.g. EMFILE: this partition fails alone; the others and the session carry on
                    self.log.error("{topic}-{partition}: answering KAFKA_STORAGE_ERROR to LeaderAndIsr: {error}",
                                   topic=key[0], partition=key[1], error=error)
                    results.append((key, errors.KafkaStorageError.code))
                    continue
                if replaced:
                    self.log.warn("{topic}-{partition}: deleted the log of an earlier topic of that name (another "
                                  "topic id in partition.metadata)", topic=key[0], partition=key[1])
                partition = Partition(key[0], key[1], self.broker_id, log)
                self.partitions[key] = partition
            else:
                partition.log.update_config(configs[key[0]])
            previous_epoch = partition.leader_epoch
            if state["leader"] == self.broker_id:
                partition.make_leader(state, now)
                new_leaders.append(key)
                if log_rows:
                    leader_rows.append(scl.leader_row(partition, state, previous_epoch))
            else:
                partition.make_follower(state)
                new_followers.append(partition)
                if log_rows:
                    follower_rows.append(scl.follower_row(partition, previous_epoch))
            results.append((key, 0))
            # Parked requests for this partition re-check: leadership changed under them.
            self.fetch_purgatory.check(key)
            self.produce_purgatory.check(key)
            self.delete_records_purgatory.check(key)
        if leader_rows or follower_rows:
            # Formatting 10,000 lines takes a few tens of ms: after the response, not before it.
            self._reactor.callLater(0, scl.became_leader_or_follower, leader_rows, follower_rows)
        if scl.enabled(scl.TRACE):
            scl.leader_and_isr_completed(request, correlation_id,
                                         new_leaders + [partition.key for partition in new_followers])
        leaders = {leader["broker_id"]: (leader["host_name"], leader["port"])
                   for leader in request.get("live_leaders") or ()}
        for listener in self._leadership_listeners:
            if new_leaders:
                listener.on_become_leader(new_leaders)
            if new_followers:
                listener.on_become_follower(new_followers, leaders)
        return self._leader_and_isr_response(request, results)

    def _leader_and_isr_error(self, request, code):
        results = [((s["topic_name"], s["partition_index"]), code)
                   for s in iter_partition_states(request, "ungrouped_partition_states")]
        return self._leader_and_isr_response(request, results, error_code=code)

    @staticmethod
    def _leader_and_isr_response(request, results, error_code=0):
        """The response in both layouts: flat by topic name (v0–4) and grouped by topic id (v5)."""
        flat = [{"topic_name": t, "partition_index": p, "error_code": code} for (t, p), code in results]
        by_topic = {}
        for (topic, partition), code in results:
            by_topic.setdefault(topic, []).append({"partition_index": partition, "error_code": code})
        topic_ids = {t["topic_name"]: t.get("topic_id") for t in request.get("topic_states") or ()}
        return {"error_code": error_code, "partition_errors": flat,
                "topics": [{"topic_id": topic_ids.get(topic), "partition_errors": p} for topic, p in by_topic.items()]}

    def stop_replicas(self, request, correlation_id=-1):
        """Apply a decoded StopReplica request (any version); returns the response dict."""
        if request["controller_epoch"] < self.controller_epoch:
            self.state_change_log.stale_controller_epoch("StopReplica", request, correlation_id, self.controller_epoch)
            return {"error_code": errors.StaleControllerEpochError.code, "partition_errors": []}
        self.controller_epoch = request["controller_epoch"]
        targets = []
        delete_all = request.get("delete_partitions", False)
        for entry in request.get("ungrouped_partitions") or ():
            targets.append((entry["topic_name"], entry["partition_index"], delete_all, NO_EPOCH))
        for topic in request.get("topics") or ():
            for index in topic["partition_indexes"]:
                targets.append((topic["name"], index, delete_all, NO_EPOCH))
        for topic_state in request.get("topic_states") or ():
            for state in topic_state["partition_states"]:
                targets.append((topic_state["topic_name"], state["partition_index"], state["delete_partition"],
                                state["leader_epoch"]))
        self.state_change_log.stop_replica(request, correlation_id, targets)
        partition_errors = []
        stopped = []
        for topic, index, delete, epoch in targets:
            key = (topic, index)
            partition = self.partitions.get(key)
            code = 0
            if partition is not None and epoch not in (EPOCH_DURING_DELETE, NO_EPOCH) and \
                    epoch <= partition.leader_epoch:
                code = errors.FencedLeaderEpochError.code
            else:
                if partition is not None:
                    del self.partitions[key]
                    stopped.append(key)
                    self.fetch_purgatory.check(key)
                    self.produce_purgatory.check(key)
                    self.delete_records_purgatory.check(key)
                if delete:
                    self.log_manager.delete_log(topic, index)
            partition_errors.append({"topic_name": topic, "partition_index": index, "error_code": code})
        if stopped:
            for listener in self._leadership_listeners:
                listener.on_stop_replicas(stopped)
        if self.metrics is not None:
            # Kafka drops a topic's BrokerTopicMetrics once its last partition here is deleted.
            hosted = {topic for topic, _ in self.partitions}
            for topic in {topic for topic, _, delete, _ in targets if delete} - hosted:
                self.metrics.remove_topic(topic)
        return {"error_code": 0, "partition_errors": partition_errors}

    # -- lookups -----------------------------------------------------------------------

    def _leader_partition(self, topic, partition_index):
        """The partition if this broker leads it, else raise the error a client expects."""
        partition = self.partitions.get((topic, partition_index))
        if partition is None:
            known = self.metadata_cache.partition(topic, partition_index)
            if known is None:
                raise errors.UnknownTopicOrPartitionError()
            raise errors.NotLeaderOrFollowerError()
        if not partition.is_leader:
            raise errors.NotLeaderOrFollowerError()
        return partition

    def leader_partition(self, topic, partition_index, current_leader_epoch=-1):
        """Public lookup with KIP-320 leader-epoch fencing."""
        partition = self._leader_partition(topic, partition_index)
        check_leader_epoch(partition, current_leader_epoch)
        return partition

    # -- produce -------------------------------------------------------------------------

    def append_records(self, acks, timeout_ms, entries, api_version):
        """Append one batch per partition as leader.

        :param entries: list of ``(topic, partition, records memoryview)``; ``records`` may be
            the :class:`~kafkalite.protocol.errors.KafkaError` the handler refused it with (a
            Produce v0–v2 message set it could not convert), answered after the leadership
            check, where Kafka's ``Log.append`` would have found it.
        :returns: ``{(topic, partition): ProduceResult}``, or a Deferred firing with it
            when ``acks == -1`` must wait for the ISR.
        """
        results = {}
        waiting = []
        metrics = self.metrics
        for topic, partition_index, records in entries:
            result = ProduceResult()
            results[(topic, partition_index)] = result
            # A partition not hosted here counts broker-wide only: a deleted or unknown topic gets no series.
            hosted_topic = topic if metrics is not None and (topic, partition_index) in self.partitions else None
            if metrics is not None:
                metrics.observe_produce_partition(hosted_topic)
            try:
                partition = self._leader_partition(topic, partition_index)
                if records is None:
                    raise errors.InvalidRecordError("no record batch")
                if isinstance(records, errors.KafkaError):
                    raise records
                header = validate_batch(records)
                if header.compression == COMPRESSION_ZSTD and api_version < 7:
                    raise errors.UnsupportedCompressionTypeError("zstd needs produce v7 or later")
                if acks == -1 and len(partition.isr) < partition.log.config.min_insync_replicas:
                    raise errors.NotEnoughReplicasError(
                        "the ISR %s is smaller than min.insync.replicas=%d"
                        % (partition.isr, partition.log.config.min_insync_replicas))
                info = partition.log.append_as_leader(records, partition.leader_epoch)
            except errors.KafkaError as error:
                result.error_code = error.code
                result.error_message = error.message
                result.record_errors = tuple(getattr(error, "record_errors", ()))
                if metrics is not None and error.code not in _EXPECTED_PRODUCE_ERRORS:
                    metrics.observe_failed_produce(hosted_topic)
                continue
            result.base_offset = info.first_offset
            result.log_append_time_ms = info.log_append_time_ms
            result.log_start_offset = info.log_start_offset
            result.required_offset = info.last_offset + 1
            if not info.duplicate and metrics is not None:
                metrics.observe_messages_in(topic, info.records_count, info.size)
            key = (topic, partition_index)
            partition.maybe_increment_high_watermark()
            self.fetch_purgatory.check(key)
            if acks == -1:
                waiting.append((key, result))
        if not waiting:
            return results
        done = defer.Deferred()
        operation = DelayedProduce(self, waiting, results, done)
        self.produce_purgatory.try_complete_else_watch(operation, [key for key, _ in waiting], timeout_ms)
        return done

    def _on_high_watermark_moved(self, key):
        self.produce_purgatory.check(key)
        self.fetch_purgatory.check(key)

    # -- fetch ---------------------------------------------------------------------------

    def fetch(self, replica_id, max_wait_ms, min_bytes, max_bytes, partitions, keys=None, client_metadata=None):
        """Serve a fetch of ``partitions`` (list of :class:`FetchRequestPartition`).

        :param keys: the ``(topic, partition)`` of each of ``partitions``, if the caller has them.
        :param client_metadata: a consumer's Fetch v11+ :class:`~kafkalite.replica.read_replica.ClientMetadata`:
            followers serve it too (up to their high watermark) and leaders may name a
            preferred read replica (KIP-392); None: leaders only.
        :returns: a list of :class:`FetchResult` in request order, or a Deferred firing
            with it once ``min_bytes`` are available or ``max_wait_ms`` has passed.
        """
        results, available, answer_now, throttled_bytes = self._read(replica_id, max_bytes, partitions,
                                                                     client_metadata)
        if max_wait_ms <= 0 or available >= min_bytes or answer_now or not partitions:
            if throttled_bytes:
                self.leader_quota.record(throttled_bytes)
            return results
        done = defer.Deferred()
        operation = DelayedFetch(self, replica_id, min_bytes, max_bytes, partitions, done,
                                 found_nothing=replica_id >= 0 and available == 0, client_metadata=client_metadata)
        if keys is None:
            keys = [(p.topic, p.partition) for p in partitions]
        self.fetch_purgatory.try_complete_else_watch(operation, keys, max_wait_ms)
        return done

    def _read(self, replica_id, max_bytes, partitions, client_metadata=None):
        """Read ``partitions``; ``(results, bytes read, answer now, bytes read of throttled partitions)``.

        The fetch is to be answered at once when a partition failed, a follower diverged
        (it must truncate before anything else; Kafka 2.8 answers it now) or a consumer is
        sent to a preferred read replica. A follower out of the ISR gets no records of a
        throttled partition while the leader's replication quota is exceeded (Kafka's
        ``shouldLeaderThrottle``).
        """
        results = []
        remaining = max_bytes
        available = throttled_bytes = 0
        answer_now = False
        leaders = self.partitions
        is_follower = replica_id >= 0
        throttled = self.leader_quota.throttled if is_follower and self.leader_quota is not None else None
        exceeded = None
        now = self.now_ms()
        metrics = self.metrics
        for request in partitions:
            result = FetchResult()
            results.append(result)
            partition = leaders.get((request.topic, request.partition))
            hosted_topic = request.topic if partition is not None else None
            if metrics is not None:
                metrics.observe_fetch_partition(hosted_topic)
            try:
                if partition is None or not (partition.is_leader or client_metadata is not None):
                    partition = self._leader_partition(request.topic, request.partition)  # raises the error
                check_leader_epoch(partition, request.current_leader_epoch)
                log = partition.log
                result.high_watermark = log.high_watermark
                result.last_stable_offset = log.last_stable_offset
                result.log_start_offset = log_start_offset = log.log_start_offset
                if is_follower:
                    diverging = diverging_epoch(log, request.last_fetched_epoch, request.fetch_offset)
                    if diverging is not None:
                        result.diverging_epoch = diverging
                        answer_now = True
                        continue
                    # As Kafka, take a follower's fetch offset as its position only if the read can succeed:
                    # one past our end holds other records there and must not count towards HW or acks.
                    if not log.log_start_offset <= request.fetch_offset <= log.log_end_offset:
                        raise errors.OffsetOutOfRangeError(
                            f"offset {request.fetch_offset} is out of range [{log.log_start_offset}, "
                            f"{log.log_end_offset}] for {request.topic}-{request.partition}")
                    if partition.update_follower(replica_id, request.fetch_offset, request.log_start_offset, now):
                        self.reactor_call(self._on_high_watermark_moved, partition.key)
                    self._maybe_expand_isr(partition, replica_id)
                    self.delete_records_purgatory.check(partition.key)
                    max_offset = None
                    if throttled and request.partition in throttled.get(request.topic, ()):
                        if replica_id not in partition.isr:
                            if exceeded is None:
                                exceeded = self.leader_quota.is_exceeded()
                            if exceeded:
                                continue
                else:
                    max_offset = log.high_watermark
                    if client_metadata is not None and self.replica_selector is not None:
                        preferred = preferred_read_replica(
                            self.replica_selector, partition, client_metadata, request.fetch_offset,
                            self.metadata_cache.racks(), now)
                        if preferred is not None:
                            result.preferred_read_replica = preferred
                            answer_now = True
                            continue
                # Nothing to read (at the log end, or a consumer at the high watermark): no read. Most of a
                # follower's partitions are idle, and each fetch of a session reads them all.
                fetch_offset = request.fetch_offset
                log_end_offset = log.log_end_offset
                if log_start_offset <= fetch_offset and (fetch_offset == log_end_offset or (
                        max_offset is not None and max_offset <= fetch_offset <= log_end_offset)):
                    continue
                limit = min(request.max_bytes, remaining)
                if limit <= 0 and available > 0:
                    continue
                info = log.read(request.fetch_offset, max(limit, 0), max_offset, min_one_message=available == 0)
            except errors.KafkaError as error:
                result.error_code = error.code
                answer_now = True
                if metrics is not None and error.code not in _EXPECTED_FETCH_ERRORS:
                    metrics.observe_failed_fetch(hosted_topic)
                continue
            region = info.records
            if region is not None and region.length:
                result.records = region
                remaining -= region.length
                available += region.length
                if metrics is not None:
                    if is_follower:
                        metrics.observe_replication_bytes_out(region.length)
                    else:
                        metrics.observe_bytes_out(request.topic, region.length)
                if throttled and request.partition in throttled.get(request.topic, ()):
                    throttled_bytes += region.length
        return results, available, answer_now, throttled_bytes

    def reactor_call(self, fn, *args):
        """Run ``fn`` after the current request (purgatory checks must not re-enter a read)."""
        self._reactor.callLater(0, fn, *args)

    # -- ISR shrink and expand ---------------------------------------------------------

    def start_isr_expiration(self, isr_writer, replica_lag_time_max_ms):
        """Check every half ``replica.lag.time.max.ms`` for ISR followers that fell behind."""
        self.isr_writer = isr_writer
        self.replica_lag_time_max_ms = replica_lag_time_max_ms
        self._isr_expiration = task.LoopingCall(self.maybe_shrink_isr)
        self._isr_expiration.clock = self._reactor
        d = self._isr_expiration.start(replica_lag_time_max_ms / 2000.0, now=False)
        d.addErrback(lambda f: self.log.failure("ISR expiration stopped", f))

    def maybe_shrink_isr(self):
        """Drop out-of-sync followers from the ISR of every partition we lead."""
        now = self.now_ms()
        shrinking = []
        for partition in list(self.partitions.values()):
            if not partition.is_leader or partition.isr_update_in_flight:
                continue
            lagging = partition.out_of_sync_replicas(now, self.replica_lag_time_max_ms)
            if lagging:
                shrinking.append((partition, [r for r in partition.isr if r not in lagging], lagging))
        # Logged before the writes start (they change partition.isr), all in one batch.
        self.state_change_log.shrinking_isr(
            [(p, new_isr, {r: p.followers[r].log_end_offset for r in lagging if r in p.followers})
             for p, new_isr, lagging in shrinking])
        for partition, new_isr, _ in shrinking:
            self._write_isr(partition, new_isr)

    def _maybe_expand_isr(self, partition, replica_id):
        if partition.isr_update_in_flight or not partition.expand_candidate(replica_id):
            return
        new_isr = partition.isr + [replica_id]
        self.state_change_log.expanding_isr(partition, new_isr)
        self._write_isr(partition, new_isr)

    def _write_isr(self, partition, new_isr):
        if self.isr_writer is None:
            return None
        shrunk = len(new_isr) < len(partition.isr)
        d = defer.Deferred.fromCoroutine(self.isr_writer.write_isr(partition, new_isr))

        def written(applied):
            if applied and self.metrics is not None:
                self.metrics.isr_changed(shrunk)
            if self.partitions.get(partition.key) is partition and partition.is_leader:
                # A smaller ISR may let the high watermark, and parked acks=all produces, move on; parked
                # fetches only care when the high watermark moved.
                if partition.maybe_increment_high_watermark():
                    self.fetch_purgatory.check(partition.key)
                self.produce_purgatory.check(partition.key)
            return applied

        d.addCallback(written)
        d.addErrback(lambda f: self.log.failure("ISR update of {key} failed", f, key=partition.key))
        return d

    def shutdown(self):
        if self._isr_expiration is not None and self._isr_expiration.running:
            self._isr_expiration.stop()
        if self.isr_writer is not None:
            self.isr_writer.stop()
        self.produce_purgatory.complete_all()
        self.fetch_purgatory.complete_all()
        self.delete_records_purgatory.complete_all()


def diverging_epoch(log, last_fetched_epoch, fetch_offset):
    """``(epoch, end_offset)`` where a follower's log stops agreeing with ours, or None.

    A follower whose last batch has an epoch we never had past its fetch offset
    must truncate before it fetches more (Fetch v12, KIP-595).
    """
    if last_fetched_epoch is None or last_fetched_epoch < 0:
        return None
    epoch, end_offset = log.end_offset_for_epoch(last_fetched_epoch)
    if epoch < last_fetched_epoch or end_offset < fetch_offset:
        return (epoch, end_offset)
    return None


def check_leader_epoch(partition, current_leader_epoch):
    """KIP-320 fencing: a client's epoch older than ours is fenced, a newer one unknown."""
    if current_leader_epoch is None or current_leader_epoch < 0:
        return
    if current_leader_epoch < partition.leader_epoch:
        raise errors.FencedLeaderEpochError()
    if current_leader_epoch > partition.leader_epoch:
        raise errors.UnknownLeaderEpochError()

