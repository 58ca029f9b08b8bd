"""Test doubles and drivers for the replica layer's unit tests (no sockets, no ZooKeeper, no real time).

The doubles, each standing for one interface:

- :class:`FakeLog` is :class:`kafkalite.log.log.Log` as a
  :class:`kafkalite.replica.partition.Partition` sees it: only the offsets a partition
  reads and moves (``log_end_offset``, ``high_watermark``, ``update_high_watermark``).
  A test sets ``log_end_offset`` directly to play appends; nothing is stored.
- :class:`StaticTopicConfigs` is the ``topic_config`` collaborator of
  :class:`kafkalite.replica.manager.ReplicaManager` (``TopicAdmin.topic_config``):
  ``async (topic) -> LogConfig``, answered from a dict.
- :class:`RecordingIsrWriter` is :class:`kafkalite.replica.isr.IsrWriter`
  (``write_isr(partition, new_isr)``, ``stop()``): it records every ISR change a leader
  asks for and, like the real writer waiting on ZooKeeper, applies it only when the
  test says the write landed (:meth:`RecordingIsrWriter.complete`).

The drivers build what the broker would hand the replica manager:

- :func:`partition_state`, :func:`leader_and_isr_request`, :func:`update_metadata_request`
  and :func:`stop_replica_request`: decoded LeaderAndIsr, UpdateMetadata and StopReplica
  bodies shaped as :mod:`kafkalite.controller.request_batch` builds them (topics grouped);
- :func:`record_batch` builds a real v2 batch with :func:`kafkalite.protocol.recordcodec.build_batch`
  and :func:`fetched_values` decodes a fetch result's file region back to ``(offset, value)``;
- :class:`ReplicaBroker` wires a real ``ReplicaManager`` over a real ``LogManager`` in a
  directory, a real (empty) ``MetadataCache``, a ``task.Clock`` and a
  :class:`RecordingIsrWriter`, and calls it as the Produce, Fetch and LeaderAndIsr
  handlers of ``kafkalite.server.apis`` do (StopReplica: ``manager.stop_replicas`` as is);
- :class:`LoopbackChannel` is the ``BrokerChannel`` of a
  :class:`kafkalite.replica.fetcher.ReplicaFetcher` (``send``, ``close``), joined in memory
  to a leader :class:`ReplicaBroker`'s Fetch and ListOffsets handlers
  (``kafkalite.server.apis.KafkaApis``): every request and response goes through the
  real codec, as on the wire;
- :func:`fired` unwraps a Deferred that must already have fired.
"""

from types import SimpleNamespace

from twisted.internet import defer, error
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from kafkalite.log.config import LogConfig
from kafkalite.log.manager import LogManager
from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.recordcodec import Record, build_batch, decode_batches
from kafkalite.replica.manager import FetchRequestPartition, ReplicaManager
from kafkalite.replica.metadata_cache import MetadataCache
from kafkalite.server.apis import KafkaApis

__all__ = [
    "FakeLog", "LoopbackChannel", "RecordingIsrWriter", "ReplicaBroker", "StaticTopicConfigs", "fetched_values",
    "fired",
    "leader_and_isr_request", "partition_state", "record_batch", "stop_replica_request", "update_metadata_request",
]

#: Record timestamps in every batch built here: fixed, so nothing reads the wall clock.
TIMESTAMP_MS = 1_000_000


class FakeLog:
    """The offsets of one partition's log, with no records behind them.

    :param log_end_offset: the offset the next append would get.
    :ivar high_watermark: starts at 0; moved only by :meth:`update_high_watermark`.
    """

    def __init__(self, log_end_offset=0):
        self.log_end_offset = log_end_offset
        self.high_watermark = 0

    def update_high_watermark(self, offset):
        """Set the high watermark, as ``Log.update_high_watermark`` does."""
        self.high_watermark = offset


