"""Fault test of issue 9 item 6: brokers ride out the death of the ZooKeeper node they are connected to.

Three brokers on a dedicated three-node ensemble, ``zookeeper.session.timeout.ms=6000``, a
topic of three RF=3 partitions led by each broker. In turn, the ZooKeeper node that brokers
are connected to (found with the ``cons`` four-letter word, by the session id owning each
broker's registration znode) is frozen with SIGSTOP — the socket stays open, the server
never answers —, cut off — frozen, and its accept queue filled so that new TCP connects hang
as to a host gone from the network —, or killed with SIGKILL. Each broker connected to it must reach another node
within its session (ZooKeeper's Java client timeouts: ``kafkalite.zkclient.connection``):
no session is lost (same registration znodes), no ISR shrinks (read on the surviving nodes
all along, and no shrink in the brokers' logs), and an acks=all producer keeps being
acknowledged meanwhile.
"""

import os
import re
import signal
import socket
import time

import pytest

from kafkalite.local.zookeeper import four_letter_word
from tests.faults.helpers import (
    MARGIN_S,
    SESSION_TIMEOUT_S,
    AckRecorder,
    ZkView,
    create_topic,
    start_fault_cluster,
    topic_name,
    wait_isr,
)
from tests.support.cluster import ZooKeeperChroot, wait_until
from tests.support.state_change import state_change_lines

pytestmark = pytest.mark.slow

BROKERS = (1, 2, 3)
PARTITIONS = 3
#: What a broker logs when its session is gone (broker.py, kazoo's connection loop) or, in its
#: state-change.log, when an ISR shrinks (replica/state_change_log.py as leader,
#: controller/state_change_log.py as controller).
TROUBLE = ("ZooKeeper session expired", "Session has expired", "Shrinking ISR", "Removed replicas from the ISR")


def _sessions_by_node(ensemble):
    """``{node: {session ids}}`` of the nodes that answer ``cons``."""
    sessions = {}
    for node in range(1, ensemble.size + 1):
        host, port = ensemble.node_connect_string(node).rsplit(":", 1)
        try:
            reply = four_letter_word(host, int(port), "cons", timeout=1.0)
        except OSError:
            continue
        sessions[node] = {int(sid, 16) for sid in re.findall(r"sid=0x([0-9a-f]+)", reply)}
    return sessions


def _broker_nodes(ensemble, broker_sessions):
    """``{broker: node}`` for the brokers whose session is on a node answering ``cons``."""
    where = {}
    for node, sessions in _sessions_by_node(ensemble).items():
        for broker, session in broker_sessions.items():
            if session in sessions:
                where[broker] = node
    return where


class IsrWatch:
    """Reads the partitions' ISRs through the given ZooKeeper nodes and remembers any short one."""

    def __init__(self, ensemble, nodes, chroot, topic):
        hosts = ",".join(ensemble.node_connect_string(node) for node in nodes)
        self.view = ZkView(hosts + chroot)
        self.topic = topic
        self.shrunk = []

    def sample(self):
        from kazoo.exceptions import KazooException

        for partition in range(PARTITIONS):
            try:
                isr = self.view.isr(self.topic, partition)
            except KazooException:
                continue  # the surviving nodes may be electing a leader: no reading, no verdict
            if sorted(isr) != list(BROKERS):
                self.shrunk.append((partition, isr))

    def close(self):
        self.view.close()


class AcceptQueueFiller:
    """Fills a frozen server's accept queue, so the kernel drops further SYNs: connects to it hang."""

    def __init__(self, host, port):
        self.address = (host, port)
        self.sockets = []

    def fill(self, count=300):
        for _ in range(count):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(self.address)
            self.sockets.append(s)
        wait_until(self._connects_hang, timeout=10, interval=0.2, message=f"connects to {self.address} to hang")

    def _connects_hang(self):
        with socket.socket() as probe:
            probe.settimeout(0.5)
            try:
                probe.connect(self.address)
            except TimeoutError:
                return True
        return False

    def close(self):
        for s in self.sockets:
            s.close()


def _take_down(ensemble, node, how):
    """Freeze, cut off or kill ``node``; returns what must be undone afterwards (or None)."""
    os.kill(ensemble.pid(node), signal.SIGKILL if how == "SIGKILL" else signal.SIGSTOP)
    if how != "cut-off":
        return None
    host, port = ensemble.node_connect_string(node).rsplit(":", 1)
    filler = AcceptQueueFiller(host, int(port))
    filler.fill()
    return filler


def _resume_and_wait_serving(ensemble, node, how, filler):
    if how == "SIGKILL":
        ensemble.start_node(node)
    else:
        os.kill(ensemble.pid(node), signal.SIGCONT)
    if filler is not None:
        filler.close()
    wait_until(lambda: all(ensemble.mode(i) for i in range(1, ensemble.size + 1)), timeout=60,
               message=f"ZooKeeper node {node} to serve again")


