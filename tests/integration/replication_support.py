"""Helpers for the replication integration tests: topics, leaders and ISRs seen by real clients.

Metadata comes from confluent-kafka's AdminClient (librdkafka), and ZooKeeper state from a
short-lived kazoo client, so the tests check what clients and the cluster really see.
"""

import json
import time

from kazoo.exceptions import NoNodeError

from tests.support import clients
from tests.support.clients import partition_metadata
from tests.support.cluster import wait_until
from tests.support.zookeeper import kazoo_client

__all__ = ["create_topic", "partition_metadata", "wait_for_partition", "zk_state", "zk_write", "zk_children", "zk_get",
           "zk_exists", "acks_all_producer", "produce_sync"]


def create_topic(bootstrap, topic, partitions=1, replication_factor=3, configs=None, assignment=None):
    """Create ``topic`` through CreateTopics and wait until it has leaders."""
    clients.create_topic(bootstrap, topic, partitions, replication_factor, configs, assignment)
    for partition in range(partitions if assignment is None else len(assignment)):
        wait_for_partition(bootstrap, topic, partition, lambda p: p.leader >= 0, "a leader")


def wait_for_partition(bootstrap, topic, partition, predicate, what, timeout=30):
    """Wait until the partition's metadata (:func:`partition_metadata`) satisfies ``predicate``; returns it."""
    found = {}

    def check():
        meta = partition_metadata(bootstrap, topic, partition)
        found["meta"] = meta
        return meta is not None and predicate(meta)

    try:
        wait_until(check, timeout, message=f"{topic}-{partition}: {what}")
    except TimeoutError as error:
        raise TimeoutError(f"{error} (last seen {_describe(found.get('meta'))})") from None
    return found["meta"]


def _describe(meta):
    if meta is None:
        return "nothing"
    return f"leader {meta.leader} replicas {meta.replicas} isr {meta.isrs}"


def zk_state(zk_connect, topic, partition=0, with_version=False):
    """The partition's ``state`` znode as a dict (None if absent); with ``with_version``, (dict, version)."""
    path = f"/brokers/topics/{topic}/partitions/{partition}/state"
    with kazoo_client(zk_connect) as client:
        if not client.exists(path):
            return None
        data, stat = client.get(path)
        return (json.loads(data), stat.version) if with_version else json.loads(data)


def zk_write(zk_connect, path, data):
    """Create ``path`` with ``data`` (bytes) in ZooKeeper, as an admin tool would."""
    with kazoo_client(zk_connect) as client:
        client.create(path, data, makepath=True)


def zk_children(zk_connect, path):
    """The children of ``path`` ([] if it does not exist)."""
    with kazoo_client(zk_connect) as client:
        return client.get_children(path) if client.exists(path) else []


def zk_get(zk_connect, path):
    """The data of ``path`` (None if it does not exist, or is deleted meanwhile: no exists-then-get race)."""
    with kazoo_client(zk_connect) as client:
        try:
            return client.get(path)[0]
        except NoNodeError:
            return None


def zk_exists(zk_connect, path):
    """True if ``path`` exists."""
    with kazoo_client(zk_connect) as client:
        return client.exists(path) is not None


def acks_all_producer(bootstrap, **extra):
    """A confluent-kafka producer with ``acks=all`` that keeps retrying through leader moves."""
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
                     "linger.ms": 5, "message.timeout.ms": 60000, "retries": 1000000,
                     "retry.backoff.ms": 100, **extra})


def produce_sync(producer, topic, values, partition=0):
    """Produce ``values`` and flush; returns (offsets, errors) from the delivery reports."""
    offsets, failures = [], []

    def report(error, message):
        if error is not None:
            failures.append(error)
        else:
            offsets.append(message.offset())

    for value in values:
        producer.produce(topic, value=value, partition=partition, on_delivery=report)
        producer.poll(0)
    deadline = time.monotonic() + 60
    while producer.flush(1) and time.monotonic() < deadline:
        pass
    return offsets, failures