class StaticTopicConfigs:
    """``TopicAdmin.topic_config``: each topic's effective :class:`LogConfig`, from a dict.

    :param configs: ``{topic: LogConfig}``; other topics get ``default``.
    :param default: the config of topics without an entry (Kafka's defaults when None).
    """

    def __init__(self, configs=None, default=None):
        self.configs = dict(configs or {})
        self.default = default if default is not None else LogConfig()

    async def topic_config(self, topic):
        """The topic's config, at once (the real one may read ZooKeeper)."""
        return self.configs.get(topic, self.default)


class RecordingIsrWriter:
    """``IsrWriter`` whose ZooKeeper writes land when the test says so.

    :meth:`write_isr` records ``(key, new_isr)`` in :attr:`writes`, marks the partition's
    ISR update in flight, and waits. :meth:`complete` lands every waiting write: as the
    real writer does, a write is applied (ISR replaced, zk_version bumped, True answered)
    only if the partition is still led by us at the epoch it was asked under; otherwise
    it answers False and changes nothing.

    :ivar writes: every ``((topic, partition), new_isr)`` asked for, in order.
    :ivar stopped: True once the replica manager stopped the writer.
    """

    def __init__(self):
        self.writes = []
        self.stopped = False
        self._waiting = []

    async def write_isr(self, partition, new_isr):
        """Record the change; apply it once :meth:`complete` is called. True when applied."""
        self.writes.append((partition.key, list(new_isr)))
        epoch = partition.leader_epoch
        landed = defer.Deferred()
        self._waiting.append(landed)
        partition.isr_update_in_flight = True
        try:
            await landed
        finally:
            partition.isr_update_in_flight = False
        if not partition.is_leader or partition.leader_epoch != epoch:
            return False
        partition.isr = list(new_isr)
        partition.zk_version += 1
        return True

    @property
    def in_flight(self):
        """How many writes are waiting for :meth:`complete`."""
        return len(self._waiting)

    def complete(self):
        """Land every waiting write (their callers run on before this returns)."""
        waiting, self._waiting = self._waiting, []
        for landed in waiting:
            landed.callback(None)

    def stop(self):
        self.stopped = True


def partition_state(topic="t", partition=0, leader=1, leader_epoch=1, isr=(1, 2, 3), replicas=(1, 2, 3),
                    controller_epoch=1, zk_version=0):
    """One partition's LeaderAndIsr state, as the controller's request batch writes it."""
    return {
        "topic_name": topic, "partition_index": partition, "controller_epoch": controller_epoch,
        "leader": leader, "leader_epoch": leader_epoch, "isr": list(isr), "zk_version": zk_version,
        "replicas": list(replicas), "offline_replicas": [], "adding_replicas": [], "removing_replicas": [],
        "is_new": False,
    }


def leader_and_isr_request(states, controller_epoch=1, broker_epoch=-1, controller_id=1):
    """A decoded LeaderAndIsr body (v2+ layout: partition states grouped by topic) for ``states``.

    ``live_leaders`` names every leader at a made-up endpoint, as the controller would.
    """
    grouped = {}
    for state in states:
        grouped.setdefault(state["topic_name"], []).append(dict(state))
    leaders = sorted({state["leader"] for state in states if state["leader"] >= 0})
    return {
        "controller_id": controller_id, "controller_epoch": controller_epoch, "broker_epoch": broker_epoch,
        "type": 0,
        "topic_states": [{"topic_name": topic, "topic_id": None, "partition_states": partitions}
                         for topic, partitions in grouped.items()],
        "live_leaders": [{"broker_id": b, "host_name": "broker%d" % b, "port": 9092} for b in leaders],
    }


def update_metadata_request(states, controller_epoch=1):
    """A decoded UpdateMetadata body announcing ``states`` and their leaders as live brokers."""
    leaders = sorted({state["leader"] for state in states if state["leader"] >= 0})
    grouped = {}
    for state in states:
        grouped.setdefault(state["topic_name"], []).append(dict(state))
    return {
        "controller_id": 1, "controller_epoch": controller_epoch, "broker_epoch": -1,
        "topic_states": [{"topic_name": topic, "partition_states": partitions}
                         for topic, partitions in grouped.items()],
        "live_brokers": [{"id": b, "rack": None, "endpoints": [
            {"host": "broker%d" % b, "port": 9092, "listener": "PLAINTEXT", "security_protocol": 0}]}
            for b in leaders],
    }


