"""How ``kafkalite-admin`` talks to its operator: aligned tables, ``--json`` and one-line errors.

:class:`AdminError` is the one exception a subcommand raises for anything the operator must
fix or know (a bad argument, an unreachable cluster, a refused change); ``main`` prints its
message as one line on stderr and exits non-zero. :class:`Output` collects what a subcommand
reports so that the same command prints a table for people or one JSON document for scripts.
"""

import json
import sys

from kafkalite.protocol.errors import error_for_code

__all__ = ["AdminError", "Output", "format_table", "kafka_error", "raise_for_code"]


class AdminError(Exception):
    """A failure to report in one line (``kafkalite-admin: <message>``) with exit status 1."""


def kafka_error(code, message=None, context=None):
    """An :class:`AdminError` naming Kafka's error ``code`` (``TOPIC_ALREADY_EXISTS: ...``)."""
    name = error_for_code(code).name if code != -1 else "UNKNOWN_SERVER_ERROR"
    text = f"{name}: {message}" if message else name
    return AdminError(f"{context}: {text}" if context else text)


def raise_for_code(code, message=None, context=None):
    """Raise :func:`kafka_error` unless ``code`` is 0."""
    if code:
        raise kafka_error(code, message, context)


def format_table(headers, rows):
    """Columns left-aligned to their widest cell, as Kafka's tools print them; ``None`` is ``-``."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(" ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


class Output:
    """What a subcommand reports: lines for people, or one JSON value for ``--json``.

    :param as_json: print :attr:`data` as JSON at :meth:`flush` instead of the lines.
    :param stream: where to write (stdout).
    """

    def __init__(self, as_json=False, stream=None):
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.data = {}
        self._lines = []

    def line(self, text=""):
        """Add a line of the human-readable report."""
        self._lines.append(text)

    def table(self, headers, rows):
        """Add an aligned table (and a blank line after it) to the human-readable report."""
        self._lines.append(format_table(headers, rows))
        self._lines.append("")

    def flush(self):
        """Print the report (JSON or lines)."""
        if self.as_json:
            self.stream.write(json.dumps(self.data, indent=2, sort_keys=False) + "\n")
        elif self._lines:
            self.stream.write("\n".join(self._lines).rstrip("\n") + "\n")
        self.stream.flush()
