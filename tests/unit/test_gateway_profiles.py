"""The gateway-provider table (components/specs/gateway.PROFILES): one entry per provider, and what every entry must
hold, checked for each. Adding a provider is one entry and these tests run on it."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import ClusterPrepConfig, CrdsConfig, GatewayConfig, GatewayProvider, PoolConfig
from components.specs import gateway as gw
from components.specs import wiring
from components.specs.names import InstallNames
from tests.harness import GKE_CLUSTER, run_program
from tests.unit.test_schemas import kubernetes_objects
from tests.validation import validate_object

NAMES = InstallNames("p", "ns", None)
POOL = NAMES.pool("llama")
PROVIDERS = sorted(GatewayProvider, key=lambda p: p.value)


def config(provider: GatewayProvider) -> GatewayConfig:
    return GatewayConfig(provider=provider)


def test_every_provider_has_exactly_one_profile() -> None:
    assert set(gw.PROFILES) == set(GatewayProvider)


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
def test_the_gateway_names_the_parameters_object_the_profile_builds(provider: GatewayProvider) -> None:
    g = config(provider)
    params = gw.gateway_parameters(NAMES, g)
    ref = gw.gateway(NAMES, g)["spec"].get("infrastructure", {}).get("parametersRef")
    if params is None:
        assert ref is None
        return
    group = params["apiVersion"].rpartition("/")[0]
    assert ref == {"group": group, "kind": params["kind"], "name": params["metadata"]["name"]}
    validate_object(params)


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
def test_in_cluster_gateways_have_a_service_and_strip_a_clients_prefiller_header_once(
    provider: GatewayProvider,
) -> None:
    g, prof = config(provider), gw.PROFILES[provider]
    rule = gw.route_rule(POOL, PoolConfig(), g)
    in_route = any(
        wiring.PREFILLER_HEADER in f.get("requestHeaderModifier", {}).get("remove", []) for f in rule.get("filters", [])
    )
    strip = gw.client_prefiller_header_strip(NAMES, g)
    if prof.in_cluster:
        assert gw.service_type(g) in ("ClusterIP", "LoadBalancer", "NodePort")
        assert gw.gateway_service_name(NAMES, g) is not None
        assert in_route != (strip is not None), "exactly one place strips the client's header"
        assert rule["backendRefs"][0]["port"] == wiring.POOL_TARGET_PORT and "timeouts" in rule
        assert not gw.waits_for_programmed(g)
    else:
        assert gw.service_type(g) is None and gw.gateway_service_name(NAMES, g) is None
        assert not in_route and strip is None, "a cloud load balancer cannot be told; the egress policy holds"
        assert "port" not in rule["backendRefs"][0], "GKE rejects a port on an InferencePool backend"
        assert gw.waits_for_programmed(g) and prof.load_balancer_ranges and prof.cluster_managed_kinds
    if strip is not None:
        validate_object(strip)


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
def test_pool_extras_are_valid_and_target_the_pool(provider: GatewayProvider) -> None:
    for what, obj in gw.pool_extras(POOL, config(provider)):
        assert what and obj["metadata"]["namespace"] == "ns"
        validate_object(obj)
        target = obj["spec"].get("targetRef") or {}
        host = obj["spec"].get("host")
        assert target.get("name") == POOL.inference_pool or host == POOL.epp_service_fqdn, obj


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
def test_control_plane_charts_put_crd_charts_first_and_crds_exist_offline(provider: GatewayProvider) -> None:
    prep = ClusterPrepConfig()
    charts = gw.PROFILES[provider].control_plane(prep)
    names = [c.name for c in charts]
    crd_charts = [n for n in names if n.endswith("-crds") or n.endswith("-base")]
    assert names[: len(crd_charts)] == crd_charts
    crds = gw.gateway_crds(CrdsConfig(), prep, config(provider))
    if gw.PROFILES[provider].in_cluster:
        assert charts and crds is not None and crds.folder
    else:
        assert charts == [] and crds is None, "GKE's gateway and its CRDs are managed"


def provider_stack(provider: GatewayProvider) -> dict[str, Any]:
    if provider is GatewayProvider.GKE:
        return {"cluster": GKE_CLUSTER}
    return {"gateway": {"provider": provider.value}, "rdma": {"fabric": "none"}}


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.value)
def test_the_program_registers_each_pool_extra_after_its_pool(provider: GatewayProvider) -> None:
    rec = run_program(provider_stack(provider), secrets={"hfToken": "hf_x"}, stack=provider.value)
    pool = rec.one("kubernetes:inference.networking.k8s.io/v1:InferencePool")
    extras = gw.pool_extras(rec_pool_names(provider), config(provider))
    objects = kubernetes_objects(rec.resources)
    for _, obj in extras:
        (res,) = [r for r in rec.resources if r.inputs.get("kind") == obj["kind"]]
        assert rec.depends_on(res, pool), obj["kind"]
    assert len([o for o in objects if o["kind"] == "Gateway"]) == 1


def rec_pool_names(provider: GatewayProvider) -> Any:
    return InstallNames(provider.value, "llm-d-pd", None).pool("llama")