def stop_replica_request(keys, leader_epoch=-1, delete=False, controller_epoch=1, broker_epoch=-1):
    """A decoded StopReplica v3 body stopping ``keys`` (``(topic, partition)`` pairs) at ``leader_epoch``."""
    by_topic = {}
    for topic, partition in keys:
        by_topic.setdefault(topic, []).append(
            {"partition_index": partition, "leader_epoch": leader_epoch, "delete_partition": delete})
    return {
        "controller_id": 1, "controller_epoch": controller_epoch, "broker_epoch": broker_epoch,
        "delete_partitions": delete,
        "topic_states": [{"topic_name": topic, "partition_states": states} for topic, states in by_topic.items()],
    }


def record_batch(values, compression=0):
    """A v2 batch (a writable memoryview, as a Produce request's ``records``) of keyless ``values``."""
    records = [Record(None, value, timestamp=TIMESTAMP_MS) for value in values]
    return memoryview(build_batch(records, compression=compression, base_timestamp=TIMESTAMP_MS))


def fetched_values(result):
    """``[(offset, value), ...]`` in a :class:`FetchResult`'s records (empty when it has none)."""
    if result.records is None:
        return []
    out = []
    for header, records in decode_batches(result.records.read()):
        out.extend((header.base_offset + i, record.value) for i, record in enumerate(records))
    return out


def fired(d):
    """The result of Deferred ``d``, which must have fired already; a failure is raised.

    The result is taken out of ``d`` (its callback chain goes on with None).
    """
    assert isinstance(d, defer.Deferred), "expected a Deferred, got %r" % (d,)
    assert d.called, "the Deferred has not fired"
    results = []
    d.addBoth(results.append)
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


class ReplicaBroker:
    """A broker's replica manager with everything around it replaced by something a test controls.

    :param log_dir: the directory of the real ``LogManager`` (a ``tmp_path``).
    :param broker_id: this broker's id.
    :param topic_configs: ``{topic: LogConfig}`` (others get Kafka's defaults).
    :param lag_time_max_ms: ``replica.lag.time.max.ms``; the periodic ISR check runs every
        half of it on :attr:`clock` into :attr:`isr_writer`.
    :param clock: the ``task.Clock`` to use (brokers of one test may share one); a new one by default.

    :ivar clock: the ``task.Clock`` the manager, its purgatories and its logs read.
    :ivar manager: the :class:`ReplicaManager` under test.
    """

    def __init__(self, log_dir, broker_id=1, topic_configs=None, lag_time_max_ms=10_000, clock=None):
        self.clock = clock if clock is not None else Clock()
        self.broker_id = broker_id
        self.topic_configs = StaticTopicConfigs(topic_configs)
        self.log_manager = LogManager([str(log_dir)], LogConfig(), self.now_ms)
        self.metadata_cache = MetadataCache(broker_id)
        self.manager = ReplicaManager(broker_id, self.log_manager, self.metadata_cache, self.clock,
                                      self.topic_configs.topic_config)
        self.isr_writer = RecordingIsrWriter()
        self.manager.start_isr_expiration(self.isr_writer, lag_time_max_ms)

    def now_ms(self):
        return int(self.clock.seconds() * 1000)

    def close(self):
        """Shut the manager down (completing whatever is parked) and close the logs."""
        self.manager.shutdown()
        self.log_manager.shutdown()

    # -- controller requests ------------------------------------------------------------------

    def leader_and_isr(self, *states, controller_epoch=1):
        """Apply a LeaderAndIsr holding ``states`` (see :func:`partition_state`); the response dict."""
        request = leader_and_isr_request(states or [partition_state()], controller_epoch=controller_epoch)
        return fired(defer.Deferred.fromCoroutine(self.manager.become_leader_or_follower(request)))

    def lead(self, topic="t", partition=0, **state):
        """Become leader of ``topic``-``partition`` (ISR and replicas 1, 2, 3 unless given); the Partition."""
        state.setdefault("leader", self.broker_id)
        response = self.leader_and_isr(partition_state(topic, partition, **state))
        assert response["partition_errors"][0]["error_code"] == 0, response
        return self.manager.partitions[(topic, partition)]

    # -- data paths ---------------------------------------------------------------------------

    def produce(self, values, acks=-1, topic="t", partition=0, timeout_ms=1000, api_version=8, compression=0):
        """Produce one batch of ``values``; the ``ProduceResult`` when answered at once, else a Deferred.

        A Deferred fires with the ``ProduceResult`` of this partition.
        """
        key = (topic, partition)
        results = self.manager.append_records(
            acks, timeout_ms, [(topic, partition, record_batch(values, compression))], api_version)
        if isinstance(results, defer.Deferred):
            return results.addCallback(lambda answered: answered[key])
        return results[key]

    def fetch(self, offset, replica_id=-1, topic="t", partition=0, max_wait_ms=0, min_bytes=1,
              max_bytes=1 << 20, partition_max_bytes=1 << 20, current_leader_epoch=-1, last_fetched_epoch=-1):
        """Fetch one partition as a consumer (``replica_id`` -1) or a follower; the ``FetchResult``
        when answered at once, else a Deferred firing with it."""
        request = FetchRequestPartition(topic, partition, offset, partition_max_bytes, current_leader_epoch, 0,
                                        last_fetched_epoch)
        results = self.manager.fetch(replica_id, max_wait_ms, min_bytes, max_bytes, [request])
        if isinstance(results, defer.Deferred):
            return results.addCallback(lambda answered: answered[0])
        return results[0]

    def replicate(self, replica_id, offset, **kwargs):
        """Follower ``replica_id`` fetches at ``offset`` (which tells the leader where it is), then the
        high-watermark checks the fetch scheduled run; the ``FetchResult``."""
        result = self.fetch(offset, replica_id=replica_id, **kwargs)
        self.clock.advance(0)
        return result


