"""Every object the program registers is valid: built-in kinds against the Kubernetes 1.36 OpenAPI schema (strict),
custom resources against the pinned upstream CRDs, including their CEL rules."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from tests.harness import GKE_CLUSTER, Registered, run_program
from tests.validation import crd_index, validate_object

TOKEN = {"hfToken": "hf_not_a_real_token"}
SECRET = pulumi.runtime.rpc._special_sig_key


def unwrap(v: Any) -> Any:
    if isinstance(v, dict):
        if v.get(SECRET) == pulumi.runtime.rpc._special_secret_sig:
            return unwrap(v["value"])
        return {k: unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)  # the engine's wire format (protobuf Struct) carries every number as a double
    return v


def kubernetes_objects(resources: list[Registered]) -> list[dict[str, Any]]:
    return [
        unwrap(r.inputs)
        for r in resources
        if r.typ.startswith("kubernetes:") and "apiVersion" in r.inputs and "kind" in r.inputs
    ]


CONFIGS: dict[str, tuple[dict[str, Any], dict[str, str] | None]] = {
    "ib-istio": ({"clusterPrep": {"enabled": True, "networkOperator": True}}, TOKEN),
    "agentgateway-two-pools": (
        {
            "gateway": {"provider": "agentgateway"},
            "rdma": {"fabric": "none"},
            "pools": [
                {"name": "llama"},
                {
                    "name": "qwen",
                    "model": {"id": "Qwen/Qwen3-32B", "maxModelLen": 16000},
                    "prefill": {"replicas": 2, "strategy": "RollingUpdate"},
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
    "gmp": ({"monitoring": {"backend": "gmp", "interval": "15s"}}, TOKEN),
    "gke-dra": ({"cluster": GKE_CLUSTER}, TOKEN),
    "gke-autoscaling-gmp": (
        {
            "cluster": GKE_CLUSTER,
            "pools": [
                {
                    "prefill": {"autoscaling": {"minReplicas": 0, "maxReplicas": 4, "signal": "ttft"}},
                    "decode": {"autoscaling": {"maxReplicas": 1, "signal": "running-requests", "target": 32}},
                }
            ],
        },
        TOKEN,
    ),
    "autoscaling-prometheus-operator": (
        {
            "monitoring": {"backend": "prometheus-operator", "queryUrl": "http://prometheus-operated.monitoring:9090"},
            "cluster": {"inventory": [{"name": "gpu", "count": 2, "gpusPerNode": 8, "accelerator": "h200-141gb"}]},
            "pools": [{"prefill": {"autoscaling": {"maxReplicas": 8, "signal": "epp-queue"}}}],
        },
        TOKEN,
    ),
    "gke-multinetwork": (
        {
            "cluster": {**GKE_CLUSTER, "gke": {**GKE_CLUSTER["gke"], "gpuPool": {"reservation": "r", "nodeCount": 2}}},
            "rdma": {"fabric": "gke-multinetwork"},
            "pools": [{"prefill": {"replicas": 1, "tensorParallelism": 8}, "decode": {"tensorParallelism": 8}}],
        },
        TOKEN,
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_registered_object_is_accepted_by_schema_and_cel(name):
    config, secrets = CONFIGS[name]
    objects = kubernetes_objects(run_program(config, secrets=secrets).resources)
    assert len(objects) >= 15
    unsupported, evaluated = [], 0
    for obj in objects:
        report = validate_object(obj)
        if report:
            unsupported += report.unsupported
            evaluated += report.evaluated
    assert evaluated > 0  # the Gateway API CRDs carry CEL rules on what we build
    # cel-python lacks some Kubernetes CEL extensions; none of the rules on the objects we build may be among them.
    assert unsupported == []


def test_the_crd_directory_has_every_custom_kind_we_build():
    kinds = {k for _, k in crd_index()}
    assert {
        "InferencePool",
        "Gateway",
        "HTTPRoute",
        "DestinationRule",
        "AgentgatewayParameters",
        "HealthCheckPolicy",
        "GCPBackendPolicy",
        "NicClusterPolicy",
        "GKENetworkParamSet",
        "Network",
    } <= kinds


def test_cel_rules_reject_a_health_check_port_without_fixed_port_specification():
    """The upstream chart renders `port` without `portSpecification`; the pinned CRD's CEL rules reject it."""
    from components.specs import gateway
    from components.specs.names import InstallNames

    hc = gateway.gke_health_check_policy(InstallNames("ib", "ns").pool("p"))
    del hc["spec"]["default"]["config"]["httpHealthCheck"]["portSpecification"]
    with pytest.raises(AssertionError, match="CEL rules failed"):
        validate_object(hc)


def test_strict_schema_rejects_an_unknown_field():
    from components.specs import epp
    from components.specs.names import InstallNames

    pool = epp.inference_pool(InstallNames("ib", "ns").pool("p"))
    pool["spec"]["targetPortNumber"] = 8000  # the seed's v1alpha2 spelling
    with pytest.raises(Exception, match="targetPortNumber"):
        validate_object(pool)