def _all_brokers_placed(ensemble, broker_sessions):
    where = _broker_nodes(ensemble, broker_sessions)
    return where if len(where) == len(BROKERS) else None


def _take_down_and_ride_out(ensemble, victim, how, chroot, topic, broker_sessions, recorder):
    """Take ``victim`` down, wait until every broker is on another node and the producer went on
    being acknowledged, watch the ISRs a little longer, bring the node back. Returns short ISRs seen."""
    survivors = [node for node in range(1, ensemble.size + 1) if node != victim]
    acked_before = recorder.acked_count()
    watch = IsrWatch(ensemble, survivors, chroot, topic)
    filler = None

    def moved_and_acked():
        watch.sample()
        now = _broker_nodes(ensemble, broker_sessions)
        return all(now.get(b) in survivors for b in BROKERS) and recorder.acked_count() >= acked_before + 50

    try:
        filler = _take_down(ensemble, victim, how)
        wait_until(moved_and_acked, timeout=SESSION_TIMEOUT_S + MARGIN_S, interval=0.2,
                   message=f"the brokers to reconnect from ZooKeeper node {victim} ({how}) and the producer to go on")
        watch_until = time.monotonic() + 3.0  # a lost session would show as a short ISR by now
        while time.monotonic() < watch_until:
            watch.sample()
            time.sleep(0.2)
    finally:
        _resume_and_wait_serving(ensemble, victim, how, filler)
        watch.close()
    return watch.shrunk


@pytest.mark.parametrize("how", ["SIGSTOP", "cut-off", "SIGKILL"])
def test_brokers_keep_their_sessions_and_isrs_when_their_zookeeper_node_dies(zookeeper_ensemble, tmp_path, how):
    """In turn, the ensemble's leader, then a ZooKeeper node with brokers connected (one not taken
    down before, when there is one) goes down and comes back: no session lost, no ISR shrink,
    acks=all goes on."""
    ensemble = zookeeper_ensemble
    chroot = ZooKeeperChroot(ensemble, f"/zk-failover-{how.lower()}").create()
    cluster = start_fault_cluster(chroot, tmp_path / "cluster")
    recorder = None
    try:
        topic = topic_name("zkfailover")
        create_topic(cluster.bootstrap, topic, [[1, 2, 3], [2, 3, 1], [3, 1, 2]])
        full = ZkView(chroot.connect_string)
        try:
            for partition in range(PARTITIONS):
                wait_isr(full, topic, BROKERS, timeout=30, partition=partition)
            registrations = {b: full.registration_czxid(b) for b in BROKERS}
            broker_sessions = {b: full.client.exists(f"/brokers/ids/{b}").ephemeralOwner for b in BROKERS}
        finally:
            full.close()
        recorder = AckRecorder(cluster.bootstrap, topic, partition=0, rate=50)
        recorder.start()
        wait_until(lambda: recorder.acked_count() >= 20, timeout=30, message="the producer to be acknowledged")

        victims = []
        for round_number in range(ensemble.size):
            where = wait_until(lambda: _all_brokers_placed(ensemble, broker_sessions), timeout=30,
                               message="every broker's session on a serving ZooKeeper node")
            if round_number == 0:
                # the ensemble's leader first: its followers then drop their clients too while they
                # elect a new one, so every broker must find a serving node past the dead one
                victim = wait_until(ensemble.leader, timeout=30, message="a ZooKeeper leader")
            else:
                victim = min(set(where.values()), key=lambda node: (node in victims, node))
            victims.append(victim)
            shrunk = _take_down_and_ride_out(ensemble, victim, how, chroot.chroot, topic, broker_sessions, recorder)
            assert shrunk == [], f"ISRs shrank while ZooKeeper node {victim} ({how}) was down: {shrunk[:5]}"

        assert recorder.finish(timeout=60) == 0
        assert recorder.failed == []
        view = ZkView(chroot.connect_string)
        try:
            assert {b: view.registration_czxid(b) for b in BROKERS} == registrations, "a broker re-registered"
            assert all(sorted(view.isr(topic, p)) == list(BROKERS) for p in range(PARTITIONS))
        finally:
            view.close()
        for broker in cluster.brokers:
            lines = broker.log_text().splitlines() + state_change_lines(broker.dir)
            trouble = [line for line in lines if any(t in line for t in TROUBLE)]
            assert trouble == [], f"{broker.log_path}: {trouble[:5]}"
    finally:
        if recorder is not None and recorder.is_alive():
            recorder.finish(timeout=10)
        cluster.stop()
