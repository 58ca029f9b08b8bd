"""Test doubles for the replica layer's unit tests.

``FakeLog`` stands for :class:`kafkalite.log.log.Log` as a
:class:`kafkalite.replica.partition.Partition` sees it: only the offsets a partition
reads and moves (``log_end_offset``, ``high_watermark``, ``update_high_watermark``).
A test sets ``log_end_offset`` directly to play appends; nothing is stored.
"""

__all__ = ["FakeLog"]


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
