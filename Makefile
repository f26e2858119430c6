# Build, run and test the Durable Functions app locally.
# Needs only Python 3.13, Node 20 + npm and GNU make; `make setup` installs the rest
# (.venv from requirements-dev.txt, the worker protocol's generated modules, Azurite from package-lock.json).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python 3.13 that runs: python3.13 on PATH, else one that pyenv installed (its shim may
# not be active). The app runs on Python 3.13 in Azure (azure-functions 2.x, azure-functions-runtime).
PY313_CANDIDATES := python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3
PYTHON ?= $(firstword $(foreach p,$(PY313_CANDIDATES),$(shell $(p) -c 'import sys; print(sys.executable) if sys.version_info[:2] == (3, 13) else None' 2>/dev/null)))
# checkov (the Bicep policy tests) lives in its own venv and does not need the app's Python.
TOOLS_PYTHON ?= $(or $(shell command -v python3.11 2>/dev/null),$(PYTHON))
VENV := .venv
PY := $(VENV)/bin/python
# Stamp files: setup reinstalls only when the inputs changed, so a second `make setup` is instant.
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# The worker protocol's message module, generated from devhost/rpc/FunctionRpc.proto (git-ignored).
PROTOS := devhost/rpc/_generated/FunctionRpc_pb2.py
PYTEST_ARGS ?=
RUN_ARGS ?=
SEED_ARGS ?=
LOAD_ARGS ?=
CRASH_ARGS ?=
PERF_ARGS ?=

.PHONY: help setup run seed test lint lock clean infra-venv load perf-report crash-drill

help: ## List the targets
	@echo "Usage: make <target>"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-zA-Z_-]*:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

SCHEMAS := .cache/schemas/host.schema.json

setup: $(VENV_STAMP) $(PROTOS) $(NODE_STAMP) $(SCHEMAS) local.settings.json ## Create .venv, install Python and npm dependencies, generate the worker protocol modules, cache the config schemas, create local.settings.json

$(PY):
	@if [ -z "$(PYTHON)" ]; then echo "make: Python 3.13 not found (looked for python3.13, ~/.pyenv/versions/3.13*, python3); set PYTHON=/path/to/python3.13" >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "make: could not create $(VENV); on Debian/Ubuntu: apt-get install python3.13-venv" >&2; exit 1; }

$(VENV_STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check --quiet --no-deps -e .
	@touch $@

$(PROTOS): devhost/rpc/FunctionRpc.proto devhost/rpc/protocol.py $(VENV_STAMP)
	$(PY) -m devhost.rpc.protocol --force

# SchemaStore's host.json / local.settings.json schemas for the config tests (from ../shared, else SchemaStore).
$(SCHEMAS): tools/schemas.py | $(VENV_STAMP)
	$(PY) -m tools.schemas

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

local.settings.json: | local.settings.json.example
	cp local.settings.json.example $@
	@echo "Created local.settings.json from local.settings.json.example (git-ignored; edit freely)."

run: setup ## Start Azurite (10000-10002, data in .azurite/), seed, serve the app on :7071 (RUN_ARGS=--help)
	$(PY) -m tools.run_local $(RUN_ARGS)

seed: setup ## Load the sample data (needs storage running: `make run` starts Azurite)
	$(PY) -m tools.seed $(SEED_ARGS)

lint: setup ## Lint with ruff, type-check with mypy
	$(PY) -m ruff check .
	$(PY) -m mypy

lock: | $(PY) ## Pin everything requirements.txt's direct dependencies pull in (after bumping one of them)
	$(PY) -m tools.lock

VENV_CHECKOV := .venv-checkov
CHECKOV_STAMP := $(VENV_CHECKOV)/.installed

$(CHECKOV_STAMP): requirements-infra.txt
	rm -rf $(VENV_CHECKOV)
	$(TOOLS_PYTHON) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/python -m pip install --disable-pip-version-check --quiet -r requirements-infra.txt
	$(VENV_CHECKOV)/bin/python -m pip install --disable-pip-version-check --quiet --no-deps pycep-parser==0.7.1
	@touch $@

infra-venv: $(CHECKOV_STAMP) ## Create .venv-checkov (checkov, in its own venv, for the Bicep policy tests)

test: setup $(CHECKOV_STAMP) ## Lint and type-check, then run the whole test suite (the tests start their own Azurite)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

load: setup ## Load test: 500 orders + 20 batches x 50 files at once on the local host (LOAD_ARGS=--help)
	$(PY) -m bench.load $(LOAD_ARGS)

crash-drill: setup ## SIGKILL the local host under a mixed load, 10 runs; check every invariant (CRASH_ARGS=--help)
	$(PY) -m tools.crash_drill --runs 10 $(CRASH_ARGS)

perf-report: setup ## Rerun every benchmark, regenerate docs/performance.md and its plots (~10 min; PERF_ARGS=--quick)
	$(PY) -m bench.report $(PERF_ARGS)

clean: ## Remove local Azurite data and caches (keeps .venv and node_modules)
	rm -rf .azurite __blobstorage__ __queuestorage__ __tablestorage__ __azurite_db_*.json .pytest_cache .ruff_cache .hypothesis bench-output
	find . \( -path ./$(VENV) -o -path ./node_modules \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
