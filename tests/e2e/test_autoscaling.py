"""Per-role autoscaling with the real controllers: KEDA v2.20.2's operator and metrics adapter (built from its Go
module) and the HPA controller of kube-controller-manager, against the local control plane. The prefill ScaledObject
the program creates reads a Prometheus-compatible fixture; raising its value scales prefill up onto a second
simulated GPU node, lowering it scales prefill back to minReplicas, decode never moves, and a preview afterwards
wants no change to `replicas`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from tests.e2e.conftest import ROOT, Kubectl, scratch_stack
from tests.e2e.keda import PrometheusFixture, running_keda
from tests.e2e.test_local_stack import run

pytestmark = pytest.mark.e2e

STACK, NS = "e2e-autoscale", "llm-d-pd-autoscale"
PREFILL, DECODE = f"{STACK}-llama-prefill", f"{STACK}-llama-decode"
SECOND_NODE = "gpu-node-1"
MIN, MAX, TARGET = 4, 8, 4
"""Prefill starts at 4 x TP1 beside 1 x TP4 decode: gpu-node-0 is full, so pods 5 to 8 need the second node."""


def second_gpu_node() -> dict:
    """gpu-node-0 of scripts/local-cluster.d/nodes.yaml under another name."""
    docs = list(yaml.safe_load_all((ROOT / "scripts/local-cluster.d/nodes.yaml").read_text()))
    node = next(d for d in docs if d and d["metadata"]["name"] == "gpu-node-0")
    node["metadata"]["name"] = SECOND_NODE
    node["metadata"]["labels"]["kubernetes.io/hostname"] = SECOND_NODE
    return node


def wait_for(what: str, probe: Callable[[], object], timeout: float = 180) -> object:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(3)


@pytest.fixture(scope="module")
def fixture_prometheus() -> Iterator[PrometheusFixture]:
    fx = PrometheusFixture()
    yield fx
    fx.close()


@pytest.fixture(scope="module")
def keda(engine_bin: Path, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    node = tmp_path_factory.mktemp("node") / "node.json"
    node.write_text(json.dumps(second_gpu_node()))
    kubectl.run("apply", "--server-side", "-f", str(node))
    crds = Path(os.environ["LLMD_CRDS_DIR"])
    # prometheus-operator's PodMonitor and ServiceMonitor: the monitors the autoscaled pool's backend implies.
    for f in sorted((crds / "prometheus-operator-v0.93.0").glob("*.yaml")):
        kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(f))
    try:
        with running_keda(
            engine_bin, kubectl, kubectl.kubeconfig, crds / "keda-v2.20.2", tmp_path_factory.mktemp("keda")
        ):
            yield
    finally:
        kubectl.run("delete", "node", SECOND_NODE, "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def stack(
    project_copy: Path, kubectl: Kubectl, keda: None, fixture_prometheus: PrometheusFixture
) -> Iterator[auto.Stack]:
    for s in scratch_stack(project_copy, kubectl, STACK, NS):
        s.set_config("cluster.inventory[0].count", auto.ConfigValue("2"), path=True)
        s.set_config("monitoring.backend", auto.ConfigValue("prometheus-operator"), path=True)
        s.set_config("monitoring.queryUrl", auto.ConfigValue(fixture_prometheus.url), path=True)
        for key, value in {
            "minReplicas": MIN,
            "maxReplicas": MAX,
            "target": TARGET,
            "pollingIntervalSeconds": 5,
            "scaleDownStabilizationSeconds": 0,
        }.items():
            s.set_config(f"pools[0].prefill.autoscaling.{key}", auto.ConfigValue(str(value)), path=True)
        yield s


def replicas(kubectl: Kubectl, name: str) -> int:
    return int(kubectl.json("get", "deployment", name, "-n", NS)["spec"]["replicas"])


def prefill_nodes(kubectl: Kubectl) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in kubectl.items("pods", "-n", NS, "-l", "llm-d.ai/role=prefill"):
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp"):
            node = p["spec"]["nodeName"]
            out[node] = out.get(node, 0) + 1
    return out


def test_up_creates_the_prefill_scaled_object_and_keda_its_hpa(stack: auto.Stack, kubectl: Kubectl, fixture_prometheus):
    fixture_prometheus.value = 0
    run(stack, "up")
    (so,) = kubectl.items("scaledobjects.keda.sh", "-n", NS)
    assert so["spec"]["scaleTargetRef"]["name"] == PREFILL
    assert (replicas(kubectl, PREFILL), replicas(kubectl, DECODE)) == (MIN, 1)
    hpa = wait_for(
        "KEDA's HPA",
        lambda: kubectl.run("get", "hpa", f"keda-hpa-{PREFILL}", "-n", NS, "-o", "json", check=False).stdout,
    )
    spec = json.loads(str(hpa))["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (MIN, MAX)
    assert spec["scaleTargetRef"]["name"] == PREFILL
    wait_for("KEDA to query the fixture", lambda: fixture_prometheus.queries)
    assert all(f'pod=~"{PREFILL}-' in q and "vllm:num_requests_waiting" in q for q in fixture_prometheus.queries)


def test_a_rising_signal_scales_prefill_up_through_the_hpa_onto_the_second_gpu_node(
    kubectl: Kubectl, fixture_prometheus
):
    fixture_prometheus.value = MAX * TARGET * 2  # wants 16 replicas: capped at maxReplicas
    wait_for(f"prefill at {MAX} replicas", lambda: replicas(kubectl, PREFILL) == MAX)
    nodes = wait_for(
        f"{MAX} prefill pods Running", lambda: (n := prefill_nodes(kubectl)) and sum(n.values()) == MAX and n
    )
    assert nodes == {"gpu-node-0": MIN, SECOND_NODE: MAX - MIN}, nodes
    hpa = kubectl.json("get", "hpa", f"keda-hpa-{PREFILL}", "-n", NS)
    assert hpa["status"]["desiredReplicas"] == MAX
    assert replicas(kubectl, DECODE) == 1, "decode has no autoscaler: it does not move"


def test_a_falling_signal_scales_prefill_back_to_min_replicas(kubectl: Kubectl, fixture_prometheus):
    fixture_prometheus.value = 0
    wait_for(f"prefill back at {MIN} replicas", lambda: replicas(kubectl, PREFILL) == MIN)
    assert replicas(kubectl, DECODE) == 1


def test_a_preview_after_scaling_wants_no_change_to_replicas(stack: auto.Stack, kubectl: Kubectl, fixture_prometheus):
    fixture_prometheus.value = MAX * TARGET
    wait_for(f"prefill at {MAX} replicas", lambda: replicas(kubectl, PREFILL) == MAX)
    result, steps = run(stack, "preview", diff=True)
    assert steps.changed() == {}, steps.changed()
    assert set(result.change_summary) == {"same"}, result.change_summary
    run(stack, "up")
    assert replicas(kubectl, PREFILL) == MAX, "`up` must not undo the autoscaler's scale-up"
