"""A real Prometheus (Debian's package) for tests, and the shipped monitoring files read as data.

Owns :class:`PrometheusServer` (``/usr/bin/prometheus`` on a free loopback port with its own
storage directory, stopped by pid, queried through its HTTP API with urllib) and the
helpers that turn the files under ``deploy/`` into what a test runs and checks:

- :func:`config_for_test` / :func:`rules_for_test`: the shipped ``prometheus.yml`` and ``rules.yml``
  rewritten for a test — the broker job's targets become the test cluster's metrics ports
  (each labelled with its ``broker`` id as the shipped targets are), scrape and evaluation
  every second, every ``for:`` cut to a few seconds. The expressions, labels and
  annotations are the shipped ones, so the shipped rules are what is tested.
- :func:`dashboard_queries`: every PromQL ``expr`` of the Grafana dashboard, with the
  dashboard's template variables replaced by what Grafana would send (each variable's
  "All" value or its current value, and fixed intervals for ``$__rate_interval`` etc.).
- :func:`without_comparisons`: an alert's expression without its threshold, i.e. the
  series the alert watches, which must exist on a healthy cluster although the alert
  itself (rightly) returns nothing there.
"""

from __future__ import annotations

import copy
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from kafkalite.local.process import free_port, log_tail, spawn, terminate
from kafkalite.local.prometheus import is_ready
from tests.support.cluster import REPO_ROOT, wait_until

__all__ = [
    "BROKER_JOB",
    "DASHBOARD_PATH",
    "PROMETHEUS_CONFIG_PATH",
    "PrometheusServer",
    "PrometheusStartError",
    "RULES_PATH",
    "RULES_TEST_PATH",
    "alerting_rules",
    "config_for_test",
    "dashboard_queries",
    "dashboard_variable_queries",
    "load_yaml",
    "parse_duration",
    "rules_for_test",
    "without_comparisons",
]

PROMETHEUS_CONFIG_PATH = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES_PATH = REPO_ROOT / "deploy" / "prometheus" / "rules.yml"
RULES_TEST_PATH = REPO_ROOT / "deploy" / "prometheus" / "rules_test.yml"
DASHBOARD_PATH = REPO_ROOT / "deploy" / "grafana" / "kafkalite-dashboard.json"

#: The scrape job of the brokers; rules.yml selects on it.
BROKER_JOB = "kafkalite"

PROMETHEUS_BINARY = "/usr/bin/prometheus"

# What Grafana substitutes for its built-in interval variables, for a 1 s scrape interval:
# wide enough for rate() to see several samples.
_GRAFANA_INTERVALS = {"__rate_interval": "10s", "__interval": "2s", "__range": "5m"}

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}

# A binary comparison with a number: `> 0`, `!= 1`, `== bool 0`. Label matchers (`="0"`, `!="x"`)
# never match: their right-hand side is quoted.
_COMPARISON = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def load_yaml(path: Path):
    with open(path) as f:
        return yaml.safe_load(f)


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``90s``, ``1m30s``, ``10m``)."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(number) * _DURATION_UNITS[unit] for number, unit in parts)


def alerting_rules(rules_doc) -> list[dict]:
    """Every alerting rule (``alert:``) of a rules file, in order."""
    return [rule for group in rules_doc["groups"] for rule in group["rules"] if "alert" in rule]


def rules_for_test(rules_doc, max_for: str = "3s"):
    """A copy of ``rules_doc`` whose ``for:`` durations are at most ``max_for``; nothing else changes."""
    rules = copy.deepcopy(rules_doc)
    limit = parse_duration(max_for)
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule and parse_duration(rule["for"]) > limit:
                rule["for"] = max_for
    return rules


def config_for_test(config_doc, brokers, rules_file: str, interval: str = "1s"):
    """A copy of the shipped ``prometheus.yml`` for a test cluster.

    :param brokers: objects with ``broker_id`` and ``metrics_port`` (the test's brokers on 127.0.0.1).
    :param rules_file: the path to put in ``rule_files``.

    The broker job keeps its name and settings; its targets become ``brokers``, one static config
    each with the ``broker`` label, as the shipped file lists them. Other jobs are dropped (a test
    scrapes only its brokers). Scrape and evaluation intervals become ``interval``.
    """
    config = copy.deepcopy(config_doc)
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == BROKER_JOB]
    if len(jobs) != 1:
        raise ValueError(f"the shipped prometheus.yml must have exactly one job {BROKER_JOB!r}")
    job = jobs[0]
    shipped_labels = {name for static in job["static_configs"] for name in static.get("labels", {})}
    if shipped_labels != {"broker"}:
        raise ValueError(f"the {BROKER_JOB} job's targets should carry only a broker label, not {shipped_labels}")
    job["static_configs"] = [
        {"targets": [f"127.0.0.1:{broker.metrics_port}"], "labels": {"broker": str(broker.broker_id)}}
        for broker in brokers
    ]
    job.pop("scrape_interval", None)
    config["scrape_configs"] = [job]
    config.setdefault("global", {}).update({"scrape_interval": interval, "evaluation_interval": interval})
    config["rule_files"] = [rules_file]
    return config


