"""The Gateway, its per-provider parameters, the HTTPRoute, and the provider extras each pool needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from components.config import ClusterPrepConfig, CrdsConfig, GatewayConfig, GatewayProvider, PoolConfig
from components.specs import charts, wiring
from components.specs.charts import ChartSpec
from components.specs.names import InstallNames, PoolNames

GOOGLE_HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
"""Where Google Cloud load balancers' health checks come from (cloud.google.com/load-balancing/docs/health-checks)."""
GATEWAY_POD_LABEL = "gateway.networking.k8s.io/gateway-name"
"""Istio and agentgateway label the data-plane pods they create for a Gateway with its name."""


def gateway_class(gw: GatewayConfig) -> str:
    return gw.class_name or profile(gw).gateway_class


def service_type(gw: GatewayConfig) -> str | None:
    """None where the gateway is a cloud load balancer with no Service of ours (GKE)."""
    default = profile(gw).service_type
    return None if default is None else gw.service_type or default


def gateway_service_name(names: InstallNames, gw: GatewayConfig) -> str | None:
    """The Service the gateway's controller creates for it (for port-forwarding), where it is known."""
    suffix = profile(gw).service_suffix
    return None if suffix is None else f"{names.gateway()}{suffix}"


def gateway_parameters(names: InstallNames, gw: GatewayConfig) -> dict[str, Any] | None:
    """The provider's parameters object the Gateway names (none on GKE)."""
    return profile(gw).parameters(names, gw)


def _meta(names: InstallNames) -> dict[str, Any]:
    return {"name": names.gateway(), "namespace": names.namespace, "labels": names.common_labels()}


def istio_parameters(names: InstallNames, gw: GatewayConfig) -> dict[str, Any]:
    """Istio: a ConfigMap overlaying the generated proxy Deployment and Service."""
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "istio-proxy",
                            "resources": {
                                "limits": {"cpu": "16", "memory": "16Gi"},
                                "requests": {"cpu": "4", "memory": "4Gi"},
                            },
                        }
                    ]
                }
            }
        }
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(names),
        "data": {
            "deployment": yaml.safe_dump(deployment, sort_keys=False),
            "service": yaml.safe_dump({"spec": {"type": service_type(gw)}}, sort_keys=False),
        },
    }


def agentgateway_parameters(names: InstallNames, gw: GatewayConfig) -> dict[str, Any]:
    """agentgateway (and the latest guide's kgateway): AgentgatewayParameters."""
    return {
        "apiVersion": wiring.AGENTGATEWAY_PARAMETERS_API,
        "kind": "AgentgatewayParameters",
        "metadata": _meta(names),
        "spec": {
            "logging": {"level": "warn"},
            "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
            "service": {"spec": {"type": service_type(gw)}},
        },
    }


