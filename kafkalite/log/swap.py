"""The log cleaner's segment swap, crash-safe: committing it, and finishing or dropping an interrupted one.

A cleaned segment replaces a run of old segments in steps (:func:`replace_segments`),
each of which a crash may interrupt; :func:`finish_interrupted_swaps`, run when the log
is loaded, completes a committed swap and drops an uncommitted one:

1. ``<base>.swapend.cleaned`` → ``<base>.swapend`` (harmless alone: recovery drops it);
2. ``<base>.log.cleaned`` → ``<base>.log.swap``: the commit point;
3. the old segments → ``.deleted``, still open for FileRegions already handed out, closed
   after ``file.delete.delay.ms``;
4. ``<base>.log.swap`` → ``<base>.log`` and the indexes ``.cleaned`` → final names;
5. ``<base>.swapend`` removed.

``<base>.swapend`` holds the offset where the replaced segments end: recovery deletes
exactly the old segments with a base in [base, end).
"""

import os

from kafkalite.log.segment import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, segment_file_name

__all__ = ["SWAP_END_SUFFIX", "finish_interrupted_swaps", "fsync_dir", "replace_segments"]

SWAP_END_SUFFIX = ".swapend"
_SWAP_SUFFIX = LOG_SUFFIX + ".swap"


def fsync_dir(path):
    """fsync a directory (makes renames and creations in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def replace_segments(log, cleaned, old_segments, end_offset, generation, step_hook=None):
    """Swap the cleaner's ``cleaned`` segment in for ``old_segments`` of ``log`` (a cleaner thread).

    See :meth:`kafkalite.log.log.Log.replace_segments` for the contract; the steps are the
    module's. Readers switch to ``cleaned`` at the commit point, under ``log.lock``.

    :returns: True when swapped; False when abandoned (the cleaned files are removed).
    """
    hook = step_hook or (lambda step: None)
    base = cleaned.base_offset
    swap_end = os.path.join(log.directory, segment_file_name(base, SWAP_END_SUFFIX))
    with log.lock:
        live = {id(segment) for segment in log.segments[:-1]}
        if log.closed or generation != log.cleaner_generation or \
                any(id(segment) not in live for segment in old_segments):
            names = [os.path.basename(path) for path in
                     (cleaned.log_path, cleaned.offset_index_path, cleaned.time_index_path)]
            cleaned.delete_files()
            # the directory may have been renamed meanwhile (topic deletion): unlink by name too
            for name in names:
                _unlink_quietly(os.path.join(log.directory, name))
            _unlink_quietly(os.path.join(log.directory, os.path.basename(swap_end) + ".cleaned"))
            return False
        hook("swapend")
        os.rename(swap_end + ".cleaned", swap_end)
        hook("commit")
        cleaned.rename_log_file(".swap")
        log.splice_segments(old_segments, cleaned)
        fsync_dir(log.directory)
        for segment in old_segments:
            hook("delete_old")
            log.schedule_delete(segment)
        hook("rename_log")
        cleaned.rename_log_file("")
        hook("rename_indexes")
        cleaned.rename_index_files("")
        hook("remove_swapend")
        os.unlink(swap_end)
    fsync_dir(log.directory)
    return True


def _read_swap_end(directory, base):
    """The end offset recorded for the swap of ``base``."""
    try:
        with open(os.path.join(directory, segment_file_name(base, SWAP_END_SUFFIX)), encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        # Without it every later segment would be at risk: replace only the same base.
        return base + 1


def finish_interrupted_swaps(directory, names):
    """Complete every committed swap (a ``<base>.log.swap``) and drop ``.swap``/``.swapend`` leftovers.

    A committed swap's old segments, those with a base in [base, end), are deleted and the
    ``.swap`` takes their place; its indexes are removed (the loader rebuilds them).

    :param names: the directory's entries (already without ``.cleaned`` ones).
    :returns: the directory's entries afterwards.
    """
    swaps = sorted(int(name[:-len(_SWAP_SUFFIX)]) for name in names
                   if name.endswith(_SWAP_SUFFIX) and name[:-len(_SWAP_SUFFIX)].isdigit())
    for base in swaps:
        end = _read_swap_end(directory, base)
        for other in os.listdir(directory):
            other_stem = other[:-len(LOG_SUFFIX)]
            if other.endswith(LOG_SUFFIX) and other_stem.isdigit() and base <= int(other_stem) < end:
                os.unlink(os.path.join(directory, other))
        os.rename(os.path.join(directory, segment_file_name(base, _SWAP_SUFFIX)),
                  os.path.join(directory, segment_file_name(base, LOG_SUFFIX)))
        for suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            _unlink_quietly(os.path.join(directory, segment_file_name(base, suffix)))
    for name in os.listdir(directory):
        if name.endswith((".swap", SWAP_END_SUFFIX)):
            os.unlink(os.path.join(directory, name))
    return os.listdir(directory)
