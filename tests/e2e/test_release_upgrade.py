"""Upgrading a stack from the llm-d-v0.6 release set to llm-d-v0.9 with the real engine, the way docs/operations.md
"Releases and upgrades" describes it: `up` on the old set; the preview of a plain switch shows the workers'
Deployments and the EPP change in place (a rolling switch would put v0.6 and v0.9 pods, whose vLLM/NIXL may not pair,
behind one EPP); so the switch goes through the blue-green cutover of pools[].serve. A watcher checks throughout that
the route never points at a pool without Ready prefill and decode workers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from components.releases import LLM_D_V06, LLM_D_V09
from tests.e2e.conftest import Kubectl, scratch_stack

pytestmark = pytest.mark.e2e

STACK = "upgrade"
NS = "llm-d-pd-upgrade"
SMALL = {"prefill": {"replicas": 1}, "decode": {"tensorParallelism": 1}}  # 2 GPUs a pool: both fit one node
ROUTE = "upgrade-route"
ROUTE_RESOURCE = "upgrade-inference-gateway-route"
"""The HTTPRoute's Pulumi resource name."""
BLUE = {"name": "blue", **SMALL}
GREEN = {"name": "green", **SMALL}


@pytest.fixture(scope="module")
def stack(project_copy: Path, kubectl: Kubectl) -> Iterator[auto.Stack]:
    yield from scratch_stack(project_copy, kubectl, STACK, NS)


def preview_steps(stack: auto.Stack) -> dict[str, set[str]]:
    steps: dict[str, set[str]] = {}

    def on_event(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            steps.setdefault(pre.metadata.urn.rsplit("::", 1)[-1], set()).add(pre.metadata.op.value)

    stack.preview(on_event=on_event, color="never")
    return steps


def up(stack: auto.Stack, pools: list[dict]) -> None:
    stack.set_config("pools", auto.ConfigValue(json.dumps(pools)))
    assert stack.up(color="never").summary.result == "succeeded"


def backends(kubectl: Kubectl) -> list[str]:
    route = kubectl.json("get", "httproute", "-n", NS, ROUTE)
    return [b["name"] for rule in route["spec"]["rules"] for b in rule["backendRefs"]]


def ready_pool(kubectl: Kubectl, pool: str) -> bool:
    """Both roles of the pool have a Ready pod."""
    pods = kubectl.items("pods", "-n", NS, "-l", f"llm-d.ai/install={STACK},llm-d.ai/pool={pool},llm-d.ai/role")
    ready = {
        p["metadata"]["labels"]["llm-d.ai/role"]
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    }
    return ready == {"prefill", "decode"}


class RouteWatcher:
    """Samples the route's backends and their pools' readiness while `up` runs, in a thread."""

    def __init__(self, kubectl: Kubectl):
        self.kubectl, self.samples = kubectl, 0
        self.gaps: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            route = self.kubectl.run("get", "httproute", "-n", NS, ROUTE, "-o", "json", check=False)
            if route.returncode != 0:
                continue
            backends = [b["name"] for r in json.loads(route.stdout)["spec"]["rules"] for b in r["backendRefs"]]
            self.samples += 1
            for name in backends:
                if not ready_pool(self.kubectl, name.removeprefix(f"{STACK}-")):
                    self.gaps.append(name)

    def __enter__(self) -> RouteWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_the_old_set_serves(stack, kubectl: Kubectl):
    stack.set_config("release", auto.ConfigValue(LLM_D_V06.name))
    up(stack, [BLUE])
    dep = kubectl.json("get", "deployment", "-n", NS, f"{STACK}-blue-decode")
    (sidecar,) = dep["spec"]["template"]["spec"]["initContainers"]
    assert sidecar["image"] == LLM_D_V06.sidecar_image and "--vllm-port=8200" in sidecar["args"]
    assert backends(kubectl) == [f"{STACK}-blue"]


def test_the_preview_of_a_plain_switch_shows_what_would_change_in_place(stack):
    """Switching `release` alone would update blue's workers and EPP in place: v0.6 and v0.9 pods behind one EPP
    while they roll. The preview says so before anything happens; nothing is applied, the cutover follows."""
    stack.set_config("release", auto.ConfigValue(LLM_D_V09.name))
    steps = preview_steps(stack)
    for name in (f"{STACK}-blue-prefill-deployment", f"{STACK}-blue-decode-deployment", f"{STACK}-blue-epp"):
        assert steps[name] == {"update"}, (name, steps[name])
    assert any(n.startswith(f"{STACK}-blue-epp-config") and ops & {"replace", "create-replacement", "create"}
               for n, ops in steps.items()), steps  # fmt: skip
    assert steps[ROUTE_RESOURCE] == {"same"}


def test_the_switch_runs_as_a_cutover_with_no_moment_routing_to_a_pool_that_is_not_ready(stack, kubectl: Kubectl):
    with RouteWatcher(kubectl) as watch:
        # 1. The stack moves to the new set; blue stays pinned to the old one (untouched), green comes up on the
        #    new set with its own EPP and no traffic.
        stack.set_config("release", auto.ConfigValue(LLM_D_V09.name))
        up(stack, [{**BLUE, "release": LLM_D_V06.name}, {**GREEN, "serve": False}])
        assert backends(kubectl) == [f"{STACK}-blue"] and ready_pool(kubectl, "green")
        # 2. Once green is Ready (up waited for it), the route's single backend switches in one update.
        up(stack, [{**BLUE, "release": LLM_D_V06.name, "serve": False}, GREEN])
        assert backends(kubectl) == [f"{STACK}-green"]
        # 3. Blue goes.
        up(stack, [GREEN])
    assert watch.samples > 0 and watch.gaps == [], watch.gaps
    dep = kubectl.json("get", "deployment", "-n", NS, f"{STACK}-green-decode")
    (sidecar,) = dep["spec"]["template"]["spec"]["initContainers"]
    assert sidecar["image"] == LLM_D_V09.sidecar_image and "--model-server-port=8200" in sidecar["args"]
    assert not ready_pool(kubectl, "blue")


def test_no_pod_of_one_set_ever_joined_the_other_sets_pool(stack, kubectl: Kubectl):
    pool = kubectl.json("get", "inferencepool", "-n", NS, f"{STACK}-green")
    assert pool["spec"]["selector"]["matchLabels"]["llm-d.ai/pool"] == "green"
    images = {
        c["image"]
        for p in kubectl.items("pods", "-n", NS, "-l", f"llm-d.ai/install={STACK},llm-d.ai/pool=green")
        for c in p["spec"]["containers"] + p["spec"].get("initContainers", [])
    }
    assert images <= {LLM_D_V09.vllm_image, LLM_D_V09.sidecar_image}