def gateway(names: InstallNames, gw: GatewayConfig) -> dict[str, Any]:
    labels = names.common_labels()
    spec: dict[str, Any] = {
        "gatewayClassName": gateway_class(gw),
        "listeners": [
            {
                "name": "default",
                "port": wiring.GATEWAY_LISTENER_PORT,
                "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            }
        ],
    }
    prof = profile(gw)
    labels = {**labels, **prof.gateway_labels}
    if prof.parameters_ref is not None:
        group, kind = prof.parameters_ref
        spec["infrastructure"] = {"parametersRef": {"group": group, "kind": kind, "name": names.gateway()}}
    metadata: dict[str, Any] = {"name": names.gateway(), "namespace": names.namespace, "labels": labels}
    if waits_for_programmed(gw):
        metadata["annotations"] = {wiring.WAIT_FOR: "condition=Programmed"}
    return {"apiVersion": wiring.GATEWAY_API, "kind": "Gateway", "metadata": metadata, "spec": spec}


def waits_for_programmed(gw: GatewayConfig) -> bool:
    """A cloud load balancer (GKE) takes minutes; `up` waits for it so the exported address is real."""
    return not profile(gw).in_cluster


GATEWAY_PROGRAMMED_TIMEOUT = "20m"


def _programmed_address(address: str | None) -> str:
    if not address:
        raise ValueError(
            "the Gateway is Programmed but reports no address; check its status (kubectl describe gateway) before "
            "the P/D gate or the benchmark can reach it"
        )
    return address


def external_url(address: str | None) -> str:
    """GKE: the URL of the Gateway's listener at its load balancer's address (no in-cluster Service there)."""
    return f"http://{_programmed_address(address)}:{wiring.GATEWAY_LISTENER_PORT}"


def external_cidr(address: str | None) -> str:
    """GKE: the load balancer's address as a NetworkPolicy peer."""
    return f"{_programmed_address(address)}/32"


def route_rule(names: PoolNames, pool: PoolConfig, gw: GatewayConfig) -> dict[str, Any]:
    match: dict[str, Any] = {"path": {"type": "PathPrefix", "value": pool.route.path_prefix}}
    if pool.route.headers:
        match["headers"] = [{"type": "Exact", "name": k, "value": v} for k, v in sorted(pool.route.headers.items())]
    backend: dict[str, Any] = {
        "group": wiring.INFERENCE_POOL_GROUP,
        "kind": "InferencePool",
        "name": names.inference_pool,
        "weight": 1,
    }
    rule: dict[str, Any] = {"matches": [match], "backendRefs": [backend]}
    prof = profile(gw)
    if prof.strips_header_in_route:
        # agentgateway applies a rule-level filter as a route policy before it calls the EPP, so this strips only
        # a client's header (agentgateway v1.4.1 crates/agentgateway/src/proxy/httpproxy.rs,
        # apply_request_policies before make_backend_call). Istio applies the same filter after ext_proc, where it
        # would strip the EPP's value too: it gets an EnvoyFilter instead (client_prefiller_header_strip).
        rule["filters"] = [
            {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": [wiring.PREFILLER_HEADER]}}
        ]
    if prof.in_cluster:
        # GKE takes the timeout from GCPBackendPolicy and rejects a port on an InferencePool backend.
        backend["port"] = wiring.POOL_TARGET_PORT
        rule["timeouts"] = {"request": "0s", "backendRequest": "0s"}  # long generations
    return rule


def http_route(names: InstallNames, pools: list[PoolConfig], gw: GatewayConfig) -> dict[str, Any]:
    """One rule per serving pool (a pool with serve: false is up but gets no traffic). Gateway API orders rules by
    match specificity, so a header or longer path wins."""
    return {
        "apiVersion": wiring.GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": {"name": names.http_route(), "namespace": names.namespace, "labels": names.common_labels()},
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": names.gateway()}],
            "rules": [route_rule(names.pool(p.name), p, gw) for p in pools if p.serve],
        },
    }


HEADER_MUTATION_FILTER = "envoy.filters.http.header_mutation"


def client_prefiller_header_strip(names: InstallNames, gw: GatewayConfig) -> dict[str, Any] | None:
    """What removes a client's x-prefiller-host-port before the EPP runs, as its own object (Istio's EnvoyFilter);
    None where the route rule does it (agentgateway) or nothing can (GKE)."""
    return profile(gw).header_strip(names)


def istio_header_strip(names: InstallNames) -> dict[str, Any]:
    """Istio: remove a client's x-prefiller-host-port before any other HTTP filter, so it is gone before the
    inference ext_proc filter asks the EPP, and the EPP's own value (a SetHeaders mutation) survives. An HTTPRoute
    RequestHeaderModifier would not do: Istio turns it into the route's request_headers_to_remove, which Envoy's
    router applies after ext_proc (istio/istio 1.29.1 pilot/pkg/networking/core/route/route.go). Other providers:
    agentgateway strips it in the route rule; GKE's load balancer is not inspectable (the decode egress
    NetworkPolicy still confines where the sidecar can send the prefill leg).

    Istio 1.29.1 adds the inference ext_proc filter to the HCM filter chain (pilot/pkg/networking/core/
    listener_builder.go, buildHTTPConnectionManager) and applies EnvoyFilter patches after building it, so
    INSERT_FIRST lands ahead of it; its proxy (istio/proxy 1.29.1, bazel/extension_config/
    extensions_build_config.bzl) compiles in envoy.filters.http.header_mutation."""
    return {
        "apiVersion": wiring.ISTIO_ENVOY_FILTER_API,
        "kind": "EnvoyFilter",
        "metadata": {
            "name": f"{names.gateway()}-strip-prefiller-header",
            "namespace": names.namespace,
            "labels": names.common_labels(),
        },
        "spec": {
            # targetRefs rather than a pod selector: Istio honours a workloadSelector on Gateway API pods only while
            # ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY is on (pilot/pkg/model/policyattachment.go, 1.29.1).
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": names.gateway()}],
            "configPatches": [
                {
                    "applyTo": "HTTP_FILTER",
                    "match": {
                        "context": "GATEWAY",
                        "listener": {
                            "filterChain": {"filter": {"name": "envoy.filters.network.http_connection_manager"}}
                        },
                    },
                    "patch": {
                        "operation": "INSERT_FIRST",
                        "value": {
                            "name": HEADER_MUTATION_FILTER,
                            "typed_config": {
                                "@type": "type.googleapis.com/"
                                "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
                                "mutations": {"request_mutations": [{"remove": wiring.PREFILLER_HEADER}]},
                            },
                        },
                    },
                }
            ],
        },
    }


def destination_rule(names: PoolNames) -> dict[str, Any]:
    """Istio: the EPP serves ext-proc with a self-signed certificate; the host is derived from the EPP Service
    (the seed once rendered it as `...%!s(MISSING).svc.cluster.local`)."""
    return {
        "apiVersion": wiring.ISTIO_DESTINATION_RULE_API,
        "kind": "DestinationRule",
        "metadata": {"name": names.epp, "namespace": names.install.namespace, "labels": names.epp_labels()},
        "spec": {
            "host": names.epp_service_fqdn,
            "trafficPolicy": {
                "tls": {"mode": "SIMPLE", "insecureSkipVerify": True},
                "connectionPool": {
                    "http": {
                        "http1MaxPendingRequests": 256000,
                        "http2MaxRequests": 256000,
                        "maxRequestsPerConnection": 256000,
                        "idleTimeout": "900s",
                    },
                    "tcp": {"maxConnections": 256000, "maxConnectionDuration": "1800s", "connectTimeout": "900s"},
                },
            },
        },
    }


def _pool_target_ref(names: PoolNames) -> dict[str, Any]:
    return {"group": wiring.INFERENCE_POOL_GROUP, "kind": "InferencePool", "name": names.inference_pool}


def gke_health_check_policy(names: PoolNames) -> dict[str, Any]:
    """The pinned CRD's CEL rules reject `port` without `portSpecification: USE_FIXED_PORT`."""
    return {
        "apiVersion": wiring.GKE_POLICY_API,
        "kind": "HealthCheckPolicy",
        "metadata": {"name": names.inference_pool, "namespace": names.install.namespace},
        "spec": {
            "targetRef": _pool_target_ref(names),
            "default": {
                "timeoutSec": 2,
                "checkIntervalSec": 2,
                "config": {
                    "type": "HTTP",
                    "httpHealthCheck": {
                        "portSpecification": "USE_FIXED_PORT",
                        "port": wiring.POOL_TARGET_PORT,
                        "requestPath": "/health",
                    },
                },
            },
        },
    }


def gke_backend_policy(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": wiring.GKE_POLICY_API,
        "kind": "GCPBackendPolicy",
        "metadata": {"name": names.inference_pool, "namespace": names.install.namespace},
        "spec": {"targetRef": _pool_target_ref(names), "default": {"timeoutSec": 300, "logging": {"enabled": True}}},
    }


# --- the providers ---------------------------------------------------------------------------------------------------
def pool_extras(names: PoolNames, gw: GatewayConfig) -> list[tuple[str, dict[str, Any]]]:
    """What the provider needs next to each InferencePool, registered after the pool: (what it is, the object)."""
    return profile(gw).pool_extras(names)


def gateway_crds(crds: CrdsConfig, prep: ClusterPrepConfig, gw: GatewayConfig) -> GatewayCrds | None:
    """The provider's own CRDs, for clusters where its charts do not bring them."""
    return profile(gw).crds(crds, prep)


@dataclass(frozen=True)
class GatewayCrds:
    bundle: str
    folder: str
    """The folder of a local CRD directory (scripts/fetch-crds)."""
    url: str | None = None
    """The pinned upstream file, where one holds exactly these CRDs."""


def _istio_crds(crds: CrdsConfig, prep: ClusterPrepConfig) -> GatewayCrds:
    v = crds.istio_version
    url = f"https://raw.githubusercontent.com/istio/istio/{v}/manifests/charts/base/files/crd-all.gen.yaml"
    return GatewayCrds("istio", f"istio-{v}", url)


def _agentgateway_crds(crds: CrdsConfig, prep: ClusterPrepConfig) -> GatewayCrds:
    return GatewayCrds("agentgateway", f"agentgateway-{prep.charts.agentgateway}")


@dataclass(frozen=True)
class GatewayProfile:
    """Everything that differs between gateway providers. Readers ask the profile, never the provider: adding or
    retiring a provider is one entry in PROFILES."""

    gateway_class: str
    in_cluster: bool
    """Its data plane runs as pods in the install's namespace behind a Service (istio, agentgateway); False: a cloud
    load balancer outside the cluster (GKE), reached by its address once the Gateway is Programmed."""
    service_type: str | None
    """The data plane Service's default type (gateway.serviceType overrides); None: no Service of ours."""
    service_suffix: str | None
    """The controller's Service name after the Gateway's name; None: no Service."""
    parameters: Callable[[InstallNames, GatewayConfig], dict[str, Any] | None]
    parameters_ref: tuple[str, str] | None
    """(group, kind) of the parameters object in Gateway.spec.infrastructure.parametersRef."""
    header_strip: Callable[[InstallNames], dict[str, Any] | None]
    strips_header_in_route: bool
    """A RequestHeaderModifier in the route rule removes a client's x-prefiller-host-port before the EPP runs."""
    pool_extras: Callable[[PoolNames], list[tuple[str, dict[str, Any]]]]
    control_plane: Callable[[ClusterPrepConfig], list[ChartSpec]]
    """Cluster preparation's charts, in order (CRD charts first)."""
    crds: Callable[[CrdsConfig, ClusterPrepConfig], GatewayCrds | None]
    gateway_labels: dict[str, str] = field(default_factory=dict)
    load_balancer_ranges: tuple[str, ...] = ()
    """Outside the cluster: where the load balancer's proxies and health checks come from (besides the proxy-only
    subnet), which the NetworkPolicies admit to the pools and the EPP."""
    health_checks_epp: bool = False
    """The load balancer health-checks the EPP on its gRPC health port, which its NetworkPolicy must admit."""
    cluster_managed_kinds: tuple[tuple[str, str], ...] = ()
    """(group, kind) of the CRDs the cluster itself provides for it, which `up` waits to be Established."""
    gke_only: bool = False
    """Its gateway classes exist only on a GKE cluster."""
    notes: tuple[str, ...] = ()
    """Preflight warnings whenever it is chosen."""


def _none(*_: Any) -> None:
    return None


def _no_extras(names: PoolNames) -> list[tuple[str, dict[str, Any]]]:
    return []


AGENTGATEWAY = GatewayProfile(
    gateway_class="agentgateway",
    in_cluster=True,
    service_type="LoadBalancer",
    service_suffix="",
    parameters=agentgateway_parameters,
    parameters_ref=("agentgateway.dev", "AgentgatewayParameters"),
    header_strip=_none,
    strips_header_in_route=True,
    pool_extras=_no_extras,
    control_plane=lambda prep: charts.agentgateway_control_plane(
        "oci://cr.agentgateway.dev/charts", prep.charts.agentgateway
    ),
    crds=_agentgateway_crds,
)
PROFILES: dict[GatewayProvider, GatewayProfile] = {
    GatewayProvider.ISTIO: GatewayProfile(
        gateway_class="istio",
        in_cluster=True,
        service_type="ClusterIP",
        service_suffix="-istio",
        parameters=istio_parameters,
        parameters_ref=("", "ConfigMap"),
        header_strip=istio_header_strip,
        strips_header_in_route=False,
        pool_extras=lambda names: [("epp-destinationrule", destination_rule(names))],
        control_plane=charts.istio_control_plane,
        crds=_istio_crds,
        gateway_labels={"istio.io/enable-inference-extproc": "true"},
    ),
    GatewayProvider.AGENTGATEWAY: AGENTGATEWAY,
    # The latest guide's "kgateway" is the kgateway-dev build of the agentgateway data plane (class agentgateway);
    # Envoy-based kgateway dropped inference support in v2.2 and cannot route to an InferencePool v1.
    GatewayProvider.KGATEWAY: replace(
        AGENTGATEWAY,
        control_plane=lambda prep: charts.agentgateway_control_plane(
            "oci://ghcr.io/kgateway-dev/charts", prep.charts.kgateway_agentgateway
        ),
        notes=(
            "gateway.provider kgateway deploys the kgateway-dev agentgateway data plane (class agentgateway), which "
            "upstream marks deprecated; prefer gateway.provider: agentgateway",
        ),
    ),
    GatewayProvider.GKE: GatewayProfile(
        gateway_class="gke-l7-regional-external-managed",
        in_cluster=False,
        service_type=None,
        service_suffix=None,
        parameters=_none,
        parameters_ref=None,
        header_strip=_none,
        strips_header_in_route=False,
        pool_extras=lambda names: [
            ("healthcheckpolicy", gke_health_check_policy(names)),
            ("backendpolicy", gke_backend_policy(names)),
        ],
        control_plane=lambda prep: [],  # GKE's gateway is managed
        crds=_none,  # GKE installs and manages them
        load_balancer_ranges=GOOGLE_HEALTH_CHECK_RANGES,
        # GKE's gateway health-checks the EPP over gRPC on its health port, not the ext-proc port (llm-d-router
        # chart templates/gke.yaml; GAIE issue #2884): without it the backend is unhealthy and FailOpen skips it.
        health_checks_epp=True,
        cluster_managed_kinds=(
            ("gateway.networking.k8s.io", "Gateway"),
            ("gateway.networking.k8s.io", "HTTPRoute"),
            ("networking.gke.io", "HealthCheckPolicy"),
            ("networking.gke.io", "GCPBackendPolicy"),
        ),
        gke_only=True,
    ),
}


def profile(gw: GatewayConfig) -> GatewayProfile:
    return PROFILES[gw.provider]
