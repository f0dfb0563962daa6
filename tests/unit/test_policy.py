"""The policy pack's checks: what the program builds passes; each violation is caught."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import GKE_CLUSTER, run_program
from tests.unit.test_schemas import unwrap

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policy"))

import checks

DEPLOYMENT = "kubernetes:apps/v1:Deployment"


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict]]:
    rec = run_program({}, secrets={"hfToken": "hf_x"})
    out: dict[str, list[dict]] = {}
    for r in rec.resources:
        out.setdefault(r.typ, []).append(unwrap(r.inputs))
    return out


def worker(built, role: str) -> dict:
    return copy.deepcopy(next(d for d in built[DEPLOYMENT] if d["metadata"]["name"].endswith(f"-{role}")))


def vllm(dep):
    return dep["spec"]["template"]["spec"]["containers"][0]


def test_everything_the_program_builds_passes(built):
    deps = built[DEPLOYMENT]
    for dep in deps:
        assert checks.gpus_match_tensor_parallelism(dep) == [] or dep["metadata"]["name"].endswith("-epp")
        assert checks.sidecar_ports_agree(dep) == []
        assert checks.images_pinned(dep) == []
        assert checks.no_plain_hf_token(dep) == []
        assert checks.rdma_resource_present(dep, "rdma/ib") == []
    for cm in built["kubernetes:core/v1:ConfigMap"]:
        assert checks.epp_decider_declared(cm) == []
    for svc in built["kubernetes:core/v1:Service"]:
        assert checks.service_not_load_balancer(svc) == []
    for typ in ("ClusterRole", "ClusterRoleBinding"):
        for obj in built[f"kubernetes:rbac.authorization.k8s.io/v1:{typ}"]:
            assert checks.cluster_scoped_name_is_per_install(obj) == []
    (pool,) = built["kubernetes:inference.networking.k8s.io/v1:InferencePool"]
    assert checks.pool_selects_its_two_roles(pool, deps) == []


def test_gpu_request_that_disagrees_with_tp_is_a_violation(built):
    dep = worker(built, "decode")
    vllm(dep)["resources"]["limits"]["nvidia.com/gpu"] = "2"
    assert checks.gpus_match_tensor_parallelism(dep) == ["vllm limits 2 nvidia.com/gpu but --tensor-parallel-size is 4"]


def test_sidecar_port_mismatch_is_a_violation(built):
    dep = worker(built, "decode")
    sidecar = dep["spec"]["template"]["spec"]["initContainers"][0]
    flag = next(a.split("=")[0] for a in sidecar["args"] if a.endswith("=8200"))  # the release's spelling
    sidecar["args"] = [a.replace(f"{flag}=8200", f"{flag}=8201") for a in sidecar["args"]]
    assert checks.sidecar_ports_agree(dep) == [f"sidecar {flag} 8201 != vllm --port 8200"]


@pytest.mark.parametrize("image", ["ghcr.io/llm-d/llm-d-cuda:latest", "ghcr.io/llm-d/llm-d-cuda"])
def test_unpinned_image_is_a_violation(built, image):
    dep = worker(built, "prefill")
    vllm(dep)["image"] = image
    assert len(checks.images_pinned(dep)) == 1


def test_plain_hf_token_is_a_violation(built):
    dep = worker(built, "prefill")
    vllm(dep)["env"].append({"name": "HF_TOKEN", "value": "hf_plain"})
    assert checks.no_plain_hf_token(dep)


def test_missing_rdma_resource_is_a_violation(built):
    dep = worker(built, "prefill")
    for kind in ("requests", "limits"):
        del vllm(dep)["resources"][kind]["rdma/ib"]
    assert checks.rdma_resource_present(dep, "rdma/ib")


@pytest.mark.parametrize("mutation", ["no-deciders", "undeclared"])
def test_profile_handler_without_a_declared_decider_is_a_violation(built, mutation):
    cm = copy.deepcopy(next(c for c in built["kubernetes:core/v1:ConfigMap"] if "pd-config.yaml" in c["data"]))
    conf = yaml.safe_load(cm["data"]["pd-config.yaml"])
    handler = next(p for p in conf["plugins"] if p["type"] == "disagg-profile-handler")
    if mutation == "no-deciders":
        del handler["parameters"]["deciders"]
    else:
        handler["parameters"]["deciders"]["prefill"] = "threshold-decider"
    cm["data"]["pd-config.yaml"] = yaml.safe_dump(conf)
    assert len(checks.epp_decider_declared(cm)) == 1


def test_backend_load_balancer_is_a_violation(built):
    svc = copy.deepcopy(built["kubernetes:core/v1:Service"][0])
    svc["spec"]["type"] = "LoadBalancer"
    assert checks.service_not_load_balancer(svc)


def test_cluster_role_without_the_install_prefix_is_a_violation(built):
    cr = copy.deepcopy(built["kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"][0])
    cr["metadata"]["name"] = "epp-metrics"
    assert checks.cluster_scoped_name_is_per_install(cr)


def test_pool_selecting_the_epp_or_one_role_only_is_a_violation(built):
    (pool,) = built["kubernetes:inference.networking.k8s.io/v1:InferencePool"]
    deps = built[DEPLOYMENT]
    wide = copy.deepcopy(pool)
    wide["spec"]["selector"]["matchLabels"] = {"llm-d.ai/install": "ib"}
    assert "not a worker" in checks.pool_selects_its_two_roles(wide, deps)[0]
    narrow = copy.deepcopy(pool)
    narrow["spec"]["selector"]["matchLabels"]["llm-d.ai/role"] = "decode"
    assert "must select prefill and decode" in checks.pool_selects_its_two_roles(narrow, deps)[0]


CLAIM_TEMPLATE = "kubernetes:resource.k8s.io/v1:ResourceClaimTemplate"


@pytest.fixture(scope="module")
def gke_built() -> dict[str, list[dict]]:
    rec = run_program({"cluster": GKE_CLUSTER}, secrets={"hfToken": "hf_x"}, stack="gke")
    out: dict[str, list[dict]] = {}
    for r in rec.resources:
        out.setdefault(r.typ, []).append(unwrap(r.inputs))
    return out


def decode_template(gke_built) -> dict:
    return copy.deepcopy(next(t for t in gke_built[CLAIM_TEMPLATE] if t["metadata"]["name"].endswith("decode-gpu-nic")))


def test_dra_workers_the_program_builds_pair_every_gpu_with_a_nic(gke_built):
    for dep in gke_built[DEPLOYMENT]:
        assert checks.gpu_nic_claims_pair_each_gpu(dep, gke_built[CLAIM_TEMPLATE]) == []
        assert checks.gpus_match_tensor_parallelism(dep) == [] or dep["metadata"]["name"].endswith("-epp")


def test_one_constraint_over_all_pairs_is_a_violation(gke_built):
    template = decode_template(gke_built)
    devices = template["spec"]["spec"]["devices"]
    devices["constraints"] = [{"matchAttribute": "resource.kubernetes.io/pcieRoot"}]
    (msg,) = checks.gpu_nic_claims_pair_each_gpu(worker(gke_built, "decode"), [template])
    assert "not each paired" in msg


def test_counted_requests_under_one_constraint_are_a_violation(gke_built):
    template = decode_template(gke_built)
    devices = template["spec"]["spec"]["devices"]
    devices["requests"] = [
        {"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com", "count": 4}},
        {"name": "nic", "exactly": {"deviceClassName": "mrdma.google.com", "count": 4}},
    ]
    devices["constraints"] = [{"matchAttribute": "resource.kubernetes.io/pcieRoot", "requests": ["gpu", "nic"]}]
    (msg,) = checks.gpu_nic_claims_pair_each_gpu(worker(gke_built, "decode"), [template])
    assert "not each paired" in msg


def test_fewer_pairs_than_tensor_parallelism_or_a_missing_template_is_a_violation(gke_built):
    template = decode_template(gke_built)
    devices = template["spec"]["spec"]["devices"]
    devices["requests"] = devices["requests"][:6]
    devices["constraints"] = devices["constraints"][:3]
    (msg,) = checks.gpu_nic_claims_pair_each_gpu(worker(gke_built, "decode"), [template])
    assert "claims 3 GPUs and 3 RDMA NICs but --tensor-parallel-size is 4" in msg
    missing = checks.gpu_nic_claims_pair_each_gpu(worker(gke_built, "decode"), [])
    assert any("which the stack lacks" in m for m in missing)
