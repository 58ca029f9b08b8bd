"""Model-based test: a Log against a plain list of batches through appends, reads, rolls,
truncations, retention and crash recovery (optionally with a torn tail)."""

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kafkalite.log.config import LogConfig
from kafkalite.log.log import Log
from kafkalite.protocol.errors import OffsetOutOfRangeError
from kafkalite.protocol.recordcodec import decode_batches
from tests.support.log import FakeClock, batch


class LogMachine(RuleBasedStateMachine):
    """The model is ``batches``: a list of (base_offset, values, size) in offset order."""

    def __init__(self):
        super().__init__()
        import tempfile
        self.root = tempfile.mkdtemp(prefix="kafkalite-model-")
        self.path = os.path.join(self.root, "model-0")
        self.clock = FakeClock()
        self.config = LogConfig(segment_bytes=600, index_interval_bytes=150, segment_index_bytes=96,
                                retention_ms=-1, file_delete_delay_ms=0)
        self.log = Log(self.path, self.config, self.clock)
        self.batches = []
        self.log_start_offset = 0
        self.log_end_offset = 0
        self.counter = 0

    def teardown(self):
        import shutil
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- operations -------------------------------------------------------------------

    @rule(count=st.integers(1, 4), width=st.integers(0, 60))
    def append(self, count, width):
        values = [b"%d-" % (self.counter + i) + b"x" * width for i in range(count)]
        self.counter += count
        data = batch(values)
        info = self.log.append_as_leader(memoryview(data), 0)
        assert info.first_offset == self.log_end_offset
        self.batches.append((info.first_offset, values, len(data)))
        self.log_end_offset += count

    @rule()
    def roll(self):
        self.log.roll()

    @rule(data=st.data())
    def read(self, data):
        start = data.draw(st.integers(self.log_start_offset, self.log_end_offset))
        max_bytes = data.draw(st.integers(1, 2000))
        max_offset = data.draw(st.one_of(st.none(), st.integers(self.log_start_offset, self.log_end_offset)))
        info = self.log.read(start, max_bytes, max_offset=max_offset)
        expected = [b for b in self.batches if b[0] + len(b[1]) > start]
        if max_offset is not None:
            expected = [b for b in expected if b[0] + len(b[1]) - 1 < max_offset]
        if info.records is None:
            assert not expected or start == self.log_end_offset or max_offset is not None and start >= max_offset
            return
        got = [(header.base_offset, [record.value for record in records])
               for header, records in decode_batches(info.records.read())]
        assert got, "a non-empty region must hold whole batches"
        assert got == [(b[0], b[1]) for b in expected[:len(got)]]
        assert len(got) == 1 or info.records.length <= max_bytes

    @rule(data=st.data())
    def read_out_of_range(self, data):
        offset = data.draw(st.sampled_from([self.log_end_offset + 1, self.log_start_offset - 1]))
        if offset < 0:
            return
        try:
            self.log.read(offset, 100)
        except OffsetOutOfRangeError:
            return
        raise AssertionError(f"read at {offset} should be out of range")

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def truncate(self, data):
        offset = data.draw(st.integers(self.log_start_offset, self.log_end_offset))
        self.log.truncate_to(offset)
        self.batches = [b for b in self.batches if b[0] + len(b[1]) - 1 < offset]
        self.log_end_offset = self.batches[-1][0] + len(self.batches[-1][1]) if self.batches else \
            min(offset, self.log_end_offset)
        if not self.batches:
            self.log_end_offset = self.log.log_end_offset
            assert self.log_end_offset <= offset
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)

    @precondition(lambda self: self.batches)
    @rule(data=st.data())
    def retention(self, data):
        new_start = data.draw(st.integers(self.log_start_offset, self.log_end_offset))
        self.log.update_high_watermark(self.log_end_offset)
        self.log.maybe_increment_log_start_offset(new_start)
        self.log.delete_retention_segments()
        self.log.delete_expired_files()
        self.log_start_offset = max(self.log_start_offset, new_start)
        assert self.log.log_start_offset == self.log_start_offset
        self.batches = [b for b in self.batches if b[0] + len(b[1]) > self.log_start_offset]

    @rule(tear=st.integers(0, 80))
    def crash(self, tear):
        active = self.log.segments[-1]
        if tear and active.size:
            remaining = max(0, active.size - tear)
            surviving_end, position = active.base_offset, 0
            while position < active.size:
                header = active.read_header(position)
                if position + header.size > remaining:
                    break
                position += header.size
                surviving_end = header.next_offset
            with open(active.log_path, "r+b") as handle:
                handle.truncate(remaining)
            self.batches = [b for b in self.batches if b[0] + len(b[1]) <= surviving_end or b[0] < active.base_offset]
        recovery_point = self.log.recovery_point
        start = self.log.log_start_offset
        self.log = Log(self.path, self.config, self.clock, recovery_point=recovery_point, log_start_offset=start,
                       had_clean_shutdown=False)
        if self.batches:
            self.log_end_offset = self.batches[-1][0] + len(self.batches[-1][1])
        else:
            self.log_end_offset = self.log.log_end_offset
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)

    @rule()
    def clean_restart(self):
        self.log.close()
        self.log = Log(self.path, self.config, self.clock, recovery_point=self.log.recovery_point,
                       log_start_offset=self.log.log_start_offset, had_clean_shutdown=True)

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def offsets_match(self):
        assert self.log.log_end_offset == self.log_end_offset
        assert self.log.log_start_offset == self.log_start_offset

    @invariant()
    def full_scan_matches(self):
        offset, got = self.log_start_offset, []
        while offset < self.log_end_offset:
            info = self.log.read(offset, 10**6)
            if info.records is None:
                break
            for header, records in decode_batches(info.records.read()):
                got.append((header.base_offset, [record.value for record in records]))
                offset = header.base_offset + len(records)
        assert got == [(b[0], b[1]) for b in self.batches]


LogMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
TestLogModel = LogMachine.TestCase
