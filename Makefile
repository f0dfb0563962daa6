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

.PHONY: demo demo-down test test-unit test-e2e lint fmt engine cluster-up cluster-down bench render clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

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
test: venv crds lint engine $(LLMD_KUBE_SCORE)
	$(PY) -m pytest tests

test-unit: venv crds $(LLMD_KUBE_SCORE)
	$(PY) -m pytest tests/unit

test-e2e: venv crds engine
	$(PY) -m pytest tests/e2e

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
PY_SCRIPTS := scripts/stack scripts/bench scripts/fetch-crds

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
