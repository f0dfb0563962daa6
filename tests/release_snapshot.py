"""What the program registers for a few representative stacks, reduced to what a release set decides, as plain JSON:
the snapshot that pins a release set's objects (tests/unit/test_releases.py). The llm-d-v0.6 snapshot was written
from the program as it was before release sets existed. Regenerate only for a change meant to alter every release's
objects: `LLMD_CRDS_DIR=<crds> .venv/bin/python -m tests.release_snapshot llm-d-v0.6`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.harness import GKE_CLUSTER, run_program

SNAPSHOTS = Path(__file__).parent / "unit" / "snapshots"
TOKEN = {"hfToken": "hf_not_a_real_token"}
CRDS_PLACEHOLDER = "<crds-dir>"

# Frozen with the snapshot they produced: these inputs resemble tests/unit/test_schemas.py's CONFIGS but must not
# follow them, or the snapshot would stop pinning the objects of the program before release sets.
STACKS: dict[str, tuple[dict[str, Any], dict[str, str] | None]] = {
    "ib-istio": ({"clusterPrep": {"enabled": True, "networkOperator": True, "gpuOperator": True}}, TOKEN),
    "local": (
        {
            "gateway": {"provider": "istio"},
            "clusterPrep": {"enabled": True, "crds": True, "gatewayControlPlane": False},
            "verification": {"gate": False},
            "cluster": {
                "kind": "existing",
                "kubernetesVersion": "1.36",
                "inventory": [{"name": "gpu-node", "count": 1, "cpu": "220", "memory": "1980Gi"}],
            },
        },
        TOKEN,
    ),
    "agentgateway-two-pools": (
        {
            "gateway": {"provider": "agentgateway"},
            "clusterPrep": {"enabled": True},
            "rdma": {"fabric": "none"},
            "pools": [
                {"name": "llama"},
                {
                    "name": "qwen",
                    "model": {"id": "Qwen/Qwen3-32B", "maxModelLen": 16000},
                    "decode": {"tensorParallelism": 2},
                    "scheduling": {"decider": "always"},
                    "route": {"headers": {"x-model": "qwen"}},
                },
            ],
        },
        TOKEN,
    ),
    "kgateway-existing-secret": ({"gateway": {"provider": "kgateway"}, "hfTokenSecretName": "hf"}, None),
    "prometheus-operator": (
        {"monitoring": {"backend": "prometheus-operator"}, "verification": {"enabled": True}},
        TOKEN,
    ),
    "gke-dra": ({"cluster": GKE_CLUSTER}, TOKEN),
}


def _scrub(value: Any, crds_dir: str) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, crds_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, crds_dir) for v in value]
    if isinstance(value, str) and crds_dir:
        return value.replace(crds_dir, CRDS_PLACEHOLDER)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def registered(config: dict[str, Any], secrets: dict[str, str] | None) -> list[dict[str, Any]]:
    """Every resource the program registers (type, name, inputs), sorted, with the CRD directory made neutral."""
    crds_dir = os.environ.get("LLMD_CRDS_DIR", "").rstrip("/")
    rec = run_program(config, secrets=secrets)
    rows = [{"type": r.typ, "name": r.name, "inputs": _scrub(r.inputs, crds_dir)} for r in rec.resources]
    return sorted(rows, key=lambda r: (r["type"], r["name"]))


def snapshot_path(release: str) -> Path:
    return SNAPSHOTS / f"{release}.json"


def _containers(spec: dict[str, Any]) -> dict[str, Any]:
    pod = spec.get("template", {}).get("spec", {})
    return {
        c["name"]: {k: c.get(k) for k in ("image", "command", "args")}
        | {"cpu": c.get("resources", {}).get("requests", {}).get("cpu")}
        for c in pod.get("containers", []) + pod.get("initContainers", [])
    }


def release_fields(row: dict[str, Any]) -> dict[str, Any] | None:
    """What a release set decides about one registered resource: images, command lines, EPP config, labels, RBAC
    rules, token mounting, custom resources, CRD bundles and chart versions. Everything else (security contexts,
    volumes, NetworkPolicies) is no release's business and is left out, so other changes do not move this pin."""
    typ, inputs = row["type"], row["inputs"]
    meta = inputs.get("metadata") or {}
    out: dict[str, Any] = {}
    if typ.endswith(":Deployment"):
        out = {"labels": meta.get("labels"), "pod_labels": inputs["spec"]["template"]["metadata"].get("labels"),
               "containers": _containers(inputs["spec"])}  # fmt: skip
    elif typ.endswith(":ConfigMap") and "epp" in row["name"]:
        out = {"labels": meta.get("labels"), "data": inputs.get("data")}
    elif typ.split(":")[-1] in ("Role", "ClusterRole"):
        out = {"labels": meta.get("labels"), "rules": inputs.get("rules")}
    elif typ.endswith(":ServiceAccount"):
        out = {"labels": meta.get("labels"), "automount": inputs.get("automountServiceAccountToken")}
    elif typ.endswith(":Service"):
        out = {"labels": meta.get("labels"), "spec": inputs.get("spec")}
    elif "inference.networking" in typ or "gateway.networking" in typ:
        out = {k: v for k, v in inputs.items() if k != "metadata"} | {"labels": meta.get("labels")}
    elif typ == "pulumi-python:dynamic:Resource" or typ.startswith("kubernetes:helm.sh"):
        out = inputs
    else:
        return None
    return {"type": typ, "name": row["name"], **out}


def build_release_fields(release: str | None) -> dict[str, list[dict[str, Any]]]:
    return {
        stack: [f for f in (release_fields(r) for r in rows) if f is not None] for stack, rows in build(release).items()
    }


def build(release: str | None) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for name, (config, secrets) in STACKS.items():
        cfg = dict(config) if release is None else {**config, "release": release}
        out[name] = registered(cfg, secrets)
    return out


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    release = sys.argv[1]
    # Before the release key existed, the program had no `release`: build without it for the first snapshot.
    data = build_release_fields(None if "--no-key" in sys.argv else release)
    snapshot_path(release).write_text(dump(data))
    print(f"wrote {snapshot_path(release)}: {sum(len(v) for v in data.values())} resources")
