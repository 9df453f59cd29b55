# One entry point for developers and CI. Node 22 and the CDK CLI come from package.json
# (node_modules/.bin first on PATH), Python tools from .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PYTHON := $(VENV)/bin/python
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
CDK := $(CURDIR)/node_modules/.bin/cdk
# The app's stack ids (what the CDK CLI selects by); CloudFormation names them <project>-<stage>-storage etc.
STACK_IDS := Storage RouterApi Pipeline
# STACKS="Storage RouterApi" picks stacks (default: all); CONTEXT="key=value ..." passes `-c key=value`
# for each word (as `cdk -c` does: structured values as JSON without spaces, e.g. CONTEXT='gate={"min_mean_score":4}').
STACKS ?=
CONTEXT ?=
CONTEXT_ARGS := $(foreach setting,$(CONTEXT),-c '$(setting)')
UNKNOWN_STACKS := $(filter-out $(STACK_IDS),$(STACKS))
SELECTED_STACKS = $(if $(STACKS),$(STACKS),--all)

.PHONY: help install synth test test-live lint format bench docs dry-run bootstrap deploy destroy diff clean check-stacks check-credentials

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed ## create .venv and node_modules (idempotent)

$(VENV)/.installed: pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

synth: install ## synthesize every stack into cdk.out (offline, no credentials, no Docker); CONTEXT="key=value ..."
	$(CDK) synth --quiet $(CONTEXT_ARGS)

# pytest-xdist: one worker per core; the infrastructure tests stay together on one worker (they share
# one synthesized app, see tests/conftest.py). TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= auto
test: install ## run every test (unit, infrastructure, state machine, API); TEST_WORKERS=N (default: one per core)
	$(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadgroup

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

bench: install ## benchmarks (in process, no AWS): router overhead, cache hits, cold import; the report's statistics; the capacity table
	$(PYTHON) bench/bench_router.py
	$(PYTHON) bench/bench_statistics.py
	$(PYTHON) bench/bench_capacity.py

docs: install ## regenerate the figures the README and docs print (cost table, dry-run excerpt, benchmark, capacity)
	$(PYTHON) docs/figures.py $(FIGURES)

dry-run: install ## whole pipeline locally (moto, OFFLINE STAND-IN for Bedrock, not model results); report in .dry-run/
	$(PYTHON) -m cdk_app.local.dry_run $(ARGS)

check-stacks:
	@test -z "$(UNKNOWN_STACKS)" || { echo "make: unknown stack id(s) '$(UNKNOWN_STACKS)' in STACKS: the stack ids are $(STACK_IDS) (e.g. make deploy STACKS=Storage)" >&2; exit 2; }

# No network: boto3 only resolves the credential chain, so a missing login is one line, not CDK's stack trace.
check-credentials: install
	@$(PYTHON) -c 'import sys, boto3; sys.exit(0 if boto3.Session().get_credentials() else "make: no AWS credentials found. Run `aws configure` (or `aws sso login`, or set AWS_PROFILE), check the account with `.venv/bin/vsr doctor`, then run this again.")'

bootstrap: check-credentials ## once per account and region: the CDK bootstrap stack the deploy needs
	$(CDK) bootstrap $(CONTEXT_ARGS)

deploy: check-stacks check-credentials ## deploy to the account and region of your AWS credentials; STACKS="Storage ..." CONTEXT="key=value ..."
	$(CDK) deploy $(SELECTED_STACKS) $(CONTEXT_ARGS) --require-approval broadening

diff: check-stacks check-credentials ## show what a deploy would change; STACKS and CONTEXT as for deploy
	$(CDK) diff $(STACKS) $(CONTEXT_ARGS)

destroy: check-stacks check-credentials ## stop runs, delete the runs' Bedrock deployments and models (asks), then the stacks
	$(VENV)/bin/vsr $(CONTEXT_ARGS) cleanup
	$(CDK) destroy $(SELECTED_STACKS) $(CONTEXT_ARGS)

clean: ## remove build output and dry runs (keeps .venv and node_modules)
	rm -rf cdk.out .dry-run .pytest_cache .ruff_cache .hypothesis
