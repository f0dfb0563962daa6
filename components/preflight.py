"""Checks over a validated config that need more than one key: run before any resource is registered.

Every problem is returned (not just the first), each naming the config key and the fix."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.config import PROJECT, ClusterKind, Fabric, StackConfig
from components.specs.outputs import provider_notes
from components.specs.wiring import Role


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    """Numbers worth printing (GPU budget, fit)."""

    @property
    def ok(self) -> bool:
        return not self.errors


def _key(path: str) -> str:
    return f"{PROJECT}:{path}"


def check_cluster_kind(cfg: StackConfig, r: Report) -> None:
    if cfg.cluster.kind is ClusterKind.GKE:
        r.errors.append(
            f"{_key('cluster.kind')}: gke provisioning is not available in this version; use an existing cluster "
            "(cluster.kind: existing) with its kubeconfig"
        )


def check_fabric(cfg: StackConfig, r: Report) -> None:
    fabric, kind = cfg.rdma.fabric, cfg.cluster.kind
    if fabric in (Fabric.GKE_DRA, Fabric.GKE_MULTINETWORK) and kind is not ClusterKind.GKE:
        r.errors.append(
            f"{_key('rdma.fabric')}: {fabric.value!r} needs a GKE cluster (cluster.kind: gke); "
            "on an existing cluster use infiniband or none"
        )
    if fabric is Fabric.INFINIBAND and kind is ClusterKind.GKE:
        r.errors.append(
            f"{_key('rdma.fabric')}: GKE nodes advertise no InfiniBand resource; use gke-dra (default on GKE), "
            "gke-multinetwork or none"
        )
    if fabric is Fabric.NONE:
        r.warnings.append(
            f"{_key('rdma.fabric')}: none: NIXL moves KV cache over TCP; P/D works but transfers are slow"
        )


def check_gpu_budget(cfg: StackConfig, r: Report) -> None:
    """Per-pod GPUs fit a node; all pods fit the declared inventory (first-fit by decreasing size)."""
    inventory = cfg.cluster.inventory
    pods: list[tuple[str, int]] = []
    for i, pool in enumerate(cfg.pools):
        for role in (Role.PREFILL, Role.DECODE):
            rc = pool.prefill if role is Role.PREFILL else pool.decode
            pods += [(f"pools[{i}].{role.value}", rc.tensor_parallelism)] * rc.replicas
    total = sum(g for _, g in pods)
    r.facts.append(f"GPUs requested: {total} ({'; '.join(p.topology() for p in cfg.pools)})")
    if not inventory:
        return
    nodes = [g.gpus_per_node for g in inventory for _ in range(g.count)]
    largest = max(nodes)
    capacity = sum(nodes)
    r.facts.append(f"GPUs declared: {capacity} on {len(nodes)} nodes")
    for key, gpus in sorted(set(pods)):
        if gpus > largest:
            r.errors.append(
                f"{_key(key + '.tensorParallelism')}: {gpus} GPUs per pod but the largest node has {largest}; "
                f"lower tensorParallelism to at most {largest}"
            )
    free = sorted(nodes, reverse=True)
    unplaced = []
    for key, gpus in sorted(pods, key=lambda p: -p[1]):
        slot = next((i for i, f in enumerate(free) if f >= gpus), None)
        if slot is None:
            unplaced.append((key, gpus))
        else:
            free[slot] -= gpus
    if unplaced:
        what = ", ".join(f"{k} ({g} GPUs)" for k, g in unplaced)
        r.errors.append(
            f"{_key('pools')}: {total} GPUs requested but the declared nodes ({_key('cluster.inventory')}) hold "
            f"{capacity}; cannot place {what}: lower replicas or tensorParallelism, or add nodes"
        )
    if cfg.rdma.fabric is Fabric.INFINIBAND:
        shares = min(g.rdma_shares for g in inventory)
        if shares == 0:
            r.errors.append(
                f"{_key('cluster.inventory')}: nodes advertise no {cfg.rdma.resource_name}; every InfiniBand "
                "worker requests one: install the RDMA shared device plugin or set rdma.fabric: none"
            )
        elif shares < largest:
            # Every worker on a node takes one share; one-GPU pods can fill a node with `largest` of them.
            r.warnings.append(
                f"{_key('cluster.inventory')}: rdmaShares {shares} is below the {largest} one-GPU pods a node can "
                "hold; raise the shared device plugin's rdmaHcaMax"
            )


def check_pools(cfg: StackConfig, r: Report) -> None:
    for i, pool in enumerate(cfg.pools):
        if pool.decode.replicas == 0 and pool.prefill.replicas > 0:
            r.errors.append(
                f"{_key(f'pools[{i}].decode.replicas')}: 0 decode workers leave prefill unused and the pool "
                "unservable; set at least 1"
            )
        if pool.prefill.replicas == 0 and pool.decode.replicas > 0:
            r.warnings.append(
                f"{_key(f'pools[{i}].prefill.replicas')}: 0 prefill workers: every request is served decode-only"
            )


def run(cfg: StackConfig) -> Report:
    r = Report()
    check_cluster_kind(cfg, r)
    check_fabric(cfg, r)
    check_pools(cfg, r)
    check_gpu_budget(cfg, r)
    r.warnings += provider_notes(cfg)
    return r
