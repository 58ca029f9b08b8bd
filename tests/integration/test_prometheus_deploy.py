"""deploy/prometheus and deploy/grafana checked by promtool and by a real Prometheus scraping a real cluster.

- promtool accepts the shipped configuration and rules, and the copies a test derives from them, and
  the shipped rules pass their promtool unit tests (real `for:` durations, made-up series);
- the dashboard and the rules use only the series the brokers export (README's Metrics table),
  the dashboard has the rows the issue asks for, and every alert has a severity and annotations;
- with Prometheus scraping 3 brokers, every dashboard query (template variables substituted as
  Grafana would) and every rule expression returns data. Alerts watch for failures, so on a
  healthy cluster their full expressions rightly return nothing: each is evaluated without its
  threshold comparison (``without_comparisons``), which must give the series the alert watches;
- a group that stopped consuming while production goes on gets lag in Prometheus and its
  lag-growing alert goes active;
- stopping a broker makes the under-replicated-partitions alert go pending, then firing, and
  restarting it resolves the alert.
"""

import json
import re
import subprocess

import pytest

from tests.support.clients import consume_in_group, create_topic, produce_round_robin
from tests.support.cluster import REPO_ROOT, wait_until
from tests.support.prometheus import (
    DASHBOARD_PATH,
    PROMETHEUS_CONFIG_PATH,
    RULES_PATH,
    RULES_TEST_PATH,
    PrometheusServer,
    alerting_rules,
    config_for_test,
    dashboard_queries,
    dashboard_variable_queries,
    load_yaml,
    rules_for_test,
    without_comparisons,
)

# The alerts issue 9 asks for (broker down, under-replicated, under min ISR, offline partitions, active
# controllers != 1, offline log directories, consumer lag growing, ZooKeeper session lost).
REQUIRED_ALERTS = {
    "KafkaliteBrokerDown",
    "KafkaliteUnderReplicatedPartitions",
    "KafkaliteUnderMinIsrPartitions",
    "KafkaliteOfflinePartitions",
    "KafkaliteActiveControllerCount",
    "KafkaliteOfflineLogDirectories",
    "KafkaliteConsumerLagGrowing",
    "KafkaliteZooKeeperSessionLost",
}
DASHBOARD_ROWS = ["Cluster overview", "Throughput per topic", "Request latency", "Replication health",
                  "Log sizes", "Consumer lag per group"]