class LoopbackChannel:
    """A ``BrokerChannel`` whose broker is ``leader``'s real Fetch and ListOffsets handlers, in memory.

    Each request body is encoded and decoded with the real codec before the handler sees it,
    and the response likewise (its records read from the leader's files), so the fetcher and
    the leader see exactly what the wire would carry. Responses parked in the leader's
    purgatory arrive when the shared clock says so.

    :param leader: the leader's :class:`ReplicaBroker`.
    :ivar requests: every ``(api_key, decoded request body)`` sent, in order.
    :ivar responses: every decoded Fetch response delivered, in order.
    :ivar fail_next: set to an exception to fail the next request with it (a lost connection).
    """

    def __init__(self, leader):
        self.apis = KafkaApis(None, "loopback", leader.manager, leader.metadata_cache, None, None, None, None)
        self.requests = []
        self.responses = []
        self.fail_next = None
        self.closed = False

    def fetches(self):
        """The decoded Fetch requests sent so far."""
        return [body for api_key, body in self.requests if api_key == ApiKey.FETCH]

    def send(self, api_key, api_version, body, expect_response=True, timeout=None):
        """Hand ``body`` to the leader's handler as the wire would; a Deferred firing with the decoded response."""
        if self.closed:
            return defer.fail(error.ConnectionDone("channel closed"))
        if self.fail_next is not None:
            failure, self.fail_next = self.fail_next, None
            return defer.fail(failure)
        api = API_BY_KEY[api_key]
        request = api.decode_request(api.encode_request_bytes(body, api_version), api_version)
        self.requests.append((api_key, request))
        context = SimpleNamespace(api_key=api_key, api_version=api_version, listener_name="PLAINTEXT")
        answered = defer.maybeDeferred(self.apis.dispatch, context, request)

        def over_the_wire(response):
            decoded = api.decode_response(api.encode_response_bytes(response, api_version), api_version)
            if api_key == ApiKey.FETCH:
                self.responses.append(decoded)
            return decoded

        return answered.addCallback(over_the_wire)

    def close(self):
        self.closed = True
