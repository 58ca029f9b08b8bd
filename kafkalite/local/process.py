"""Processes by pid: liveness, signals with a deadline, loopback ports and log tails.

The primitives shared by the ZooKeeper and broker launchers. A process is only ever
signalled by its pid (never by name); a stop is SIGTERM, a wait with a deadline, then
SIGKILL. Children started through :func:`spawn` are remembered so that they are reaped:
a stopped child would otherwise linger as a zombie and still look alive to
``kill(pid, 0)``.
"""

import os
import signal
import socket
import subprocess
import time

__all__ = [
    "free_port",
    "is_child",
    "log_tail",
    "pid_alive",
    "pid_cmdline",
    "port_open",
    "signal_and_wait",
    "spawn",
    "terminate",
]

# Children started by spawn(), by pid, so pid_alive can reap them.
_CHILDREN = {}


def free_port(host="127.0.0.1"):
    """A TCP port the kernel says is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host, port, timeout=0.5):
    """True if ``host:port`` accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _load_prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved at import: the pre-exec hook below must not import or allocate much (threads may hold locks).
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child before exec: SIGTERM us when the parent dies (Linux PR_SET_PDEATHSIG).

    A run killed hard (pytest-timeout's os._exit, kill -9 of kafkalite-perf) skips its
    clean-up; this keeps its children from outliving it. The signal is sent when the
    *thread* that started the child exits, so only use it from a long-lived thread.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def spawn(argv, log_path, *, cwd=None, env=None, detach=False, die_with_parent=False, truncate_log=False):
    """Start ``argv`` with stdin from /dev/null and stdout+stderr into ``log_path``.

    :param detach: start it in a new session, so it outlives the caller and its terminal
        (``make run``'s brokers and ZooKeeper).
    :param die_with_parent: SIGTERM it when the starting thread dies (see :func:`_die_with_parent`).
    :param truncate_log: start the log afresh instead of appending to it.
    :returns: the :class:`subprocess.Popen`; the log file is not kept open here (the child has its own).
    """
    with open(log_path, "wb" if truncate_log else "ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=detach,
            close_fds=True,
            preexec_fn=_die_with_parent if die_with_parent else None,  # noqa: PLW1509 -- only a prctl call
        )
    _CHILDREN[process.pid] = process
    return process


def is_child(pid):
    """Whether ``pid`` is a child :func:`spawn` started and has not yet seen exit."""
    return pid in _CHILDREN


def pid_alive(pid):
    """Whether ``pid`` is a live (non-zombie) process; reaps our own children."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
            return False
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def pid_cmdline(pid):
    """The argument list of ``pid`` from /proc, or ``None`` if it is gone.

    Just after exec it can read empty: trust a child of ours by its Popen instead.
    """
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def signal_and_wait(pid, sig, timeout):
    """Send ``sig`` to ``pid`` and wait up to ``timeout`` s for it to be gone; True if it is."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def terminate(pid, timeout, log=None, name=None):
    """Stop ``pid``: SIGCONT (a SIGSTOPped process cannot exit), SIGTERM, wait up to ``timeout`` s, then SIGKILL.

    :param log: called with a line when SIGKILL was needed.
    :returns: True if the process exited on SIGTERM, False if it had to be killed.
    """
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        return True
    if signal_and_wait(pid, signal.SIGTERM, timeout):
        return True
    if log is not None:
        log(f"{name or pid} did not exit within {timeout:g} s: SIGKILL")
    signal_and_wait(pid, signal.SIGKILL, max(timeout, 10.0))
    return False


def stop_recorded(name, pid, files, timeout, out):
    """Stop ``name`` (its ``pid``, None if not running) with :func:`terminate`, saying so on ``out``,
    then remove the ``files`` that recorded it (pid and address files)."""
    if pid is not None:
        out(f"stopping {name} (pid {pid})")
        terminate(pid, timeout, log=out, name=name)
    for path in files:
        path.unlink(missing_ok=True)


def log_tail(path, lines=40, max_bytes=1 << 20):
    """The last ``lines`` lines of the file at ``path`` (reading at most its last ``max_bytes``)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])
