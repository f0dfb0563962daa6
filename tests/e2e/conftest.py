"""The real engine against the local control plane: the engine must be built and the cluster must start. A missing
engine is a failure, never a skip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import pulumi_engine  # noqa: E402

CLUSTER = os.environ.get("LLMD_E2E_CLUSTER", "llmd-e2e")
"""The end-to-end tests' own local cluster, so a running demo never takes their GPUs (LLMD_E2E_CLUSTER names
another, so two runs never share one)."""
KUBECONFIG = ROOT / f".local-cluster-{CLUSTER}" / "kubeconfig"


@dataclass
class Kubectl:
    bin: Path
    kubeconfig: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin), "--kubeconfig", str(self.kubeconfig), *args], capture_output=True, text=True, check=check
        )

    def json(self, *args: str) -> dict[str, Any]:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def items(self, *args: str) -> list[dict[str, Any]]:
        return self.json("get", *args)["items"]


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    return pulumi_engine.engine_bin()


def local_cluster(command: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LLMD_CLUSTER_NAME": CLUSTER}
    return subprocess.run([str(ROOT / "scripts/local-cluster"), command], check=check, capture_output=True, env=env)


@pytest.fixture(scope="session")
def kubectl(engine_bin: Path) -> Iterator[Kubectl]:
    was_running = local_cluster("status", check=False).returncode == 0
    local_cluster("start")
    yield Kubectl(engine_bin / "kubectl", KUBECONFIG)
    if not was_running:
        local_cluster("stop")


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pulumi.yaml and the local stack's config in a scratch directory, so tests can change config freely."""
    d = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "Pulumi.yaml", d / "Pulumi.yaml")
    return d


def new_stack(project: Path, name: str, base: str = "local") -> pulumi_engine.auto.Stack:
    """A stack of the project copy, configured like `base` but pointed at the end-to-end cluster."""
    shutil.copy(ROOT / f"Pulumi.{base}.yaml", project / f"Pulumi.{name}.yaml")
    backend = project / ".state"
    backend.mkdir(exist_ok=True)
    stack = pulumi_engine.open_stack(name, work_dir=project, extra_env={"PULUMI_BACKEND_URL": f"file://{backend}"})
    stack.set_config("cluster.kubeconfig", pulumi_engine.auto.ConfigValue(str(KUBECONFIG)), path=True)
    return stack


def install_crds(kubectl: Kubectl) -> None:
    """The CRDs a stack without cluster preparation needs, applied directly (idempotent: server-side apply), so a
    test can leave the singletons out of its stack and its `up`s stay short."""
    crds = Path(os.environ["LLMD_CRDS_DIR"])
    # Every release set's Inference Extension, oldest first: the newest InferencePool CRD is the one left applied,
    # and an older set's stack still finds what it needs (components/releases.py).
    ie = [f"inference-extension-{v}" for v in ("v1.4.0", "v1.6.0")]
    for folder in ("gateway-api-v1.5.1", *ie, "istio-1.29.1"):
        for f in sorted((crds / folder).glob("*.yaml")):
            if "vap" not in f.name:
                kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(f))


def scratch_stack(project: Path, kubectl: Kubectl, name: str, namespace: str) -> Iterator[pulumi_engine.auto.Stack]:
    """A stack of its own namespace without cluster preparation (the CRDs are applied directly), destroyed and
    removed afterwards even when a step failed."""
    install_crds(kubectl)
    stack = new_stack(project, name)
    stack.set_config("namespace", pulumi_engine.auto.ConfigValue(namespace))
    stack.set_config("clusterPrep.enabled", pulumi_engine.auto.ConfigValue("false"), path=True)
    yield stack
    try:
        stack.destroy(color="never")
        stack.workspace.remove_stack(name)
    except pulumi_engine.auto.CommandError:
        pass
