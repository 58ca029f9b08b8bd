"""Model-based test of compaction: random appends, rolls, cleanings and crashed cleanings checked against a dict.

The model keeps every record ever appended by offset. After each step the log must read back
in offset order, hold only records the model has at those offsets, keep every record the
cleaner has not reached yet, keep each key's latest record (a latest tombstone may vanish
once expired, taking its key with it), and hold each key at most once below the cleaner's
checkpoint. A crashed cleaning is followed by reopening the log from its directory.
"""

import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkalite.log.cleaner import CleanerConfig, LogCleaner
from kafkalite.log.log import Log
from kafkalite.log.manager import LogManager
from kafkalite.protocol.record_validation import RecordError
from tests.support.log import KEY, SWAP_STEPS, FakeClock, SimulatedCrash, append_keyed, compacted_config, contents

keys = st.sampled_from(["a", "b", "c", "d", "e", None])
values = st.one_of(st.none(), st.text(alphabet="xyz", min_size=1, max_size=30))
records = st.lists(st.tuples(keys, values), min_size=1, max_size=4)
operations = st.lists(st.one_of(
    st.tuples(st.just("append"), records, st.sampled_from([0, 1, 3])),
    st.tuples(st.just("roll")),
    st.tuples(st.just("clean"), st.integers(0, 3000)),
    st.tuples(st.just("crash"), st.sampled_from(SWAP_STEPS)),
), max_size=40)


class CompactionModel:
    def __init__(self, directory):
        self.clock = FakeClock(1_000_000)
        self.config = compacted_config(segment_bytes=500, delete_retention_ms=1000)
        self.manager = LogManager([directory], self.config, self.clock)
        self.manager.load()
        self.log = self.manager.get_or_create_log(*KEY)
        self.cleaner = LogCleaner(self.manager, CleanerConfig(), self.clock)
        self.written = {}  # offset -> (key, value)
        self.reached = 0  # highest end offset a cleaning (finished or crashed) aimed at

    def append(self, pairs, codec):
        if any(key is None for key, _ in pairs):  # a compacted topic refuses the whole batch, as Kafka does
            end = self.log.log_end_offset
            with pytest.raises(RecordError):
                append_keyed(self.log, pairs, timestamp=self.clock.now, compression=codec)
            assert self.log.log_end_offset == end
            return
        first = append_keyed(self.log, [(key, value) for key, value in pairs], timestamp=self.clock.now,
                       compression=codec)
        for index, pair in enumerate(pairs):
            self.written[first + index] = pair

    def _note_target(self):
        target = self.cleaner.cleanable(KEY, self.log)
        if target is not None:
            self.reached = max(self.reached, target.end_offset)

    def clean(self, advance_ms):
        self.clock.now += advance_ms
        self._note_target()
        self.cleaner.clean_once()

    def crash(self, step):
        def hook(current):
            if current == step:
                raise SimulatedCrash(step)
        self.cleaner.step_hook = hook
        self._note_target()
        try:
            self.cleaner.clean_once()
        except SimulatedCrash:
            directory = self.log.directory
            self.log = Log(directory, self.config, self.clock, had_clean_shutdown=False)
            self.log.update_high_watermark(self.log.log_end_offset)
            self.manager.logs[KEY] = self.log
            self.cleaner = LogCleaner(self.manager, CleanerConfig(), self.clock)  # a restarted broker's
        self.cleaner.step_hook = None

    def check(self):
        rows = contents(self.log)
        offsets = [offset for offset, _, _ in rows]
        assert offsets == sorted(set(offsets))
        assert self.log.log_end_offset == (max(self.written) + 1 if self.written else 0)
        for offset, key, value in rows:
            assert self.written[offset] == (key, value)
        present = set(offsets)
        checkpoint = self.cleaner.checkpoint_of(KEY) or 0
        assert checkpoint <= self.reached or checkpoint == 0
        latest = {}
        for offset, (key, _value) in sorted(self.written.items()):
            if key is None or offset >= self.reached:
                assert offset in present, f"offset {offset} ({key}) was never cleanable but is gone"
            if key is not None:
                latest[key] = offset
        for key, offset in latest.items():
            visible = [row for row in rows if row[1] == key]
            if self.written[offset][1] is None:
                assert not visible or visible[-1][0] == offset
            else:
                assert visible and visible[-1][0] == offset
        cleaned_keys = [key for offset, key, _ in rows if offset < checkpoint and key is not None]
        assert len(cleaned_keys) == len(set(cleaned_keys))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_compaction_matches_a_dict_model(ops):
    """Whatever the interleaving of appends, rolls, cleanings and crashes, the log agrees with the model."""
    with tempfile.TemporaryDirectory() as directory:
        model = CompactionModel(directory)
        for op in ops:
            if op[0] == "append":
                model.append(op[1], op[2])
            elif op[0] == "roll":
                model.log.roll()
            elif op[0] == "clean":
                model.clean(op[1])
            else:
                model.crash(op[1])
            model.check()
        final = contents(model.log)
        model.manager.shutdown()
        reopened = Log(model.log.directory, model.config, model.clock, had_clean_shutdown=True)
        assert contents(reopened) == final
        reopened.close()
