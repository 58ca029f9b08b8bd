# kafkalite — the repository's commands.
#
#   make run     install what is missing, start ZooKeeper and three brokers in the background
#   make test    install what is missing, run the whole test suite
#
# Also: install, run-single, stop, status, test-unit, bench, bench-scale, lint, clean (see `make help`).
# Works as root (apt-get directly) or as a user with sudo, on Debian 12 with Python 3.11.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kafkalite-installed
RUN_DIR := .run
ZK_DIR := $(RUN_DIR)/zk
# ZK=ensemble runs a 3-node ZooKeeper ensemble (client ports 2181-2183) instead of one server.
ZK ?= standalone
BROKERS := 1 2 3
# PROMETHEUS=1: make run also starts Debian's prometheus with PROMETHEUS_CONFIG on PROMETHEUS_LISTEN.
PROMETHEUS ?=
PROMETHEUS_CONFIG ?= deploy/prometheus/prometheus.yml
PROMETHEUS_LISTEN ?= 127.0.0.1:9190
# Seconds to wait for a broker to accept connections / to exit after SIGTERM.
START_TIMEOUT ?= 60
STOP_TIMEOUT ?= 30
# Log levels of the brokers started by run/run-single, each LEVEL or COMPONENT=LEVEL (README: Logs), e.g.
# make run LOG_LEVELS='kafkalite.controller=DEBUG state.change.logger=TRACE'.
LOG_LEVELS ?=
LOG_LEVEL_ARGS = $(foreach level,$(LOG_LEVELS),--log-level '$(level)')
# Extra arguments for pytest, e.g. make test PYTEST_ARGS='-k produce -x'.
PYTEST_ARGS ?=
# Extra arguments for kafkalite-perf, e.g. make bench BENCH_ARGS=--quick,
# make bench BENCH_ARGS='--compression none,lz4,zstd' (kcat workloads per producer codec),
# make bench-scale BENCH_ARGS='--scale-partitions 1000 --strict'.
BENCH_ARGS ?=

ifeq ($(shell id -u),0)
SUDO :=
else
SUDO := sudo
endif

ifeq ($(ZK),ensemble)
ZK_START_ARGS := --ensemble
ZK_CONNECT := 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
else ifeq ($(ZK),standalone)
ZK_START_ARGS :=
ZK_CONNECT := 127.0.0.1:2181
else
$(error ZK must be standalone or ensemble, not '$(ZK)')
endif

# The broker launcher (kafkalite/local, `python -m kafkalite.local --help`): brokers run detached
# with their output in .run/NAME.log and their pid in .run/NAME.pid; start waits until each
# accepts connections (printing the end of its log if one does not, and stopping the ones it
# started); stop is SIGTERM, then SIGKILL after STOP_TIMEOUT s, by pid only. ZooKeeper is zk/zkctl's.
# Standard library only, so stop and status work without the virtualenv too.
LOCAL_PY = $(if $(wildcard $(PY)),$(PY),$(PYTHON))
LOCAL = $(LOCAL_PY) -m kafkalite.local --run-dir $(RUN_DIR)
# The local Prometheus of PROMETHEUS=1 (kafkalite/local/prometheus.py): detached, pid in .run/prometheus.pid,
# output in .run/prometheus.log, data in .run/prometheus/; stopped by pid. Standard library only too.
PROM = $(LOCAL_PY) -m kafkalite.local.prometheus --run-dir $(RUN_DIR)
PROM_START = $(PROM) start --config $(PROMETHEUS_CONFIG) --listen $(PROMETHEUS_LISTEN) --timeout $(START_TIMEOUT)
CLUSTER_NAMES := $(foreach n,$(BROKERS),broker-$(n))
ALL_NAMES := $(CLUSTER_NAMES) broker-single
ALREADY_RUNNING = running=$$($(LOCAL) running $(ALL_NAMES)) && \
  echo "kafkalite is already running: $$running (see make status; make stop to stop it)"

.PHONY: help install system-deps run run-single stop status test test-unit bench bench-scale lint clean

