"""The vLLM pods from the restricted profile down: per fabric, what is relaxed and why; every path vLLM
writes is a volume; the namespace's Pod Security Admission level; `images.requireDigests`."""

from __future__ import annotations

import pytest

from components import preflight
from components.config import load_config
from components.specs import rdma, security, vllm_runtime, workers
from components.specs.names import InstallNames
from components.specs.wiring import Role
from tests.harness import GKE_CLUSTER, run_program

PN = InstallNames("ib", "llm-d-pd").pool("llama")
DIGEST = "@sha256:" + "0" * 64

FABRICS = {
    # fabric config -> (stack, cluster, RDMA registration needs IPC_LOCK)
    "infiniband": ({"fabric": "infiniband"}, "ib", None, True),
    "infiniband-without-ipc-lock": ({"fabric": "infiniband", "ipcLock": False}, "ib", None, False),
    "none": ({"fabric": "none"}, "ib", None, False),
    "gke-dra": ({"fabric": "gke-dra"}, "gke", GKE_CLUSTER, True),
    "gke-multinetwork": ({"fabric": "gke-multinetwork"}, "gke", GKE_CLUSTER, True),
}


def config(name: str, **extra):
    fabric, stack, cluster, _ = FABRICS[name]
    raw = {"hfTokenSecretName": "hf", "rdma": fabric, **extra}
    if cluster:
        raw["cluster"] = cluster
    if fabric["fabric"] == "gke-multinetwork":
        raw["pools"] = [{"name": "llama", "prefill": {"replicas": 1, "tensorParallelism": 8},
                         "decode": {"replicas": 1, "tensorParallelism": 8}}]  # fmt: skip
    return load_config(raw, stack)


def pod(cfg, role: Role) -> dict:
    net = rdma.worker_networking(cfg)
    return workers.worker_deployment(PN, cfg.pools[0], role, cfg.images, net, "hf")["spec"]["template"]["spec"]


def vllm(cfg, role: Role) -> dict:
    return next(c for c in pod(cfg, role)["containers"] if c["name"] == "vllm")


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("fabric", sorted(FABRICS))
def test_vllm_runs_restricted_and_adds_ipc_lock_only_with_rdma(fabric: str, role: Role):
    needs_lock = FABRICS[fabric][3]
    ctx = vllm(config(fabric), role)["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctx["capabilities"]["drop"] == ["ALL"]  # NET_RAW and every other default capability
    if needs_lock:
        # Root only here: a non-root process cannot use an added capability (vllm_runtime.runs_as_root).
        assert ctx["capabilities"]["add"] == ["IPC_LOCK"]
        assert ctx["runAsUser"] == 0 and ctx["runAsNonRoot"] is False
    else:
        assert "add" not in ctx["capabilities"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == vllm_runtime.VLLM_UID
        assert pod(config(fabric), role)["securityContext"]["runAsNonRoot"] is True
    assert pod(config(fabric), role)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("role", list(Role))
def test_every_path_vllm_writes_is_a_volume_and_every_cache_points_into_one(role: Role):
    cfg = config("infiniband")
    spec, c = pod(cfg, role), vllm(cfg, role)
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for m in mounts.values():
        assert m["name"] in volumes
    writable = [p for p, m in mounts.items() if not m.get("readOnly")]
    for required in ("/tmp", "/home/vllm", "/dev/shm", "/model-cache"):
        assert required in writable, required
    env = {e["name"]: e.get("value") for e in c["env"]}
    for name in (
        "HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "VLLM_CACHE_ROOT", "VLLM_CONFIG_ROOT", "TRITON_HOME",
        "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR", "FLASHINFER_WORKSPACE_BASE", "CUDA_CACHE_PATH",
        "NUMBA_CACHE_DIR", "OUTLINES_CACHE_DIR", "HF_HOME",
    ):  # fmt: skip
        path = env[name]
        assert any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable), (name, path)


def test_the_token_mount_is_the_only_read_only_one_and_no_mount_is_under_the_read_only_root_alone():
    c = vllm(config("none"), Role.PREFILL)
    assert [m["name"] for m in c["volumeMounts"] if m.get("readOnly")] == ["hf-token"]


def test_vllm_pods_mount_no_service_account_token_unless_the_sidecar_needs_one():
    def with_ssrf(on: bool):
        return load_config(
            {"hfTokenSecretName": "hf", "pools": [{"name": "llama", "sidecar": {"ssrfProtection": on}}]}, "ib"
        )

    for on in (False, True):
        assert pod(with_ssrf(on), Role.PREFILL)["automountServiceAccountToken"] is False
        assert pod(with_ssrf(on), Role.DECODE)["automountServiceAccountToken"] is on


# --- Pod Security Admission -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fabric", "provider", "level"),
    [
        ("infiniband", "istio", "privileged"),  # IPC_LOCK is not in baseline's capability list
        ("gke-dra", "gke", "privileged"),
        ("gke-multinetwork", "gke", "privileged"),  # IPC_LOCK, and a hostPath for the NVIDIA libraries
        ("infiniband-without-ipc-lock", "istio", "baseline"),  # istio's gateway pods are not ours
        ("none", "agentgateway", "baseline"),
    ],
)
def test_namespace_enforces_the_strictest_level_its_pods_pass(fabric: str, provider: str, level: str):
    cfg = config(fabric, gateway={"provider": provider})
    assert rdma.namespace_pod_security_level(cfg) == level


