"""The broker's logs: levels per component, the main log on stderr, and ``state-change.log``.

Owns what Kafka's ``config/log4j.properties`` decides for a Kafka broker:

- **levels per component**, from ``kafkalite-server --log-level LEVEL`` (the default for
  every component) and ``--log-level COMPONENT=LEVEL`` (repeatable). A component is a
  logger name and covers the names below it (``kafkalite.replica`` covers
  ``kafkalite.replica.manager.ReplicaManager``); see :data:`COMPONENTS`. Levels are
  log4j's: TRACE, DEBUG, INFO, WARN (or WARNING), ERROR, FATAL (or CRITICAL).
  :func:`parse_log_levels` refuses anything else with a one-line :class:`LogLevelError`;
- the **main log**: twisted.logger events, filtered by those levels, written to stderr;
  the standard library's records (the storage layer cannot import Twisted) are forwarded
  into it;
- the **state-change log**: ``state.change.logger`` (:mod:`kafkalite.state_change_logger`)
  writes to ``LOG_DIR/state-change.log`` only — not to the main log, as Kafka's
  ``additivity.state.change.logger=false`` — at INFO unless a ``--log-level
  state.change.logger=...`` says otherwise (Kafka's ``log4j.properties`` sets it apart from
  the root level too). The file rotates at :data:`STATE_CHANGE_MAX_BYTES`, keeping
  :data:`STATE_CHANGE_BACKUPS` old files, so it cannot fill a disk.
"""

import datetime
import logging
import logging.handlers
import os
from dataclasses import dataclass

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    formatEventAsClassicLogText,
    globalLogBeginner,
)

from kafkalite.state_change_logger import LOGGER_NAME, TRACE, KafkaLayoutFormatter

__all__ = ["COMPONENTS", "LEVELS", "STATE_CHANGE_BACKUPS", "STATE_CHANGE_FILE", "STATE_CHANGE_MAX_BYTES",
           "LogLevelError", "LogLevels", "install_logging", "log_time", "parse_log_levels"]

#: log4j's level names and the standard library's numbers for them (TRACE sits below DEBUG).
LEVELS = {
    "TRACE": TRACE, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
    "WARNING": logging.WARNING, "ERROR": logging.ERROR, "FATAL": logging.CRITICAL, "CRITICAL": logging.CRITICAL,
}

#: The components worth a level of their own (any logger name works; these are documented).
COMPONENTS = {
    "kafkalite.controller": "the controller: elections, broker changes, reassignment, topic deletion",
    "kafkalite.replica": "the replica manager, replica fetchers, ISR writes, stray logs",
    "kafkalite.log": "the storage engine (the log cleaner)",
    "kafkalite.network": "connections and the inter-broker client",
    "kafkalite.server": "the API handlers and start-up",
    "kafkalite.coordinator": "the group coordinator and producer ids",
    "kafkalite.zkclient": "the ZooKeeper session",
    "kazoo": "the ZooKeeper client library (WARNING unless set: it is chatty at INFO)",
    "state.change.logger": "state-change.log (INFO by default: a line per leader and ISR change; "
                           "TRACE adds each request sent and received per partition)",
    "kafka.request.logger": "requests slower than request.timeout.ms (WARN)",
}

#: The state-change log's file name, in the directory given by ``--log-dir``.
STATE_CHANGE_FILE = "state-change.log"
#: Size at which state-change.log rotates, and how many rotated files are kept.
STATE_CHANGE_MAX_BYTES = 64 * 1024 * 1024
STATE_CHANGE_BACKUPS = 10


class LogLevelError(ValueError):
    """A ``--log-level`` argument that is not ``LEVEL`` or ``COMPONENT=LEVEL`` with a known level."""


@dataclass(frozen=True)
class LogLevels:
    """The levels asked for on the command line.

    :ivar default: the level of every component not named (standard library number).
    :ivar components: ``((logger name, level), ...)`` in the order given (a later one wins).
    """

    default: int = logging.INFO
    components: tuple = ()

    def level_of(self, name):
        """The level given for exactly ``name``, or None."""
        found = None
        for component, level in self.components:
            if component == name:
                found = level
        return found


