"""What the stack exports for a person: how to reach the gateway, a ready-to-run curl per pool, the topology."""

from __future__ import annotations

import json
import shlex

from components.config import Fabric, PoolConfig, StackConfig
from components.specs import wiring
from components.specs.gateway import gateway_service_name, service_type
from components.specs.names import InstallNames
from components.specs.rdma import pod_networking

LOCAL_PORT = 8000


def gateway_access(cfg: StackConfig) -> dict[str, str]:
    """`endpoint` for the curls, and `how` to make it reachable."""
    names = InstallNames(cfg.prefix, cfg.namespace, cfg.release)
    svc = gateway_service_name(names, cfg.gateway)
    if svc and service_type(cfg.gateway) != "LoadBalancer":
        return {
            "endpoint": f"http://localhost:{LOCAL_PORT}",
            "how": f"kubectl -n {cfg.namespace} port-forward svc/{svc} {LOCAL_PORT}:{wiring.GATEWAY_LISTENER_PORT}",
        }
    lookup = f"kubectl -n {cfg.namespace} get gateway {names.gateway()} -o jsonpath='{{.status.addresses[0].value}}'"
    return {"endpoint": f"http://$({lookup})", "how": lookup}


def completion_curl(endpoint: str, pool: PoolConfig) -> str:
    body = json.dumps({"model": pool.model.served, "prompt": "How are you today?", "max_tokens": 64})
    path = pool.route.path_prefix.rstrip("/")
    headers = ["-H 'Content-Type: application/json'"]
    headers += [f"-H {shlex.quote(f'{k}: {v}')}" for k, v in sorted(pool.route.headers.items())]
    return f"curl -s -X POST {endpoint}{path}/v1/completions {' '.join(headers)} -d {shlex.quote(body)}"


def topology(cfg: StackConfig) -> list[str]:
    return [p.topology() for p in cfg.pools]


def kv_transport(cfg: StackConfig) -> str:
    transport = pod_networking(cfg.rdma).transport
    if cfg.rdma.fabric is Fabric.NONE:
        return f"WARNING: {transport}: NIXL moves KV cache over TCP, far slower than RDMA (rdma.fabric: none)"
    return transport


def gateway_address(status: dict | None) -> str | None:
    """The first address a Programmed Gateway reports."""
    addresses = (status or {}).get("addresses") or []
    return addresses[0].get("value") if addresses else None
