# LgNet developer entry points. `make up` runs the platform, `make test` the whole test suite.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),.local/tools/bin/uv)
PY := .venv/bin/python
INFRA := $(PY) deploy/local/infra.py
SERVICES := $(PY) deploy/local/services.py
# CLUSTER=3: a KRaft cluster of three brokers (replication 3, min.insync.replicas 2) in its own data folder
# .local/cluster3 (its own PostgreSQL, keys and scenario record: a data folder never mixes two Kafka clusters).
CLUSTER ?= 1
LOCAL_DIR := $(if $(filter 1,$(CLUSTER)),.local,.local/cluster$(CLUSTER))
export LGNET_KAFKA_NODES := $(CLUSTER)
export LGNET_LOCAL_DIR := $(CURDIR)/$(LOCAL_DIR)
WITH_INFRA := set -a && . $(LOCAL_DIR)/infra.env && set +a &&
PYTEST_ARGS ?=
# Test modules run in parallel, whole modules per worker (they share a started platform). Four workers on two
# cores: much of a test's time is spent waiting on Kafka, PostgreSQL and service processes, not computing (a fourth
# worker fills the cores' idle time: docs/benchmarks.md, "The suite at the session of 2026-12-05 14:29 UTC"). Modules
# are handed out longest first (conftest.py, expected durations in .ci/test_durations.json).
# `make test PYTEST_PARALLEL=` runs serially.
PYTEST_PARALLEL ?= -n 4 --dist loadfile
SCENARIO_ARGS ?=

.PHONY: help venv infra up down status test lint check-examples contracts bench clean helm

help:
	@echo "make up      install, provision Kafka + PostgreSQL, start the services, play the city scenario, show reports, start the desk"
	@echo "             (CLUSTER=3 with up, test, down, status: three Kafka brokers, replication 3, in .local/cluster3)"
	@echo "make down    stop the services, Kafka and PostgreSQL (data is kept in .local/)"
	@echo "make status  what runs where"
	@echo "make test    provision and run unit, integration and end-to-end tests"
	@echo "make lint    ruff, mypy and the contract (JSON Schema) check"
	@echo "make bench   run the benchmarks in bench/"

.local/tools/bin/uv:
	python3 -m venv .local/tools
	.local/tools/bin/pip install -q "uv==$(UV_VERSION)"

.venv/.synced: uv.lock pyproject.toml shared/pyproject.toml scenario/pyproject.toml $(wildcard services/*/pyproject.toml) | $(UV)
	$(UV) sync --frozen --all-packages --python ">=3.11"
	touch $@

venv: .venv/.synced

# helm renders deploy/helm/lgnet in the tests: built from its Go module (the Go proxy; no binary download), once,
# into .local/tools/bin; Go's module and build caches make a rebuild in a fresh clone take seconds.
HELM_VERSION := v3.22.0
HELM := .local/tools/bin/helm
$(HELM):
	@command -v go >/dev/null || { echo "Go is needed to build helm (apt-get install golang), or put helm on PATH"; exit 1; }
	GOBIN=$(CURDIR)/.local/tools/bin CGO_ENABLED=0 go install -ldflags "-s -w" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

helm: $(HELM)

infra: venv
	$(INFRA) start

up: infra
	$(WITH_INFRA) $(SERVICES) start
	@# The notary: signed checkpoints of the fact log for auditors (docs/reporting.md, "Auditing the log").
	$(WITH_INFRA) $(PY) deploy/local/notary.py start
	@$(MAKE) --no-print-directory status
	@# The main job: the Torino and Trieste scenario, played once per data folder (then only its reports shown).
	$(WITH_INFRA) .venv/bin/lgnet-scenario --once $(LOCAL_DIR)/scenario.json $(SCENARIO_ARGS)
	@# The daily work per city (stalled matches, expired holds and vouchers; docs/operators.md, "Scheduled work").
	$(WITH_INFRA) $(PY) deploy/local/scheduler.py start
	@# The desk (the social workers' web application) and a demo operator's login.
	$(WITH_INFRA) $(PY) deploy/local/desk.py start

status: venv
	@$(INFRA) status || true
	@$(SERVICES) status || true
	@$(PY) deploy/local/notary.py status || true
	@$(PY) deploy/local/scheduler.py status || true
	@$(PY) deploy/local/desk.py status || true

down: venv
	$(PY) deploy/local/desk.py stop
	$(PY) deploy/local/scheduler.py stop
	$(PY) deploy/local/notary.py stop
	$(SERVICES) stop
	$(INFRA) stop

# Bytecode caches on for the run, whatever the shell says (PYTHONDONTWRITEBYTECODE): the suite starts well over a
# hundred Python processes (service processes, restarts, CLIs) and three workers, and without caches each compiles
# every module it imports again, and pytest rewrites the asserts of every test module again in each worker.
test: infra $(HELM)
	$(PY) deploy/local/browser.py ensure
	$(WITH_INFRA) env -u PYTHONDONTWRITEBYTECODE .venv/bin/pytest $(PYTEST_PARALLEL) --durations=10 $(PYTEST_ARGS)

# Test folders, type-checked as the code is (strict).
TEST_DIRS := shared/tests services/intake/tests services/housing/tests services/payments/tests services/reporting/tests services/desk/tests scenario/tests deploy/tests tests

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/mypy bench
	MYPYPATH=deploy/local .venv/bin/mypy deploy/local/*.py  # the scripts of `make up` import each other by name
	for d in $(TEST_DIRS); do MYPYPATH=$$d .venv/bin/mypy $$d || exit 1; done  # one folder at a time: each has its own conftest, and its tests import each other by name
	.venv/bin/lgnet-contracts check
	$(MAKE) --no-print-directory check-examples

# Every example under contracts/examples/ against its JSON Schema, by an independent validator (check-jsonschema).
check-examples: venv
	.venv/bin/python .ci/check_examples.py

bench: infra
	$(WITH_INFRA) for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean: down
	rm -rf .local .venv
