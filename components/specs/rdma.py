"""What a vLLM pod carries to use an RDMA fabric, as one value the worker spec merges in.

- infiniband (bare metal): the shared device plugin's resource (count 1 means "schedule on an IB node and mount the
  shared HCAs", not "one HCA"), CAP_IPC_LOCK for memory registration, UCX env for NIXL.
- gke-dra: no `nvidia.com/gpu`; one ResourceClaim of N GPU-NIC pairs (N = tensor parallelism), each pair constrained
  to one PCIe root, so 4 prefill pods and a TP4 decode pod share a node and each GPU uses the NIC next to it.
- gke-multinetwork: GKE's classic multi-networking: the pod takes all 8 GPUs and all 8 RoCE NICs through network
  annotations (one RDMA pod per node).
- none: nothing; NIXL moves KV cache over TCP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from components.config import Fabric, RdmaConfig, StackConfig
from components.specs import gateway, wiring
from components.specs.model_cache import node_cache
from components.specs.security import pod_security_level

GKE_ROCE_ENV = {
    # UCX's own route check rejects reachable endpoints on GKE's per-rail RoCE subnets.
    "UCX_IB_ROCE_REACHABILITY_MODE": "all",
    # Where gIB is on the node, engines load its NCCL tuner and TP>1 fails without these.
    "NCCL_TUNER_PLUGIN": "none",
    "NCCL_NET_PLUGIN": "",
}


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
    gpus_by_claim: bool = False
    """GPUs come from a DRA claim of GPU-NIC pairs (ResourceClaimTemplate per role), not from `nvidia.com/gpu`."""


def pod_networking(rdma: RdmaConfig) -> PodNetworking:
    caps = ("IPC_LOCK",) if rdma.ipc_lock else ()  # ibv_reg_mr pins memory; without it, ENOMEM
    if rdma.fabric is Fabric.INFINIBAND:
        return PodNetworking(
            resources={rdma.resource_name: "1"},
            env=dict(rdma.ucx_env),
            capabilities=caps,
            transport=f"InfiniBand via {rdma.resource_name}",
        )
    if rdma.fabric is Fabric.GKE_DRA:
        return PodNetworking(
            env={**GKE_ROCE_ENV, **rdma.ucx_env},
            capabilities=caps,
            gpus_by_claim=True,
            transport="RoCE: one RDMA NIC per GPU on the same PCIe root (GKE managed DRANET + NVIDIA GPU DRA)",
        )
    if rdma.fabric is Fabric.GKE_MULTINETWORK:
        return PodNetworking(
            env={**GKE_ROCE_ENV, "LD_LIBRARY_PATH": "/usr/local/nvidia/lib64", **rdma.ucx_env},
            capabilities=caps,
            annotations=multinetwork_annotations(),
            volumes=({"name": "nvidia-host", "hostPath": {"path": wiring.GKE_NVIDIA_HOST_DIR}},),
            volume_mounts=({"name": "nvidia-host", "mountPath": "/usr/local/nvidia", "readOnly": True},),
            transport="RoCE: all 8 RDMA NICs of the node (GKE multi-networking, one pod per node)",
        )
    return PodNetworking(transport="tcp (no RDMA fabric)")


def worker_networking(cfg: StackConfig) -> PodNetworking:
    """What the fabric adds to every worker pod (the model cache is the pool's: components/specs/model_cache.py)."""
    return pod_networking(cfg.rdma)


def rdma_network(i: int) -> str:
    """Name of the i-th RoCE Network / GKENetworkParamSet (gke-multinetwork)."""
    return f"rdma-{i}"


def multinetwork_annotations() -> dict[str, str]:
    """eth0 on the pod network, eth2..eth9 on the 8 RoCE networks (eth1 is the node's second gVNIC)."""
    interfaces = [{"interfaceName": "eth0", "network": "default"}] + [
        {"interfaceName": f"eth{i + 2}", "network": rdma_network(i)} for i in range(wiring.RDMA_NICS_PER_NODE)
    ]
    return {
        "networking.gke.io/default-interface": "eth0",
        "networking.gke.io/interfaces": json.dumps(interfaces),
    }


def gpu_nic_claim_template(name: str, namespace: str, labels: dict[str, str], pairs: int) -> dict[str, Any]:
    """`pairs` GPU-NIC pairs in one claim. Each pair has its own constraint: one constraint over all requests would
    put every device on one PCIe root, which no node has."""
    requests: list[dict[str, Any]] = []
    constraints: list[dict[str, Any]] = []
    for i in range(pairs):
        requests += [
            {"name": f"gpu-{i}", "exactly": {"deviceClassName": wiring.GPU_DEVICE_CLASS, "count": 1}},
            {"name": f"nic-{i}", "exactly": {"deviceClassName": wiring.RDMA_NIC_DEVICE_CLASS, "count": 1}},
        ]
        constraints.append({"matchAttribute": wiring.PCIE_ROOT_ATTRIBUTE, "requests": [f"gpu-{i}", f"nic-{i}"]})
    return {
        "apiVersion": wiring.DRA_API,
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"spec": {"devices": {"requests": requests, "constraints": constraints}}},
    }


def namespace_pod_security_level(cfg: StackConfig) -> str:
    """The Pod Security Standards level the install's namespace enforces (components/specs/security.py)."""
    net = worker_networking(cfg)
    host_paths = node_cache(cfg) or any("hostPath" in v for v in net.volumes)
    return pod_security_level(net.capabilities, host_paths, gateway.profile(cfg.gateway).in_cluster)
