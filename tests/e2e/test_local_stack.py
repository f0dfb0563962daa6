"""The `local` stack with the real Pulumi engine and pulumi-kubernetes provider against a real kube-apiserver with
KWOK-simulated GPU nodes: up, objects accepted, pods scheduled on a full node, idempotent preview, in-place
updates, config rollout, clean destroy. The steps run in order and share one stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e.conftest import Kubectl, new_stack

pytestmark = pytest.mark.e2e

STACK = "e2e"
NS = "llm-d-pd-e2e"
INSTALL = f"llm-d.ai/install={STACK}"
TOKEN = "hf_e2e_not_a_real_token"
GPU_NODE, CPU_NODE = "gpu-node-0", "cpu-node-0"


class Steps:
    """Engine events of the last operation: URN -> operation (create, update, same, ...). A replacement is several
    steps on one URN (create-replacement, replace, delete-replaced); `all` keeps them."""

    def __init__(self) -> None:
        self.ops: dict[str, str] = {}
        self.all: dict[str, set[str]] = {}

    def __call__(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            self.ops[pre.metadata.urn] = pre.metadata.op.value
            self.all.setdefault(pre.metadata.urn, set()).add(pre.metadata.op.value)

    def of(self, typ: str) -> dict[str, str]:
        return {u.rsplit("::", 1)[-1]: op for u, op in self.ops.items() if u.split("::")[-2].endswith(typ)}

    def changed(self) -> dict[str, set[str]]:
        """Resource name -> its steps, for every resource that did not stay the same. Provider resources are left
        out: the dynamic providers' default provider (CRD bundles) is handed the stack's whole config, so it shows
        an update on any config change, and it owns no object."""
        return {
            u.rsplit("::", 1)[-1]: ops
            for u, ops in self.all.items()
            if ops != {"same"} and "::pulumi:providers:" not in u
        }


def run(stack: auto.Stack, operation: str, **kw) -> tuple[object, Steps]:
    steps = Steps()
    result = getattr(stack, operation)(on_event=steps, color="never", **kw)
    return result, steps


@pytest.fixture(scope="module")
def stack(project_copy: Path, kubectl: Kubectl) -> Iterator[auto.Stack]:
    s = new_stack(project_copy, STACK)
    s.set_config("namespace", auto.ConfigValue(NS))
    s.set_config("hfToken", auto.ConfigValue(TOKEN, secret=True))
    yield s
    try:  # a failed step must not leave the install behind
        s.destroy(color="never")
        s.workspace.remove_stack(STACK)
    except auto.CommandError:
        pass


def pods(kubectl: Kubectl, selector: str = "") -> list[dict]:
    return kubectl.items("pods", "-n", NS, "-l", ",".join(filter(None, [INSTALL, selector])))


def ready(pod: dict) -> bool:
    conds = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return pod["status"].get("phase") == "Running" and conds.get("Ready") == "True"


def test_up_from_empty_creates_the_stack_and_exports_how_to_use_it(stack: auto.Stack):
    result, steps = run(stack, "up")
    assert result.summary.result == "succeeded"
    assert "update" not in steps.ops.values()
    out = {k: v.value for k, v in result.outputs.items()}
    assert out["topology"] == ["pool llama: 4x prefill TP1 + 1x decode TP4 = 8 GPUs"]
    assert '"model": "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"' in out["curl"]["llama"]
    assert out["gatewayAccess"] == f"kubectl -n {NS} port-forward svc/e2e-inference-gateway-istio 8000:80"
    assert result.outputs["hfTokenSecret"].value.startswith("e2e-hf-token-")
    assert any("5.7 sequences of 32000" in f for f in out["preflight"]["facts"])  # H200-shaped node


def test_every_object_is_accepted_by_the_api_server(kubectl: Kubectl):
    kinds = {
        "deployments": {"e2e-llama-prefill", "e2e-llama-decode", "e2e-llama-epp"},
        "services": {"e2e-llama-epp"},
        "serviceaccounts": {"e2e-llama-prefill", "e2e-llama-decode", "e2e-llama-epp"},
        # The default release (llm-d-v0.9) turns the sidecar's SSRF protection on: it watches its pool (a Role).
        "roles.rbac.authorization.k8s.io": {"e2e-llama-epp", "e2e-llama-decode"},
        "rolebindings.rbac.authorization.k8s.io": {"e2e-llama-epp", "e2e-llama-decode"},
        "networkpolicies.networking.k8s.io": {
            "e2e-llama-workers",
            "e2e-llama-epp",
            "e2e-llama-decode-egress",
            "e2e-llama-prefill-egress",
            "e2e-llama-epp-egress",
        },
        "envoyfilters.networking.istio.io": {"e2e-inference-gateway-strip-prefiller-header"},
        "inferencepools.inference.networking.k8s.io": {"e2e-llama"},
        "gateways.gateway.networking.k8s.io": {"e2e-inference-gateway"},
        "httproutes.gateway.networking.k8s.io": {"e2e-route"},
        "destinationrules.networking.istio.io": {"e2e-llama-epp"},
    }
    for kind, names in kinds.items():
        assert {o["metadata"]["name"] for o in kubectl.items(kind, "-n", NS, "-l", INSTALL)} == names, kind
    (secret,) = kubectl.items("secrets", "-n", NS, "-l", INSTALL)
    assert set(secret["data"]) == {"HF_TOKEN"}
    cr = kubectl.json("get", "clusterrole", f"{NS}-e2e-llama-epp")
    assert cr["metadata"]["labels"]["llm-d.ai/install"] == STACK
    pool = kubectl.json("get", "inferencepool.inference.networking.k8s.io", "-n", NS, "e2e-llama")
    assert pool["spec"]["endpointPickerRef"]["failureMode"] == "FailOpen"  # CRD default is FailClose: ours kept


def test_workers_run_ready_on_one_full_gpu_node_and_the_epp_on_the_cpu_node(kubectl: Kubectl):
    workers = pods(kubectl, "llm-d.ai/role")
    assert sorted(p["metadata"]["labels"]["llm-d.ai/role"] for p in workers) == ["decode"] + ["prefill"] * 4
    assert all(ready(p) and p["spec"]["nodeName"] == GPU_NODE for p in workers), [
        (p["metadata"]["name"], p["status"].get("phase"), p["spec"].get("nodeName")) for p in workers
    ]
    gpus = sum(int(c["resources"]["requests"]["nvidia.com/gpu"]) for p in workers for c in p["spec"]["containers"])
    node = kubectl.json("get", "node", GPU_NODE)
    assert gpus == int(node["status"]["allocatable"]["nvidia.com/gpu"]) == 8  # 4P+1D fill the node
    assert all(p["spec"]["containers"][0]["resources"]["requests"]["rdma/ib"] == "1" for p in workers)
    (epp,) = pods(kubectl, "inferencepool=e2e-llama-epp")
    assert ready(epp) and epp["spec"]["nodeName"] == CPU_NODE


def test_the_namespace_enforces_pod_security_and_admitted_every_pod(kubectl: Kubectl):
    """Pod Security Admission is on in kube-apiserver by default: with these labels in force it admitted every pod
    (InfiniBand: vLLM needs IPC_LOCK, which baseline does not allow, so `enforce` is privileged; `warn` and `audit`
    report each pod's deviations from restricted). The hardened vLLM context is what the API server stored."""
    labels = kubectl.json("get", "namespace", NS)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "restricted"
    workers = pods(kubectl, "llm-d.ai/role")
    assert len(workers) == 5 and all(ready(p) for p in workers)
    for p in workers:
        vllm = next(c for c in p["spec"]["containers"] if c["name"] == "vllm")
        ctx = vllm["securityContext"]
        assert ctx["capabilities"] == {"drop": ["ALL"], "add": ["IPC_LOCK"]}
        assert ctx["readOnlyRootFilesystem"] and not ctx["allowPrivilegeEscalation"]
        assert p["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (epp,) = pods(kubectl, "inferencepool=e2e-llama-epp")
    assert ready(epp) and epp["spec"]["securityContext"]["runAsNonRoot"]


def test_a_second_preview_reports_no_changes(stack: auto.Stack):
    result, _ = run(stack, "preview")
    assert set(result.change_summary) == {"same"}, result.change_summary


def test_a_new_vllm_image_updates_both_deployments_in_place_and_rolls_on_the_full_node(stack, kubectl: Kubectl):
    image = "ghcr.io/llm-d/llm-d-cuda:v0.9.1"  # an explicit override of the release's image (a warning)
    stack.set_config("images.vllm", auto.ConfigValue(image), path=True)
    _, steps = run(stack, "preview")
    assert steps.of("apps/v1:Deployment") == {
        "e2e-llama-prefill-deployment": "update",
        "e2e-llama-decode-deployment": "update",
        "e2e-llama-epp": "same",
    }
    assert not {"replace", "create-replacement", "delete-replaced"} & set().union(*steps.all.values())
    result, _ = run(stack, "up")
    assert result.summary.result == "succeeded"
    workers = pods(kubectl, "llm-d.ai/role")
    assert len(workers) == 5 and all(ready(p) and p["spec"]["nodeName"] == GPU_NODE for p in workers)
    assert {p["spec"]["containers"][0]["image"] for p in workers} == {image}


def test_an_epp_config_change_replaces_only_its_configmap_and_rolls_the_epp(stack, kubectl: Kubectl):
    old_cm = kubectl.items("deployments", "-n", NS, "-l", "inferencepool=e2e-llama-epp")[0]["spec"]["template"]["spec"][
        "volumes"
    ][0]["configMap"]["name"]
    stack.set_config("pools[0].scheduling.nonCachedTokens", auto.ConfigValue("64"), path=True)
    result, steps = run(stack, "up")
    assert result.summary.result == "succeeded"
    changed = steps.changed()
    assert set(changed) == {"e2e-llama-epp-config", "e2e-llama-epp"}, changed
    assert {"create-replacement", "delete-replaced"} <= changed["e2e-llama-epp-config"]  # created before deleted
    assert changed["e2e-llama-epp"] == {"update"}
    dep = kubectl.items("deployments", "-n", NS, "-l", "inferencepool=e2e-llama-epp")[0]
    new_cm = dep["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
    assert new_cm != old_cm and new_cm.startswith("e2e-llama-epp-config-")
    data = kubectl.json("get", "configmap", "-n", NS, new_cm)["data"]["pd-config.yaml"]
    assert "nonCachedTokens: 64" in data
    assert kubectl.run("get", "configmap", "-n", NS, old_cm, check=False).returncode != 0


def test_the_verification_job_runs_after_the_workers_against_the_gateway_service(stack, kubectl: Kubectl):
    stack.set_config("verification.enabled", auto.ConfigValue("true"), path=True)
    result, steps = run(stack, "up")
    assert result.summary.result == "succeeded"
    assert steps.changed() == {"e2e-llama-verify": {"create"}}
    job = kubectl.json("get", "job", "-n", NS, "e2e-llama-verify")
    assert job["status"].get("succeeded") == 1  # KWOK completes the pod; `up` waited for the Job
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert f"http://e2e-inference-gateway-istio.{NS}.svc.cluster.local:80/v1/completions" in script


def test_the_pd_gate_job_runs_after_the_workers_and_the_route_and_up_waits_for_it(stack, kubectl: Kubectl):
    """The wiring only: the simulated pods serve nothing, so KWOK completes the gate's pod without running it. What
    the gate checks is tested against recorded metrics (tests/unit/test_pd_gate.py, the same client code)."""
    gate = "app.kubernetes.io/component=pd-gate"
    stack.set_config("verification.gate", auto.ConfigValue("true"), path=True)
    result, steps = run(stack, "up")
    assert result.summary.result == "succeeded"
    created = {name for name, ops in steps.changed().items() if ops == {"create"}}
    assert {"e2e-llama-pd-gate-job", "e2e-llama-pd-gate-code", "e2e-llama-pd-gate-sa", "e2e-llama-pd-gate-egress",
            "e2e-llama-pd-gate-clusterrole"} <= created, created  # fmt: skip
    (job,) = kubectl.items("jobs", "-n", NS, "-l", gate)
    assert job["status"].get("succeeded") == 1  # `up` waited for the Job to complete
    started = job["metadata"]["creationTimestamp"]
    for kind, name in (
        ("httproute", "e2e-route"),
        ("deployment", "e2e-llama-prefill"),
        ("deployment", "e2e-llama-decode"),
    ):
        assert kubectl.json("get", kind, "-n", NS, name)["metadata"]["creationTimestamp"] <= started, name
    proof = result.outputs["pdProof"].value["llama"]
    assert proof["job"] == job["metadata"]["name"] and proof["succeeded"] == 1
    assert kubectl.json("get", "configmap", "-n", NS, job["metadata"]["name"])["data"]["pd_gate.py"].startswith('"""')
    # A changed gate config is a new run: the Job is replaced under a new name and `up` waits for it again.
    stack.set_config("verification.gateRequests", auto.ConfigValue("4"), path=True)
    result, steps = run(stack, "up")
    assert result.summary.result == "succeeded"
    assert {"create-replacement", "delete-replaced"} <= steps.changed()["e2e-llama-pd-gate-job"]
    (rerun,) = kubectl.items("jobs", "-n", NS, "-l", gate)
    assert rerun["metadata"]["name"] != job["metadata"]["name"] and rerun["status"].get("succeeded") == 1


def test_destroy_leaves_none_of_the_installs_objects_but_keeps_the_crds(stack, kubectl: Kubectl):
    result, _ = run(stack, "destroy")
    assert result.summary.result == "succeeded"
    kinds = (
        "deployments",
        "services",
        "serviceaccounts",
        "configmaps",
        "secrets",
        "roles",
        "rolebindings",
        "networkpolicies",
    )
    for kind in kinds:
        assert kubectl.run("get", kind, "-A", "-l", INSTALL, "-o", "name").stdout.strip() == "", kind
    for kind in ("clusterroles", "clusterrolebindings"):
        assert kubectl.run("get", kind, "-l", INSTALL, "-o", "name").stdout.strip() == "", kind
    assert (
        kubectl.run("get", "namespace", NS, check=False).returncode != 0
        or kubectl.json("get", "namespace", NS)["status"]["phase"] == "Terminating"
    )
    for crd in ("inferencepools.inference.networking.k8s.io", "gateways.gateway.networking.k8s.io",
                "httproutes.gateway.networking.k8s.io"):  # fmt: skip
        kubectl.run("get", "crd", crd)  # retained by design
    stack.workspace.remove_stack(STACK)
    assert STACK not in {s.name for s in stack.workspace.list_stacks()}


def test_a_config_that_cannot_fit_the_nodes_fails_fast_with_the_key_to_fix(project_copy: Path, kubectl: Kubectl):
    s = new_stack(project_copy, "e2e-nofit")
    s.set_config("pools[0].decode.tensorParallelism", auto.ConfigValue("16"), path=True)
    try:
        with pytest.raises(auto.CommandError) as e:
            s.preview(color="never")
        assert "llm-d-pd:pools[0].decode.tensorParallelism" in str(e.value)
        assert "largest node has 8" in str(e.value)
    finally:
        s.workspace.remove_stack("e2e-nofit")
