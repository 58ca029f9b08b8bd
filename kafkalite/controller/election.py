"""Leader election as pure functions, with Kafka 2.8's rules (reference §2.6).

Each function takes the assignment, the current ISR and the live brokers and
returns a :class:`LeaderAndIsr` or None when no leader may be chosen; the
controller writes the result to ZooKeeper and tells the brokers.
"""

from dataclasses import dataclass, replace

__all__ = ["LeaderAndIsr", "NO_LEADER", "new_partition_state", "offline_partition_election",
           "preferred_replica_election", "controlled_shutdown_election", "remove_replica_from_isr"]

NO_LEADER = -1


@dataclass(frozen=True)
class LeaderAndIsr:
    """A partition's leadership as stored in its ``state`` znode."""

    leader: int
    leader_epoch: int
    isr: tuple
    controller_epoch: int
    zk_version: int = 0

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
