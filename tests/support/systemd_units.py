"""The units and example configs of ``deploy/``, read as systemd and ZooKeeper read them.

:func:`read_unit` parses a unit file (sections, ``\\``-continued lines, comments, repeated
keys); :func:`exec_start_argv` turns its ``ExecStart`` into the argv systemd would run,
with ``%i`` and ``$VAR`` / ``${VAR}`` from ``Environment=`` expanded, so a test can run the
very command line a host would. :func:`read_zoo_cfg` reads a ``zoo.cfg``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYSTEMD_DIR = REPO / "deploy" / "systemd"
CONFIG_DIR = REPO / "deploy" / "config"


def read_unit(path) -> dict[str, dict[str, list[str]]]:
    """``{section: {key: [value, ...]}}`` of a unit file; a key set twice keeps both values in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    pending = ""
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        if current is None or not sep:
            raise ValueError(f"{path}: not a unit file line: {raw!r}")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service_option(unit, key) -> str:
    """The (last) value of ``key`` in ``[Service]``; ``KeyError`` when unset."""
    return unit["Service"][key][-1]


def environment(unit) -> dict[str, str]:
    """The variables every ``Environment=`` line of ``[Service]`` sets."""
    variables = {}
    for line in unit["Service"].get("Environment", []):
        for assignment in shlex.split(line):
            name, _, value = assignment.partition("=")
            variables[name] = value
    return variables


def exec_start_argv(unit, instance="") -> list[str]:
    """The argv of ``ExecStart``: ``%i`` is ``instance``; ``$VAR`` splits into words, ``${VAR}`` is one."""
    variables = environment(unit)
    argv = []
    for word in shlex.split(service_option(unit, "ExecStart").replace("%i", instance)):
        whole = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if whole:
            argv += variables.get(whole.group(1), "").split()
            continue
        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: variables.get(m.group(1), ""), word))
    return argv


def read_zoo_cfg(path) -> dict[str, str]:
    """``key: value`` of a ``zoo.cfg`` (a Java properties file without continuations)."""
    values = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values
