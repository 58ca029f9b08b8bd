"""FileRegion: a byte range of an open file, sent without copying.

The log hands a fetch's record data to the codec as a region of a segment file;
the network layer writes it with ``os.sendfile`` where it can and falls back to
``os.pread`` otherwise. Nothing here does I/O.
"""

from typing import NamedTuple

__all__ = ["FileRegion"]


class FileRegion(NamedTuple):
    """``length`` bytes of ``file`` (anything with ``fileno()``) starting at ``position``."""

    file: object
    position: int
    length: int

    def __len__(self):
        return self.length

    def read(self):
        """Copy the region into memory (tests, tools and the non-sendfile path)."""
        import os

        return os.pread(self.file.fileno(), self.length, self.position)
