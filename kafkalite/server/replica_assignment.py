"""Replica assignment for new topics and partitions: Kafka 2.8's ``AdminUtils.assignReplicasToBrokers``.

Pure functions over ``{broker_id: rack or None}``. Without racks the first replica of
each partition walks the sorted broker list from a random start and the followers are
shifted by an amount that grows every full round, so leaders and followers both spread
evenly. When every broker has a rack, the broker list is first arranged so that racks
alternate (``[a1, b1, c1, a2, b2, …]``) and each follower is the next broker, along that
list, in a rack (and on a broker) that holds no replica of the partition yet, as long
as such a rack (broker) remains: with at least as many racks as replicas, each
partition's replicas are in distinct racks.

``start_partition_id`` continues an existing topic's assignment (CreatePartitions) so
the new partitions carry on the spread; ``fixed_start_index`` pins the random start
(tests, as Kafka's).
"""

import random

from kafkalite.protocol import errors

__all__ = ["assign_replicas", "rack_alternated_brokers"]


def assign_replicas(brokers, num_partitions, replication_factor, fixed_start_index=-1, start_partition_id=-1,
                    rack_aware=True, rng=random):
    """Assign ``num_partitions`` partitions of ``replication_factor`` replicas to ``brokers``.

    :param brokers: ``{broker_id: rack}`` (rack None when the broker has no ``broker.rack``),
        or an iterable of broker ids (no racks).
    :param fixed_start_index: the start index and first shift (-1: random, as Kafka).
    :param start_partition_id: the first partition id to assign (-1: 0).
    :param rack_aware: False ignores racks (Kafka's ``RackAwareMode.Disabled``).
    :returns: ``{partition: [broker ids]}``, the first replica being the preferred leader.
    :raises InvalidPartitionsError: ``num_partitions`` is not positive.
    :raises InvalidReplicationFactorError: a factor that is not positive, larger than the
        broker count, or some brokers have a rack and others do not.
    """
    if not isinstance(brokers, dict):
        brokers = dict.fromkeys(brokers)
    if num_partitions <= 0:
        raise errors.InvalidPartitionsError("Number of partitions must be larger than 0.")
    if replication_factor <= 0:
        raise errors.InvalidReplicationFactorError("Replication factor must be larger than 0.")
    if replication_factor > len(brokers):
        raise errors.InvalidReplicationFactorError(
            "Replication factor: %d larger than available brokers: %d." % (replication_factor, len(brokers)))
    racks = {b: rack for b, rack in brokers.items() if rack is not None}
    if not rack_aware or not racks:
        return _assign_rack_unaware(sorted(brokers), num_partitions, replication_factor, fixed_start_index,
                                    start_partition_id, rng)
    if len(racks) != len(brokers):
        raise errors.InvalidReplicationFactorError(
            "Not all brokers have rack information for replica rack aware assignment (brokers without a rack: %s)."
            % sorted(b for b in brokers if brokers[b] is None))
    return _assign_rack_aware(racks, num_partitions, replication_factor, fixed_start_index, start_partition_id, rng)


def _replica_index(first_replica_index, second_replica_shift, replica_index, count):
    shift = 1 + (second_replica_shift + replica_index) % (count - 1)
    return (first_replica_index + shift) % count


def _starts(count, fixed_start_index, rng):
    if fixed_start_index >= 0:
        return fixed_start_index, fixed_start_index
    return rng.randrange(count), rng.randrange(count)


def _assign_rack_unaware(broker_list, num_partitions, replication_factor, fixed_start_index, start_partition_id,
                         rng):
    count = len(broker_list)
    start_index, shift = _starts(count, fixed_start_index, rng)
    assignment = {}
    partition = max(0, start_partition_id)
    for _ in range(num_partitions):
        if partition > 0 and partition % count == 0:
            shift += 1
        first = (partition + start_index) % count
        replicas = [broker_list[first]]
        for j in range(replication_factor - 1):
            replicas.append(broker_list[_replica_index(first, shift, j, count)])
        assignment[partition] = replicas
        partition += 1
    return assignment


def rack_alternated_brokers(racks):
    """Brokers ordered so that racks alternate: each rack's brokers in id order, racks in name order.

    ``{1: "a", 2: "a", 3: "b", 4: "c"}`` → ``[1, 3, 4, 2]``.
    """
    by_rack = {}
    for broker_id, rack in sorted(racks.items()):
        by_rack.setdefault(rack, []).append(broker_id)
    queues = [by_rack[rack] for rack in sorted(by_rack)]
    result = []
    depth = 0
    while len(result) < len(racks):
        for queue in queues:
            if depth < len(queue):
                result.append(queue[depth])
        depth += 1
    return result


def _assign_rack_aware(racks, num_partitions, replication_factor, fixed_start_index, start_partition_id, rng):
    arranged = rack_alternated_brokers(racks)
    count = len(arranged)
    num_racks = len(set(racks.values()))
    start_index, shift = _starts(count, fixed_start_index, rng)
    assignment = {}
    partition = max(0, start_partition_id)
    for _ in range(num_partitions):
        if partition > 0 and partition % count == 0:
            shift += 1
        first = (partition + start_index) % count
        leader = arranged[first]
        replicas = [leader]
        racks_used = {racks[leader]}
        k = 0
        for _ in range(replication_factor - 1):
            while True:
                broker = arranged[_replica_index(first, shift * num_racks, k, count)]
                k += 1
                rack = racks[broker]
                # Skip a broker in a rack that already has a replica while some rack has none, and
                # a broker that already has one while some broker has none (Kafka's rule).
                if (rack not in racks_used or len(racks_used) == num_racks) and \
                        (broker not in replicas or len(replicas) == count):
                    replicas.append(broker)
                    racks_used.add(rack)
                    break
        assignment[partition] = replicas
        partition += 1
    return assignment
