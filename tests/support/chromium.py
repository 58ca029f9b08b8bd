"""Headless Chromium (Debian's ``chromium``) for tests of the broker's HTML pages.

:class:`HeadlessChromium` renders a URL and returns the DOM Chromium built from it
(``--dump-dom``), each run in its own process group with a temporary profile
(``--user-data-dir``) and a deadline. Whatever happens (done, overstayed, the test
interrupted), the run ends by killing its process group, so no renderer or zygote
outlives it.
"""

import os
import shutil
import signal
import subprocess

__all__ = ["HeadlessChromium", "chromium_path"]

RENDER_TIMEOUT_S = 60


def chromium_path():
    """The chromium binary, or None when it is not installed."""
    return shutil.which("chromium")


class HeadlessChromium:
    """Renders pages with ``binary``, keeping profiles under ``workdir``."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = workdir
        self._runs = 0

    def dump_dom(self, url, timeout=RENDER_TIMEOUT_S):
        """The serialized DOM of ``url`` once loaded (a ``str``).

        :raises RuntimeError: when Chromium exits non-zero or outlives ``timeout`` seconds.
        """
        self._runs += 1
        profile = self.workdir / ("profile-%d" % self._runs)
        profile.mkdir(parents=True)
        process = subprocess.Popen(
            [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--user-data-dir=%s" % profile, "--dump-dom", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.communicate()
            raise RuntimeError("chromium did not render %s within %s s" % (url, timeout)) from None
        finally:
            _kill_group(process.pid)  # helpers (zygote, renderer) that outlive the browser process
        if process.returncode != 0:
            raise RuntimeError("chromium exited %d rendering %s: %s" % (
                process.returncode, url, err.decode(errors="replace")[-2000:]))
        return out.decode()


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
