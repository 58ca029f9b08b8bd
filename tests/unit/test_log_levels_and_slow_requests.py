"""``--log-level`` parsing and refusal, and the slow-request line, with a fake clock (no sockets).

The slow-request tests drive the broker's real server protocol on a StringTransport with a
``task.Clock``: a request is "slow" when the clock moved past ``request.timeout.ms``
between its arrival and its response.
"""

import logging

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger, LogLevel, formatEvent

from kafkalite.cli import server as server_cli
from kafkalite.cli.log_setup import LogLevelError, LogLevels, parse_log_levels
from kafkalite.network.request_log import REQUEST_LOGGER
from kafkalite.network.server import KafkaServerFactory
from kafkalite.protocol.apis import ApiKey
from kafkalite.state_change_logger import TRACE
from tests.support.network import METADATA_VERSION, Recorder, metadata_request, metadata_response, request_frame

# --- --log-level ----------------------------------------------------------------------------


def test_levels_default_and_per_component():
    """LEVEL sets the default, COMPONENT=LEVEL one component; names are case-insensitive, TRACE below DEBUG."""
    levels = parse_log_levels(["warn", "kafkalite.controller=DEBUG", "state.change.logger=trace"])
    assert levels.default == logging.WARNING
    assert levels.components == (("kafkalite.controller", logging.DEBUG), ("state.change.logger", TRACE))
    assert TRACE < logging.DEBUG
    assert parse_log_levels([]) == LogLevels(logging.INFO, ())
    assert parse_log_levels(["a=ERROR", "a=FATAL"]).level_of("a") == logging.CRITICAL


@pytest.mark.parametrize(("spec", "message"), [
    ("LOUD", "unknown log level 'LOUD' in --log-level LOUD: use one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"),
    ("kafkalite.controller=verbose", "unknown log level 'verbose' in --log-level kafkalite.controller=verbose"),
    ("=DEBUG", "bad component '' in --log-level =DEBUG: expected COMPONENT=LEVEL"),
    ("kafka lite=DEBUG", "bad component 'kafka lite' in --log-level kafka lite=DEBUG"),
])
def test_bad_levels_are_refused_with_one_line(spec, message):
    with pytest.raises(LogLevelError) as error:
        parse_log_levels([spec])
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_server_refuses_an_unknown_level_before_starting(tmp_path, capsys):
    """kafkalite-server exits 1 with one line on stderr; nothing is started, no log dir is made."""
    config = tmp_path / "server.properties"
    config.write_text("zookeeper.connect=127.0.0.1:1\n")
    status = server_cli.main([str(config), "--log-dir", str(tmp_path / "logs"), "--log-level", "kafkalite.log=LOUD"])
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kafkalite-server: unknown log level 'LOUD'")
    assert not (tmp_path / "logs").exists()


def test_server_reports_a_log_dir_it_cannot_make(tmp_path, capsys):
    config = tmp_path / "server.properties"
    config.write_text("zookeeper.connect=127.0.0.1:1\n")
    (tmp_path / "file").write_text("")
    assert server_cli.main([str(config), "--log-dir", str(tmp_path / "file" / "logs")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kafkalite-server: cannot write the state-change log in ")


# --- slow requests ----------------------------------------------------------------------------


def connect(dispatch, request_timeout_ms):
    """A server protocol over a StringTransport and a Clock; returns (protocol, clock, warnings logged)."""
    clock = Clock()
    factory = KafkaServerFactory(clock, dispatch, "PLAINTEXT", 1 << 20, request_timeout_ms=request_timeout_ms)
    events = []
    factory.slow_requests.log = Logger(namespace=REQUEST_LOGGER, observer=events.append)
    protocol = factory.buildProtocol(None)
    protocol.makeConnection(StringTransport(peerAddress=None))
    return protocol, clock, events


def metadata_frame(correlation_id, client_id="slow-client"):
    return request_frame(ApiKey.METADATA, METADATA_VERSION, correlation_id, metadata_request("t"), client_id)


def test_a_request_over_request_timeout_is_logged_once_with_api_client_and_time():
    """Answered 250 ms after arrival with request.timeout.ms=200: one WARN line; a quick one: none."""
    parked = {}

    def dispatch(context, request):
        parked[context.correlation_id] = d = defer.Deferred()
        return d

    protocol, clock, events = connect(Recorder(dispatch), 200)
    protocol.dataReceived(metadata_frame(7) + metadata_frame(8))
    clock.advance(0.05)
    parked[8].callback(metadata_response("t"))  # quick, but answered after 7: not slow itself
    clock.advance(0.2)
    parked[7].callback(metadata_response("t"))
    assert len(events) == 1
    event = events[0]
    assert event["log_level"] == LogLevel.warn and event["log_namespace"] == REQUEST_LOGGER
    line = formatEvent(event)
    assert line.startswith(f"Slow request: Metadata v{METADATA_VERSION} from client id 'slow-client' "
                           "(correlation id 7, ")
    assert "took 250 ms, more than request.timeout.ms=200, 250 ms of it after the handler returned " \
           "(in the purgatory)" in line


def test_a_request_answered_at_once_but_slowly_has_no_purgatory_part():
    """A handler that itself took the time (the clock moved inside it): no purgatory share in the line."""
    clock_box = {}

    def dispatch(context, request):
        clock_box["clock"].advance(0.3)
        return metadata_response("t")

    protocol, clock, events = connect(Recorder(dispatch), 200)
    clock_box["clock"] = clock
    protocol.dataReceived(metadata_frame(1))
    assert [formatEvent(e).endswith("took 300 ms, more than request.timeout.ms=200") for e in events] == [True]


def test_no_timeout_configured_never_logs():
    parked = []
    protocol, clock, events = connect(Recorder(lambda c, r: parked.append(defer.Deferred()) or parked[-1]), None)
    protocol.dataReceived(metadata_frame(1))
    clock.advance(3600)
    parked[0].callback(metadata_response("t"))
    assert events == []


def test_the_launcher_gives_each_broker_a_log_dir_and_the_levels():
    """make run's brokers (kafkalite.local): state-change.log in NAME-logs/ next to NAME.log, levels passed on."""
    from kafkalite.local.broker import BrokerProcess

    broker = BrokerProcess("/run/cfg.properties", "/run/broker-1.log", 9092, broker_id=1,
                           log_levels=("INFO", "kafkalite.controller=DEBUG"))
    assert broker.argv()[-6:] == ["--log-dir", "/run/broker-1-logs", "--log-level", "INFO",
                                  "--log-level", "kafkalite.controller=DEBUG"]
    assert BrokerProcess("c", "/t/b.log", 1, app_log_dir="/t/b").argv()[-2:] == ["--log-dir", "/t/b"]


def test_kazoo_keeps_a_level_the_operator_set_and_is_quiet_otherwise():
    """--log-level kazoo=DEBUG sets kazoo's logger before the ZooKeeper client starts; the client keeps it."""
    import logging

    from kafkalite.zkclient import install_kazoo_logging

    kazoo = logging.getLogger("kazoo")
    saved = kazoo.level
    try:
        kazoo.setLevel(logging.NOTSET)
        install_kazoo_logging()
        assert kazoo.level == logging.WARNING
        kazoo.setLevel(logging.DEBUG)
        install_kazoo_logging()
        assert kazoo.level == logging.DEBUG
    finally:
        kazoo.setLevel(saved)
