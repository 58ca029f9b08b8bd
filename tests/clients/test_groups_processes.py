"""A group of confluent-kafka consumers in separate processes: joins, leaves, a SIGKILL, all records consumed.

Each consumer process prints ``<partition> <offset> <value>`` per record and
``assigned <partitions>`` per rebalance to its own output file, commits
automatically every 200 ms and commits once more on SIGTERM. After one member is
SIGKILLed its partitions must move to the others once ``session.timeout.ms``
passes; at the end every record has been consumed and the group's committed
offsets equal the log end offsets.
"""

import os
import signal
import subprocess
import sys

import pytest

from tests.support.clients import GROUP_OVERRIDES, committed_offsets, create_topic, produce_round_robin
from tests.support.cluster import wait_until

CONSUMER = r"""
import signal, sys
from confluent_kafka import Consumer

bootstrap, group, topic, out = sys.argv[1:5]
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "session.timeout.ms": 3000, "heartbeat.interval.ms": 300,
                     "enable.auto.commit": True, "auto.commit.interval.ms": 200})
with open(out, "w", buffering=1) as output:
    def on_assign(c, partitions):
        output.write("assigned %s\n" % ",".join(str(p.partition) for p in partitions))
    consumer.subscribe([topic], on_assign=on_assign)
    while not stop:
        message = consumer.poll(0.2)
        if message is None or message.error():
            continue
        output.write("%d %d %s\n" % (message.partition(), message.offset(), message.value().decode()))
    consumer.commit(asynchronous=False)
    consumer.close()
"""

PARTITIONS = 6


class ConsumerProcess:
    """One consumer process; stopped by pid in teardown."""

    def __init__(self, bootstrap, group, topic, path):
        self.path = path
        self.process = subprocess.Popen([sys.executable, "-c", CONSUMER, bootstrap, group, topic, str(path)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def lines(self):
        try:
            return self.path.read_text().splitlines()
        except FileNotFoundError:
            return []

    def values(self):
        return {line.split()[2] for line in self.lines() if not line.startswith("assigned") and
                len(line.split()) == 3}

    def assignments(self):
        return [line.split(" ", 1)[1] if " " in line else "" for line in self.lines() if line.startswith("assigned")]

    def terminate(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()


pytestmark = pytest.mark.cluster(size=1, overrides=GROUP_OVERRIDES)


@pytest.mark.slow
def test_three_consumer_processes_share_and_take_over(broker, tmp_path):
    """Three processes split six partitions; a SIGKILLed member's partitions move; nothing is lost."""
    topic, group = "proc-groups", "proc-group"
    create_topic(broker.bootstrap, topic, PARTITIONS)
    consumers = []
    try:
        def start(name):
            consumer = ConsumerProcess(broker.bootstrap, group, topic, tmp_path / name)
            consumers.append(consumer)
            return consumer

        a, b, c = start("a"), start("b"), start("c")

        def consumed():
            return set().union(*(x.values() for x in consumers))

        def split_three_ways():
            latest = [x.assignments()[-1] if x.assignments() else "" for x in (a, b, c)]
            return all(latest) and sorted(int(p) for s in latest for p in s.split(",")) == list(range(PARTITIONS))
        wait_until(split_three_ways, 60, message="three members each assigned partitions")

        counts = produce_round_robin(broker.bootstrap, topic, 120, PARTITIONS)
        wait_until(lambda: len(consumed()) == 120, 60, message="first 120 records consumed")

        c.kill()
        more = produce_round_robin(broker.bootstrap, topic, 120, PARTITIONS, start=120, keyed=False)
        for p, n in more.items():
            counts[p] += n

        def took_over():
            latest = [x.assignments()[-1] if x.assignments() else "" for x in (a, b)]
            return all(latest) and sorted(int(p) for s in latest for p in s.split(",")) == list(range(PARTITIONS))
        wait_until(took_over, 60, message="the killed member's partitions moved to the survivors")
        wait_until(lambda: len(consumed()) == 240, 60, message="records after the kill consumed")

        d = start("d")
        wait_until(lambda: d.assignments() and d.assignments()[-1], 60,
                   message="a new member joins and gets partitions")
        a.terminate()
        more = produce_round_robin(broker.bootstrap, topic, 60, PARTITIONS, start=240, keyed=False)
        for p, n in more.items():
            counts[p] += n
        wait_until(lambda: len(consumed()) == 300, 60, message="every record consumed")
        assert consumed() == {"v%d" % i for i in range(300)}
        for x in (b, d):
            x.terminate()
        assert committed_offsets(broker.bootstrap, group, topic, PARTITIONS) == counts
    finally:
        for x in consumers:
            x.kill()
