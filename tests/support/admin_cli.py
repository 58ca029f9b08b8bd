"""Running ``kafkalite-admin`` as an operator does: the console script as a subprocess.

Owns :func:`admin` (run it, return the :class:`AdminRun`: exit status, stdout, stderr and,
with ``--json``, the parsed document) and :func:`advertises` (whether a broker serves an API
key, so tests of operations whose server side lands separately skip with a clear reason
until it does).
"""

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kafkalite.protocol.apis import API_BY_KEY, ApiKey
from tests.support.wire import WireClient

__all__ = ["AdminRun", "admin", "advertises"]

_SCRIPT = shutil.which("kafkalite-admin", path=str(Path(sys.executable).parent))


@dataclass
class AdminRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)

    def ok(self):
        assert self.returncode == 0, f"exit {self.returncode}: {self.stderr}{self.stdout}"
        return self

    def refused(self, *needles):
        """Assert a non-zero exit with one line on stderr containing every needle."""
        assert self.returncode != 0, f"expected a failure, got: {self.stdout}"
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one error line, got: {self.stderr!r}"
        for needle in needles:
            assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
        return lines[0]


def admin(*args, timeout=120):
    """Run ``kafkalite-admin ARGS`` and return its :class:`AdminRun` (never raises on a non-zero exit)."""
    assert _SCRIPT, "kafkalite-admin is not installed in the virtualenv: run make install"
    done = subprocess.run([_SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return AdminRun(done.returncode, done.stdout, done.stderr)


def advertises(bootstrap, api_key):
    """Whether the broker at ``bootstrap`` serves ``api_key`` and our codec declares it."""
    if api_key not in API_BY_KEY:
        return False
    with WireClient(bootstrap) as client:
        response = client.request(ApiKey.API_VERSIONS, 0, {})
    return any(entry["api_key"] == int(api_key) for entry in response["api_keys"])
