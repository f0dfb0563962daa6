"""Facts preflight computes with: models (architecture and checkpoint size) and accelerators (memory, GPUs per node).

Each number says where it comes from. Checkpoint bytes are the published weights, which is not parameters x dtype:
FP8-dynamic Llama keeps its embeddings and lm_head in BF16, and gpt-oss-120b stores its experts in MXFP4.
A model or node that is not here can be described in config (`pools[].model.facts`, `cluster.inventory[]`).
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 10**9
GiB = 2**30
MiB = 2**20


@dataclass(frozen=True)
class ModelFacts:
    checkpoint_bytes: int
    """Size of the published weights (what every pod downloads and loads)."""
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    max_context: int
    """max_position_embeddings of the model's config.json."""
    kv_cache_dtype_bytes: int = 2
    """vLLM's default KV cache dtype ("auto") follows the activation dtype: BF16, 2 bytes."""
    sliding_window: int = 0
    """Window of the sliding-window attention layers (0: none)."""
    sliding_window_layers: int = 0
    """How many of `layers` use the sliding window (their KV cache is bounded by it)."""
    mla: bool = False
    """Multi-head latent attention: its KV cache is not split by head, so NixlConnector allows prefill TP above
    decode TP."""

    def kv_bytes_per_token(self, tensor_parallelism: int, seq_len: int) -> float:
        """KV cache bytes one token of a `seq_len` sequence costs on one GPU. KV heads are split across TP ranks;
        above the KV-head count vLLM replicates them, so each rank still holds one."""
        heads_per_rank = max(1, self.kv_heads // tensor_parallelism)
        per_layer = 2 * heads_per_rank * self.head_dim * self.kv_cache_dtype_bytes  # K and V
        full_layers = self.layers - self.sliding_window_layers
        windowed = self.sliding_window_layers * min(1.0, self.sliding_window / seq_len) if seq_len else 0
        return per_layer * (full_layers + windowed)


# Architecture numbers are from each model's config.json on Hugging Face; sizes from its published safetensors.
MODELS: dict[str, ModelFacts] = {
    # 80 layers, 64 heads, 8 KV heads, head_dim 128, 131072 positions (meta-llama/Llama-3.3-70B-Instruct).
    # Weights: 2 x 128256 x 8192 BF16 (embeddings + lm_head, 4.2 GB) + 66.4 B FP8 linear weights + scales: the
    # 15 safetensors shards of the RedHatAI repo add up to about 72.7 GB.
    "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic": ModelFacts(int(72.7 * GB), 80, 64, 8, 128, 131072),
    # Same architecture, 70.6 B parameters in BF16: 141.1 GB of safetensors.
    "meta-llama/Llama-3.3-70B-Instruct": ModelFacts(int(141.1 * GB), 80, 64, 8, 128, 131072),
    # 32 layers, 32 heads, 8 KV heads, head_dim 128, 131072 positions; 8.03 B parameters in BF16: 16.1 GB.
    "meta-llama/Llama-3.1-8B-Instruct": ModelFacts(int(16.1 * GB), 32, 32, 8, 128, 131072),
    # 64 layers, 64 heads, 8 KV heads, head_dim 128, 40960 positions; 32.8 B parameters in BF16: 65.5 GB.
    "Qwen/Qwen3-32B": ModelFacts(int(65.5 * GB), 64, 64, 8, 128, 40960),
    # 36 layers alternating sliding-window (128 tokens) and full attention, 64 heads, 8 KV heads, head_dim 64,
    # 131072 positions; MoE experts in MXFP4, the rest BF16: 65.3 GB of safetensors.
    "openai/gpt-oss-120b": ModelFacts(
        int(65.3 * GB), 36, 64, 8, 64, 131072, sliding_window=128, sliding_window_layers=18
    ),
}


@dataclass(frozen=True)
class AcceleratorFacts:
    memory_bytes: int
    """Usable HBM per GPU as the driver reports it (nvidia-smi 'Total')."""
    gpus_per_node: int
    machine_types: tuple[str, ...]
    """GKE machine types with 8 of these GPUs (empty: not offered as such on GKE)."""
    node_ephemeral_bytes: int
    """Local storage for emptyDir volumes on a typical node of this kind."""


ACCELERATORS: dict[str, AcceleratorFacts] = {
    # nvidia-smi reports 81559 MiB on H100 80GB HBM3; a3-highgpu-8g / a3-megagpu-8g carry 8 and 6 TB of local SSD.
    "h100-80gb": AcceleratorFacts(81559 * MiB, 8, ("a3-highgpu-8g", "a3-megagpu-8g"), 6 * 10**12),
    # nvidia-smi reports 143771 MiB on H200 141GB; a3-ultragpu-8g has 12 TB of local SSD.
    "h200-141gb": AcceleratorFacts(143771 * MiB, 8, ("a3-ultragpu-8g",), 12 * 10**12),
    # nvidia-smi reports 183359 MiB on B200 (HGX, 180 GB); a4-highgpu-8g has 12 TB of local SSD.
    "b200-180gb": AcceleratorFacts(183359 * MiB, 8, ("a4-highgpu-8g",), 12 * 10**12),
    # nvidia-smi reports 81920 MiB on A100 80GB; a2-ultragpu-8g has 3 TB of local SSD.
    "a100-80gb": AcceleratorFacts(81920 * MiB, 8, ("a2-ultragpu-8g",), 3 * 10**12),
}

VLLM_BLOCK_SIZES = (1, 8, 16, 32, 64, 128)
"""Block sizes vLLM's CUDA attention backends accept (--block-size choices)."""


# --- Kubernetes API removals and the manifests the program applies by URL ------------------------------------------
NEWEST_KUBERNETES = "1.36"
"""The newest Kubernetes minor these facts cover. A GKE release channel upgrades the cluster on its own, so what the
program applies there must still be served at this version."""

_WORKLOADS = ("DaemonSet", "Deployment", "ReplicaSet")
_RBAC = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
REMOVED_APIS: dict[tuple[str, str], str] = {
    # The Kubernetes deprecated-API migration guide (kubernetes.io/docs/reference/using-api/deprecation-guide/):
    # (apiVersion, kind) -> the first minor that no longer serves it.
    **{("extensions/v1beta1", k): "1.16" for k in (*_WORKLOADS, "NetworkPolicy", "PodSecurityPolicy")},
    **{(v, k): "1.16" for v in ("apps/v1beta1", "apps/v1beta2") for k in (*_WORKLOADS, "StatefulSet")},
    ("extensions/v1beta1", "Ingress"): "1.22",
    ("networking.k8s.io/v1beta1", "Ingress"): "1.22",
    ("networking.k8s.io/v1beta1", "IngressClass"): "1.22",
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"): "1.22",
    ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration"): "1.22",
    ("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration"): "1.22",
    ("apiregistration.k8s.io/v1beta1", "APIService"): "1.22",
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"): "1.22",
    ("coordination.k8s.io/v1beta1", "Lease"): "1.22",
    **{("rbac.authorization.k8s.io/v1beta1", k): "1.22" for k in _RBAC},
    ("scheduling.k8s.io/v1beta1", "PriorityClass"): "1.22",
    **{("storage.k8s.io/v1beta1", k): "1.22" for k in ("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment")},
    ("batch/v1beta1", "CronJob"): "1.25",
    ("discovery.k8s.io/v1beta1", "EndpointSlice"): "1.25",
    ("events.k8s.io/v1beta1", "Event"): "1.25",
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"): "1.25",
    ("policy/v1beta1", "PodDisruptionBudget"): "1.25",
    ("policy/v1beta1", "PodSecurityPolicy"): "1.25",
    ("node.k8s.io/v1beta1", "RuntimeClass"): "1.25",
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): "1.26",
    **{("flowcontrol.apiserver.k8s.io/v1beta1", k): "1.26" for k in ("FlowSchema", "PriorityLevelConfiguration")},
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity"): "1.27",
    **{("flowcontrol.apiserver.k8s.io/v1beta2", k): "1.29" for k in ("FlowSchema", "PriorityLevelConfiguration")},
    **{("flowcontrol.apiserver.k8s.io/v1beta3", k): "1.32" for k in ("FlowSchema", "PriorityLevelConfiguration")},
}

