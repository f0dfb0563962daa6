"""The `local-gke` stack (the gke stack's in-cluster part, gke-dra) with the real engine on the local control plane.

The harness (tests/e2e/gke_simulation.py) publishes what GKE and the NVIDIA drivers would: DeviceClasses, and for
the GPU node ResourceSlices of 8 GPUs and 8 RDMA NICs with their PCIe roots. The kube-scheduler's DRA allocator does
the pairing for real; the test checks that every worker runs and that each claim pairs each GPU with the NIC on its
own PCIe root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e import gke_simulation
from tests.e2e.conftest import Kubectl, new_stack

pytestmark = pytest.mark.e2e

STACK = "e2e-gke"
NS = "llm-d-pd-gke"
INSTALL = f"llm-d.ai/install={STACK}"
GPU_NODE, CPU_NODE = "gpu-node-0", "cpu-node-0"


@pytest.fixture(scope="module")
def stack(project_copy: Path, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[auto.Stack]:
    gke_simulation.install(kubectl, [GPU_NODE], tmp_path_factory.mktemp("gke"))
    controller = gke_simulation.GatewayController(kubectl, NS)
    controller.start()
    s = new_stack(project_copy, STACK, base="local-gke")
    s.set_config("namespace", auto.ConfigValue(NS))
    s.set_config("hfToken", auto.ConfigValue("hf_e2e_not_a_real_token", secret=True))
    yield s
    try:
        s.destroy(color="never")
        s.workspace.remove_stack(STACK)
    except auto.CommandError:
        pass
    finally:
        controller.stop()
        gke_simulation.uninstall(kubectl, [GPU_NODE])


@pytest.fixture(scope="module")
def up(stack: auto.Stack) -> auto.UpResult:
    return stack.up(color="never")


def workers(kubectl: Kubectl) -> list[dict]:
    return kubectl.items("pods", "-n", NS, "-l", f"{INSTALL},llm-d.ai/role")


def test_up_succeeds_and_exports_the_address_of_the_programmed_gateway(up: auto.UpResult):
    assert up.summary.result == "succeeded"
    assert up.outputs["gatewayAddress"].value == gke_simulation.GATEWAY_ADDRESS
    assert up.outputs["kvTransport"].value.startswith("RoCE: one RDMA NIC per GPU")


def test_workers_run_ready_on_the_gpu_node_without_gpu_or_infiniband_requests(up, kubectl: Kubectl):
    pods = workers(kubectl)
    assert sorted(p["metadata"]["labels"]["llm-d.ai/role"] for p in pods) == ["decode"] + ["prefill"] * 4
    for p in pods:
        conds = {c["type"]: c["status"] for c in p["status"].get("conditions", [])}
        assert p["status"]["phase"] == "Running" and conds.get("Ready") == "True", p["metadata"]["name"]
        assert p["spec"]["nodeName"] == GPU_NODE
        resources = p["spec"]["containers"][0]["resources"]
        assert not {"nvidia.com/gpu", "rdma/ib"} & set(resources.get("limits", {}))
        assert resources["claims"] == [{"name": "gpu-nic"}]
    (epp,) = kubectl.items("pods", "-n", NS, "-l", f"{INSTALL},inferencepool=e2e-gke-llama-epp")
    assert epp["spec"]["nodeName"] == CPU_NODE


def test_every_claim_pairs_each_gpu_with_the_nic_on_its_pcie_root(up, kubectl: Kubectl):
    roots = gke_simulation.device_roots(GPU_NODE)
    pods = {p["metadata"]["name"]: p for p in workers(kubectl)}
    claims = kubectl.items("resourceclaims", "-n", NS)
    assert len(claims) == 5  # one per pod, from its role's template
    gpus_in_use, nics_in_use = [], []
    for claim in claims:
        (owner,) = claim["status"]["reservedFor"]
        role = pods[owner["name"]]["metadata"]["labels"]["llm-d.ai/role"]
        results = {r["request"]: r for r in claim["status"]["allocation"]["devices"]["results"]}
        pairs = 1 if role == "prefill" else 4  # TP1 prefill, TP4 decode
        assert set(results) == {f"{kind}-{i}" for kind in ("gpu", "nic") for i in range(pairs)}
        for i in range(pairs):
            gpu, nic = results[f"gpu-{i}"], results[f"nic-{i}"]
            assert gpu["driver"] == "gpu.nvidia.com" and nic["driver"] == gke_simulation.NIC_DRIVER
            assert roots[(gpu["driver"], gpu["device"])] == roots[(nic["driver"], nic["device"])], (gpu, nic)
            gpus_in_use.append(gpu["device"])
            nics_in_use.append(nic["device"])
    # 4 prefill + 1 decode use all 8 GPUs and all 8 NICs of the node, none twice.
    assert sorted(gpus_in_use) == [f"gpu-{i}" for i in range(8)]
    assert len(set(nics_in_use)) == 8


def test_a_second_preview_reports_no_changes(up, stack: auto.Stack):
    result = stack.preview(color="never")
    assert set(result.change_summary) == {"same"}, result.change_summary


def test_destroy_releases_every_claim(up, stack: auto.Stack, kubectl: Kubectl):
    stack.destroy(color="never")
    assert kubectl.run("get", "namespace", NS, check=False).returncode != 0 or not kubectl.items(
        "resourceclaims", "-n", NS
    )
    assert not kubectl.items("resourceclaimtemplates", "-A", "-l", INSTALL)
