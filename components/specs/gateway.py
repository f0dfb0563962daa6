"""The Gateway, its per-provider parameters, the HTTPRoute, and the provider extras each pool needs."""

from __future__ import annotations

from typing import Any

import yaml

from components.config import GatewayConfig, GatewayProvider, PoolConfig
from components.specs import wiring
from components.specs.names import InstallNames, PoolNames

GATEWAY_POD_LABEL = "gateway.networking.k8s.io/gateway-name"
"""Istio and agentgateway label the data-plane pods they create for a Gateway with its name."""

GATEWAY_CLASSES = {
    GatewayProvider.ISTIO: "istio",
    # The latest guide's "kgateway" is the kgateway-dev agentgateway data plane; Envoy-based kgateway dropped
    # inference support in v2.2 and cannot route to an InferencePool v1.
    GatewayProvider.KGATEWAY: "agentgateway",
    GatewayProvider.AGENTGATEWAY: "agentgateway",
    GatewayProvider.GKE: "gke-l7-regional-external-managed",
}
DEFAULT_SERVICE_TYPES = {
    GatewayProvider.ISTIO: "ClusterIP",
    GatewayProvider.KGATEWAY: "LoadBalancer",
    GatewayProvider.AGENTGATEWAY: "LoadBalancer",
}


def gateway_class(gw: GatewayConfig) -> str:
    return gw.class_name or GATEWAY_CLASSES[gw.provider]


def service_type(gw: GatewayConfig) -> str | None:
    """None for GKE, whose gateway is a Google load balancer with no Service of ours."""
    if gw.provider is GatewayProvider.GKE:
        return None
    return gw.service_type or DEFAULT_SERVICE_TYPES[gw.provider]


def gateway_service_name(names: InstallNames, gw: GatewayConfig) -> str | None:
    """The Service the gateway's controller creates for it (for port-forwarding), where it is known."""
    if gw.provider is GatewayProvider.ISTIO:
        return f"{names.gateway()}-istio"
    if gw.provider in (GatewayProvider.AGENTGATEWAY, GatewayProvider.KGATEWAY):
        return names.gateway()
    return None


def gateway_parameters(names: InstallNames, gw: GatewayConfig) -> dict[str, Any] | None:
    """Istio: a ConfigMap overlaying the generated proxy Deployment and Service. agentgateway (and the latest
    guide's kgateway): AgentgatewayParameters. GKE: none."""
    meta = {"name": names.gateway(), "namespace": names.namespace, "labels": names.common_labels()}
    if gw.provider is GatewayProvider.ISTIO:
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
            "metadata": meta,
            "data": {
                "deployment": yaml.safe_dump(deployment, sort_keys=False),
                "service": yaml.safe_dump({"spec": {"type": service_type(gw)}}, sort_keys=False),
            },
        }
    if gw.provider in (GatewayProvider.AGENTGATEWAY, GatewayProvider.KGATEWAY):
        return {
            "apiVersion": wiring.AGENTGATEWAY_PARAMETERS_API,
            "kind": "AgentgatewayParameters",
            "metadata": meta,
            "spec": {
                "logging": {"level": "warn"},
                "resources": {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                "service": {"spec": {"type": service_type(gw)}},
            },
        }
    return None


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
    if gw.provider is GatewayProvider.ISTIO:
        labels = {**labels, "istio.io/enable-inference-extproc": "true"}
        spec["infrastructure"] = {"parametersRef": {"group": "", "kind": "ConfigMap", "name": names.gateway()}}
    elif gw.provider in (GatewayProvider.AGENTGATEWAY, GatewayProvider.KGATEWAY):
        spec["infrastructure"] = {
            "parametersRef": {"group": "agentgateway.dev", "kind": "AgentgatewayParameters", "name": names.gateway()}
        }
    metadata: dict[str, Any] = {"name": names.gateway(), "namespace": names.namespace, "labels": labels}
    if waits_for_programmed(gw):
        metadata["annotations"] = {wiring.WAIT_FOR: "condition=Programmed"}
    return {"apiVersion": wiring.GATEWAY_API, "kind": "Gateway", "metadata": metadata, "spec": spec}


def waits_for_programmed(gw: GatewayConfig) -> bool:
    """GKE's load balancer takes minutes; `up` waits for it so the exported address is real."""
    return gw.provider is GatewayProvider.GKE


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
    if gw.provider in (GatewayProvider.AGENTGATEWAY, GatewayProvider.KGATEWAY):
        # agentgateway applies a rule-level filter as a route policy before it calls the EPP, so this strips only
        # a client's header (agentgateway v1.4.1 crates/agentgateway/src/proxy/httpproxy.rs,
        # apply_request_policies before make_backend_call). Istio applies the same filter after ext_proc, where it
        # would strip the EPP's value too: it gets an EnvoyFilter instead (client_prefiller_header_strip).
        rule["filters"] = [
            {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": [wiring.PREFILLER_HEADER]}}
        ]
    if gw.provider is not GatewayProvider.GKE:
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
    if gw.provider is not GatewayProvider.ISTIO:
        return None
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