def test_restricted_where_every_pod_is_ours_and_nothing_needs_rdma():
    assert security.pod_security_level((), host_paths=False, gateway_pods=False) == "restricted"
    assert security.pod_security_level(("IPC_LOCK",), host_paths=False, gateway_pods=False) == "privileged"
    assert security.pod_security_level(("NET_BIND_SERVICE",), host_paths=False, gateway_pods=False) == "restricted"


def test_the_namespace_the_stack_creates_carries_the_labels():
    rec = run_program({"createNamespace": True}, secrets={"hfToken": "hf_x"})
    (ns,) = rec.of_type("kubernetes:core/v1:Namespace")
    labels = ns.metadata["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"  # ib: InfiniBand with IPC_LOCK
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"


# --- images.requireDigests --------------------------------------------------------------------------------------------
def test_require_digests_refuses_tags_and_names_each_image():
    cfg = load_config({"hfTokenSecretName": "hf", "images": {"requireDigests": True}}, "ib")
    errors = preflight.run(cfg).errors
    for key in ("images.vllm", "images.epp", "images.sidecar"):
        assert any(f"llm-d-pd:{key}:" in e and "requireDigests" in e for e in errors), key


def test_require_digests_accepts_digest_references():
    images = {
        "requireDigests": True,
        "vllm": "ghcr.io/llm-d/llm-d-cuda:v0.6.0" + DIGEST,
        "epp": "ghcr.io/llm-d/llm-d-inference-scheduler" + DIGEST,
        "sidecar": "ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1" + DIGEST,
    }
    cfg = load_config({"hfTokenSecretName": "hf", "images": images}, "ib")
    assert not [e for e in preflight.run(cfg).errors if "requireDigests" in e]
    with_verification = load_config(
        {"hfTokenSecretName": "hf", "images": images, "verification": {"enabled": True}}, "ib"
    )
    assert any("verification.image" in e for e in preflight.run(with_verification).errors)


def test_tags_are_fine_without_require_digests():
    cfg = load_config({"hfTokenSecretName": "hf"}, "ib")
    assert not [e for e in preflight.run(cfg).errors if "requireDigests" in e]


def test_a_shared_model_cache_needs_root_workers():
    gke = {**GKE_CLUSTER, "gke": {**GKE_CLUSTER["gke"], "gpuPool": {"reservation": "r", "sharedModelCache": True}}}
    ok = load_config({"hfTokenSecretName": "hf", "cluster": gke}, "gke")
    assert not [e for e in preflight.run(ok).errors if "sharedModelCache" in e]
    no_rdma = load_config({"hfTokenSecretName": "hf", "cluster": gke, "rdma": {"fabric": "none"}}, "gke")
    assert any("sharedModelCache" in e and "uid 2000" in e for e in preflight.run(no_rdma).errors)
