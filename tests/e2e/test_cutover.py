"""Blue-green cutover for an incompatible P/D upgrade, with the real engine: the new pool comes up without traffic,
the route's single backend switches once it is Ready, then the old pool goes. Prefill and decode pods of the two
versions never share an endpoint picker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e.conftest import Kubectl, scratch_stack

pytestmark = pytest.mark.e2e

STACK = "cutover"
NS = "llm-d-pd-cutover"
SMALL = {"prefill": {"replicas": 1}, "decode": {"tensorParallelism": 1}}  # 2 GPUs a pool: both fit one node
BLUE = {"name": "blue", **SMALL}
GREEN = {"name": "green", **SMALL, "model": {"blockSize": 64}}  # incompatible with blue's KV layout
ROUTE = "cutover-inference-gateway-route"
"""The HTTPRoute's Pulumi resource name (its Kubernetes name is cutover-route)."""


@pytest.fixture(scope="module")
def stack(project_copy: Path, kubectl: Kubectl) -> Iterator[auto.Stack]:
    yield from scratch_stack(project_copy, kubectl, STACK, NS)


def up_with(stack: auto.Stack, pools: list[dict]) -> dict[str, set[str]]:
    """Apply these pools; return resource name -> steps of what changed."""
    stack.set_config("pools", auto.ConfigValue(json.dumps(pools)))
    changed: dict[str, set[str]] = {}

    def on_event(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None and pre.metadata.op.value != "same":
            changed.setdefault(pre.metadata.urn.rsplit("::", 1)[-1], set()).add(pre.metadata.op.value)

    assert stack.up(on_event=on_event, color="never").summary.result == "succeeded"
    return changed


def backends(kubectl: Kubectl) -> list[str]:
    route = kubectl.json("get", "httproute", "-n", NS, "cutover-route")
    return [b["name"] for rule in route["spec"]["rules"] for b in rule["backendRefs"]]


def ready_workers(kubectl: Kubectl, pool: str) -> int:
    pods = kubectl.items("pods", "-n", NS, "-l", f"llm-d.ai/install={STACK},llm-d.ai/pool={pool},llm-d.ai/role")
    return sum(
        1
        for p in pods
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
    )


def test_blue_serves(stack, kubectl: Kubectl):
    up_with(stack, [BLUE])
    assert backends(kubectl) == ["cutover-blue"]


def test_green_comes_up_without_traffic(stack, kubectl: Kubectl):
    changed = up_with(stack, [BLUE, {**GREEN, "serve": False}])
    assert ROUTE not in changed  # the route still sends everything to blue
    assert backends(kubectl) == ["cutover-blue"]
    assert ready_workers(kubectl, "green") == 2
    assert (
        kubectl.json("get", "inferencepool", "-n", NS, "cutover-green")["spec"]["selector"]["matchLabels"][
            "llm-d.ai/pool"
        ]
        == "green"
    )


def test_the_route_switches_to_green_in_one_step(stack, kubectl: Kubectl):
    changed = up_with(stack, [{**BLUE, "serve": False}, GREEN])
    assert changed == {ROUTE: {"update"}}, changed  # nothing else moves
    assert backends(kubectl) == ["cutover-green"]


def test_blue_goes_and_green_keeps_serving(stack, kubectl: Kubectl):
    changed = up_with(stack, [GREEN])
    assert ROUTE not in changed and all(ops == {"delete"} for ops in changed.values()), changed
    assert any(name.startswith("cutover-blue") for name in changed)
    assert backends(kubectl) == ["cutover-green"]
    assert ready_workers(kubectl, "blue") == 0 and ready_workers(kubectl, "green") == 2
