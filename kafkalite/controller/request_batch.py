"""The controller's request batch: LeaderAndIsr, UpdateMetadata and StopReplica, one per broker per event.

Kafka's ``ControllerBrokerRequestBatch``: while the controller handles one event, the
state changes add what each broker must be told; :meth:`ControllerRequestBatch.send`
then sends, per broker, one LeaderAndIsr, then one UpdateMetadata, then one StopReplica
request (in that order, through the channel, which keeps each broker's requests in
order) and empties the batch. Adding a partition's LeaderAndIsr also adds it to every
live broker's UpdateMetadata, as Kafka does.

LeaderAndIsr carries the leadership given when it was added; UpdateMetadata describes
partitions as the context has them when the batch is sent (leader -2 for partitions of
topics being deleted). Building the requests is pure; only :meth:`send` talks to the
channel, and writes what it sends to the state-change log (a line per broker and request;
at TRACE, one per partition).
"""

import logging
from typing import NamedTuple

from twisted.internet import defer

from kafkalite import zkdata
from kafkalite.controller.election import LeaderAndIsr

__all__ = ["BatchAnswers", "ControllerRequestBatch", "LEADER_DURING_DELETE", "EPOCH_DURING_DELETE", "NO_EPOCH"]

#: UpdateMetadata's leader for a partition being deleted (LeaderAndIsr.LeaderDuringDelete).
LEADER_DURING_DELETE = -2
#: StopReplica's leader epoch when deleting (LeaderAndIsr.EpochDuringDelete).
EPOCH_DURING_DELETE = -2
NO_EPOCH = -1


