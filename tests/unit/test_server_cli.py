"""The broker command's own helpers: the log lines' time stamps, the start-up lines."""

import os
import time

import pytest

from kafkalite.cli.server import log_time


@pytest.fixture
def utc():
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_log_time_has_milliseconds_and_the_offset(utc):
    """Kafka's log4j layout stamps lines to the millisecond; failover timelines need it."""
    assert log_time(1796102016.0071) == "2026-12-01T05:13:36.007+0000"
    assert log_time(None) == "-"


def test_garbage_collector_tuning():
    """The broker collects the youngest generation far less often than CPython's default."""
    import gc

    from kafkalite.cli.server import GC_THRESHOLDS, tune_garbage_collector

    before = gc.get_threshold()
    try:
        assert tune_garbage_collector() == before
        assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > before[0]
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize("native, level, text", [
    (True, "info", "validating records with the C record walk"),
    (False, "warn", "the C record walk was not built; validating records in pure Python is slower"),
])
def test_start_up_says_which_record_walk_validates(monkeypatch, native, level, text):
    from twisted.logger import Logger, LogLevel, formatEvent

    from kafkalite.cli.server import log_record_walk
    from kafkalite.protocol import record_validation

    events = []
    monkeypatch.setattr(record_validation, "NATIVE", native)
    log_record_walk(Logger(namespace="kafkalite.server", observer=events.append))
    assert [(event["log_level"], formatEvent(event)) for event in events] == [(LogLevel.levelWithName(level), text)]
