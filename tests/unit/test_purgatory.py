"""The purgatory on its own: operations parked under keys, completed by checks, expiry or shutdown.

A ``task.Clock`` stands for the reactor; :class:`Gate` is the smallest delayed operation,
ready when the test opens it.
"""

from twisted.internet.task import Clock

from kafkalite.replica.purgatory import DelayedOperation, Purgatory


class Gate(DelayedOperation):
    """Ready once :attr:`open` is set; records how (and how often) it completed."""

    def __init__(self, open=False, fail=False):
        self.open = open
        self.fail = fail
        self.checks = 0
        self.completions = []

    def try_complete(self, key=None):
        self.checks += 1
        if self.fail:
            raise RuntimeError("broken condition")
        return self.open

    def on_complete(self, expired):
        self.completions.append(expired)


def test_ready_operation_completes_at_once_and_is_never_parked():
    """An operation whose condition already holds completes inside try_complete_else_watch, unexpired."""
    clock = Clock()
    purgatory = Purgatory(clock, "Fetch")
    gate = Gate(open=True)
    assert purgatory.try_complete_else_watch(gate, [("t", 0)], 500) is True
    assert gate.completions == [False]
    assert len(purgatory) == 0 and clock.getDelayedCalls() == []


def test_check_completes_a_parked_operation_once_its_condition_holds():
    """A check of a key re-evaluates its watchers: nothing while closed, completion (not expiry) once open."""
    clock = Clock()
    purgatory = Purgatory(clock, "Produce")
    gate = Gate()
    assert purgatory.try_complete_else_watch(gate, [("t", 0)], 500) is False
    assert len(purgatory) == 1
    assert purgatory.check(("t", 0)) == 0
    assert purgatory.check(("t", 1)) == 0  # another key: its watcher is not even asked
    assert gate.checks == 2 and gate.completions == []
    gate.open = True
    assert purgatory.check(("t", 0)) == 1
    assert gate.completions == [False]
    assert len(purgatory) == 0
    assert clock.getDelayedCalls() == []  # the expiry timer went with it
    assert purgatory.check(("t", 0)) == 0


def test_operation_expires_through_the_clock():
    """Unmet by its deadline, an operation completes as expired exactly at timeout_ms, and is forgotten."""
    clock = Clock()
    purgatory = Purgatory(clock, "Fetch")
    gate = Gate()
    purgatory.try_complete_else_watch(gate, [("t", 0)], 500)
    clock.advance(0.499)
    assert gate.completions == []
    clock.advance(0.001)
    assert gate.completions == [True]
    assert len(purgatory) == 0
    gate.open = True
    assert purgatory.check(("t", 0)) == 0
    assert gate.completions == [True]


def test_operation_watching_several_keys_completes_once_and_leaves_every_key():
    """Checked through any of its keys, a multi-key operation completes once; no key keeps it afterwards."""
    clock = Clock()
    purgatory = Purgatory(clock, "Produce")
    both = Gate()
    other = Gate()
    purgatory.try_complete_else_watch(both, [("t", 0), ("t", 1)], 500)
    purgatory.try_complete_else_watch(other, [("t", 1)], 500)
    both.open = True
    assert purgatory.check(("t", 0)) == 1
    checks = both.checks
    assert purgatory.check(("t", 1)) == 0
    assert both.checks == checks  # forgotten under ("t", 1) too: not asked again
    assert other.checks == 2
    clock.advance(1)
    assert both.completions == [False]
    assert other.completions == [True]
    assert len(purgatory) == 0


def test_complete_all_completes_every_parked_operation_as_expired():
    """Shutdown: every parked operation completes once, as expired, and no timer is left behind."""
    clock = Clock()
    purgatory = Purgatory(clock, "Fetch")
    gates = [Gate(), Gate(), Gate()]
    purgatory.try_complete_else_watch(gates[0], [("t", 0)], 500)
    purgatory.try_complete_else_watch(gates[1], [("t", 0), ("t", 1)], 900)
    purgatory.try_complete_else_watch(gates[2], [("u", 3)], 100)
    purgatory.complete_all()
    assert [gate.completions for gate in gates] == [[True], [True], [True]]
    assert len(purgatory) == 0 and clock.getDelayedCalls() == []
    clock.advance(10)
    assert [gate.completions for gate in gates] == [[True], [True], [True]]


def test_failing_check_completes_the_operation_instead_of_hanging():
    """A try_complete that raises during a check completes that operation; its neighbours are unaffected."""
    clock = Clock()
    purgatory = Purgatory(clock, "Fetch")
    broken, healthy = Gate(), Gate()
    purgatory.try_complete_else_watch(broken, [("t", 0)], 500)
    purgatory.try_complete_else_watch(healthy, [("t", 0)], 500)
    broken.fail = True
    assert purgatory.check(("t", 0)) == 1
    assert broken.completions == [False]
    assert healthy.completions == [] and len(purgatory) == 1
    clock.advance(0.5)
    assert broken.completions == [False] and healthy.completions == [True]


def test_force_complete_is_idempotent():
    """Completing an operation twice (say, a check racing its expiry) calls on_complete only once."""
    clock = Clock()
    purgatory = Purgatory(clock, "Produce")
    gate = Gate()
    purgatory.try_complete_else_watch(gate, [("t", 0)], 500)
    assert gate.force_complete() is True
    assert gate.force_complete(expired=True) is False
    clock.advance(1)
    assert gate.completions == [False]


def test_zero_and_negative_timeouts_expire_on_the_next_clock_turn():
    """A timeout of 0 (or below) still parks the operation, due at once rather than never."""
    clock = Clock()
    purgatory = Purgatory(clock, "Fetch")
    zero, negative = Gate(), Gate()
    purgatory.try_complete_else_watch(zero, [("t", 0)], 0)
    purgatory.try_complete_else_watch(negative, [("t", 0)], -5)
    assert zero.completions == [] and negative.completions == []
    clock.advance(0)
    assert zero.completions == [True] and negative.completions == [True]
