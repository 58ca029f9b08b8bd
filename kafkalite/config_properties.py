"""Java-properties text (``server.properties``) read as Kafka reads it.

``key=value``, ``key:value`` or ``key value`` lines, comments, continued lines and
escapes, as ``java.util.Properties.load`` reads them. Used by
:mod:`kafkalite.config` and by the local launcher, which must stay standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["parse_properties"]

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and re.match(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _logical_lines(text: str) -> Iterable[str]:
    """Join backslash-continued lines as ``java.util.Properties.load`` does."""
    pending = None
    for physical in text.splitlines():
        line = physical.lstrip(" \t\f") if pending is not None else physical
        if pending is None:
            stripped = line.lstrip(" \t\f")
            if not stripped or stripped[0] in "#!":
                continue
            line = stripped
        # An odd number of trailing backslashes continues the line.
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending = (pending or "") + line[:-1]
            continue
        yield (pending or "") + line
        pending = None
    if pending is not None:
        yield pending


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java-properties ``text`` into ``{key: value}``.

    Comment lines start with ``#`` or ``!``; a key ends at the first unescaped ``=``,
    ``:`` or whitespace; backslash continues a line; ``\\uXXXX`` and the usual escapes are
    decoded. Keys and values are trimmed (as Kafka's ConfigDef trims); a later
    duplicate key wins.
    """
    result: dict[str, str] = {}
    for line in _logical_lines(text):
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "\\":
                i += 2
                continue
            if ch in "=: \t\f":
                break
            i += 1
        key = line[:i]
        rest = line[i:].lstrip(" \t\f")
        if rest[:1] in ("=", ":"):
            rest = rest[1:]
        result[_unescape(key).strip()] = _unescape(rest).strip()
    return result
