"""What a vLLM pod carries to use an RDMA fabric, as one value the worker spec merges in.

InfiniBand (bare metal): the shared device plugin's resource (count 1 means "schedule on an IB node and mount the
shared HCAs", not "one HCA"), CAP_IPC_LOCK for memory registration, and UCX env for NIXL. `none`: nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.config import Fabric, RdmaConfig


@dataclass(frozen=True)
class PodNetworking:
    """Fabric-specific additions to a vLLM worker pod."""

    resources: dict[str, str] = field(default_factory=dict)
    """Extra resource requests (= limits) on the vllm container."""
    env: dict[str, str] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    """Linux capabilities the vllm container adds."""
    annotations: dict[str, str] = field(default_factory=dict)
    volumes: tuple[dict[str, Any], ...] = ()
    volume_mounts: tuple[dict[str, Any], ...] = ()
    transport: str = "tcp"
    """What NIXL/UCX is meant to move KV cache over, for the outputs and for humans."""


def pod_networking(rdma: RdmaConfig) -> PodNetworking:
    if rdma.fabric is Fabric.INFINIBAND:
        return PodNetworking(
            resources={rdma.resource_name: "1"},
            env=dict(rdma.ucx_env),
            # ibv_reg_mr pins memory; without IPC_LOCK (or unlimited memlock) it fails with ENOMEM.
            capabilities=("IPC_LOCK",) if rdma.ipc_lock else (),
            transport=f"InfiniBand via {rdma.resource_name}",
        )
    if rdma.fabric is Fabric.NONE:
        return PodNetworking(transport="tcp (no RDMA fabric)")
    raise NotImplementedError(f"rdma.fabric {rdma.fabric.value!r} needs a GKE cluster (cluster.kind: gke)")
