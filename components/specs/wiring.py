"""The facts that tie the parts of a P/D deployment together: ports, label keys, role names, API versions.

Every spec builder reads these; nothing else spells a port number or a label key. A port mismatch between the
routing sidecar and vLLM silently turns P/D off, so the sidecar args, the vLLM args, the containerPorts, the
InferencePool target port and the HTTPRoute backend port all come from here.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A worker's role. Only these two values give a strict split at EPP v0.7.0: `decode-filter` also keeps pods
    with no role label, `prefill-filter` requires it."""

    PREFILL = "prefill"
    DECODE = "decode"


# --- ports --------------------------------------------------------------------------------------------------------
POOL_TARGET_PORT = 8000
"""The InferencePool's target port: prefill vLLM listens here itself, decode pods expose their sidecar here."""
SIDECAR_PORT = POOL_TARGET_PORT
"""The decode pod's routing sidecar (it owns the pool port on decode)."""
DECODE_VLLM_PORT = 8200
"""vLLM inside a decode pod, reached only by its sidecar over localhost."""
NIXL_SIDE_CHANNEL_PORT = 5600
"""NIXL handshake side channel; vLLM's default since 0.11.1 (5557 before), set explicitly so the two agree."""
EPP_GRPC_PORT = 9002
EPP_HEALTH_PORT = 9003
EPP_METRICS_PORT = 9090
GATEWAY_LISTENER_PORT = 80
API_SERVER_PORTS = (443, 6443)
"""The `kubernetes` Service's port and the API server's usual endpoint port (policies see the endpoint after DNAT)."""


def vllm_port(role: Role) -> int:
    """Prefill serves the pool port directly; decode's vLLM hides behind the sidecar."""
    return POOL_TARGET_PORT if role is Role.PREFILL else DECODE_VLLM_PORT


# --- port names -----------------------------------------------------------------------------------------------------
VLLM_PORT_NAME = "vllm"
NIXL_PORT_NAME = "nixl"
SIDECAR_PORT_NAME = "sidecar"

# --- labels ---------------------------------------------------------------------------------------------------------
LABEL_INFERENCE_SERVING = "llm-d.ai/inference-serving"
LABEL_ROLE = "llm-d.ai/role"
LABEL_MODEL = "llm-d.ai/model"
LABEL_INSTALL = "llm-d.ai/install"
"""Scopes every selector to one install, so two installs in one namespace never select each other's pods."""
LABEL_POOL = "llm-d.ai/pool"
"""Scopes a pool's selector to its own workers when an install serves several pools."""
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "llm-d-pd"
MANAGED_BY = "pulumi"

# --- container names ----------------------------------------------------------------------------------------------
VLLM_CONTAINER = "vllm"
"""Must be the first container: GKE mounts RDMA devices into the first container only."""
SIDECAR_CONTAINER = "routing-proxy"
EPP_CONTAINER = "epp"

# --- Secrets ------------------------------------------------------------------------------------------------------
HF_TOKEN_KEY = "HF_TOKEN"

# --- API versions -------------------------------------------------------------------------------------------------
INFERENCE_POOL_GROUP = "inference.networking.k8s.io"
INFERENCE_POOL_API = f"{INFERENCE_POOL_GROUP}/v1"
GATEWAY_API = "gateway.networking.k8s.io/v1"
ISTIO_DESTINATION_RULE_API = "networking.istio.io/v1"
ISTIO_ENVOY_FILTER_API = "networking.istio.io/v1alpha3"
AGENTGATEWAY_PARAMETERS_API = "agentgateway.dev/v1alpha1"
GKE_POLICY_API = "networking.gke.io/v1"
NIC_CLUSTER_POLICY_API = "mellanox.com/v1alpha1"
DRA_API = "resource.k8s.io/v1"
GKE_NETWORKING_API = "networking.gke.io/v1"

# --- GKE RDMA -----------------------------------------------------------------------------------------------------
GPU_DEVICE_CLASS = "gpu.nvidia.com"
"""Published by the NVIDIA GPU DRA driver chart."""
RDMA_NIC_DEVICE_CLASS = "mrdma.google.com"
"""Published by GKE managed DRANET on pools labelled for it."""
PCIE_ROOT_ATTRIBUTE = "resource.kubernetes.io/pcieRoot"
"""Both drivers publish it; a GPU and a NIC with the same value share a PCIe root."""
GPU_NIC_CLAIM = "gpu-nic"
"""The pod's name for its ResourceClaim of GPU-NIC pairs."""
RDMA_NICS_PER_NODE = 8
"""A3 Ultra and A4: 8 CX-7 RoCE NICs, one per GPU."""
GKE_GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GKE_NVIDIA_HOST_DIR = "/home/kubernetes/bin/nvidia"
"""Where GKE's COS driver installer puts the NVIDIA driver."""

# --- RBAC ---------------------------------------------------------------------------------------------------------
READ_VERBS = ["get", "list", "watch"]
"""Read-only access, as the EPP, the SSRF-protected sidecar and the metrics collector need it."""

# --- pulumi-kubernetes annotations --------------------------------------------------------------------------------
SKIP_AWAIT = "pulumi.com/skipAwait"
WAIT_FOR = "pulumi.com/waitFor"

# --- KV transfer --------------------------------------------------------------------------------------------------
KV_CONNECTOR = "NixlConnector"
KV_ROLE = "kv_both"
PREFILLER_HEADER = "x-prefiller-host-port"
"""Where the EPP tells the decode sidecar which prefill pod to use (llm-d/llm-d-inference-scheduler v0.7.0,
pkg/plugins/pre-request/disagg_headers_handler.go). On a decode-only decision the EPP leaves it out rather than
removing it (GAIE v1.4.0 pkg/epp/handlers/request.go sends only SetHeaders), so a client's own value would reach
the sidecar: each gateway strips it before the EPP runs (specs.gateway.client_prefiller_header_strip)."""
SIDECAR_CONNECTOR = "nixlv2"
"""The routing sidecar's protocol for NixlConnector (prefill with do_remote_decode, then decode pulls the KV)."""

# --- worker volumes -----------------------------------------------------------------------------------------------
MODEL_CACHE_PATH = "/model-cache"
SHARED_MODEL_CACHE_HOST_PATH = "/var/cache/huggingface"
"""Cache mode node: the node directory every worker of the node mounts as its model cache."""
MODEL_VOLUME_PATH = "/models"
"""Cache mode volume: where the model volume is mounted (read-write in the populate Job, read-only in the workers)."""
MODEL_VOLUME_WEIGHTS = f"{MODEL_VOLUME_PATH}/weights"
"""...and the directory of the model's files in it, which vLLM is pointed at."""
