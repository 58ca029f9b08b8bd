"""Metadata from one broker at a time, and the conditions the scale benchmark waits for.

A real client sends Metadata to whichever broker it likes; the scale benchmark needs
*every* broker's view, so it asks each one itself: one blocking connection, one Metadata
v1 request for all topics, decoded with our own protocol codec. The counts of
:func:`count_partitions` say how far a broker's view is from "every partition created
and led by a live broker" and "every ISR full"; :func:`poll_brokers` polls the brokers at
a modest interval (Metadata of 10,000 partitions is heavy for a Python broker) until each
one's view meets a condition, and records when.
"""

import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from kafkalite.protocol.headers import decode_response_header, encode_request_message
from kafkalite.protocol.types import ProtocolDecodeError

__all__ = [
    "METADATA_VERSION",
    "PartitionCounts",
    "PollOutcome",
    "condition_all_isr_full",
    "condition_all_led",
    "condition_brokers_known",
    "count_partitions",
    "fetch_metadata",
    "poll_brokers",
    "read_exactly",
]

#: v1: brokers, controller id, topics with every partition's leader, replicas and ISR; ``null`` topics = all.
METADATA_VERSION = 1
_INT32 = struct.Struct(">i")


def read_exactly(sock, count):
    """``count`` bytes from the blocking socket ``sock``.

    :raises ConnectionError: the broker closed the connection first.
    """
    chunks = []
    while count:
        chunk = sock.recv(min(count, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def fetch_metadata(address, timeout=10.0):
    """Metadata v1 for all topics from the broker at ``address`` (``host:port``), decoded.

    :returns: the response as a dict (``brokers``, ``controller_id``, ``topics`` with
        their ``partitions``: ``partition_index``, ``leader_id``, ``replica_nodes``, ``isr_nodes``).
    :raises OSError: the broker cannot be reached or closed the connection (``ConnectionError``).
    :raises ProtocolDecodeError: the answer does not decode.
    """
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        message = encode_request_message(1, ApiKey.METADATA, METADATA_VERSION, {"topics": None}, "kafkalite-perf")
        sock.sendall(_INT32.pack(len(message)) + message)
        frame = read_exactly(sock, _INT32.unpack(read_exactly(sock, 4))[0])
    correlation_id, offset = decode_response_header(frame, ApiKey.METADATA, METADATA_VERSION)
    if correlation_id != 1:
        raise ProtocolDecodeError(f"Metadata answered with correlation id {correlation_id}, not 1")
    return API_BY_KEY[ApiKey.METADATA].decode_response(frame, METADATA_VERSION, offset)


@dataclass(frozen=True)
class PartitionCounts:
    """One broker's view of the expected partitions.

    :ivar total: partitions expected.
    :ivar present: of those, listed in its Metadata.
    :ivar led: of those, with a leader among the live brokers.
    :ivar isr_full: of those, with the expected number of replicas, all of them in the ISR.
    """

    total: int
    present: int
    led: int
    isr_full: int

    @property
    def all_led(self):
        """Every expected partition exists and has a live leader."""
        return self.led == self.total

    @property
    def all_isr_full(self):
        """Every expected partition exists and has its full ISR."""
        return self.isr_full == self.total

    def describe(self):
        """``"9,876/10,000 present, ... led, ... with full ISR"``."""
        return (f"{self.present:,}/{self.total:,} present, {self.led:,} led, "
                f"{self.isr_full:,} with full ISR")


def count_partitions(metadata, expected, live_brokers, replication_factor):
    """Count how many of the ``expected`` partitions ``metadata`` shows present, led and with a full ISR.

    :param expected: ``{topic: partition count}``.
    :param live_brokers: ids of the brokers that run: a leader elsewhere (a killed
        broker the metadata still names) does not count as led.
    :param replication_factor: replicas every partition should have.
    """
    live = set(live_brokers)
    total = sum(expected.values())
    present = led = isr_full = 0
    for topic in metadata.get("topics") or ():
        count = expected.get(topic["name"])
        if count is None or topic["error_code"] != 0:
            continue
        for partition in topic["partitions"] or ():
            if not 0 <= partition["partition_index"] < count:
                continue
            present += 1
            if partition["leader_id"] in live:
                led += 1
            replicas = partition["replica_nodes"] or []
            if len(replicas) == replication_factor and set(partition["isr_nodes"] or ()) == set(replicas):
                isr_full += 1
    return PartitionCounts(total, present, led, isr_full)


@dataclass
class PollOutcome:
    """The result of :func:`poll_brokers`.

    :ivar reached: every broker's view met the condition before the deadline.
    :ivar first_met: ``{broker id: wall-clock time}`` of the first poll of each broker that
        met the condition (the Metadata response's arrival), for the brokers that did.
    :ivar last_unmet: ``{broker id: wall-clock time}`` when the last poll of each broker that
        did *not* meet it was sent: the broker met the condition after that moment.
    :ivar progress: ``{broker id: text}``: the last poll's counts, or its error.
    :ivar slowest_poll_s: the longest Metadata round trip seen.
    :ivar polls: Metadata requests sent.
    :ivar aborted: why polling stopped before the deadline (``abort``'s answer), or ``None``.
    """

    reached: bool = False
    first_met: dict = field(default_factory=dict)
    last_unmet: dict = field(default_factory=dict)
    progress: dict = field(default_factory=dict)
    slowest_poll_s: float = 0.0
    polls: int = 0
    aborted: str | None = None

    @property
    def met_at(self):
        """When the last broker first met the condition (wall clock), or ``None``."""
        return max(self.first_met.values()) if self.reached and self.first_met else None

    @property
    def met_after(self):
        """The lower bound of :attr:`met_at`: the last broker met the condition after this moment
        (wall clock), or ``None`` when every broker met it on its first poll."""
        return max(self.last_unmet.values()) if self.reached and self.last_unmet else None


def poll_brokers(addresses, condition, deadline_s, interval_s, abort=None, fetch=fetch_metadata, clock=time.time,
                 sleep=time.sleep, parallel=True):
    """Poll every broker's Metadata until each has met ``condition`` once, or ``deadline_s`` passes.

    A broker that met it is not asked again (the conditions waited for do not undo
    themselves in a healthy cluster), which also spares its reactor. The brokers of a round
    are asked at once (``parallel``), so a busy broker does not delay polling the others.

    :param addresses: ``{broker id: "host:port"}``.
    :param condition: ``condition(metadata) -> (met, progress text)``.
    :param interval_s: pause between rounds; a figure is known to within this plus a round trip.
    :param abort: called after each round; a non-empty answer (why waiting is pointless, such
        as a broker that exited) ends the polling early.
    :returns: a :class:`PollOutcome`.
    """
    outcome = PollOutcome()
    deadline = clock() + deadline_s
    waiting = dict(addresses)

    def ask(address):
        started = clock()
        try:
            metadata = fetch(address, timeout=max(1.0, min(30.0, deadline - started)))
        except (OSError, ProtocolDecodeError) as exc:
            return started, None, exc
        return started, clock(), metadata

    with ThreadPoolExecutor(max_workers=max(1, len(waiting)) if parallel else 1) as pool:
        while waiting:
            answers = list(pool.map(ask, waiting.values()))
            for broker_id, (started, answered, result) in zip(list(waiting), answers, strict=True):
                outcome.polls += 1
                if answered is None:
                    outcome.progress[broker_id] = f"Metadata failed: {result}"
                    continue
                outcome.slowest_poll_s = max(outcome.slowest_poll_s, answered - started)
                met, outcome.progress[broker_id] = condition(result)
                if met:
                    outcome.first_met[broker_id] = answered
                    del waiting[broker_id]
                else:
                    outcome.last_unmet[broker_id] = started
            if not waiting or clock() >= deadline:
                break
            outcome.aborted = abort() if abort is not None else None
            if outcome.aborted:
                break
            sleep(interval_s)
    outcome.reached = not waiting
    return outcome


def condition_all_led(expected, live_brokers, replication_factor):
    """A :func:`poll_brokers` condition: every expected partition present with a live leader."""
    def check(metadata):
        counts = count_partitions(metadata, expected, live_brokers, replication_factor)
        return counts.all_led, counts.describe()
    return check


def condition_all_isr_full(expected, live_brokers, replication_factor):
    """A :func:`poll_brokers` condition: every expected partition present, led, with every replica in the ISR."""
    def check(metadata):
        counts = count_partitions(metadata, expected, live_brokers, replication_factor)
        return counts.all_led and counts.all_isr_full, counts.describe()
    return check


def condition_brokers_known(broker_ids):
    """A :func:`poll_brokers` condition: the Metadata lists every one of ``broker_ids``."""
    wanted = set(broker_ids)

    def check(metadata):
        known = {broker["node_id"] for broker in metadata.get("brokers") or ()}
        return wanted <= known, f"knows brokers {sorted(known)}"
    return check