GPU_DRIVER_INSTALLER_KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    # (apiVersion, kind) of each object in nvidia-driver-installer/cos/daemonset-preloaded.yaml of
    # GoogleCloudPlatform/container-engine-accelerators at the commit, read from the repository at that commit.
    # 2026-06-09 (HEAD of master when pinned); the file last changed in f2cf4197 (2025-07-02).
    "992db81257553607f1477945f1b3219632991829": (("apps/v1", "DaemonSet"),),
    # 2019-01-22: the program's first pin. Refused: nothing after Kubernetes 1.15 serves it.
    "feb27ef33e5fdf1b8ec7dafbf4cf527ee400278a": (("extensions/v1beta1", "DaemonSet"),),
}
"""What preflight checks a pinned driver installer against, without fetching it."""


@dataclass(frozen=True)
class GkeGpuMachine:
    """A GKE machine type with 8 GPUs and 8 RDMA NICs (GPUDirect RDMA over RoCE)."""

    accelerator: str
    """Key in ACCELERATORS."""
    gke_accelerator: str
    """GKE's accelerator type string (node_config.guest_accelerators[].type and node label)."""
    local_ssds: int
    """Local SSDs the machine comes with (375 GB each), used as the node's ephemeral storage."""


GKE_GPU_MACHINES: dict[str, GkeGpuMachine] = {
    # A3 Ultra: 8x H200 141GB, 8x CX-7 400 Gbps RoCE NICs, 32 local SSDs (12 TB).
    "a3-ultragpu-8g": GkeGpuMachine("h200-141gb", "nvidia-h200-141gb", 32),
    # A4: 8x B200, 8x CX-7 400 Gbps RoCE NICs, 32 local SSDs (12 TB).
    "a4-highgpu-8g": GkeGpuMachine("b200-180gb", "nvidia-b200", 32),
}


