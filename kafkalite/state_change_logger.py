"""The state-change log: Kafka's ``state.change.logger``, shared by the controller and the brokers.

Kafka writes every leader and ISR decision to a logger of its own, ``state.change.logger``,
whose lines carry ``[Controller id=N epoch=E]`` (the controller) or ``[Broker id=N]`` (a
broker applying LeaderAndIsr/StopReplica, or changing an ISR it leads) before the message;
its ``log4j.properties`` sends that logger to ``state-change.log`` alone (additivity false).
:class:`StateChangeLogger` is that logger's ``logIdent`` wrapper, over the standard
library's ``logging.getLogger("state.change.logger")`` (the CLI gives it its file; see
:mod:`kafkalite.cli.log_setup`).

Cost. At 10,000 partitions one controller event changes 10,000 partitions' states and a
broker applies as many in one LeaderAndIsr, and Kafka writes a line for each. So:

- nothing is formatted unless the level is enabled (``isEnabledFor`` is a cached check);
- :meth:`StateChangeLogger.each` and :meth:`StateChangeLogger.lines` write one record for a
  whole batch — one line per row, each given its own time stamp and level by
  :class:`KafkaLayoutFormatter` — instead of one ``logging`` record per partition (measured
  at 10,000 partitions: about 2.5 µs a line, formatting and writing included).

Standard library only: the controller and the replica manager both import it.
"""

import logging

__all__ = ["KafkaLayoutFormatter", "LOGGER_NAME", "StateChangeLogger", "TRACE", "format_leader_and_isr"]

#: Kafka's (log4j's) TRACE, below the standard library's DEBUG (10).
TRACE = 5
logging.addLevelName(TRACE, "TRACE")

#: The logger's name, as in Kafka's ``log4j.properties``.
LOGGER_NAME = "state.change.logger"

_logger = logging.getLogger(LOGGER_NAME)


class StateChangeLogger:
    """Writes to ``state.change.logger`` with Kafka's prefix.

    :param broker_id: this broker's id.
    :param in_controller_context: ``[Controller id=N ...]`` (True) or ``[Broker id=N]`` (False).
    :param controller_epoch: the controller epoch for the prefix (controller context only).
    """

    __slots__ = ("broker_id", "controller_epoch", "in_controller_context", "prefix")

    def __init__(self, broker_id, in_controller_context, controller_epoch=None):
        if controller_epoch is not None and not in_controller_context:
            raise ValueError("a controller epoch belongs to the controller's state-change lines only")
        self.broker_id = broker_id
        self.in_controller_context = in_controller_context
        self.controller_epoch = controller_epoch
        epoch = "" if controller_epoch is None else " epoch=%d" % controller_epoch
        self.prefix = "[%s id=%d%s] " % ("Controller" if in_controller_context else "Broker", broker_id, epoch)

    def with_controller_epoch(self, controller_epoch):
        """The same logger, its lines prefixed ``[Controller id=N epoch=controller_epoch]``."""
        return StateChangeLogger(self.broker_id, self.in_controller_context, controller_epoch)

    @staticmethod
    def enabled(level):
        """Whether lines at ``level`` (``TRACE``, ``logging.INFO``, ...) are written."""
        return _logger.isEnabledFor(level)

    def log(self, level, message, *args):
        """One line, ``message % args``, formatted only if ``level`` is enabled."""
        if _logger.isEnabledFor(level):
            _logger.log(level, self.prefix + message, *args)

    def trace(self, message, *args):
        self.log(TRACE, message, *args)

    def info(self, message, *args):
        self.log(logging.INFO, message, *args)

    def warn(self, message, *args):
        self.log(logging.WARNING, message, *args)

    def each(self, level, template, rows):
        """One line per row, ``template % row`` — all in one record, and only if ``level`` is enabled.

        :param rows: an iterable of argument tuples (read only when the level is enabled).
        """
        if _logger.isEnabledFor(level):
            self._write_lines(level, [template % row for row in rows])

    def lines(self, level, lines):
        """Like :meth:`each` for lines already formatted: ``lines``, an iterable of strings, is read only
        if ``level`` is enabled (a generator of f-strings: the cheapest form for the hottest batches)."""
        if _logger.isEnabledFor(level):
            self._write_lines(level, list(lines))

    def _write_lines(self, level, lines):
        if lines:
            prefix = self.prefix
            _logger.log(level, "%s", prefix + ("\n" + prefix).join(lines))


class KafkaLayoutFormatter(logging.Formatter):
    """Kafka's log4j layout ``[%d] %p %m (%c)%n``: ``[2026-12-01 12:00:00,123] INFO message (logger)``.

    Every line of a multi-line message (a batch from :meth:`StateChangeLogger.each`) gets
    its own time stamp, level and logger name, so the file reads one decision per line.
    """

    _LEVEL_NAMES = {logging.WARNING: "WARN", logging.CRITICAL: "FATAL"}

    def format(self, record):
        head = "[%s] %s " % (self.formatTime(record), self._LEVEL_NAMES.get(record.levelno, record.levelname))
        tail = " (%s)" % record.name
        message = record.getMessage()
        text = head + message.replace("\n", tail + "\n" + head) + tail
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def format_leader_and_isr(leader, leader_epoch, isr, zk_version):
    """Kafka's ``LeaderAndIsr.toString``: ``LeaderAndIsr(leader=1, leaderEpoch=2, isr=List(1, 2), zkVersion=3)``."""
    return "LeaderAndIsr(leader=%d, leaderEpoch=%d, isr=List(%s), zkVersion=%d)" % (
        leader, leader_epoch, ", ".join(map(str, isr)), zk_version)
