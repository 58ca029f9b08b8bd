"""One partition as this broker hosts it: leader or follower, ISR and high watermark.

The leader tracks each follower's log end offset (from the offsets the follower
fetches at) and moves the high watermark to the smallest log end offset in the
ISR (reference §3.3); it never moves backwards. It also decides, as pure
functions of the follower states and a clock value, which followers fall out of
the ISR (:meth:`Partition.out_of_sync_replicas`) and which may join it
(:meth:`Partition.expand_candidate`); :mod:`kafkalite.replica.isr` writes the
decisions to ZooKeeper.
"""

from dataclasses import dataclass

__all__ = ["FollowerState", "Partition"]


@dataclass
class FollowerState:
    """What the leader knows of one follower replica."""

    log_end_offset: int = -1
    log_start_offset: int = -1
    last_caught_up_ms: int = 0
    last_fetch_ms: int = 0
    #: the leader's log end offset when the follower last fetched (Kafka's lastFetchLeaderLogEndOffset).
    last_fetch_leader_leo: int = -1

    def is_caught_up(self, leader_leo, now_ms, lag_time_max_ms):
        """Kafka's rule: at the leader's end, or caught up to it within ``lag_time_max_ms``."""
        return self.log_end_offset == leader_leo or now_ms - self.last_caught_up_ms <= lag_time_max_ms


class Partition:
    """A replica of ``topic``-``partition`` on this broker.

    :param log: the local :class:`kafkalite.log.log.Log`.
    """

    def __init__(self, topic, partition, broker_id, log):
        self.topic = topic
        self.partition = partition
        self.broker_id = broker_id
        self.log = log
        self.leader_id = -1
        self.leader_epoch = -1
        self.isr = []
        self.replicas = []
        self.zk_version = 0
        self.controller_epoch = 0
        self.followers = {}
        #: the log end offset when this broker became leader at ``leader_epoch``.
        self.leader_epoch_start_offset = -1
        #: True while an ISR change of ours is being written to ZooKeeper.
        self.isr_update_in_flight = False

    @property
    def key(self):
        return (self.topic, self.partition)

    @property
    def is_leader(self):
        return self.leader_id == self.broker_id

    @property
    def high_watermark(self):
        return self.log.high_watermark

    def make_leader(self, state, now_ms):
        """Apply a LeaderAndIsr partition state naming this broker leader."""
        was_leader = self.is_leader
        self._apply(state)
        self.leader_id = self.broker_id
        leo = self.log.log_end_offset
        self.leader_epoch_start_offset = leo
        # Still the leader (a new epoch after an ISR change by the controller): what we know of
        # the followers stays true, as Kafka keeps it; otherwise every follower starts unknown.
        known = self.followers if was_leader else {}
        self.followers = {
            replica: known.get(replica) or FollowerState(last_caught_up_ms=now_ms if replica in self.isr else 0)
            for replica in self.replicas if replica != self.broker_id}
        # A new leader keeps its own high watermark; it only moves once followers report in.
        if self.isr == [self.broker_id]:
            self.log.update_high_watermark(leo)

    def make_follower(self, state):
        """Apply a LeaderAndIsr partition state naming another broker leader."""
        self._apply(state)
        self.leader_id = state["leader"]
        self.followers = {}

    def _apply(self, state):
        self.leader_epoch = state["leader_epoch"]
        self.isr = list(state["isr"])
        self.replicas = list(state["replicas"])
        self.zk_version = state["zk_version"]
        self.controller_epoch = state["controller_epoch"]

    def update_follower(self, replica_id, fetch_offset, log_start_offset, now_ms):
        """Record a follower's fetch position; returns True when the high watermark moved."""
        follower = self.followers.get(replica_id)
        if follower is None:
            return False
        leader_leo = self.log.log_end_offset
        # Caught up now if at our end; caught up as of its previous fetch if it reached what we had then.
        if fetch_offset >= leader_leo:
            follower.last_caught_up_ms = max(follower.last_caught_up_ms, now_ms)
        elif fetch_offset >= follower.last_fetch_leader_leo >= 0:
            follower.last_caught_up_ms = max(follower.last_caught_up_ms, follower.last_fetch_ms)
        follower.log_end_offset = fetch_offset
        follower.log_start_offset = log_start_offset
        follower.last_fetch_ms = now_ms
        follower.last_fetch_leader_leo = leader_leo
        return self.maybe_increment_high_watermark()

    def out_of_sync_replicas(self, now_ms, lag_time_max_ms):
        """ISR followers that have not caught up with us within ``lag_time_max_ms``."""
        if not self.is_leader:
            return []
        leader_leo = self.log.log_end_offset
        lagging = []
        for replica in self.isr:
            if replica == self.broker_id:
                continue
            follower = self.followers.get(replica)
            if follower is None or not follower.is_caught_up(leader_leo, now_ms, lag_time_max_ms):
                lagging.append(replica)
        return lagging

    def expand_candidate(self, replica_id):
        """True when follower ``replica_id`` may rejoin the ISR.

        Its log end offset must reach the high watermark and the offset at which our
        leader epoch began, so it holds everything the ISR may have acknowledged.
        """
        if not self.is_leader or replica_id in self.isr or replica_id not in self.replicas:
            return False
        follower = self.followers.get(replica_id)
        if follower is None:
            return False
        return (follower.log_end_offset >= self.log.high_watermark
                and follower.log_end_offset >= self.leader_epoch_start_offset)

    def maybe_increment_high_watermark(self):
        """Set the high watermark to the smallest log end offset in the ISR; True if it moved."""
        new_hw = self.log.log_end_offset
        for replica in self.isr:
            if replica == self.broker_id:
                continue
            follower = self.followers.get(replica)
            leo = follower.log_end_offset if follower is not None else -1
            if leo < new_hw:
                new_hw = leo
        if new_hw > self.log.high_watermark:
            self.log.update_high_watermark(new_hw)
            return True
        return False

    def isr_caught_up_to(self, offset):
        """True when every ISR member's log end offset is at least ``offset``."""
        for replica in self.isr:
            if replica == self.broker_id:
                if self.log.log_end_offset < offset:
                    return False
                continue
            follower = self.followers.get(replica)
            if follower is None or follower.log_end_offset < offset:
                return False
        return True