class ControllerRequestBatch:
    """Requests gathered during one controller event.

    :param controller_id: this broker's id (every request names it).
    :param listener_name: the inter-broker listener (LeaderAndIsr's live leaders).
    :param state_change_log: a :class:`~kafkalite.controller.state_change_log.ControllerStateChangeLog`
        told what is sent (None: nothing logged).
    """

    def __init__(self, controller_id, listener_name, state_change_log=None):
        self.controller_id = controller_id
        self.listener_name = listener_name
        self.state_change_log = state_change_log
        self._leader_and_isr = {}  # broker -> {key: (LeaderAndIsr, is_new)}
        self._update_metadata = {}  # broker -> set of keys
        self._update_metadata_all = set()  # keys for every live broker
        self._update_metadata_everyone = False
        self._stop_replica = {}  # broker -> {key: delete}
        self._stop_replica_callbacks = {}  # broker -> [callback(broker_id, response)]

    def is_empty(self):
        return not (self._leader_and_isr or self._update_metadata or self._update_metadata_everyone
                    or self._stop_replica)

    def clear(self):
        self._leader_and_isr.clear()
        self._update_metadata.clear()
        self._update_metadata_all.clear()
        self._update_metadata_everyone = False
        self._stop_replica.clear()
        self._stop_replica_callbacks.clear()

    # -- adding ----------------------------------------------------------------------------

    def add_leader_and_isr(self, context, broker_ids, key, leadership, is_new=False):
        """Tell ``broker_ids`` (the live ones whose replica of ``key`` is not offline) ``key``'s
        ``leadership``; every live broker's metadata follows."""
        offline = context.offline_replicas.get(key, ())
        for broker_id in broker_ids:
            if context.is_live(broker_id) and broker_id not in offline:
                self._leader_and_isr.setdefault(broker_id, {})[key] = (leadership, is_new)
        self._update_metadata_all.add(key)
        self._update_metadata_everyone = True

    def add_update_metadata(self, context, broker_ids, keys=()):
        """Send ``broker_ids`` (the live ones) UpdateMetadata with ``keys`` (and the live brokers)."""
        if broker_ids is context.live_brokers:
            # Every live broker (most calls): kept once, not once per broker.
            self._update_metadata_all.update(keys)
            self._update_metadata_everyone = True
            return
        keys = list(keys)
        for broker_id in broker_ids:
            if context.is_live(broker_id):
                self._update_metadata.setdefault(broker_id, set()).update(keys)

    def add_stop_replica(self, context, broker_ids, key, delete, callback=None):
        """StopReplica ``key`` on ``broker_ids`` (the live ones); ``callback(broker_id, response)``
        is called once per broker with its answer (None when the request failed)."""
        for broker_id in broker_ids:
            if not context.is_live(broker_id):
                continue
            stops = self._stop_replica.setdefault(broker_id, {})
            stops[key] = stops.get(key, False) or delete
            if callback is not None:
                callbacks = self._stop_replica_callbacks.setdefault(broker_id, [])
                if callback not in callbacks:
                    callbacks.append(callback)

    # -- building --------------------------------------------------------------------------

    def leader_and_isr_requests(self, context):
        """``{broker_id: LeaderAndIsr request body}`` for what was added."""
        requests = {}
        built = {}  # a partition told to several brokers is described once
        for broker_id, entries in self._leader_and_isr.items():
            states = []
            leaders = set()
            for key, entry in sorted(entries.items()):
                state = built.get(key)
                if state is None or state[0] != entry:
                    state = built[key] = (entry, _partition_state(context, key, entry[0], is_new=entry[1]))
                states.append(state[1])
                leaders.add(entry[0].leader)
            live_leaders = []
            for leader in sorted(leaders):
                info = context.live_brokers.get(leader)
                if info is None:
                    continue
                endpoint = info.endpoint(self.listener_name)
                live_leaders.append({"broker_id": leader, "host_name": endpoint[1], "port": endpoint[2]})
            requests[broker_id] = {
                "controller_id": self.controller_id, "controller_epoch": context.epoch,
                "broker_epoch": context.live_brokers[broker_id].epoch, "type": 0,
                "topic_states": _group_by_topic(states, context.topic_ids), "live_leaders": live_leaders,
            }
        return requests

    def update_metadata_requests(self, context):
        """``{broker_id: UpdateMetadata request body}``: the named partitions and every live broker."""
        per_broker = {b: set(keys) for b, keys in self._update_metadata.items() if context.is_live(b)}
        if self._update_metadata_everyone:
            for broker_id in context.live_brokers:
                per_broker.setdefault(broker_id, set()).update(self._update_metadata_all)
        if not per_broker:
            return {}
        live = live_brokers_for_metadata(context)
        grouped_by_keys = {}
        requests = {}
        for broker_id, keys in per_broker.items():
            signature = frozenset(keys)
            if signature not in grouped_by_keys:
                states = [self.metadata_state(context, key) for key in sorted(keys)]
                grouped_by_keys[signature] = _group_by_topic([s for s in states if s is not None], context.topic_ids)
            requests[broker_id] = {
                "controller_id": self.controller_id, "controller_epoch": context.epoch,
                "broker_epoch": context.live_brokers[broker_id].epoch,
                "topic_states": grouped_by_keys[signature], "live_brokers": live,
            }
        return requests

    @staticmethod
    def metadata_state(context, key):
        """UpdateMetadata's description of ``key`` now (None when it has no leadership yet)."""
        if context.is_being_deleted(key):
            leadership = context.leaderships.get(key) or LeaderAndIsr(-1, -1, (), context.epoch, -1)
            return _partition_state(context, key, leadership, leader=LEADER_DURING_DELETE)
        leadership = context.leaderships.get(key)
        if leadership is None:
            return None
        return _partition_state(context, key, leadership)

    def stop_replica_requests(self, context):
        """``{broker_id: StopReplica request body}`` (v3 layout: per-partition delete flags and epochs)."""
        requests = {}
        for broker_id, stops in self._stop_replica.items():
            by_topic = {}
            for (topic, partition), delete in sorted(stops.items()):
                leadership = context.leaderships.get((topic, partition))
                if delete:
                    epoch = EPOCH_DURING_DELETE
                else:
                    epoch = leadership.leader_epoch if leadership is not None else NO_EPOCH
                by_topic.setdefault(topic, []).append(
                    {"partition_index": partition, "leader_epoch": epoch, "delete_partition": delete})
            requests[broker_id] = {
                "controller_id": self.controller_id, "controller_epoch": context.epoch,
                "broker_epoch": context.live_brokers[broker_id].epoch,
                "delete_partitions": all(stops.values()),
                "topic_states": [{"topic_name": t, "partition_states": p} for t, p in by_topic.items()],
            }
        return requests

    # -- sending ---------------------------------------------------------------------------

    def send(self, context, channel, on_leader_and_isr_response=None):
        """Send everything added (LeaderAndIsr, UpdateMetadata, StopReplica per broker) and empty the batch.

        :param on_leader_and_isr_response: ``(broker_id, response)`` called with each broker's
            answer to its LeaderAndIsr (None when the request failed).
        :returns: :class:`BatchAnswers`.
        """
        leader_and_isr = self.leader_and_isr_requests(context)
        update_metadata = self.update_metadata_requests(context)
        stop_replica = self.stop_replica_requests(context)
        if self.state_change_log is not None:
            self._log_sent(leader_and_isr, update_metadata)
        callbacks = dict(self._stop_replica_callbacks)
        self.clear()
        leader_and_isr_answers = []
        for broker_id, request in leader_and_isr.items():
            d = channel.send_leader_and_isr(broker_id, request)
            if on_leader_and_isr_response is not None:
                d.addCallback(_call_and_pass, on_leader_and_isr_response, broker_id)
            leader_and_isr_answers.append(d)
        update_metadata_answers = [channel.send_update_metadata(broker_id, request)
                                   for broker_id, request in update_metadata.items()]
        for broker_id, request in stop_replica.items():
            d = channel.send_stop_replica(broker_id, request)
            for callback in callbacks.get(broker_id, ()):
                d.addCallback(_call_and_pass, callback, broker_id)
        return BatchAnswers(defer.DeferredList(leader_and_isr_answers, consumeErrors=True),
                            defer.DeferredList(update_metadata_answers, consumeErrors=True))


    def _log_sent(self, leader_and_isr, update_metadata):
        log = self.state_change_log
        if not log.enabled(logging.INFO):
            return
        for broker_id, request in leader_and_isr.items():
            log.sending_leader_and_isr(broker_id, [state for topic in request["topic_states"]
                                                   for state in topic["partition_states"]])
        if update_metadata:
            partitions = max(sum(len(t["partition_states"]) for t in r["topic_states"])
                             for r in update_metadata.values())
            log.sending_update_metadata(sorted(update_metadata), partitions)
        for broker_id, stops in self._stop_replica.items():
            log.sending_stop_replica(broker_id, stops)


