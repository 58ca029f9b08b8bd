"""Text checkpoint files (reference §5.3/§5.4): version line, count line, one entry per line.

Used for ``leader-epoch-checkpoint`` (``<epoch> <start_offset>``) and the per-log-dir
``recovery-point-offset-checkpoint``, ``replication-offset-checkpoint`` and
``log-start-offset-checkpoint`` (``<topic> <partition> <offset>``). Writes go to
``<name>.tmp``, are optionally fsync'd, then renamed over the old file.
"""

import os

__all__ = [
    "CorruptCheckpointError",
    "read_checkpoint",
    "read_offset_checkpoint",
    "write_checkpoint",
    "write_offset_checkpoint",
]

_VERSION = 0


class CorruptCheckpointError(Exception):
    """A checkpoint file does not parse (wrong version, count or line shape)."""


def write_checkpoint(path, lines, fsync=True):
    """Atomically replace ``path`` with the version line, the count and ``lines`` (strings)."""
    tmp = path + ".tmp"
    text = "{}\n{}\n{}".format(_VERSION, len(lines), "".join(line + "\n" for line in lines))
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if fsync:
        directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def read_checkpoint(path, fields):
    """Entries of ``path`` as lists of ``fields`` strings; [] when the file does not exist.

    :raises CorruptCheckpointError: malformed content.
    """
    try:
        with open(path, "rb") as handle:  # binary, decoded at once: cheaper per file than a text stream
            lines = handle.read().decode("utf-8").splitlines()
    except FileNotFoundError:
        return []
    try:
        if int(lines[0].strip()) != _VERSION:
            raise CorruptCheckpointError(f"{path}: unsupported version {lines[0]!r}")
        count = int(lines[1].strip())
    except (IndexError, ValueError):
        raise CorruptCheckpointError(f"{path}: malformed header") from None
    entries = [line.split() for line in lines[2:] if line.strip()]
    if len(entries) != count or any(len(entry) != fields for entry in entries):
        raise CorruptCheckpointError(f"{path}: expected {count} entries of {fields} fields")
    return entries


def read_offset_checkpoint(path):
    """``{(topic, partition): offset}`` from a per-log-dir checkpoint file."""
    result = {}
    for topic, partition, offset in read_checkpoint(path, 3):
        try:
            result[(topic, int(partition))] = int(offset)
        except ValueError:
            raise CorruptCheckpointError(f"{path}: bad entry {topic} {partition} {offset}") from None
    return result


def write_offset_checkpoint(path, offsets, fsync=True):
    """Write ``{(topic, partition): offset}`` in Kafka's format, sorted for stable output."""
    lines = [f"{topic} {partition} {offset}" for (topic, partition), offset in sorted(offsets.items())]
    write_checkpoint(path, lines, fsync=fsync)