HYPERDISK_ML_MACHINE_SERIES = ("a2", "a3", "a4", "c3", "c3d", "g2")
"""Machine series that attach Hyperdisk ML volumes, as Compute Engine's "About Hyperdisk ML" page lists them
(cloud.google.com/compute/docs/disks/hd-types/hyperdisk-ml, "Machine series support"; GKE's Hyperdisk page defers to
it). The populate Job writes the model volume from a system-pool node and every GPU node reads it, so both pools'
series must be here."""
NO_HYPERDISK_MACHINE_SERIES = ("e2", "n1", "n2", "n2d", "t2d", "t2a")
"""Series that attach no Hyperdisk at all (persistent disks only), so preflight can refuse them outright; a series in
neither tuple is unknown to the catalog and only warned about."""


def machine_series(machine_type: str) -> str:
    """`c3-standard-8` -> `c3`, `a3-ultragpu-8g` -> `a3`."""
    return machine_type.split("-", 1)[0]


# --- upstream behaviour by release -----------------------------------------------------------------------------------
SIDECAR_V1_POOL_ALLOWLIST_FIXED = (0, 10, 0)
"""First routing-sidecar release whose SSRF allow-list reads an inference.networking.k8s.io/v1 pool's selector
(spec.selector.matchLabels). Before it (v0.7.1 through v0.9.0) the allow-list reads a flat spec.selector, builds an
invalid label selector, stays empty and answers every request carrying x-prefiller-host-port with 403
(llm-d/llm-d#1365). Broken: llm-d/llm-d-inference-scheduler v0.7.1 pkg/sidecar/proxy/allowlist.go,
updatePodsForPool; fixed: llm-d/llm-d-router v0.10.0, same file (PR #1696, commit 4c16a445)."""


@dataclass(frozen=True)
class PrefillThroughput:
    tokens_per_s: float
    source: str


PEAK_PREFILL_THROUGHPUT: dict[tuple[str, str, int], PrefillThroughput] = {
    # (model, accelerator, prefill TP) -> what upstream measured. The only measurement upstream publishes is the
    # default of prefix-cache-affinity-filter's peakPrefillThroughput, "Qwen 32B on 2x H100 80GB (TP=2), vLLM 0.19",
    # one unloaded chunk of 8192 tokens; the catalog's Qwen 32B is Qwen/Qwen3-32B.
    ("Qwen/Qwen3-32B", "h100-80gb", 2): PrefillThroughput(
        15928,
        "llm-d/llm-d-router v0.10.0 pkg/epp/framework/plugins/scheduling/filter/prefixcacheaffinity/README.md",
    ),
}
"""peakPrefillThroughput of the token-based P/D routing, where upstream measured it. Elsewhere preflight requires
pools[].scheduling.peakPrefillThroughput or falls back to prefix-based routing, and says so."""


# --- how vLLM accounts GPU memory (checked against aiconfigurator 0.12.0 and llm-d-planner) ---------------------------
VLLM_MEMORY_ACCOUNTING = "0.21"
"""The vLLM release whose memory accounting the memory-fit check follows: from vLLM 0.21 the CUDA graphs' memory is
charged to the --gpu-memory-utilization budget, so the budget is CUDA's total x utilization and everything besides
weights and KV cache (activations, CUDA graphs, NCCL buffers) is the runtime overhead below."""

CUDA_MEMORY_BYTES: dict[str, int] = {
    # What CUDA reports as the device's total (cudaMemGetInfo, which vLLM's memory profiler reads through
    # torch.cuda.mem_get_info) on an H200 141GB: 143156 MiB, 615 MiB below nvidia-smi's 143771 MiB. Source: the
    # comparison of this preflight with aiconfigurator 0.12.0 and llm-d-planner on the seed topology.
    "h200-141gb": 143156 * MiB,
}
"""GPU memory as CUDA reports it, where known; other accelerators fall back to AcceleratorFacts.memory_bytes
(nvidia-smi's figure, a few hundred MiB high)."""