help:
	@echo "make run          start ZooKeeper and 3 brokers (127.0.0.1:9092-9094) in the background"
	echo "make run ZK=ensemble   ... with a 3-node ZooKeeper ensemble"
	echo "make run PROMETHEUS=1  ... and a local Prometheus (deploy/prometheus) on $(PROMETHEUS_LISTEN)"
	echo "make run LOG_LEVELS='kafkalite.controller=DEBUG'   ... with log levels per component"
	echo "make run-single   start ZooKeeper and one broker from config/server.properties"
	echo "make stop         stop the brokers, ZooKeeper and Prometheus started by make run / run-single"
	echo "make status       show what is running"
	echo "make test         run the whole test suite (unit, integration, clients, faults)"
	echo "make test-unit    run the fast unit tests only"
	echo "make bench        run kafkalite-perf against a local cluster"
	echo "make bench-scale  10,000 partitions on 3 brokers of its own: creation, failover, rejoin, restart"
	echo "make lint         ruff and the import-layering contracts"
	echo "make install      install ZooKeeper, kcat, Prometheus, Chromium and the virtualenv (.venv) if missing"
	echo "make clean        stop everything and remove .run (brokers', ZooKeeper's, Prometheus's data), caches and build output"

# --- install ------------------------------------------------------------------------------

install: system-deps $(STAMP)

