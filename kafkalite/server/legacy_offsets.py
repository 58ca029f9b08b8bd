"""ListOffsets v0's answer: up to ``max_num_offsets`` segment offsets, as Kafka 2.8 gives them.

Before message timestamps existed, a v0 request asked for "offsets before a time" and got
an array: each segment's base offset paired with the segment file's last-modified time,
plus the log end offset (paired with now) when the active segment holds data. Kafka 2.8
still answers v0 that way (``Log.legacyFetchOffsetsBefore`` and
``ReplicaManager.legacyFetchOffsetsForTimestamp``):

- latest (-1) starts from the last entry, earliest (-2) from the first, any other time
  from the last entry whose time is ≤ it (none: an empty array);
- up to ``max_num_offsets`` entries from there towards the log start, highest first;
- a consumer never sees an offset past the high watermark: those are replaced by the
  high watermark itself.
"""

import os

from kafkalite.log.log import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP

__all__ = ["legacy_offsets_before"]


def _last_modified_ms(segment, now_ms):
    try:
        return int(os.stat(segment.log_path).st_mtime * 1000)
    except OSError:  # deleted by retention meanwhile: as recent as can be
        return now_ms


def legacy_offsets_before(log, timestamp, max_num_offsets, now_ms, is_consumer):
    """The ``old_style_offsets`` of a ListOffsets v0 partition, highest first.

    :param log: the partition's :class:`~kafkalite.log.log.Log` (read only: ``segments``,
        ``log_start_offset``, ``log_end_offset``, ``high_watermark``).
    :param is_consumer: the request's ``replica_id`` is negative (capped at the high watermark).
    """
    segments = list(log.segments)
    start = log.log_start_offset
    entries = [(max(segment.base_offset, start), _last_modified_ms(segment, now_ms)) for segment in segments]
    if segments and segments[-1].size > 0:
        entries.append((log.log_end_offset, now_ms))
    if timestamp == LATEST_TIMESTAMP:
        index = len(entries) - 1
    elif timestamp == EARLIEST_TIMESTAMP:
        index = 0 if entries else -1
    else:
        index = len(entries) - 1
        while index >= 0 and entries[index][1] > timestamp:
            index -= 1
    count = max(0, min(max_num_offsets, index + 1))
    offsets = sorted((entries[index - j][0] for j in range(count)), reverse=True)
    if is_consumer:
        high_watermark = log.high_watermark
        if any(offset > high_watermark for offset in offsets):
            offsets = [high_watermark] + [offset for offset in offsets if offset <= high_watermark]
    return offsets
