"""Opening a partition directory: leftovers, segments, crash recovery (Kafka 2.8's ``Log.loadSegments``/``recoverLog``).

:func:`load_log` fills a new :class:`~kafkalite.log.log.Log` from its directory:

1. one ``listdir``: leftovers of interrupted deletions and cleanings (``.deleted``,
   ``.cleaned``, ``.tmp``) go, a committed cleaner swap is finished
   (:func:`kafkalite.log.swap.finish_interrupted_swaps`), index files without a log go;
2. one :class:`~kafkalite.log.segment.LogSegment` per ``<base>.log``: nothing but the log
   file is opened; indexes are read when first used, sanity-checked then, and rebuilt
   from the log if missing or inconsistent;
3. after an unclean shutdown, every segment from the one holding the recovery point on
   (the active one always) is CRC-checked batch by batch, its indexes rebuilt, and the
   log cut at the first bad batch;
4. the log end offset, log start offset, producer state and leader-epoch cache follow.

Nothing is written or fsync'd when nothing changed: a clean restart of a log costs its
``listdir``, the open of each ``.log``, the epoch checkpoint's read and a scan of its
batch headers for the producer state.
"""

import os

from kafkalite.log.segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX
from kafkalite.log.swap import finish_interrupted_swaps

__all__ = ["clean_directory", "load_log"]

_LEFTOVER_SUFFIXES = (".deleted", ".cleaned", ".tmp")


def _base_of(name, suffix):
    """The base offset of ``<20 digits><suffix>``, or None."""
    if name.endswith(suffix):
        stem = name[:-len(suffix)]
        if stem.isdigit():
            return int(stem)
    return None


def clean_directory(directory):
    """Remove leftovers, finish committed swaps, drop orphan indexes; the segments' base offsets, sorted."""
    names = []
    for name in os.listdir(directory):
        if name.endswith(_LEFTOVER_SUFFIXES):
            os.unlink(os.path.join(directory, name))
        else:
            names.append(name)
    if any(name.endswith(".swap") or name.endswith(".swapend") for name in names):
        names = finish_interrupted_swaps(directory, names)
    bases = set()
    indexes = []
    for name in names:
        base = _base_of(name, LOG_SUFFIX)
        if base is not None:
            bases.add(base)
        elif name.endswith((INDEX_SUFFIX, TIME_INDEX_SUFFIX)):
            indexes.append(name)
    for name in indexes:
        base = _base_of(name, INDEX_SUFFIX)
        if base is None:
            base = _base_of(name, TIME_INDEX_SUFFIX)
        if base is not None and base not in bases:
            os.unlink(os.path.join(directory, name))
    return sorted(bases)


def load_log(log, recovery_point, log_start_offset, had_clean_shutdown, new=False):
    """Open ``log``'s segments, recover them if needed and set its offsets (see the module doc).

    :param new: the directory was just created: nothing to list.
    """
    bases = [] if new else clean_directory(log.directory)
    last = len(bases) - 1
    for i, base in enumerate(bases):
        log.add_segment(log.new_segment(base, active=(i == last), new=False))
    rebuild_epochs = log.epoch_cache.load_failed
    if not had_clean_shutdown:
        recover_segments(log, recovery_point)
    if not log.segments:
        log.add_segment(log.new_segment(log_start_offset or 0))
    log.log_end_offset = log.segments[-1].read_next_offset()
    start = log.segments[0].base_offset
    if log_start_offset is not None:
        start = max(start, log_start_offset)
    log.log_start_offset = start
    if start > log.log_end_offset:
        log.truncate_fully_and_start_at(start)
    log.rebuild_producer_state(rebuild_epochs)
    log.epoch_cache.truncate_from_end(log.log_end_offset)
    log.epoch_cache.truncate_from_start(log.log_start_offset)
    log.epoch_cache.write(fsync=True)  # only when the cache changed
    if had_clean_shutdown:
        log.recovery_point = log.log_end_offset
    else:
        log.recovery_point = min(recovery_point, log.log_end_offset)
    log.recovery_point = max(log.recovery_point, log.log_start_offset)
    log.high_watermark = log.log_start_offset


def recover_segments(log, recovery_point):
    """CRC-check segments from the one holding ``recovery_point``; cut at the first bad batch."""
    segments = log.segments
    for i, segment in enumerate(list(segments)):
        upper = segments[i + 1].base_offset if i + 1 < len(segments) else None
        if upper is not None and upper <= recovery_point:
            continue
        truncated = segment.recover()
        if truncated:
            log.recovered_bytes_truncated += truncated
            for later in segments[i + 1:]:
                later.delete_files()
            log.drop_segments_after(i)
            segment.make_active()
            break
