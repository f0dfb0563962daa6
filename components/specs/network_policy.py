"""NetworkPolicies of one pool: who may reach the workers and the EPP, per gateway provider, and where decode
workers may connect to.

Ingress: workers (both roles) accept the pool port from the gateway's data plane and the EPP (metrics), and, from
the pool's own pods, the pool port (the decode sidecar's prefill leg) and the NIXL side channel; all TCP when KV may
move over TCP (fabric none, or `tcp` in UCX_TLS). The EPP accepts ext-proc from the gateway, and on GKE its gRPC
health port from Google's health checkers. GKE's gateway has no pods: its proxies come from the region's proxy-only
subnet, its health checks from Google's ranges.

Egress, every role: the routing sidecar POSTs the prefill leg to whatever `x-prefiller-host-port` names; the network
confines it: in the cluster, decode pods reach only this pool's prefill pods (vLLM port and NIXL side channel), DNS,
and the API server when the sidecar watches its pool; outside it, only the download ports. Prefill pods reach the
pool's pods on the NIXL side channel, DNS and the download ports; the EPP the API server, DNS and the pool port of
the pool's pods (metrics); the verification Job DNS and the gateway; the P/D gate has its own (pd_gate.py).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from components.config import (
    CacheMode,
    CacheSource,
    ClusterKind,
    Fabric,
    MonitoringBackend,
    PoolConfig,
    StackConfig,
)
from components.specs import gateway, pd_gate, wiring
from components.specs.gateway import GATEWAY_POD_LABEL
from components.specs.names import InstallNames, PoolNames
from components.specs.verification import verification_selector
from components.specs.wiring import Role
from components.specs.workers import needs_api_access

DNS_PORT = 53
API_SERVER_PORTS = wiring.API_SERVER_PORTS


def gateway_peers(cfg: StackConfig, gateway_name: str) -> list[dict[str, Any]]:
    prof = gateway.profile(cfg.gateway)
    if not prof.in_cluster:
        cidrs = [*prof.load_balancer_ranges]
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


def gate_peers(names: PoolNames, cfg: StackConfig) -> list[dict[str, Any]]:
    """The P/D gate's pods of this pool (components/specs/pd_gate.py), when it runs: they read the vLLM and EPP
    metrics ports."""
    serving = any(p.name == names.pool and p.serve for p in cfg.pools)
    if not (serving and pd_gate.gate_enabled(cfg)):
        return []
    return [{"podSelector": {"matchLabels": pd_gate.gate_selector(names)}}]


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
                *([{"from": gate_peers(names, cfg), "ports": _tcp(wiring.VLLM_PORT_NAME)}] if gate_peers(names, cfg)
                  else []),
            ],
        },
    }  # fmt: skip


def epp_policy(names: PoolNames, cfg: StackConfig, gateway_name: str) -> dict[str, Any]:
    # GKE's gateway health-checks the EPP over gRPC on its health port, not the ext-proc port (llm-d-router chart
    # templates/gke.yaml; GAIE issue #2884): without it the backend is unhealthy and FailOpen skips the EPP.
    health = gateway.profile(cfg.gateway).health_checks_epp
    ports = _tcp(wiring.EPP_GRPC_PORT, wiring.EPP_HEALTH_PORT) if health else _tcp(wiring.EPP_GRPC_PORT)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": names.epp, "namespace": names.install.namespace, "labels": names.epp_labels()},
        "spec": {
            "podSelector": {"matchLabels": names.epp_selector()},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": gateway_peers(cfg, gateway_name), "ports": ports},
                *([{"from": scrapers(cfg), "ports": _tcp(wiring.EPP_METRICS_PORT)}] if scrapers(cfg) else []),
                *(
                    [{"from": gate_peers(names, cfg), "ports": _tcp(wiring.EPP_METRICS_PORT)}]
                    if gate_peers(names, cfg)
                    else []
                ),
            ],
        },
    }


def cluster_ranges(cfg: StackConfig) -> list[str]:
    """The cluster's own address ranges, where the stack knows them (a GKE cluster it creates)."""
    if cfg.cluster.kind is not ClusterKind.GKE or not cfg.cluster.gke.provision:
        return []
    n = cfg.cluster.gke.network
    return [n.subnet_cidr, n.pods_cidr, n.services_cidr, n.proxy_subnet_cidr]


def download_peers(cfg: StackConfig) -> list[dict[str, Any]]:
    """`gateway.downloadCidrs`, or everything except the cluster's own ranges."""
    if cfg.gateway.download_cidrs:
        return [{"ipBlock": {"cidr": c}} for c in cfg.gateway.download_cidrs]
    own = [ipaddress.ip_network(c) for c in cluster_ranges(cfg)]
    peers = []
    for everything in ("0.0.0.0/0", "::/0"):
        net = ipaddress.ip_network(everything)
        excluded = sorted(str(c) for c in own if c.version == net.version)
        peers.append({"ipBlock": {"cidr": everything, **({"except": excluded} if excluded else {})}})
    return peers


GKE_METADATA_SERVER = "169.254.169.254/32"
GKE_METADATA_PORT = 80
"""Where a pod gets its Workload Identity token on GKE Dataplane V2 (this stack's clusters: ADVANCED_DATAPATH). A
NetworkPolicy must let the pods that read a bucket reach it (GKE's Workload Identity Federation docs, network
policy restrictions)."""


def google_identity(cfg: StackConfig, needed: bool) -> list[dict[str, Any]]:
    """The egress rule to GKE's metadata server, for pods that call Google APIs as their Workload Identity."""
    if not needed or cfg.cluster.kind is not ClusterKind.GKE:
        return []
    return [{"to": [{"ipBlock": {"cidr": GKE_METADATA_SERVER}}], "ports": _tcp(GKE_METADATA_PORT)}]


