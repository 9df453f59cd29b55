# One entry point for developers and CI. Node 22 and the CDK CLI come from package.json
# (node_modules/.bin first on PATH), Python tools from .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PYTHON := $(VENV)/bin/python
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
CDK := $(CURDIR)/node_modules/.bin/cdk
STACKS ?= --all

.PHONY: help install synth test test-live lint format bench dry-run deploy destroy diff clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed ## create .venv and node_modules (idempotent)

$(VENV)/.installed: pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

synth: install ## synthesize every stack into cdk.out (offline, no credentials, no Docker)
	$(CDK) synth --quiet

test: install ## run every test (unit, infrastructure, state machine, API)
	$(PYTHON) -m pytest

test-live: install ## REAL AWS, costs money: deploy a unique stage, run 110 examples (judge off), route, destroy (asks first)
	VSR_LIVE=1 $(PYTHON) -m pytest tests/live -m live -s -p no:cacheprovider --force-enable-socket

# W3005: CDK writes an explicit DependsOn on each function's role next to the GetAtt of the
# role's ARN; cfn-lint calls the DependsOn redundant. Harmless, and not ours to change.
lint: synth ## ruff + cfn-lint over the synthesized templates
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

format: install ## apply ruff's formatting and fixes
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

bench: install ## router benchmark: overhead per request, cache hits, cold import (in process, no AWS)
	$(PYTHON) bench/bench_router.py

dry-run: install ## whole pipeline locally (moto, OFFLINE STAND-IN for Bedrock, not model results); report in .dry-run/
	$(PYTHON) -m cdk_app.dry_run $(ARGS)

deploy: install ## deploy to the account and region of your AWS credentials
	$(CDK) deploy $(STACKS) --require-approval broadening

diff: install ## show what a deploy would change
	$(CDK) diff $(STACKS)

destroy: install ## stop runs, delete the runs' Bedrock deployments and models (asks), then the stacks
	$(VENV)/bin/vsr cleanup
	$(CDK) destroy $(STACKS)

clean: ## remove build output and dry runs (keeps .venv and node_modules)
	rm -rf cdk.out .dry-run .pytest_cache .ruff_cache .hypothesis
