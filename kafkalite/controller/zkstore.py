"""The controller's ZooKeeper reads and writes, in batches (the controller's share of Kafka's ``KafkaZkClient``).

Failover must not cost one round trip per partition: brokers, topic assignments and
partition states are read with :meth:`ZkClient.get_many` (multiRead, pipelined), and
partition states are created and written with :meth:`ZkClient.transactions` — many
partitions per ZooKeeper multi, each partition's write atomic and every multi guarded
by a check of the ``/controller_epoch`` version this controller won (Kafka's fencing:
a deposed controller writes nothing). A failed guard raises :class:`ControllerMovedError`
once the epoch is seen to have moved.
"""

from twisted.logger import Logger

from kafkalite import zkdata
from kafkalite.controller.context import LiveBrokerInfo
from kafkalite.controller.election import LeaderAndIsr
from kafkalite.zkclient import BadVersionError, Check, Create, Delete, NodeExistsError, NoNodeError, SetData, ZkError

__all__ = ["ControllerMovedError", "ControllerZkStore"]


class ControllerMovedError(Exception):
    """Our controller epoch is no longer the current one: another broker took over."""


class ControllerZkStore:
    """Batched ZooKeeper access for the controller.

    :param zk: a :class:`kafkalite.zkclient.ZkClient`.
    """

    log = Logger(namespace="kafkalite.controller")

    def __init__(self, zk):
        self.zk = zk

    # -- controller election -------------------------------------------------------------

    async def read_controller_id(self):
        """The broker id in ``/controller``, or None when there is no controller."""
        try:
            data, _ = await self.zk.get(zkdata.CONTROLLER)
        except NoNodeError:
            return None
        return zkdata.decode_controller(data).broker_id

    async def read_controller_epoch(self):
        """``(epoch, zk_version)`` of ``/controller_epoch``, creating it (epoch 0) when missing."""
        try:
            data, stat = await self.zk.get(zkdata.CONTROLLER_EPOCH)
        except NoNodeError:
            try:
                await self.zk.create(zkdata.CONTROLLER_EPOCH, zkdata.encode_controller_epoch(0))
            except NodeExistsError:
                pass
            data, stat = await self.zk.get(zkdata.CONTROLLER_EPOCH)
        return zkdata.decode_controller_epoch(data), stat.version

    async def claim_controller(self, broker_id, timestamp_ms, new_epoch, epoch_version):
        """Create ephemeral ``/controller`` and bump ``/controller_epoch`` in one multi.

        :returns: the new ``/controller_epoch`` version.
        :raises NodeExistsError, BadVersionError: another broker won.
        """
        results = await self.zk.transaction([
            Create(zkdata.CONTROLLER, zkdata.encode_controller(broker_id, timestamp_ms), ephemeral=True),
            SetData(zkdata.CONTROLLER_EPOCH, zkdata.encode_controller_epoch(new_epoch), epoch_version),
        ])
        return results[1].version

    async def epoch_moved(self, epoch_version):
        try:
            _, stat = await self.zk.get(zkdata.CONTROLLER_EPOCH)
        except NoNodeError:
            return True
        return stat.version != epoch_version

    # -- brokers and topics --------------------------------------------------------------

    async def read_brokers(self, broker_ids):
        """``{id: LiveBrokerInfo}`` of the registered ones among ``broker_ids``."""
        broker_ids = sorted(broker_ids)
        results = await self.zk.get_many([zkdata.broker_path(b) for b in broker_ids])
        brokers = {}
        for broker_id, result in zip(broker_ids, results, strict=True):
            if isinstance(result, ZkError):
                continue
            data, stat = result
            try:
                registration = zkdata.decode_broker_registration(data, broker_id)
            except ValueError as error:
                self.log.warn("ignoring broker {id}: malformed registration ({error})", id=broker_id, error=error)
                continue
            endpoints = [(e.listener_name, e.host, e.port, e.security_protocol)
                         for e in registration.parsed_endpoints()]
            brokers[broker_id] = LiveBrokerInfo(broker_id, stat.czxid, endpoints, registration.rack)
        return brokers

    async def read_assignments(self, topics):
        """``{topic: TopicAssignment}`` of the existing, well-formed ones among ``topics``."""
        topics = list(topics)
        results = await self.zk.get_many([zkdata.topic_path(t) for t in topics], batch=100)
        assignments = {}
        for topic, result in zip(topics, results, strict=True):
            if isinstance(result, ZkError):
                continue
            try:
                decoded = zkdata.decode_topic_assignment(result[0])
            except ValueError:
                self.log.warn("ignoring topic {topic}: malformed assignment {data!r}", topic=topic, data=result[0])
                continue
            assignments[topic] = decoded
        return assignments

    async def write_topics(self, context, topics):
        """Overwrite ``/brokers/topics/<topic>`` of ``topics`` with what ``context`` holds (replicas,
        adding/removing replicas, topic id), fenced by the epoch."""
        groups = []
        for topic in topics:
            partitions, adding, removing, topic_id = context.topic_assignment(topic)
            data = zkdata.encode_topic_assignment(zkdata.TopicAssignment(partitions, adding, removing, topic_id))
            groups.append([SetData(zkdata.topic_path(topic), data, -1)])
        results = await self._fenced(self.zk.transactions(groups, guard=self._guard(context.epoch_zk_version)),
                                     context.epoch_zk_version)
        for result in results:
            if isinstance(result, ZkError):
                raise result

    # -- partition states ----------------------------------------------------------------

    async def read_partition_states(self, keys):
        """``{key: LeaderAndIsr}`` (with the znode version) of the partitions that have a state znode."""
        keys = list(keys)
        results = await self.zk.get_many([zkdata.partition_state_path(*k) for k in keys])
        found = [(key, result) for key, result in zip(keys, results, strict=True) if not isinstance(result, ZkError)]
        states = {}
        decoded_states = zkdata.decode_partition_states(data for _, (data, _) in found)
        for (key, (data, stat)), decoded in zip(found, decoded_states, strict=True):
            if isinstance(decoded, ValueError):
                self.log.warn("{topic}-{partition}: malformed state {data!r}", topic=key[0], partition=key[1],
                              data=data)
                continue
            states[key] = LeaderAndIsr(decoded.leader, decoded.leader_epoch, decoded.isr,
                                       decoded.controller_epoch, stat.version)
        return states

    async def create_partition_states(self, states, epoch_version):
        """Create the state znodes of new partitions (and their parents), fenced by the epoch.

        A partition whose state znode already exists (an earlier controller got that far)
        keeps the stored state.

        :param states: ``{key: LeaderAndIsr}``.
        :returns: ``{key: LeaderAndIsr or ZkError}`` — what the znode now holds, with its version.
        """
        keys = sorted(states)
        topics = sorted({topic for topic, _ in keys})
        await self.zk.transactions([[Create(zkdata.partitions_path(t))] for t in topics])  # NodeExists is fine
        guard = self._guard(epoch_version)
        groups = [[Create(zkdata.partition_path(*k)), Create(zkdata.partition_state_path(*k), _encode(states[k]))]
                  for k in keys]
        results = await self._fenced(self.zk.transactions(groups, guard=guard), epoch_version)
        outcome = {}
        retry = []
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, NodeExistsError) and result.op_index == 0:
                retry.append(key)  # the partition's znode exists (a partial creation before): create the state only
            elif isinstance(result, ZkError):
                outcome[key] = result
            else:
                outcome[key] = states[key].with_version(0)
        if retry:
            results = await self._fenced(self.zk.transactions(
                [[Create(zkdata.partition_state_path(*k), _encode(states[k]))] for k in retry], guard=guard),
                epoch_version)
            for key, result in zip(retry, results, strict=True):
                outcome[key] = result if isinstance(result, ZkError) else states[key].with_version(0)
        existing = [k for k, r in outcome.items() if isinstance(r, NodeExistsError)]
        if existing:
            outcome.update(await self.read_partition_states(existing))
        return outcome

    async def update_partition_states(self, states, epoch_version):
        """Overwrite state znodes if unchanged since read (version-checked), fenced by the epoch.

        :param states: ``{key: (new LeaderAndIsr, expected zk_version)}``.
        :returns: ``{key: LeaderAndIsr with its new version, or ZkError}`` (:class:`BadVersionError`:
            a leader changed the ISR meanwhile).
        """
        keys = sorted(states)
        groups = [[SetData(zkdata.partition_state_path(*k), _encode(states[k][0]), states[k][1])] for k in keys]
        results = await self._fenced(self.zk.transactions(groups, guard=self._guard(epoch_version)), epoch_version)
        return {key: result if isinstance(result, ZkError) else states[key][0].with_version(result[0].version)
                for key, result in zip(keys, results, strict=True)}

    def _guard(self, epoch_version):
        return Check(zkdata.CONTROLLER_EPOCH, epoch_version)

    async def _fenced(self, deferred, epoch_version):
        try:
            return await deferred
        except BadVersionError:
            if await self.epoch_moved(epoch_version):
                raise ControllerMovedError() from None
            raise

    # -- notifications and admin requests ------------------------------------------------

    async def read_isr_change_notifications(self, watch):
        """``(paths, {keys})``: every ``/isr_change_notification`` child and the partitions they name."""
        try:
            children = await self.zk.get_children(zkdata.ISR_CHANGE_NOTIFICATION, watch=watch)
        except NoNodeError:
            return [], set()
        paths = ["%s/%s" % (zkdata.ISR_CHANGE_NOTIFICATION, child) for child in sorted(children)]
        keys = set()
        for path, result in zip(paths, await self.zk.get_many(paths), strict=True):
            if isinstance(result, ZkError):
                continue
            try:
                keys |= {(tp.topic, tp.partition) for tp in zkdata.decode_isr_change(result[0])}
            except ValueError:
                self.log.warn("ignoring malformed ISR change notification {path}", path=path)
        return paths, keys

    async def delete_paths(self, paths):
        """Delete nodes (no children), in batches; a node already gone is fine."""
        if paths:
            await self.zk.transactions([[Delete(p)] for p in paths])

    async def delete_quietly(self, path, recursive=False):
        try:
            await self.zk.delete(path, recursive=recursive)
        except NoNodeError:
            pass

    async def read_preferred_replica_election(self, watch):
        """The partitions named in ``/admin/preferred_replica_election`` (None when it does not exist)."""
        path = zkdata.PREFERRED_REPLICA_ELECTION
        if await self.zk.exists(path, watch=watch) is None:
            return None
        try:
            data, _ = await self.zk.get(path)
        except NoNodeError:
            return None
        try:
            return [(tp.topic, tp.partition) for tp in zkdata.decode_preferred_replica_election(data)]
        except ValueError:
            self.log.warn("ignoring malformed {path}", path=path)
            return []

    async def read_reassign_partitions(self, watch=None):
        """``(czxid, {key: replicas}, error)`` of ``/admin/reassign_partitions`` (watched), or None when
        it does not exist; a malformed znode gives an empty mapping and the decoding error."""
        path = zkdata.REASSIGN_PARTITIONS
        if await self.zk.exists(path, watch=watch) is None:
            return None
        try:
            data, stat = await self.zk.get(path)
        except NoNodeError:
            return None
        try:
            requested = {(tp.topic, tp.partition): tuple(replicas)
                         for tp, replicas in zkdata.decode_reassign_partitions(data).items()}
        except ValueError as error:
            return stat.czxid, {}, error
        return stat.czxid, requested, None

    async def write_reassign_partitions(self, requested, epoch_version):
        """Rewrite ``/admin/reassign_partitions`` with ``{key: replicas}`` (deleted when empty), fenced."""
        path = zkdata.REASSIGN_PARTITIONS
        op = (SetData(path, zkdata.encode_reassign_partitions(requested), -1) if requested else Delete(path))
        try:
            await self._fenced(self.zk.transaction([self._guard(epoch_version), op]), epoch_version)
        except NoNodeError:
            pass

    async def watch_partition_state(self, key, watch):
        """Watch ``key``'s state znode (a reassignment waits for its ISR to change)."""
        await self.zk.exists(zkdata.partition_state_path(*key), watch=watch)

    async def read_topic_deletions(self, watch):
        """Topics named under ``/admin/delete_topics``."""
        try:
            return sorted(await self.zk.get_children(zkdata.ADMIN_DELETE_TOPICS, watch=watch))
        except NoNodeError:
            return []

    async def delete_topic(self, topic):
        """Remove a deleted topic's znodes (partition states, assignment, config, deletion request) in few multis."""
        try:
            partitions = await self.zk.get_children(zkdata.partitions_path(topic))
        except NoNodeError:
            partitions = []
        await self.zk.transactions([[Delete(zkdata.partition_state_path(topic, int(p))),
                                     Delete(zkdata.partition_path(topic, int(p)))] for p in partitions if p.isdigit()])
        for path in (zkdata.partitions_path(topic), zkdata.topic_path(topic)):
            await self.delete_quietly(path, recursive=True)  # anything written by hand that the batch missed
        await self.delete_paths([zkdata.config_topic_path(topic), zkdata.delete_topic_path(topic)])


def _encode(state):
    return zkdata.encode_partition_state(zkdata.PartitionState(
        state.leader, state.leader_epoch, list(state.isr), state.controller_epoch))
