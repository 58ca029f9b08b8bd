"""Leader election and ISR removal as pure functions, with Kafka 2.8's rules (reference §2.6).

Each function takes the assignment, the current ISR and the live brokers and
returns a :class:`LeaderAndIsr` or None when no leader may be chosen (or nothing
changes); the state machines plan with them, the controller writes the results to
ZooKeeper and tells the brokers. :func:`imbalanced_partitions` is Kafka's
leader-imbalance rule for automatic preferred-leader election.
"""

from dataclasses import dataclass, replace

__all__ = ["LeaderAndIsr", "NO_LEADER", "new_partition_state", "offline_partition_election",
           "preferred_replica_election", "controlled_shutdown_election", "reassign_partition_election",
           "remove_replica_from_isr", "remove_replicas_from_isr", "imbalanced_partitions"]

NO_LEADER = -1


@dataclass(frozen=True)
class LeaderAndIsr:
    """A partition's leadership as stored in its ``state`` znode."""

    leader: int
    leader_epoch: int
    isr: tuple
    controller_epoch: int
    zk_version: int = 0

    def with_version(self, zk_version):
        """The same state as stored at znode version ``zk_version``."""
        return replace(self, zk_version=zk_version)

    def with_leader(self, leader, isr, controller_epoch):
        """The next state: a new leader and ISR at the next leader epoch."""
        return replace(self, leader=leader, isr=tuple(isr), leader_epoch=self.leader_epoch + 1,
                       controller_epoch=controller_epoch)


def new_partition_state(replicas, live_brokers, controller_epoch):
    """Leader epoch 0, ISR = live assigned replicas, leader = the first of them; None if none is live."""
    isr = tuple(r for r in replicas if r in live_brokers)
    if not isr:
        return None
    return LeaderAndIsr(isr[0], 0, isr, controller_epoch)


def offline_partition_election(replicas, current, live_brokers, unclean_allowed, controller_epoch):
    """Elect a leader for a partition whose leader is gone (or never came up).

    The first replica in assignment order that is live and in the ISR; failing that,
    and only when ``unclean_allowed``, the first live replica, with an ISR of itself.
    """
    live_isr = [r for r in current.isr if r in live_brokers]
    for replica in replicas:
        if replica in live_brokers and replica in live_isr:
            return current.with_leader(replica, list(live_isr), controller_epoch)
    if unclean_allowed:
        for replica in replicas:
            if replica in live_brokers:
                return current.with_leader(replica, [replica], controller_epoch)
    return None


def preferred_replica_election(replicas, current, live_brokers, controller_epoch):
    """Move leadership to the first assigned replica if it is live and in the ISR."""
    preferred = replicas[0]
    if current.leader == preferred or preferred not in live_brokers or preferred not in current.isr:
        return None
    return current.with_leader(preferred, current.isr, controller_epoch)


def controlled_shutdown_election(replicas, current, live_brokers, shutting_down, controller_epoch):
    """First live ISR member not shutting down; the stopping brokers leave the ISR."""
    isr = [r for r in current.isr if r not in shutting_down]
    for replica in replicas:
        if replica in isr and replica in live_brokers:
            return current.with_leader(replica, isr, controller_epoch)
    return None


def reassign_partition_election(target, current, live_brokers, controller_epoch):
    """A finished reassignment's leader: the first replica of the target that is live and in the
    ISR; the ISR is kept (the removed replicas leave it afterwards)."""
    for replica in target:
        if replica in live_brokers and replica in current.isr:
            return current.with_leader(replica, current.isr, controller_epoch)
    return None


def remove_replica_from_isr(current, replica, controller_epoch):
    """The state after ``replica`` leaves the ISR; the leader leaves too when it is the replica.

    The last ISR member stays (Kafka keeps it so the partition can come back cleanly).
    """
    if replica not in current.isr:
        return None
    isr = [r for r in current.isr if r != replica]
    if not isr:
        return current.with_leader(NO_LEADER, current.isr, controller_epoch)
    leader = NO_LEADER if current.leader == replica else current.leader
    return current.with_leader(leader, isr, controller_epoch)


def remove_replicas_from_isr(current, replicas, controller_epoch):
    """The state after every one of ``replicas`` leaves the ISR (one leader epoch later), or None.

    As if they left one at a time, in id order, by :func:`remove_replica_from_isr`: the
    leader becomes ``NO_LEADER`` when it leaves, and the last ISR member stays.
    """
    leader, isr = current.leader, list(current.isr)
    for replica in sorted(set(replicas)):
        if replica not in isr:
            continue
        if replica == leader:
            leader = NO_LEADER
        if len(isr) > 1:
            isr.remove(replica)
    if leader == current.leader and tuple(isr) == tuple(current.isr):
        return None
    return current.with_leader(leader, isr, controller_epoch)


def imbalanced_partitions(context, imbalance_percentage):
    """Partitions to move back to their preferred leader, by Kafka's per-broker imbalance rule.

    For each broker, of the partitions whose preferred (first) replica it is, the share
    led by another broker; above ``imbalance_percentage`` percent, those whose preferred
    replica is live, not shutting down and in the ISR are returned.
    """
    by_preferred = {}
    for key in context.all_partitions():
        if context.is_being_deleted(key) or key not in context.leaderships:
            continue
        replicas = context.replicas(key)
        if replicas:
            by_preferred.setdefault(replicas[0], []).append(key)
    chosen = []
    for broker_id, keys in sorted(by_preferred.items()):
        not_preferred = [k for k in keys if context.leaderships[k].leader != broker_id]
        if not keys or len(not_preferred) * 100 <= imbalance_percentage * len(keys):
            continue
        if broker_id not in context.live_brokers or broker_id in context.shutting_down:
            continue
        chosen.extend(k for k in not_preferred if broker_id in context.leaderships[k].isr)
    return sorted(chosen)
