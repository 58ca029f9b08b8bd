"""kafkalite-perf's raw-limit measurements on real loopback sockets and files.

Checks that the measurements move every byte and finish, never how fast: speed
is reported by ``make bench``, not asserted.
"""

import os
import subprocess
import sys

from kafkalite.cli.perf.raw import measure_file_to_socket, measure_raw_limits, measure_socket_to_file


def test_socket_to_file_writes_every_byte(tmp_path):
    """The loopback sender's bytes all land in the file, in order, and a duration is recorded."""
    path = tmp_path / "raw.bin"
    total = 5 * 1024 * 1024 + 123  # not a multiple of the 1 MiB chunk
    result = measure_socket_to_file(total, path)
    assert result.name == "socket_to_file"
    assert result.bytes == total and result.seconds > 0
    data = path.read_bytes()
    assert len(data) == total
    assert data[:256] == bytes(range(256)) and data[-123:] == bytes(range(123))


def test_file_to_socket_sends_the_whole_file(tmp_path):
    """sendfile moves the whole file to the receiver and reports its size."""
    path = tmp_path / "raw.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    result = measure_file_to_socket(path)
    assert result.name == "file_to_socket"
    assert result.bytes == 3 * 1024 * 1024 + 7 and result.seconds > 0


def test_measure_raw_limits_cleans_up(tmp_path):
    """Both limits are measured, best of the repeats, and the scratch file is removed."""
    limits = measure_raw_limits(2 * 1024 * 1024, 2, str(tmp_path))
    assert set(limits) == {"socket_to_file", "file_to_socket"}
    assert all(limit.mb_per_s > 0 for limit in limits.values())
    assert os.listdir(tmp_path) == []


def test_raw_only_command_line(tmp_path):
    """``kafkalite-perf --raw-only --quick --json`` exits 0, prints both limits and writes the JSON file."""
    out = tmp_path / "perf.json"
    completed = subprocess.run(
        [sys.executable, "-m", "kafkalite.cli.perf", "--raw-only", "--quick", "--raw-mb", "8", "--json", str(out),
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "loopback socket -> page-cache file" in completed.stdout
    assert "page-cache file -> socket (sendfile)" in completed.stdout
    assert '"file_to_socket"' in out.read_text()
    assert os.listdir(tmp_path / "work") == []
