# llm-d-pd: the two commands are `make demo` and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# CRD manifests for offline use and the schema tests; fetched from the pinned upstream releases unless set.
export LLMD_CRDS_DIR ?= $(CURDIR)/.crds

TOOLS := $(HOME)/.cache/llm-d-pd/tools
ACTIONLINT_VERSION := v1.7.12
KUBE_SCORE_VERSION := v1.20.0
export LLMD_KUBE_SCORE := $(TOOLS)/kube-score-$(KUBE_SCORE_VERSION)
# checkov in its own virtualenv: its pins (packaging<24) conflict with pulumi's (packaging>=26).
CHECKOV_VENV := .venv-checkov
export LLMD_CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov

.PHONY: checkov demo demo-down test test-unit test-e2e test-planner test-bench lint fmt engine cluster-up cluster-down \
	bench render clean plan plan-aic bench-venv

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q -r requirements-checkov.txt
	touch $@

checkov: $(CHECKOV_VENV)/.installed

$(LLMD_CRDS_DIR):
	$(PY) scripts/fetch-crds $(LLMD_CRDS_DIR)

crds: venv $(LLMD_CRDS_DIR)

engine:
	scripts/build-engine

cluster-up: engine
	scripts/local-cluster start

cluster-down:
	scripts/local-cluster stop

## The whole stack `up` on a local control plane with simulated GPU nodes.
demo: venv crds cluster-up
	$(PY) scripts/stack up local --yes
	@echo; echo "Worker and EPP pods on the simulated nodes:"
	@"$$(scripts/build-engine --print)/kubectl" --kubeconfig .local-cluster/kubeconfig -n llm-d-pd get pods -o wide

demo-down: venv
	$(PY) scripts/stack destroy local --yes --remove
	scripts/local-cluster stop

## Every test: lint, unit tests (mocks, schemas, CEL), end-to-end tests on the real engine and control plane.
test: venv crds lint engine $(LLMD_KUBE_SCORE) checkov plan-aic bench-venv
	$(PY) -m pytest tests

test-unit: venv crds $(LLMD_KUBE_SCORE) checkov
	$(PY) -m pytest tests/unit

test-e2e: venv crds engine
	$(PY) -m pytest tests/e2e

## scripts/plan: proposals for a workload (override PLAN_ARGS; PLAN_ARGS+=--backend aiconfigurator after `make plan-aic`).
PLAN_ARGS ?= --isl 10000 --osl 1000 --ttft 2s --itl 30ms --machine a3-ultragpu-8g
plan: venv
	$(PY) scripts/plan $(PLAN_ARGS)

# The planner's aiconfigurator backend runs in its own virtualenv (its ~0.6 GB of dependencies, Python < 3.14).
AIC_VENV := .venv-aic
$(AIC_VENV)/.installed: requirements-aic.txt
	$(PYTHON) -m venv $(AIC_VENV)
	$(AIC_VENV)/bin/python -m pip install -q -r requirements-aic.txt
	touch $@

plan-aic: $(AIC_VENV)/.installed

## The planner adapter against aiconfigurator's real SDK (installs .venv-aic first).
test-planner: venv plan-aic
	$(PY) -m pytest tests/planner

# inference-perf (the benchmark Job's harness) needs Python >= 3.12: the first python3.13/3.12 that runs, else pyenv's.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: requirements-bench.txt
	py=""; for c in python3.13 python3.12; do if $$c -c 'import sys' >/dev/null 2>&1; then py=$$c; break; fi; done; \
	if [[ -z "$$py" ]] && command -v pyenv >/dev/null; then \
	  v=$$(pyenv versions --bare | grep -E '^3\.1[23]\.[0-9]+$$' | tail -1); \
	  if [[ -n "$$v" ]]; then py="$$(pyenv root)/versions/$$v/bin/python3"; fi; \
	fi; \
	if [[ -z "$$py" ]]; then echo "bench-venv: needs Python 3.12 or 3.13 (inference-perf requires >= 3.12)" >&2; exit 1; fi; \
	"$$py" -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -r requirements-bench.txt
	touch $@

bench-venv: $(BENCH_VENV)/.installed

## The benchmark harness end to end: inference-perf against a local stub server, the Job's runner, scripts/bench-report.
test-bench: venv bench-venv
	$(PY) -m pytest tests/e2e/test_benchmark_harness.py

$(TOOLS)/actionlint-$(ACTIONLINT_VERSION):
	mkdir -p $(TOOLS)
	GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN=$(TOOLS) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	mv $(TOOLS)/actionlint $@

$(LLMD_KUBE_SCORE):
	mkdir -p $(TOOLS)
	GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN=$(TOOLS) go install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)
	mv $(TOOLS)/kube-score $@

SHELL_SCRIPTS := scripts/build-engine scripts/local-cluster scripts/verify-pd scripts/shims/pulumi-analyzer-policy-python \
	scripts/shims/pulumi-resource-pulumi-python .ci/run
# Extensionless Python scripts: each is its own __main__, so the type checker takes them one at a time.
PY_SCRIPTS := scripts/stack scripts/bench scripts/fetch-crds scripts/plan scripts/bench-report

## ruff (every Python file, extensionless scripts included), shellcheck, mypy, actionlint.
lint: venv $(TOOLS)/actionlint-$(ACTIONLINT_VERSION)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/shellcheck -x $(SHELL_SCRIPTS)
	$(VENV)/bin/mypy
	for s in $(PY_SCRIPTS); do $(VENV)/bin/mypy "$$s"; done
	$(TOOLS)/actionlint-$(ACTIONLINT_VERSION)

## Format the Python sources.
fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: venv crds engine
	$(PY) scripts/bench

## Plain manifests of a stack's render twin (STACK=ib renders Pulumi.ib-render.yaml) into its cluster.renderDirectory.
render: venv
	$(PY) scripts/stack up $(if $(filter %-render,$(STACK)),$(STACK),$(STACK)-render) --yes

clean:
	rm -rf .pulumi-state .pulumi-home .local-cluster