# Series Prometheus itself adds to every target.
PROMETHEUS_SERIES = {"up"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

TOPIC = "orders"
GROUP = "billing"
OVERRIDES = {"auto.leader.rebalance.enable": "false", "replica.lag.time.max.ms": "3000"}


def promtool(*args):
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def exported_names():
    """Every series name README's Metrics table lists."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`((?:kafka|process)_[a-z0-9_]+)`", line.split("|")[1]))
    return names


def series_names(expr):
    """The metric names an expression reads (identifiers followed by a selector, a range or a bracket)."""
    without_labels = re.sub(r"\{[^}]*\}", "{}", expr)
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*(?=\{|\[)", without_labels))
    return {name for name in names if "_" in name or name in PROMETHEUS_SERIES}


def known(name, exported):
    if name in exported or name in PROMETHEUS_SERIES:
        return True
    return any(name.endswith(suffix) and name[:-len(suffix)] in exported for suffix in HISTOGRAM_SUFFIXES)


# --- files ---------------------------------------------------------------------------------


def test_promtool_accepts_the_shipped_config_rules_and_rule_tests_and_the_derived_ones(tmp_path):
    checked = promtool("check", "config", str(PROMETHEUS_CONFIG_PATH))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    checked = promtool("check", "rules", str(RULES_PATH))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: %d rules found" % len(load_yaml(RULES_PATH)["groups"][0]["rules"]) in checked.stdout
    # The shipped rules with their real `for:` durations on made-up series (deploy/prometheus/rules_test.yml).
    checked = promtool("test", "rules", str(RULES_TEST_PATH))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    class Broker:
        def __init__(self, broker_id):
            self.broker_id, self.metrics_port = broker_id, 20000 + broker_id

    server = PrometheusServer(tmp_path, config_for_test(load_yaml(PROMETHEUS_CONFIG_PATH),
                                                        [Broker(1), Broker(2)], "rules.yml"),
                              rules_for_test(load_yaml(RULES_PATH)))
    server.write_files()
    checked = promtool("check", "config", str(server.config_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    derived = load_yaml(server.config_path)
    assert derived["scrape_configs"][0]["static_configs"][1] == {"targets": ["127.0.0.1:20002"],
                                                                 "labels": {"broker": "2"}}
    assert derived["global"]["evaluation_interval"] == "1s"
    shipped, shortened = alerting_rules(load_yaml(RULES_PATH)), alerting_rules(load_yaml(server.rules_path))
    assert [rule["expr"] for rule in shortened] == [rule["expr"] for rule in shipped]
    assert {rule.get("for", "0s") for rule in shortened} <= {"0s", "3s"}


def test_alert_rules_cover_the_issue_and_say_what_and_where():
    rules = alerting_rules(load_yaml(RULES_PATH))
    assert REQUIRED_ALERTS <= {rule["alert"] for rule in rules}
    exported = exported_names()
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        names = series_names(rule["expr"])
        assert names, rule["alert"]
        assert all(known(name, exported) for name in names), (rule["alert"], names - exported)
        assert 'job="kafkalite"' in rule["expr"], rule["alert"]
        assert without_comparisons(rule["expr"]) != rule["expr"], f"{rule['alert']} has no threshold"
    readme = (REPO_ROOT / "README.md").read_text()
    assert all(f"`{rule['alert']}`" in readme for rule in rules), "README's alert table misses one"
    unit_tested = {case["alertname"] for test in load_yaml(RULES_TEST_PATH)["tests"]
                   for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert {rule["alert"] for rule in rules} <= unit_tested, "rules_test.yml must see every alert fire"


def test_dashboard_is_importable_and_uses_only_exported_names():
    dashboard = json.loads(DASHBOARD_PATH.read_text())
    assert dashboard["schemaVersion"] >= 36
    assert [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"] == DASHBOARD_ROWS
    datasource = next(v for v in dashboard["templating"]["list"] if v["type"] == "datasource")
    assert (datasource["name"], datasource["query"]) == ("DS_PROMETHEUS", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exported = exported_names()
    used = set()
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = series_names(target["expr"])
            assert names and all(known(name, exported) for name in names), (panel["title"], names)
            used |= names
    queries = dashboard_queries(dashboard)
    assert all("$" not in expr for _, expr in queries), [expr for _, expr in queries if "$" in expr]
    # Every exported series is on the dashboard somewhere, except the process' own odds and ends.
    unused = {name for name in exported if not known(name, used) and not any(
        used_name.startswith(name) for used_name in used)}
    assert unused <= {"process_open_fds", "process_max_fds", "process_start_time_seconds",
                      "process_virtual_memory_bytes"}, unused


# --- a real Prometheus scraping a real cluster ----------------------------------------------


@pytest.fixture
def prometheus(cluster, tmp_path):
    """Prometheus scraping ``cluster`` with the shipped rules (``for:`` cut to 3 s), stopped after the test."""
    server = PrometheusServer(tmp_path / "prometheus",
                              config_for_test(load_yaml(PROMETHEUS_CONFIG_PATH), cluster.brokers, "rules.yml"),
                              rules_for_test(load_yaml(RULES_PATH)))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def active(prometheus, alert, **labels):
    """States of the active alerts named ``alert`` whose labels include ``labels``."""
    return {entry["state"] for entry in prometheus.alerts()
            if entry["labels"]["alertname"] == alert and labels.items() <= entry["labels"].items()}


def wait_all_have_data(prometheus, queries, timeout):
    """Wait until each ``(name, expr)`` has returned a non-empty result at least once."""
    pending = dict(queries)

    def drained():
        for name, expr in list(pending.items()):
            if prometheus.query(expr):
                del pending[name]
        return not pending

    try:
        wait_until(drained, timeout, interval=0.5, message="every query to return data")
    except TimeoutError:
        pytest.fail("no data from:\n" + "\n".join(f"  {name}: {expr}" for name, expr in pending.items()))


@pytest.mark.slow
@pytest.mark.cluster(size=3, overrides=OVERRIDES, metrics=True)
def test_prometheus_evaluates_the_dashboard_and_the_alerts_on_a_cluster(cluster, prometheus):
    bootstrap = cluster.bootstrap
    wait_until(lambda: prometheus.targets_up() == {"1": 1.0, "2": 1.0, "3": 1.0}, 30, 0.2,
               message="Prometheus scraping the 3 brokers")
    create_topic(bootstrap, TOPIC, assignment=[[1, 2, 3], [2, 3, 1], [3, 1, 2]])
    produce_round_robin(bootstrap, TOPIC, 60, 3)
    assert len(consume_in_group(bootstrap, TOPIC, GROUP, 60)) == 60

    # The group is gone; production goes on: its lag appears and grows.
    def lag_shows():
        produce_round_robin(bootstrap, TOPIC, 30, 3)
        return prometheus.query(f'sum(kafka_consumergroup_lag{{consumergroup="{GROUP}", topic="{TOPIC}"}}) > 0')

    def lag_alert_active():
        produce_round_robin(bootstrap, TOPIC, 30, 3)
        return active(prometheus, "KafkaliteConsumerLagGrowing", consumergroup=GROUP, topic=TOPIC)

    wait_until(lag_shows, 30, 0.5, message=f"lag of group {GROUP} in Prometheus")
    wait_until(lag_alert_active, 30, 0.5, message="the lag-growing alert active for the group")

    dashboard = json.loads(DASHBOARD_PATH.read_text())
    queries = {f"dashboard {title!r} #{i}": expr for i, (title, expr) in enumerate(dashboard_queries(dashboard))}
    rules = load_yaml(RULES_PATH)
    queries.update({f"alert {rule['alert']}": without_comparisons(rule["expr"]) for rule in alerting_rules(rules)})
    wait_all_have_data(prometheus, queries.items(), 40)
    for variable, label, selector in dashboard_variable_queries(dashboard):
        assert prometheus.label_values(label, selector), f"dashboard variable ${variable} has no values"
    assert TOPIC in prometheus.label_values("topic", 'kafka_log_log_size{job="kafkalite"}')
    # On a healthy cluster only the lagging group alerts.
    assert {entry["labels"]["alertname"] for entry in prometheus.alerts()} == {"KafkaliteConsumerLagGrowing"}

    cluster.broker(3).stop()
    seen = set()

    def firing():
        seen.update(active(prometheus, "KafkaliteUnderReplicatedPartitions"))
        return "firing" in seen

    wait_until(firing, 30, 0.1, message="KafkaliteUnderReplicatedPartitions firing")
    assert "pending" in seen, "the alert must be pending for its `for:` before it fires"
    wait_until(lambda: active(prometheus, "KafkaliteBrokerDown", broker="3"), 15, 0.2,
               message="KafkaliteBrokerDown for broker 3")

    cluster.broker(3).start().wait_ready()
    wait_until(lambda: not active(prometheus, "KafkaliteUnderReplicatedPartitions"), 40, 0.2,
               message="KafkaliteUnderReplicatedPartitions resolved once broker 3 is back in the ISRs")
    wait_until(lambda: not active(prometheus, "KafkaliteBrokerDown"), 15, 0.2,
               message="KafkaliteBrokerDown resolved")