def _level(text, spec):
    level = LEVELS.get(text.strip().upper())
    if level is None:
        raise LogLevelError("unknown log level %r in --log-level %s: use one of %s"
                            % (text, spec, ", ".join(n for n in LEVELS if n not in ("WARNING", "CRITICAL"))))
    return level


def parse_log_levels(specs):
    """:class:`LogLevels` from ``--log-level`` arguments (``LEVEL`` or ``COMPONENT=LEVEL``).

    :raises LogLevelError: naming the bad argument.
    """
    default = logging.INFO
    components = []
    for spec in specs:
        name, sep, text = spec.rpartition("=")
        if not sep:
            default = _level(spec, spec)
            continue
        name = name.strip()
        if not name or any(c.isspace() for c in name) or name.startswith(".") or name.endswith("."):
            raise LogLevelError("bad component %r in --log-level %s: expected COMPONENT=LEVEL, e.g. "
                                "kafkalite.controller=DEBUG" % (name, spec))
        components.append((name, _level(text, spec)))
    return LogLevels(default, tuple(components))


def _twisted_level(level):
    if level < logging.INFO:
        return LogLevel.debug
    if level < logging.WARNING:
        return LogLevel.info
    if level < logging.ERROR:
        return LogLevel.warn
    if level < logging.CRITICAL:
        return LogLevel.error
    return LogLevel.critical


def log_time(when):
    """A log line's time to the millisecond, as Kafka's log4j layout has it: ``2026-12-01T05:13:36.123+0000``."""
    if when is None:
        return "-"
    stamp = datetime.datetime.fromtimestamp(when, datetime.UTC).astimezone()
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}" + stamp.strftime("%z")


class _ForwardToTwisted(logging.Handler):
    """Sends standard-library records into twisted.logger, under the record's logger name."""

    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 -- a bad format string must not lose the record
            message = str(record.msg)
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        Logger(namespace=record.name).emit(_twisted_level(record.levelno), "{message}", message=message)


def open_state_change_log(log_dir, max_bytes=STATE_CHANGE_MAX_BYTES, backups=STATE_CHANGE_BACKUPS):
    """A rotating handler writing ``log_dir/state-change.log`` in Kafka's layout (creating ``log_dir``).

    :raises OSError: when the directory or the file cannot be made.
    """
    os.makedirs(log_dir, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(os.path.join(log_dir, STATE_CHANGE_FILE), maxBytes=max_bytes,
                                                   backupCount=backups, encoding="utf-8")
    handler.setFormatter(KafkaLayoutFormatter())
    return handler


def install_logging(levels, log_dir, stream):
    """Start the broker's logging (once per process).

    :param levels: the :class:`LogLevels`.
    :param log_dir: where ``state-change.log`` goes (created if missing).
    :param stream: the main log (the broker's stderr).
    :returns: the state-change log's handler.
    :raises OSError: when ``log_dir`` or the state-change log cannot be made (nothing installed).
    """
    handler = open_state_change_log(log_dir)
    state_change = logging.getLogger(LOGGER_NAME)
    state_change.handlers[:] = [handler]
    state_change.propagate = False
    state_change_level = levels.level_of(LOGGER_NAME)
    state_change.setLevel(logging.INFO if state_change_level is None else state_change_level)

    root = logging.getLogger()
    root.handlers[:] = [_ForwardToTwisted()]
    root.setLevel(levels.default)
    predicate = LogLevelFilterPredicate(defaultLogLevel=_twisted_level(levels.default))
    for name, level in levels.components:
        predicate.setLogLevelForNamespace(name, _twisted_level(level))
        if name != LOGGER_NAME:
            logging.getLogger(name).setLevel(level)
    text = FileLogObserver(stream, lambda event: formatEventAsClassicLogText(event, formatTime=log_time))
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(text, [predicate])], redirectStandardIO=False)
    return handler