# Debian packages, installed only when missing; `apt-get update` runs once, before the first install.
system-deps:
	@missing=""
	dpkg-query -W -f='$${Status}' zookeeper 2>/dev/null | grep -q 'ok installed' || missing="$$missing zookeeper"
	command -v kcat >/dev/null 2>&1 || missing="$$missing kcat"
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"
	$(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv"
	# Python.h, for pip to build the C record walk (Debian's python3 keeps it in python3-dev)
	$(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	  || missing="$$missing python3-dev"
	if [ -n "$$missing" ]; then
	  echo "installing Debian packages:$$missing"
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing
	fi

# The virtualenv, redone only when the package metadata or the C record walk (setup.py) changed.
# pip builds the optional C accelerator with gcc; without a compiler it installs the pure-Python walk.
$(STAMP): setup.cfg pyproject.toml setup.py kafkalite/protocol/_recordwalk.c
	@if [ ! -x $(PY) ]; then
	  echo "creating $(VENV)"
	  $(PYTHON) -m venv $(VENV)
	fi
	echo "installing kafkalite (editable) with its test extra into $(VENV)"
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

# --- local cluster ------------------------------------------------------------------------

# Says what comes up as it does (ZooKeeper, each broker, the controller), then how to use it.
# A broker that fails to start prints its log tail, and everything started is stopped.
run: install
	@if [ -n "$(PROMETHEUS)" ] && ! command -v prometheus >/dev/null 2>&1; then
	  echo "make run PROMETHEUS=1: prometheus is not installed (apt-get install prometheus)" >&2
	  exit 1
	fi
	if $(ALREADY_RUNNING); then
	  if [ -n "$(PROMETHEUS)" ]; then $(PROM_START); fi
	  exit 0
	fi
	mkdir -p $(RUN_DIR)
	zk/zkctl start $(ZK_START_ARGS) --announce --dir $(ZK_DIR)
	if ! $(LOCAL) start --timeout $(START_TIMEOUT) --stop-timeout $(STOP_TIMEOUT) \
	    --override "zookeeper.connect=$(ZK_CONNECT)" $(LOG_LEVEL_ARGS) \
	    $(foreach n,$(BROKERS),broker-$(n)=config/cluster/server-$(n).properties); then
	  zk/zkctl stop --dir $(ZK_DIR) || true
	  exit 1
	fi
	if [ -n "$(PROMETHEUS)" ] && ! $(PROM_START); then
	  $(LOCAL) stop --timeout $(STOP_TIMEOUT) $(CLUSTER_NAMES)
	  zk/zkctl stop --dir $(ZK_DIR) || true
	  exit 1
	fi
	echo
	echo "kafkalite is running: brokers 1-3, ZooKeeper $(ZK_CONNECT) ($(ZK))"
	echo "  bootstrap servers:  127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
	echo "  cluster metadata:   kcat -b 127.0.0.1:9092 -L"
	echo "  produce:            echo hello | kcat -b 127.0.0.1:9092 -t demo -P"
	echo "  consume:            kcat -b 127.0.0.1:9092 -t demo -C -e"
	echo "  metrics:            http://127.0.0.1:9192/metrics  http://127.0.0.1:9193/metrics  http://127.0.0.1:9194/metrics"
	echo "  status pages:       http://127.0.0.1:9192/  http://127.0.0.1:9193/  http://127.0.0.1:9194/  (JSON: /status.json)"
	if [ -n "$(PROMETHEUS)" ]; then
	  echo "  prometheus:         http://$(PROMETHEUS_LISTEN)/   alerts: http://$(PROMETHEUS_LISTEN)/alerts"
	else
	  echo "  prometheus:         make run PROMETHEUS=1   (adds a local Prometheus scraping the brokers, deploy/prometheus)"
	fi
	echo "  administer:         .venv/bin/kafkalite-admin cluster --zookeeper $(ZK_CONNECT)   (README: Operating a cluster)"
	echo "  logs:               $(RUN_DIR)/broker-{1,2,3}.log   data: $(RUN_DIR)/broker-{1,2,3}/"
	echo "  state-change logs:  $(RUN_DIR)/broker-{1,2,3}-logs/state-change.log"
	echo "  stop:               make stop"

run-single: install
	@if $(ALREADY_RUNNING); then exit 0; fi
	mkdir -p $(RUN_DIR)
	zk/zkctl start $(ZK_START_ARGS) --announce --dir $(ZK_DIR)
	if ! $(LOCAL) start --timeout $(START_TIMEOUT) --stop-timeout $(STOP_TIMEOUT) \
	    --override "zookeeper.connect=$(ZK_CONNECT)" --override "log.dirs=$(RUN_DIR)/broker-single" \
	    $(LOG_LEVEL_ARGS) broker-single=config/server.properties; then
	  zk/zkctl stop --dir $(ZK_DIR) || true
	  exit 1
	fi
	echo
	echo "kafkalite is running: one broker (config/server.properties), ZooKeeper $(ZK_CONNECT)"
	echo "  bootstrap server:   127.0.0.1:9092"
	echo "  try:                kcat -b 127.0.0.1:9092 -L"
	echo "  log:                $(RUN_DIR)/broker-single.log   state changes: $(RUN_DIR)/broker-single-logs/state-change.log"
	echo "  stop:               make stop"

# Prometheus first (PROMETHEUS=1 or not: whatever its pid file names), then the brokers one at a
# time (controlled shutdown moves leadership off each in turn), then ZooKeeper.
stop:
	@$(PROM) stop --timeout $(STOP_TIMEOUT)
	$(LOCAL) stop --timeout $(STOP_TIMEOUT) broker-single $(CLUSTER_NAMES)
	if [ -d $(ZK_DIR) ]; then zk/zkctl stop --dir $(ZK_DIR); fi
	echo "stopped"

status:
	@$(LOCAL) status $(ALL_NAMES)
	if [ -d $(ZK_DIR) ]; then zk/zkctl status --dir $(ZK_DIR) || true; else echo "zookeeper: not started by make run"; fi
	$(PROM) status

# --- tests, benchmark, lint -----------------------------------------------------------------

# Two passes: everything parallel under xdist (tests use free ports and their own temp dirs),
# then tests marked `serial` alone. Exit status 5 ("no tests collected") of the second pass is fine.
test: install
	@$(PY) -m pytest -n auto --dist loadscope -m "not serial" $(PYTEST_ARGS)
	status=0; $(PY) -m pytest -m serial $(PYTEST_ARGS) || status=$$?
	[ "$$status" = 0 ] || [ "$$status" = 5 ]

test-unit: install
	@$(PY) -m pytest -n auto tests/unit $(PYTEST_ARGS)

# Uses a cluster that is already running, or starts one (make run) and stops it afterwards.
bench: install
	@started=0
	if ! $(LOCAL) running broker-1 broker-single >/dev/null; then
	  $(MAKE) run
	  started=1
	fi
	status=0
	$(PY) -m kafkalite.cli.perf --bootstrap 127.0.0.1:9092 $(BENCH_ARGS) || status=$$?
	# RF=3 acks=all and failover: on a 3-broker cluster of its own (it kills and restarts its brokers).
	$(PY) -m kafkalite.cli.perf --start-cluster --brokers 3 --replicated-only $(BENCH_ARGS) || status=$$?
	if [ "$$started" = 1 ]; then $(MAKE) stop; fi
	exit "$$status"

# kafkalite-perf --scale: its own ZooKeeper and 3 brokers (config/cluster settings) on free ports in a
# temporary directory, 10,000 partitions (RF 3), each figure printed with its target; everything is
# stopped by pid at the end, also on Ctrl-C. Exits non-zero when a phase failed (--strict: or a target was missed).
bench-scale: install
	@$(PY) -m kafkalite.cli.perf --scale $(BENCH_ARGS)

# Both checks always run; the target fails if either does.
lint: install
	@status=0
	$(VENV)/bin/ruff check kafkalite tests zk || status=1
	$(VENV)/bin/lint-imports --no-cache || status=1
	exit "$$status"

clean:
	@if [ -d $(RUN_DIR) ]; then $(MAKE) stop; fi
	rm -rf $(RUN_DIR) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	# The C record walk built in place (and the stamp, so the next make install builds it again).
	rm -f kafkalite/protocol/_recordwalk.*.so $(STAMP)
	find kafkalite tests zk -name __pycache__ -type d -prune -exec rm -rf {} +
