"""One partition as this broker hosts it: leader or follower, ISR and high watermark.

The leader tracks each follower's log end offset (from the offsets the follower
fetches at) and moves the high watermark to the smallest log end offset in the
ISR (reference §3.3); it never moves backwards.
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
        self._apply(state)
        self.leader_id = self.broker_id
        leo = self.log.log_end_offset
        self.followers = {
            replica: FollowerState(last_caught_up_ms=now_ms if replica in self.isr else 0)
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
        follower.log_end_offset = fetch_offset
        follower.log_start_offset = log_start_offset
        follower.last_fetch_ms = now_ms
        if fetch_offset >= self.log.log_end_offset:
            follower.last_caught_up_ms = now_ms
        return self.maybe_increment_high_watermark()

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
