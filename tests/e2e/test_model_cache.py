"""Cache mode volume with the real engine on the local cluster: the model's claim binds to a static PersistentVolume
the test provides (the role a StorageClass's provisioner plays in a real cluster), the populate Job runs (KWOK
completes its pod) and completes before the workers are created, the workers mount the claim read-only, and a second
`up` creates and replaces nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from tests.e2e.conftest import Kubectl, scratch_stack

pytestmark = pytest.mark.e2e

STACK = "cache"
NS = "llm-d-pd-cache"
CLASS = "llmd-e2e-models"
PV = "llmd-e2e-models-pv"
COMPONENT = "app.kubernetes.io/component=model-cache"
POOLS = [
    {
        "name": "llama",
        "prefill": {"replicas": 1},
        "decode": {"tensorParallelism": 1},
        "model": {"cache": {"mode": "volume", "storageClassName": CLASS, "accessMode": "ReadOnlyMany"}},
    }
]


def static_volume() -> dict:
    """What a provisioner would create: a ReadOnlyMany volume of the class, large enough for the checkpoint plus
    headroom (78Gi). A hostPath: KWOK mounts nothing, and the PV controller binds it like any other."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": PV, "labels": {"app.kubernetes.io/part-of": "llm-d-pd-e2e"}},
        "spec": {
            "capacity": {"storage": "100Gi"},
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": CLASS,
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": "/var/lib/llm-d-e2e-models", "type": "DirectoryOrCreate"},
        },
    }


@pytest.fixture(scope="module")
def volume(kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    kubectl.run("delete", "pv", PV, "--ignore-not-found", "--wait=true")
    manifest = tmp_path_factory.mktemp("pv") / "pv.yaml"
    manifest.write_text(yaml.safe_dump(static_volume()))
    kubectl.run("apply", "-f", str(manifest))
    yield PV
    kubectl.run("delete", "pv", PV, "--ignore-not-found", "--wait=false")


@pytest.fixture(scope="module")
def stack(project_copy: Path, kubectl: Kubectl, volume: str) -> Iterator[auto.Stack]:
    for s in scratch_stack(project_copy, kubectl, STACK, NS):
        s.set_config("hfToken", auto.ConfigValue("hf_e2e_not_a_real_token", secret=True))
        s.set_config("pools", auto.ConfigValue(json.dumps(POOLS)))
        yield s


def up(stack: auto.Stack) -> dict[str, set[str]]:
    """`up`; return resource name -> the engine's steps for it."""
    steps: dict[str, set[str]] = {}

    def on_event(event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            steps.setdefault(pre.metadata.urn.rsplit("::", 1)[-1], set()).add(pre.metadata.op.value)

    assert stack.up(on_event=on_event, color="never").summary.result == "succeeded"
    return steps


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_the_populate_job_completes_before_the_workers_exist(stack: auto.Stack, kubectl: Kubectl):
    steps = up(stack)
    fills = [name for name, ops in steps.items() if name.endswith("-fill")]
    assert len(fills) == 1 and steps[fills[0]] == {"create"}, steps
    (job,) = kubectl.items("jobs", "-n", NS, "-l", COMPONENT)
    assert job["status"].get("succeeded") == 1  # KWOK completed the pod; `up` waited for the Job
    done = when(job["status"]["completionTime"])
    (claim,) = kubectl.items("pvc", "-n", NS, "-l", COMPONENT)
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["volumeName"] == PV
    pod = job["spec"]["template"]["spec"]
    assert next(v for v in pod["volumes"] if v["name"] == "model-weights")["persistentVolumeClaim"] == {
        "claimName": claim["metadata"]["name"]
    }
    workers = kubectl.items("deployments", "-n", NS, "-l", f"llm-d.ai/install={STACK},llm-d.ai/role")
    assert len(workers) == 2
    for dep in workers:
        # Created only once the fill was complete: the workers depend on it.
        assert when(dep["metadata"]["creationTimestamp"]) >= done, dep["metadata"]["name"]
        spec = dep["spec"]["template"]["spec"]
        weights = next(v for v in spec["volumes"] if v["name"] == "model-weights")["persistentVolumeClaim"]
        assert weights == {"claimName": claim["metadata"]["name"], "readOnly": True}
        vllm = next(c for c in spec["containers"] if c["name"] == "vllm")
        assert vllm["args"][0] == "/models/weights"
        assert {"name": "model-weights", "mountPath": "/models", "readOnly": True} in vllm["volumeMounts"]
    running = kubectl.items("pods", "-n", NS, "-l", f"llm-d.ai/install={STACK},llm-d.ai/role")
    assert len(running) == 2 and all(p["status"].get("phase") == "Running" for p in running)


def test_a_second_up_fills_nothing_again(stack: auto.Stack, kubectl: Kubectl):
    (before,) = kubectl.items("jobs", "-n", NS, "-l", COMPONENT)
    steps = up(stack)
    changed = {name: ops for name, ops in steps.items() if ops != {"same"}}
    assert not [n for n in changed if "model" in n], changed
    (after,) = kubectl.items("jobs", "-n", NS, "-l", COMPONENT)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # the same Job: nothing downloaded again