def without_comparisons(expr: str) -> str:
    """``expr`` with every comparison against a number removed: the series an alert watches."""
    return _COMPARISON.sub("", expr)


def _panels(panels):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _variable_values(dashboard) -> dict[str, str]:
    """What each template variable stands for in a query: its "All" value, else its current value."""
    values = dict(_GRAFANA_INTERVALS)
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        if variable.get("includeAll"):
            values[variable["name"]] = variable["allValue"]
        else:
            values[variable["name"]] = variable["current"]["value"]
    return values


def _substitute(expr: str, values: dict[str, str]) -> str:
    def replace(match):
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"unknown dashboard variable ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)


def dashboard_queries(dashboard) -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` for every target of every panel, variables substituted."""
    values = _variable_values(dashboard)
    return [(panel.get("title", ""), _substitute(target["expr"], values))
            for panel in _panels(dashboard["panels"]) for target in panel.get("targets", []) if "expr" in target]


def dashboard_variable_queries(dashboard) -> list[tuple[str, str, str]]:
    """``(variable, label, series selector)`` of every ``label_values(selector, label)`` template variable."""
    values = _variable_values(dashboard)
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
        if match is None:
            raise ValueError(f"variable {variable['name']}: not a label_values() query: {query!r}")
        found.append((variable["name"], match.group(2), _substitute(match.group(1), values)))
    return found


class PrometheusStartError(RuntimeError):
    pass


class PrometheusServer:
    """A Prometheus process of a test.

    :param workdir: its directory: ``prometheus.yml``, ``rules.yml``, ``data/`` and ``prometheus.log``.
    :param config: the configuration (a dict; its ``rule_files`` should name ``rules.yml``).
    :param rules: the rules file's content (a dict).
    """

    def __init__(self, workdir, config, rules):
        self.dir = Path(workdir)
        self.config = config
        self.rules = rules
        self.port = free_port()
        self.process = None

    @property
    def config_path(self) -> Path:
        return self.dir / "prometheus.yml"

    @property
    def rules_path(self) -> Path:
        return self.dir / "rules.yml"

    @property
    def log_path(self) -> Path:
        return self.dir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_files(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.rules_path.write_text(yaml.safe_dump(self.rules, sort_keys=False))

    def start(self, timeout: float = 30.0) -> PrometheusServer:
        """Write the files, start Prometheus and wait until it answers ``/-/ready``."""
        self.write_files()
        self.process = spawn([
            PROMETHEUS_BINARY,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
        ], self.log_path, cwd=str(self.dir), die_with_parent=True, truncate_log=True)
        try:
            wait_until(self._ready, timeout, interval=0.1, message=f"Prometheus ready on port {self.port}")
        except TimeoutError as error:
            tail = log_tail(self.log_path, 30)
            self.stop()
            raise PrometheusStartError(f"{error}\n{tail}") from None
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise PrometheusStartError(f"prometheus exited with {self.process.returncode}:\n"
                                       + log_tail(self.log_path, 30))
        return is_ready(f"127.0.0.1:{self.port}", timeout=2)

    def stop(self):
        """SIGTERM by pid, SIGKILL after 10 s."""
        if self.process is not None and self.process.poll() is None:
            terminate(self.process.pid, 10.0)
        self.process = None

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def api(self, path: str, **params):
        """The ``data`` of a ``/api/v1/<path>`` answer.

        :raises RuntimeError: with Prometheus' error when the answer's status is not ``success``.
        """
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """An instant query's result: ``[{"metric": {...}, "value": [t, "v"]}, ...]`` (empty: no data)."""
        data = self.api("query", query=expr, time=f"{time.time():.3f}")
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def alerts(self) -> list[dict]:
        """The active alerts (``pending`` or ``firing``): ``labels``, ``annotations``, ``state``, ``value``."""
        return self.api("alerts")["alerts"]

    def label_values(self, label: str, selector: str) -> list[str]:
        return self.api(f"label/{label}/values", **{"match[]": selector})

    def targets_up(self) -> dict[str, float]:
        """``{broker label: value of up}`` of the broker job's targets."""
        return {sample["metric"].get("broker", sample["metric"]["instance"]): float(sample["value"][1])
                for sample in self.query(f'up{{job="{BROKER_JOB}"}}')}
