"""The real engine against the local control plane: the engine must be built and the cluster must start. A missing
engine is a failure, never a skip."""

from __future__ import annotations

import json
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

KUBECONFIG = ROOT / ".local-cluster" / "kubeconfig"


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


@pytest.fixture(scope="session")
def kubectl(engine_bin: Path) -> Iterator[Kubectl]:
    was_running = subprocess.run([str(ROOT / "scripts/local-cluster"), "status"], capture_output=True).returncode == 0
    subprocess.run([str(ROOT / "scripts/local-cluster"), "start"], check=True, capture_output=True)
    yield Kubectl(engine_bin / "kubectl", KUBECONFIG)
    if not was_running:
        subprocess.run([str(ROOT / "scripts/local-cluster"), "stop"], check=True, capture_output=True)


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Pulumi.yaml and the local stack's config in a scratch directory, so tests can change config freely."""
    d = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "Pulumi.yaml", d / "Pulumi.yaml")
    return d


def new_stack(project: Path, name: str, base: str = "local") -> pulumi_engine.auto.Stack:
    shutil.copy(ROOT / f"Pulumi.{base}.yaml", project / f"Pulumi.{name}.yaml")
    backend = project / ".state"
    backend.mkdir(exist_ok=True)
    return pulumi_engine.open_stack(name, work_dir=project, extra_env={"PULUMI_BACKEND_URL": f"file://{backend}"})