def streams_from_bucket(pool: PoolConfig) -> bool:
    return pool.model.cache.mode is CacheMode.STREAM


def decode_egress_policy(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    """Where a decode pod may connect: the prefill leg and KV pull go to this pool's prefill pods only."""
    prefill = {"podSelector": {"matchLabels": names.worker_selector(Role.PREFILL)}}
    to_prefill: dict[str, Any] = {"to": [prefill]}
    if not kv_over_tcp(cfg):
        to_prefill["ports"] = _tcp(wiring.POOL_TARGET_PORT, wiring.NIXL_SIDE_CHANNEL_PORT)
    rules: list[dict[str, Any]] = [to_prefill, _dns()]
    if needs_api_access(pool, Role.DECODE):
        rules.append({"ports": _tcp(*API_SERVER_PORTS)})
    rules.append({"to": download_peers(cfg), "ports": _tcp(*cfg.gateway.download_ports)})
    rules += google_identity(cfg, streams_from_bucket(pool))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{names.worker(Role.DECODE)}-egress",
            "namespace": names.install.namespace,
            "labels": names.install.common_labels(),
        },
        "spec": {
            "podSelector": {"matchLabels": names.worker_selector(Role.DECODE)},
            "policyTypes": ["Egress"],
            "egress": rules,
        },
    }


def _dns() -> dict[str, Any]:
    return {"ports": [{"protocol": proto, "port": DNS_PORT} for proto in ("UDP", "TCP")]}


def _egress_policy(
    name: str, names: PoolNames, selector: dict[str, str], rules: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": names.install.namespace, "labels": names.install.common_labels()},
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Egress"], "egress": rules},
    }


def prefill_egress_policy(names: PoolNames, cfg: StackConfig, pool: PoolConfig) -> dict[str, Any]:
    """Where a prefill pod may connect: this pool's pods (either role) on the NIXL side channel, or all TCP when KV
    may move over TCP; DNS; the download ports outside the cluster; GKE's metadata server when it streams weights
    from a bucket. vLLM never calls the API server."""
    peers: dict[str, Any] = {"to": [{"podSelector": {"matchLabels": names.selector()}}]}
    if not kv_over_tcp(cfg):
        peers["ports"] = _tcp(wiring.NIXL_SIDE_CHANNEL_PORT)
    rules = [peers, _dns(), {"to": download_peers(cfg), "ports": _tcp(*cfg.gateway.download_ports)}]
    rules += google_identity(cfg, streams_from_bucket(pool))
    return _egress_policy(f"{names.worker(Role.PREFILL)}-egress", names, names.worker_selector(Role.PREFILL), rules)


def epp_egress_policy(names: PoolNames) -> dict[str, Any]:
    """Where the EPP may connect: the API server (it watches its pool and the pods, and reviews /metrics tokens),
    DNS, and the pool's pods on the pool port, where it reads each pod's vLLM metrics (through the sidecar on
    decode). Nothing outside the cluster."""
    rules = [
        {"ports": _tcp(*API_SERVER_PORTS)},
        _dns(),
        {"to": [{"podSelector": {"matchLabels": names.selector()}}], "ports": _tcp(wiring.POOL_TARGET_PORT)},
    ]
    return _egress_policy(f"{names.epp}-egress", names, names.epp_selector(), rules)


def verification_policy(names: PoolNames, gateway_name: str) -> dict[str, Any]:
    """The verification Job (components/specs/verification.py) reaches DNS and the gateway's listener only; nothing
    reaches it. Only with an in-cluster gateway (preflight refuses verification on GKE)."""
    rules = [
        _dns(),
        {
            "to": [{"podSelector": {"matchLabels": {GATEWAY_POD_LABEL: gateway_name}}}],
            "ports": _tcp(wiring.GATEWAY_LISTENER_PORT),
        },
    ]
    pol = _egress_policy(f"{names.inference_pool}-verify", names, verification_selector(names), rules)
    pol["spec"]["policyTypes"] = ["Ingress", "Egress"]
    return pol


def model_cache_policy(names: InstallNames, cfg: StackConfig) -> dict[str, Any]:
    """The populate Jobs of the install's model volumes (components/specs/model_cache.py): DNS and the download
    ports outside the cluster (the hub, or the bucket's API); nothing reaches them."""
    selector = {**names.install_labels(), wiring.LABEL_COMPONENT: "model-cache"}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": f"{names.prefix}-model-cache",
            "namespace": names.namespace,
            "labels": names.common_labels(),
        },
        "spec": {
            "podSelector": {"matchLabels": selector},
            "policyTypes": ["Ingress", "Egress"],
            "egress": [
                _dns(),
                {"to": download_peers(cfg), "ports": _tcp(*cfg.gateway.download_ports)},
                *google_identity(cfg, any(p.model.cache.source is CacheSource.BUCKET for p in cfg.pools)),
            ],
        },
    }


def pool_policies(names: PoolNames, pool: PoolConfig, cfg: StackConfig, gateway_name: str) -> list[dict[str, Any]]:
    """Every NetworkPolicy of one pool, or none when `gateway.networkPolicies` is off. The P/D gate's own policy is
    in components/specs/pd_gate.py, the verification Job's in `verification_policy`."""
    if not cfg.gateway.network_policies:
        return []
    return [
        worker_policy(names, cfg, gateway_name),
        epp_policy(names, cfg, gateway_name),
        decode_egress_policy(names, pool, cfg),
        prefill_egress_policy(names, cfg, pool),
        epp_egress_policy(names),
    ]
