"""Ingress NetworkPolicies of one pool: who may reach the workers and the EPP, per gateway provider.

Workers (both roles) accept the pool port from the gateway's data plane and the EPP (metrics), and, from the pool's
own pods, the pool port (the decode sidecar's prefill leg) and the NIXL side channel; all TCP when KV may move over
TCP (fabric none, or `tcp` in UCX_TLS). The EPP accepts ext-proc from the gateway. GKE's gateway has no pods: its
proxies come from the region's proxy-only subnet, its health checks from Google's ranges.
"""

from __future__ import annotations

from typing import Any

from components.config import Fabric, GatewayProvider, MonitoringBackend, StackConfig
from components.specs import wiring
from components.specs.names import PoolNames

GOOGLE_HEALTH_CHECK_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
GATEWAY_POD_LABEL = "gateway.networking.k8s.io/gateway-name"
"""Istio and agentgateway label the data-plane pods they create for a Gateway with its name."""


def gateway_peers(cfg: StackConfig, gateway_name: str) -> list[dict[str, Any]]:
    if cfg.gateway.provider is GatewayProvider.GKE:
        cidrs = [*GOOGLE_HEALTH_CHECK_RANGES]
        if cfg.gateway.proxy_subnet_cidr:
            cidrs.insert(0, cfg.gateway.proxy_subnet_cidr)
        return [{"ipBlock": {"cidr": c}} for c in cidrs]
    return [{"podSelector": {"matchLabels": {GATEWAY_POD_LABEL: gateway_name}}}]


def kv_over_tcp(cfg: StackConfig) -> bool:
    tls = cfg.rdma.ucx_env.get("UCX_TLS", "all").split(",")
    return cfg.rdma.fabric is Fabric.NONE or "tcp" in tls or "all" in tls


def _tcp(*ports: int | str) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in ports]


def scrapers(cfg: StackConfig) -> list[dict[str, Any]]:
    """The monitoring namespace, when monitoring is on."""
    backend = cfg.monitoring_backend
    if backend is MonitoringBackend.OFF:
        return []
    ns = cfg.monitoring.scraper_namespace(backend)
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}]


def worker_policy(names: PoolNames, cfg: StackConfig, gateway_name: str) -> dict[str, Any]:
    own_pods = {"podSelector": {"matchLabels": names.selector()}}
    within_pool: dict[str, Any] = {"from": [own_pods]}
    if not kv_over_tcp(cfg):
        within_pool["ports"] = _tcp(wiring.POOL_TARGET_PORT, wiring.NIXL_SIDE_CHANNEL_PORT)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{names.inference_pool}-workers",
            "namespace": names.install.namespace,
            "labels": names.install.common_labels(),
        },
        "spec": {
            "podSelector": {"matchLabels": names.selector()},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": gateway_peers(cfg, gateway_name), "ports": _tcp(wiring.POOL_TARGET_PORT)},
                {"from": [{"podSelector": {"matchLabels": names.epp_selector()}}],
                 "ports": _tcp(wiring.POOL_TARGET_PORT)},
                within_pool,
                *([{"from": scrapers(cfg), "ports": _tcp(wiring.VLLM_PORT_NAME)}] if scrapers(cfg) else []),
            ],
        },
    }  # fmt: skip


def epp_policy(names: PoolNames, cfg: StackConfig, gateway_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": names.epp, "namespace": names.install.namespace, "labels": names.epp_labels()},
        "spec": {
            "podSelector": {"matchLabels": names.epp_selector()},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": gateway_peers(cfg, gateway_name), "ports": _tcp(wiring.EPP_GRPC_PORT)},
                *([{"from": scrapers(cfg), "ports": _tcp(wiring.EPP_METRICS_PORT)}] if scrapers(cfg) else []),
            ],
        },
    }
