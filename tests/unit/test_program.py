"""The whole program under Pulumi mocks: what each stack registers, and that bad input registers nothing.

Under mocks, remote components (helm.v4.Chart, yaml.v2.ConfigFile) and dynamic resources (CRD bundles) are
visible only as their arguments; what they
expand to is checked by the real-engine tests in tests/e2e."""

from __future__ import annotations

import json
import os

import pulumi
import pytest

from components.crd_bundle import content_hash
from tests.harness import Recorder, run_program

K = "kubernetes:"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
POOL = "kubernetes:inference.networking.k8s.io/v1:InferencePool"
CRD_BUNDLE = "pulumi-python:dynamic:Resource"
CRDS_DIR = os.environ.get("LLMD_CRDS_DIR", "")

IB = {
    "clusterPrep": {"enabled": True, "networkOperator": True, "gpuOperator": True},
    "crds": {"directory": CRDS_DIR},
}
TOKEN = {"hfToken": "hf_not_a_real_token"}


@pytest.fixture(scope="module")
def ib() -> Recorder:
    return run_program(IB, secrets=TOKEN, stack="ib")


def containers(dep) -> dict[str, dict]:
    spec = dep.inputs["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec["containers"] + spec.get("initContainers", [])}


def test_ib_stack_has_4_prefill_workers_of_1_gpu_and_1_decode_of_tp4_with_sidecar(ib):
    pre = ib.one(DEPLOYMENT, "ib-llama-prefill")
    dec = ib.one(DEPLOYMENT, "ib-llama-decode")
    assert pre.inputs["spec"]["replicas"] == 4 and dec.inputs["spec"]["replicas"] == 1
    assert containers(pre)["vllm"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert containers(dec)["vllm"]["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert "routing-proxy" in containers(dec) and "routing-proxy" not in containers(pre)
    for dep in (pre, dec):
        assert containers(dep)["vllm"]["resources"]["limits"]["rdma/ib"] == "1"


def test_workers_reference_the_auto_named_hf_token_secret(ib):
    secret = ib.one("kubernetes:core/v1:Secret")
    name = secret.metadata["name"]
    assert name.startswith("ib-hf-token-")  # auto-named: a changed token rolls the workers
    # The token reaches the provider wrapped as a Pulumi secret (encrypted in state), under its one key.
    wrapped = secret.inputs["stringData"]
    assert wrapped[pulumi.runtime.rpc._special_sig_key] == pulumi.runtime.rpc._special_secret_sig
    assert set(wrapped["value"]) == {"HF_TOKEN"}
    workers = [dep for dep in ib.of_type(DEPLOYMENT) if "vllm" in containers(dep)]
    assert workers
    for dep in workers:
        volumes = {v["name"]: v for v in dep.inputs["spec"]["template"]["spec"]["volumes"]}
        assert volumes["hf-token"]["secret"]["secretName"] == name


def test_pool_epp_and_route_are_wired_by_name(ib):
    pool = ib.one(POOL)
    svc = ib.one("kubernetes:core/v1:Service", "ib-llama-epp")
    epp = ib.one(DEPLOYMENT, "ib-llama-epp")
    cm = ib.one("kubernetes:core/v1:ConfigMap", "ib-llama-epp-config")
    route = ib.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    gw = ib.one("kubernetes:gateway.networking.k8s.io/v1:Gateway")
    dr = ib.one("kubernetes:networking.istio.io/v1:DestinationRule")
    assert pool.inputs["spec"]["endpointPickerRef"]["name"] == svc.metadata["name"]
    assert epp.inputs["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == cm.metadata["name"]
    assert cm.metadata["name"].startswith("ib-llama-epp-config-")
    assert route.inputs["spec"]["rules"][0]["backendRefs"][0]["name"] == pool.metadata["name"]
    assert route.inputs["spec"]["parentRefs"][0]["name"] == gw.metadata["name"]
    assert gw.inputs["spec"]["gatewayClassName"] == "istio"
    assert dr.inputs["spec"]["host"] == "ib-llama-epp.llm-d-pd.svc.cluster.local"
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert ib.of_type(f"kubernetes:rbac.authorization.k8s.io/v1:{kind}"), kind


def test_cluster_preparation_installs_crds_istio_and_the_infiniband_operators(ib):
    bundles = {r.name: r for r in ib.of_type(CRD_BUNDLE)}
    assert set(bundles) == {"crds-gateway-api", "crds-inference-extension"}  # istio's come with its base chart
    assert any("gateway-api-v1.5.1" in f for f in bundles["crds-gateway-api"].inputs["sources"])
    # The default release set's GAIE (components/releases.py).
    assert any("inference-extension-v1.6.0" in f for f in bundles["crds-inference-extension"].inputs["sources"])
    # Each bundle is one resource, identified by the content hash of its manifests, and retained on destroy.
    for b in bundles.values():
        assert b.inputs["sha256"] == content_hash(b.inputs["sources"])
        assert b.retain_on_delete
    charts = {r.name: r.inputs for r in ib.of_type("kubernetes:helm.sh/v4:Chart")}
    assert set(charts) == {"istio-base", "istiod", "gpu-operator", "network-operator"}
    assert charts["istiod"]["version"] == "1.29.1" and charts["istiod"]["namespace"] == "istio-system"
    env = charts["istiod"]["values"]["pilot"]["env"]
    assert env == {"ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true"}
    assert charts["gpu-operator"]["values"]["driver"]["enabled"] is False  # driver left to the host
    assert charts["gpu-operator"]["values"]["nfd"]["enabled"] is False  # the Network Operator runs NFD
    namespaces = {r.metadata["name"] for r in ib.of_type("kubernetes:core/v1:Namespace")}
    assert {"istio-system", "gpu-operator", "nvidia-network-operator", "llm-d-pd"} <= namespaces
    ncp = ib.one("kubernetes:mellanox.com/v1alpha1:NicClusterPolicy")
    assert ncp.metadata["name"] == "nic-cluster-policy"
    conf = json.loads(ncp.inputs["spec"]["rdmaSharedDevicePlugin"]["config"])["configList"][0]
    assert f"{conf['resourcePrefix']}/{conf['resourceName']}" == "rdma/ib"


def test_without_cluster_prep_no_singletons_are_registered():
    rec = run_program({}, secrets=TOKEN, stack="second")
    assert not rec.of_type(CRD_BUNDLE) and not rec.of_type("kubernetes:helm.sh/v4:Chart")
    assert rec.one(POOL).metadata["name"] == "second-llama"


@pytest.mark.parametrize(
    ("provider", "extra"),
    [
        ("agentgateway", "kubernetes:agentgateway.dev/v1alpha1:AgentgatewayParameters"),
        ("kgateway", "kubernetes:agentgateway.dev/v1alpha1:AgentgatewayParameters"),
    ],
)
def test_gateway_provider_extras(provider, extra):
    rec = run_program({"gateway": {"provider": provider}, "rdma": {"fabric": "none"}}, secrets=TOKEN)
    assert rec.of_type(extra)
    assert not rec.of_type("kubernetes:networking.istio.io/v1:DestinationRule")


def test_existing_secret_name_is_used_and_no_secret_is_created():
    rec = run_program({"hfTokenSecretName": "my-hf"})
    assert not rec.of_type("kubernetes:core/v1:Secret")
    volumes = {
        v["name"]: v for v in rec.one(DEPLOYMENT, "ib-llama-decode").inputs["spec"]["template"]["spec"]["volumes"]
    }
    assert volumes["hf-token"]["secret"]["secretName"] == "my-hf"


@pytest.mark.parametrize(
    ("config", "secrets", "plain", "key"),
    [
        ({"bogus": True}, TOKEN, None, "llm-d-pd:bogus"),
        ({"pools": [{"name": "a", "decode": {"replicas": -1}}]}, TOKEN, None, "llm-d-pd:pools[0].decode.replicas"),
        ({"gateway": {"provider": "nginx"}}, TOKEN, None, "llm-d-pd:gateway.provider"),
        ({"namespace": "Not_Valid"}, TOKEN, None, "llm-d-pd:namespace"),
        ({"hfTokenSecretName": "x"}, TOKEN, None, "llm-d-pd:hfToken"),
        ({}, None, None, "llm-d-pd:hfToken"),
        ({}, None, {"hfToken": "plain"}, "llm-d-pd:hfToken: stored in plain text"),
        ({"rdma": {"fabric": "gke-dra"}}, TOKEN, None, "llm-d-pd:rdma.fabric"),
    ],
)
def test_bad_input_stops_before_any_resource_is_registered(config, secrets, plain, key):
    rec = Recorder()
    with pytest.raises(pulumi.RunError) as e:
        run_program(config, secrets=secrets, plain=plain, recorder=rec)
    assert key in str(e.value)
    assert rec.resources == []


def test_istio_route_waits_for_the_header_strip_and_decode_pods_get_an_egress_policy(ib):
    ef = ib.one("kubernetes:networking.istio.io/v1alpha3:EnvoyFilter")
    route = ib.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    assert ib.depends_on(route, ef)
    egress = ib.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "ib-llama-decode-egress")
    assert egress.inputs["spec"]["policyTypes"] == ["Egress"]
    assert egress.inputs["spec"]["podSelector"]["matchLabels"]["llm-d.ai/role"] == "decode"