class BatchAnswers(NamedTuple):
    """What :meth:`ControllerRequestBatch.send` sent, answered: each a Deferred firing with
    ``[(True, response or None)]`` (``None``: the request failed) once every broker answered."""

    leader_and_isr: defer.Deferred
    update_metadata: defer.Deferred

    def all(self):
        """A Deferred firing once both kinds are answered."""
        return defer.DeferredList([self.leader_and_isr, self.update_metadata], consumeErrors=True)


def _call_and_pass(response, callback, broker_id):
    callback(broker_id, response)
    return response


def live_brokers_for_metadata(context):
    """UpdateMetadata's ``live_brokers`` array (every listener of every live broker)."""
    return [{
        "id": info.broker_id, "rack": info.rack,
        "endpoints": [{"port": port, "host": host, "listener": listener,
                       "security_protocol": zkdata.SECURITY_PROTOCOLS.get(protocol, 0)}
                      for listener, host, port, protocol in info.endpoints],
    } for info in context.live_brokers.values()]


def _partition_state(context, key, leadership, is_new=False, leader=None):
    replicas = context.replicas(key)
    return {
        "topic_name": key[0], "partition_index": key[1], "controller_epoch": leadership.controller_epoch,
        "leader": leadership.leader if leader is None else leader, "leader_epoch": leadership.leader_epoch,
        "isr": list(leadership.isr), "zk_version": leadership.zk_version, "replicas": list(replicas),
        "offline_replicas": [r for r in replicas if r not in context.live_brokers],
        "adding_replicas": list(context.adding_replicas.get(key, ())),
        "removing_replicas": list(context.removing_replicas.get(key, ())), "is_new": is_new,
    }


def _group_by_topic(states, topic_ids):
    grouped = {}
    for state in states:
        grouped.setdefault(state["topic_name"], []).append(state)
    return [{"topic_name": topic, "topic_id": zkdata.topic_id_to_uuid(topic_ids.get(topic)),
             "partition_states": partitions}
            for topic, partitions in grouped.items()]
