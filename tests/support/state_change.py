"""Capturing the state-change log (``state.change.logger``) in unit tests, and reading it from brokers.

:func:`captured_state_changes` collects the lines written to the logger while the block runs,
at a level of the test's choosing, without touching the handlers the broker's CLI installs;
:func:`state_change_lines` reads a broker process's ``state-change.log``.
"""

import contextlib
import logging
from pathlib import Path

from kafkalite.state_change_logger import LOGGER_NAME

__all__ = ["captured_state_changes", "state_change_lines"]


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.NOTSET)
        self.lines = []

    def emit(self, record):
        self.lines.extend(record.getMessage().split("\n"))


@contextlib.contextmanager
def captured_state_changes(level=logging.INFO):
    """A list filling with the state-change lines (prefix and message, one per line) written at ``level`` and up."""
    logger = logging.getLogger(LOGGER_NAME)
    handler = _Lines()
    saved_level, saved_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate


def state_change_lines(log_dir):
    """The lines of ``log_dir/state-change.log`` (empty when it does not exist yet)."""
    path = Path(log_dir) / "state-change.log"
    try:
        return path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
