"""Project-level facts that must agree across files."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from components.config import StackConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    text = (ROOT / "scripts/engine-versions.env").read_text()
    return dict(re.findall(r"^([A-Z_]+)=(\S+)$", text, re.M))


def requirement(name: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1]
    raise AssertionError(f"{name} is not pinned in requirements.txt")


def test_engine_build_and_python_sdk_pin_the_same_releases():
    p = pins()
    assert requirement("pulumi") == p["PULUMI_VERSION"]
    assert requirement("pulumi-kubernetes") == p["PULUMI_KUBERNETES_VERSION"]


def test_every_requirement_is_pinned():
    for f in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / f).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith(("#", "-r")):
                assert "==" in line, f"{f}: {line} is not pinned"


def test_project_config_describes_every_top_level_key_and_its_defaults_mean_the_programs_defaults():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    declared = project["config"]
    keys = {f.alias or n for n, f in StackConfig.model_fields.items()}
    # hfToken is a secret: a declared default would be applied as plain text, which Pulumi then rejects.
    assert set(declared) == keys - {"hfToken"}
    assert "hfToken" in (ROOT / "Pulumi.yaml").read_text()  # described in a comment
    for key, spec in declared.items():
        assert spec.get("description"), key
        assert spec.get("type") in (None, "string", "integer", "boolean", "array"), key  # no type for objects
        assert "default" in spec, f"{key}: Pulumi makes a declared key without a default required"
    # Loading nothing but Pulumi.yaml's defaults gives exactly the models' defaults.
    raw = {k: s["default"] for k, s in declared.items()} | {"hfTokenSecretName": "hf"}
    assert load_config(raw, "ib") == load_config({"hfTokenSecretName": "hf"}, "ib")


def test_local_stack_inventory_matches_the_simulated_nodes():
    stack = yaml.safe_load((ROOT / "Pulumi.local.yaml").read_text())["config"]
    nodes = list(yaml.safe_load_all((ROOT / "scripts/local-cluster.d/nodes.yaml").read_text()))
    gpu_nodes = [n for n in nodes if "nvidia.com/gpu" in n["status"]["allocatable"]]
    (group,) = stack["llm-d-pd:cluster"]["inventory"]
    assert group["count"] == len(gpu_nodes)
    for n in gpu_nodes:
        alloc = n["status"]["allocatable"]
        assert int(alloc["nvidia.com/gpu"]) == group["gpusPerNode"]
        assert int(alloc[stack["llm-d-pd:rdma"]["resourceName"]]) == group["rdmaShares"]
        assert n["spec"]["taints"][0]["key"] == "nvidia.com/gpu"  # the workers' default toleration


def test_stack_files_hold_only_project_keys():
    for f in ROOT.glob("Pulumi.*.yaml"):
        config = yaml.safe_load(f.read_text()).get("config", {})
        assert all(k.startswith("llm-d-pd:") for k in config), f


def stack_config(name: str) -> dict:
    config = yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())["config"]
    return {k.removeprefix("llm-d-pd:"): v for k, v in config.items()}


def test_the_gke_example_is_complete_once_the_token_is_set():
    from components import preflight

    raw = stack_config("gke")
    assert "hfToken" not in raw  # set by the user, as a secret
    cfg = load_config({**raw, "hfToken": True}, "gke")
    report = preflight.run(cfg)
    assert report.ok, report.errors
    assert cfg.rdma.fabric.value == "gke-dra" and cfg.cluster.gke.gpu_pool.machine_type == "a3-ultragpu-8g"


def test_the_local_gke_stack_is_the_gke_shape_without_provisioning_or_drivers():
    raw = stack_config("local-gke")
    cfg = load_config({**raw, "hfToken": True}, "local-gke")
    assert cfg.cluster.kind.value == "gke" and not cfg.cluster.gke.provision
    assert cfg.rdma.fabric.value == "gke-dra" and cfg.gateway.provider.value == "gke"
    assert not cfg.cluster_prep.gpu_driver_installer and not cfg.cluster_prep.nvidia_dra_driver
    assert cfg.cluster.kubeconfig == stack_config("local")["cluster"]["kubeconfig"]