def cuda_memory_bytes(accelerator: str) -> int | None:
    """The memory vLLM budgets from: CUDA's figure where known, else nvidia-smi's, else None (unknown accelerator)."""
    if accelerator in CUDA_MEMORY_BYTES:
        return CUDA_MEMORY_BYTES[accelerator]
    acc = ACCELERATORS.get(accelerator)
    return acc.memory_bytes if acc else None


RUNTIME_OVERHEAD_TP1 = int(2.5 * GiB)
"""vLLM's memory besides weights and KV cache on a single-GPU worker (activations, CUDA graphs): about 2.5 GiB."""
RUNTIME_OVERHEAD_TP_N = 4 * GiB
"""...and on a tensor-parallel worker (TP >= 2), which adds NCCL's buffers and custom all-reduce: about 4 GiB.
Source of both: the KV-token counts of this preflight against aiconfigurator 0.12.0's vLLM memory model on the seed
topology (H200, Llama-3.3-70B FP8: TP1 179,090 vs 178,129 tokens, TP4 1,381,950 vs 1,382,497)."""


def runtime_overhead_bytes(tensor_parallelism: int) -> int:
    """The TP-dependent runtime overhead per GPU (vLLM >= VLLM_MEMORY_ACCOUNTING accounting)."""
    return RUNTIME_OVERHEAD_TP1 if tensor_parallelism == 1 else RUNTIME_OVERHEAD_TP_N


# --- what the planner's analytic latency model computes with (scripts/plan) -----------------------------------------
@dataclass(frozen=True)
class AcceleratorPerf:
    """Peak figures from the vendor's datasheet (dense, without sparsity). The planner scales them by efficiencies
    it states as assumptions (components/planner/analytic.py)."""

    bf16_flops: float
    fp8_flops: float
    """FP8 tensor-core peak; equal to bf16_flops where the GPU has no FP8 (A100)."""
    hbm_bytes_per_s: float
    nvlink_bytes_per_s: float
    """NVLink bandwidth per GPU, one direction."""
    rdma_bytes_per_s: float
    """RDMA NIC bandwidth per GPU (the KV-cache transfer between prefill and decode)."""


ACCELERATOR_PERF: dict[str, AcceleratorPerf] = {
    # NVIDIA H100 SXM datasheet: 989 TFLOPS BF16, 1,979 TFLOPS FP8 (dense), 3.35 TB/s HBM3, NVLink 900 GB/s
    # (both directions); a3-highgpu/megagpu: 8 x 200-400 Gbps NICs, taken as 200 Gbps per GPU.
    "h100-80gb": AcceleratorPerf(989e12, 1979e12, 3.35e12, 450e9, 25e9),
    # NVIDIA H200 SXM datasheet: same tensor cores as H100, 4.8 TB/s HBM3e; a3-ultragpu-8g: 8 x 400 Gbps CX-7.
    "h200-141gb": AcceleratorPerf(989e12, 1979e12, 4.8e12, 450e9, 50e9),
    # NVIDIA HGX B200 datasheet: 2.25 PFLOPS BF16, 4.5 PFLOPS FP8 (dense), 8 TB/s HBM3e, NVLink 5 1.8 TB/s;
    # a4-highgpu-8g: 8 x 400 Gbps CX-7.
    "b200-180gb": AcceleratorPerf(2250e12, 4500e12, 8.0e12, 900e9, 50e9),
    # NVIDIA A100 80GB SXM datasheet: 312 TFLOPS BF16, no FP8, 2.039 TB/s HBM2e, NVLink 600 GB/s; 200 Gbps per GPU.
    "a100-80gb": AcceleratorPerf(312e12, 312e12, 2.039e12, 300e9, 25e9),
}


@dataclass(frozen=True)
class ModelCompute:
    active_params: float
    """Parameters one token passes through (all of them for a dense model; the active experts' for an MoE)."""
    hidden_size: int
    """Width of the residual stream (what each tensor-parallel all-reduce carries per token)."""
    fp8_weights: bool
    """Linear layers in FP8 (their GEMMs run at the FP8 tensor-core rate)."""


MODEL_COMPUTE: dict[str, ModelCompute] = {
    # Parameter counts from each model card; hidden_size from its config.json.
    "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic": ModelCompute(70.6e9, 8192, True),
    "meta-llama/Llama-3.3-70B-Instruct": ModelCompute(70.6e9, 8192, False),
    "meta-llama/Llama-3.1-8B-Instruct": ModelCompute(8.03e9, 4096, False),
    "Qwen/Qwen3-32B": ModelCompute(32.8e9, 5120, False),
    # 116.8 B parameters, 5.1 B active per token (OpenAI's gpt-oss model card); hidden_size 2880.
    "openai/gpt-oss-120b": ModelCompute(5.1e9, 2880, False),
}
