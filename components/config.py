"""The stack configuration: pydantic models, the only place defaults live.

Keys are camelCase in `Pulumi.<stack>.yaml` (`llm-d-pd:pools`, `llm-d-pd:clusterPrep`, ...) and snake_case here.
Unknown keys are rejected. `load_config` turns pydantic's errors into messages that name the full key path and the
fix. Secrets never enter these models: for `hfToken` the model records only that it was set (as a secret).
"""

from __future__ import annotations

import math
import os
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components import releases
from components.vocabulary import (
    DNS_1035_LABEL_RE,
    GO_MAX_DURATION_S,
    MAX_POOL_NAME_LEN,
    MAX_PREFIX_LEN,
    Affinity,
    Cidr,
    CommitSha,
    DnsLabel,
    DnsSubdomain,
    EnvVarName,
    GcpProjectId,
    GcpRegion,
    GcpReservation,
    GcpResourceName,
    GcpZone,
    HttpHeaderName,
    HttpHeaderValue,
    HttpPathPrefix,
    ImageRef,
    Ipv4Cidr,
    LabelValue,
    NonNegativeInt32,
    NonNegativeQuantity,
    PositiveInt32,
    QualifiedName,
    Token,
    Toleration,
    Version,
    qualified_name_problem,
    sanitize_prefix,
)

PROJECT = "llm-d-pd"
_DEFAULT_SET = releases.release(None)
"""Field defaults below are the default release set's; load_config replaces every one the user did not set with the
stack's own release's."""
STACK_CONTEXT = "stack"
"""Validation context key: the Pulumi stack's name, from which the prefix defaults."""
CRDS_DIR_ENV = "LLMD_CRDS_DIR"
"""Environment variable naming a local directory of CRD manifests (overrides `crds.directory`)."""

DEFAULT_MODEL = "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"

# Startup-probe budget of a vLLM worker: initial delay + period x failure threshold (the latest guide's values).
STARTUP_INITIAL_DELAY_S = 15
STARTUP_PERIOD_S = 30
NODE_BRINGUP_ALLOWANCE_S = 10 * 60
"""Added to the startup budget for the readiness wait: image pull and a node scaling up."""


# --- field types (the shared ones live in components/vocabulary.py) -------------------------------------------------
_EXTENDED_RESOURCE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


class CamelModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, use_enum_values=False
    )


# --- model pools --------------------------------------------------------------------------------------------------
class ModelFactsConfig(CamelModel):
    """Architecture of a model the catalog does not know (numbers from its config.json and safetensors)."""

    checkpoint_size: NonNegativeQuantity = Field(description="Published weights, e.g. 72.7G.")
    layers: PositiveInt32
    attention_heads: PositiveInt32
    kv_heads: PositiveInt32
    head_dim: PositiveInt32
    max_context: PositiveInt32
    sliding_window: NonNegativeInt32 = 0
    sliding_window_layers: NonNegativeInt32 = 0
    mla: bool = Field(False, description="Multi-head latent attention (DeepSeek-style); allows prefill TP > decode TP.")


class CacheMode(StrEnum):
    """How a pool's weights reach vLLM (components/specs/model_cache.py builds each mode's objects)."""

    PER_POD = "per-pod"
    """Every worker downloads the checkpoint into its own emptyDir (sized by model.cacheSize)."""
    NODE = "node"
    """One hostPath cache per node, shared by the node's workers: one download per node."""
    VOLUME = "volume"
    """One volume per model, filled once by a populate Job; every worker mounts it read-only."""
    STREAM = "stream"
    """vLLM streams the safetensors from object storage (Run:ai Model Streamer)."""


class CacheSource(StrEnum):
    """Where the populate Job of a `volume` cache reads the weights from."""

    HUGGINGFACE = "huggingface"
    """The Hugging Face hub, with the install's token."""
    BUCKET = "bucket"
    """A copy of the repository in a Cloud Storage bucket (`bucket`), read with the Job's Workload Identity."""


class VolumeAccessMode(StrEnum):
    READ_ONLY_MANY = "ReadOnlyMany"
    READ_WRITE_MANY = "ReadWriteMany"
    READ_WRITE_ONCE = "ReadWriteOnce"
    """Accepted so preflight can say why it does not fit: the populate Job and the workers run on different nodes."""


def _hf_revision(v: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}", v) or ".." in v or v.endswith("/"):
        raise ValueError(f"{v!r} is not a Hugging Face revision; write a branch, tag or commit, e.g. main")
    return v


def _bucket_url(v: str) -> str:
    if not re.fullmatch(r"(gs|s3)://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/[A-Za-z0-9._/-]*)?", v) or ".." in v:
        raise ValueError(f"{v!r} is not a bucket URL; write it as gs://bucket/path (or s3://bucket/path)")
    return v.rstrip("/")


class ModelCacheConfig(CamelModel):
    """How the pool's weights reach vLLM: one place for the download, the volume and the loader (docs/cold-start.md)."""

    mode: CacheMode | None = Field(
        None,
        description="per-pod | node | volume | stream; default volume on a GKE cluster this stack creates, per-pod "
        "elsewhere (node while the legacy cluster.gke.gpuPool.sharedModelCache is true).",
    )
    revision: Annotated[str, AfterValidator(_hf_revision)] = Field(
        "main", description="volume: the Hugging Face revision the populate Job downloads; it names the volume."
    )
    source: CacheSource = Field(CacheSource.HUGGINGFACE, description="volume: where the populate Job reads from.")
    bucket: Annotated[str, AfterValidator(_bucket_url)] | None = Field(
        None, description="gs://bucket/path of the model's files: source bucket (volume) or what vLLM streams (stream)."
    )
    storage_class_name: DnsSubdomain | None = Field(
        None,
        description="volume: the StorageClass of the model volume; default on GKE the stack's Hyperdisk ML class, "
        "required elsewhere (a class whose volumes many nodes can mount: ReadWriteMany or ReadOnlyMany).",
    )
    access_mode: VolumeAccessMode | None = Field(
        None, description="volume: ReadOnlyMany on GKE (Hyperdisk ML); elsewhere default ReadWriteMany."
    )
    size: NonNegativeQuantity | None = Field(
        None, description="volume: its size; default the catalog's checkpoint size plus the headroom preflight wants."
    )
    populate_image: ImageRef | None = Field(
        None,
        description="volume: the populate Job's image; default images.vllm (it carries huggingface_hub); source "
        "bucket needs an image with gcloud.",
    )


class ModelConfig(CamelModel):
    """The model a pool serves."""

    id: str = Field(DEFAULT_MODEL, description="Hugging Face model id (org/name).")
    served_name: Token | None = Field(None, description="Name clients send as `model`; defaults to `id`.")
    max_model_len: PositiveInt32 = Field(32000, description="vLLM --max-model-len.")
    block_size: PositiveInt32 = Field(128, description="vLLM --block-size; prefill and decode must agree.")
    cache_size: NonNegativeQuantity = Field("100Gi", description="sizeLimit of the per-pod model cache (emptyDir).")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vLLM --gpu-memory-utilization.")
    kv_cache_dtype: Literal["auto", "fp8"] = Field("auto", description="vLLM --kv-cache-dtype (auto: BF16).")
    facts: ModelFactsConfig | None = Field(None, description="Architecture of a model the catalog does not know.")
    cache: ModelCacheConfig = Field(default_factory=ModelCacheConfig, description="How the weights reach vLLM.")

    @field_validator("id")
    @classmethod
    def _hf_id(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", v, flags=re.ASCII) or len(v) > 200:
            raise ValueError(f"{v!r} is not a Hugging Face id; write it as org/name")
        return v

    @property
    def served(self) -> str:
        return self.served_name or self.id


MAX_TENSOR_PARALLELISM = 1024
"""GPUs per pod: far above any node (the fit check names the real limit), low enough to stay a sane int32."""
MAX_READINESS_TIMEOUT_MINUTES = GO_MAX_DURATION_S // 60
"""The readiness wait becomes a Pulumi custom timeout, which the engine parses as a Go duration."""


class RolloutStrategy(StrEnum):
    RECREATE = "Recreate"
    ROLLING_NO_SURGE = "RollingUpdate"
    """Rolling with maxSurge 0 / maxUnavailable 1: a full GPU node has no room for a surge pod."""


class ScaleSignal(StrEnum):
    """What a role's autoscaler reads (components/specs/autoscaling.py holds each signal's query and its source)."""

    WAITING_REQUESTS = "waiting-requests"
    """vLLM requests waiting in this role's pods, per replica."""
    TTFT = "ttft"
    """vLLM p90 time to first token of this role's pods, in seconds (a latency target, not per replica)."""
    EPP_QUEUE = "epp-queue"
    """The pool's average model-server queue as its EPP sees it (a level: replicas scale by level / target)."""
    KV_CACHE_USAGE = "kv-cache-usage"
    """vLLM KV-cache usage (0 to 1) of this role's pods, per replica."""
    RUNNING_REQUESTS = "running-requests"
    """vLLM requests running in this role's pods, per replica."""


PREFILL_SIGNALS = (ScaleSignal.WAITING_REQUESTS, ScaleSignal.TTFT, ScaleSignal.EPP_QUEUE)
DECODE_SIGNALS = (ScaleSignal.KV_CACHE_USAGE, ScaleSignal.RUNNING_REQUESTS)
DEFAULT_TARGETS: dict[ScaleSignal, float] = {
    ScaleSignal.WAITING_REQUESTS: 4,
    ScaleSignal.TTFT: 2.0,
    ScaleSignal.EPP_QUEUE: 8,
    ScaleSignal.KV_CACHE_USAGE: 0.8,
    ScaleSignal.RUNNING_REQUESTS: 64,
}


class AutoscalingConfig(CamelModel):
    """KEDA scales this role between minReplicas and maxReplicas on `signal`; the Deployment's replicas is then the
    autoscaler's (Pulumi creates it at minReplicas and ignores later changes)."""

    min_replicas: NonNegativeInt32 = Field(
        1, description="Floor; 0 scales to zero when idle (asked for only: the first request then waits a cold start)."
    )
    max_replicas: PositiveInt32 = Field(description="Ceiling; every replica of both roles must fit the GPU budget.")
    signal: ScaleSignal | None = Field(
        None,
        description="prefill: waiting-requests (default) | ttft | epp-queue; decode: kv-cache-usage (default) | "
        "running-requests.",
    )
    target: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="Per replica; ttft: p90 seconds; epp-queue: average queue per model server. Default per signal.",
    )
    polling_interval_seconds: Annotated[int, Field(ge=1, le=3600)] = Field(15, description="KEDA pollingInterval.")
    cooldown_seconds: Annotated[int, Field(ge=0, le=86400)] = Field(
        300, description="KEDA cooldownPeriod: idle time before scaling to zero (minReplicas: 0 only)."
    )
    scale_down_stabilization_seconds: Annotated[int, Field(ge=0, le=3600)] = Field(
        300, description="HPA scaleDown stabilizationWindowSeconds: the highest recommendation of this window wins."
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas {self.min_replicas} is above maxReplicas {self.max_replicas}; raise maxReplicas"
            )
        return self

    def target_value(self, signal: ScaleSignal) -> float:
        return self.target if self.target is not None else DEFAULT_TARGETS[signal]


class PdRatio(CamelModel):
    """Bounds on prefill replicas per decode replica, kept by each autoscaled role against the other's pod count."""

    min: float | None = Field(None, gt=0, le=1024, description="At least this many prefill pods per decode pod.")
    max: float | None = Field(None, gt=0, le=1024, description="At most this many prefill pods per decode pod.")

    @model_validator(mode="after")
    def _ordered(self) -> PdRatio:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}; swap them")
        if self.min is None and self.max is None:
            raise ValueError("set min, max or both (prefill pods per decode pod), or remove pdRatio")
        return self


class RoleConfig(CamelModel):
    """One role (prefill or decode) of a pool."""

    replicas: NonNegativeInt32
    tensor_parallelism: Annotated[int, Field(ge=1, le=MAX_TENSOR_PARALLELISM)] = Field(
        description="GPUs per pod (vLLM --tensor-parallel-size)."
    )
    cpu: NonNegativeQuantity
    memory: NonNegativeQuantity
    extra_args: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Appended to the vLLM args."
    )
    extra_env: dict[EnvVarName, str] = Field(default_factory=dict, description="Added to the vLLM env.")
    node_selector: dict[QualifiedName, LabelValue] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")]
    )
    affinity: Affinity | None = None
    priority_class_name: DnsSubdomain | None = None
    strategy: RolloutStrategy = RolloutStrategy.RECREATE
    startup_failure_threshold: PositiveInt32 = Field(
        60, description="Startup probe failures allowed, 30 s apart (60 = 30 minutes to download and load)."
    )
    readiness_timeout_minutes: Annotated[int, Field(ge=1, le=MAX_READINESS_TIMEOUT_MINUTES)] | None = Field(
        None, description="How long `pulumi up` waits for the Deployment; default: startup budget + 10 min."
    )
    autoscaling: AutoscalingConfig | None = Field(
        None, description="Scale this role with KEDA on its own signal; `replicas` is then minReplicas."
    )

    @model_validator(mode="before")
    @classmethod
    def _replicas_from_autoscaling(cls, data: Any) -> Any:
        """With autoscaling, the Deployment starts at minReplicas; a different explicit `replicas` is a conflict."""
        if not isinstance(data, dict) or not isinstance(data.get("autoscaling"), dict):
            return data
        auto = data["autoscaling"]
        low = auto.get("minReplicas", auto.get("min_replicas", 1))
        given = data.get("replicas")
        if given is not None and given != low:
            raise ValueError(
                f"replicas {given} and autoscaling.minReplicas {low} disagree; with autoscaling the autoscaler owns "
                "the replica count: remove replicas (the Deployment starts at minReplicas)"
            )
        return {**data, "replicas": low}

    @field_validator("extra_env")
    @classmethod
    def _no_plain_token(cls, v: dict[str, str]) -> dict[str, str]:
        if "HF_TOKEN" in v:
            raise ValueError("HF_TOKEN must not be a plain env value; set hfToken as a secret or hfTokenSecretName")
        return v

    @model_validator(mode="after")
    def _timeout_parses(self) -> RoleConfig:
        if self.readiness_timeout_minutes is None and self.readiness_timeout_s > GO_MAX_DURATION_S:
            raise ValueError(
                f"startupFailureThreshold: {self.startup_failure_threshold} makes the readiness wait longer than "
                "the engine can express; lower it (60 is 30 minutes) or set readinessTimeoutMinutes"
            )
        return self

    @property
    def startup_budget_s(self) -> int:
        return STARTUP_INITIAL_DELAY_S + STARTUP_PERIOD_S * self.startup_failure_threshold

    @property
    def readiness_timeout_s(self) -> int:
        if self.readiness_timeout_minutes is not None:
            return self.readiness_timeout_minutes * 60
        return int(math.ceil((self.startup_budget_s + NODE_BRINGUP_ALLOWANCE_S) / 60) * 60)


def _signal_fits(rc: RoleConfig, role: str, allowed: tuple[ScaleSignal, ...]) -> None:
    a = rc.autoscaling
    if a is not None and a.signal is not None and a.signal not in allowed:
        raise ValueError(
            f"autoscaling.signal {a.signal.value!r} is not a {role} signal; use one of "
            f"{', '.join(s.value for s in allowed)}"
        )


class PrefillConfig(RoleConfig):
    replicas: NonNegativeInt32 = 4
    tensor_parallelism: Annotated[int, Field(ge=1, le=MAX_TENSOR_PARALLELISM)] = 1
    cpu: NonNegativeQuantity = "8"
    memory: NonNegativeQuantity = "64Gi"

    @model_validator(mode="after")
    def _prefill_signal(self) -> PrefillConfig:
        _signal_fits(self, "prefill", PREFILL_SIGNALS)
        return self


class DecodeConfig(RoleConfig):
    replicas: NonNegativeInt32 = 1
    tensor_parallelism: Annotated[int, Field(ge=1, le=MAX_TENSOR_PARALLELISM)] = 4
    cpu: NonNegativeQuantity = "16"
    memory: NonNegativeQuantity = "64Gi"

    @model_validator(mode="after")
    def _decode_signal(self) -> DecodeConfig:
        _signal_fits(self, "decode", DECODE_SIGNALS)
        return self


class Decider(StrEnum):
    SELECTIVE = "selective"
    """prefix-based-pd-decider: disaggregate when enough prompt tokens are not cached on the chosen decode pod."""
    ALWAYS = "always"
    """always-disagg-pd-decider: every request goes through prefill."""


class SchedulingConfig(CamelModel):
    decider: Decider = Decider.SELECTIVE
    non_cached_tokens: NonNegativeInt32 = Field(16, description="Selective decider threshold; 0 disables P/D.")
    prompt_tokens: NonNegativeInt32 | None = Field(
        None,
        description="Releases whose decider has it: prompts shorter than this (estimated tokens) never "
        "disaggregate; default 0 (off).",
    )
    peak_prefill_throughput: Annotated[float, Field(gt=0, le=1e9)] | None = Field(
        None,
        description="Token-based routing (releases that have it): the prefill throughput in tokens/s of one "
        "prefill pod of this model on this hardware, from which prefix-cache-affinity-filter estimates TTFT. No "
        "universal default exists: unset, it is taken from the catalog where upstream measured the model x "
        "accelerator x TP, else the EPP uses prefix-based routing (preflight says so).",
    )

    @model_validator(mode="after")
    def _zero_disables(self) -> SchedulingConfig:
        if self.decider is Decider.SELECTIVE and self.non_cached_tokens == 0:
            raise ValueError(
                "nonCachedTokens: 0 turns P/D off; use the `always` decider for always-P/D, or a positive threshold"
            )
        return self


class SidecarConfig(CamelModel):
    """The decode pod's routing sidecar."""

    ssrf_protection: bool = Field(
        _DEFAULT_SET.sidecar.ssrf_allowlist_works,
        description="The sidecar's own allow-list: forward the prefill leg only to pods of this pool's InferencePool. "
        "Default: on where the release's allow-list works (llm-d-v0.9), off before: up to routing sidecar v0.9.x it "
        "cannot read a v1 InferencePool's selector and answers every P/D request with 403 (llm-d/llm-d#1365, fixed "
        "in llm-d-router v0.10.0). The decode pods' egress NetworkPolicy confines the prefill leg either way.",
    )
    log_level: Literal["error", "info", "debug"] = "info"
    prefill_max_retries: Annotated[int, Field(ge=0, le=10)] | None = Field(
        None,
        description="Releases whose sidecar retries a failed prefill leg (llm-d-v0.9): retries before the client "
        "gets the error; default the release's.",
    )
    _release: str = PrivateAttr("")
    """The release set this sidecar belongs to (filled by load_config)."""

    @property
    def release(self) -> str:
        return self._release


class RouteMatch(CamelModel):
    path_prefix: HttpPathPrefix = "/"
    headers: dict[HttpHeaderName, HttpHeaderValue] = Field(
        default_factory=dict, max_length=16, description="Exact header matches, e.g. a model header."
    )

    @field_validator("headers")
    @classmethod
    def _unique_headers(cls, v: dict[str, str]) -> dict[str, str]:
        lower = [k.lower() for k in v]
        dupes = sorted({k for k in lower if lower.count(k) > 1})
        if dupes:
            raise ValueError(f"header names are case-insensitive; {', '.join(dupes)} appears twice: keep one")
        return v


class PoolConfig(CamelModel):
    """One model pool: prefill and decode workers, an InferencePool with its EPP, and a route rule."""

    name: DnsLabel = Field("llama", max_length=MAX_POOL_NAME_LEN)
    model: ModelConfig = Field(default_factory=ModelConfig)
    prefill: PrefillConfig = Field(default_factory=PrefillConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    scheduling: SchedulingConfig = Field(default_factory=SchedulingConfig)
    sidecar: SidecarConfig = Field(default_factory=SidecarConfig)
    route: RouteMatch = Field(default_factory=RouteMatch)
    release: str | None = Field(
        None,
        description="Pin this pool to a release set other than the stack's (blue-green cutover between sets: the "
        "old pool keeps its set, images and EPP while the new one comes up); default the stack's `release`.",
    )
    pd_ratio: PdRatio | None = Field(
        None,
        description="Autoscaling: bounds on prefill pods per decode pod (e.g. max: 8), applied by each autoscaled "
        "role's ScaledObject to the other role's pod count.",
    )
    serve: bool = Field(
        True,
        description="Give the pool its route rule. false brings a pool up without traffic: the blue-green cutover "
        "for an incompatible upgrade adds the new pool with serve: false, flips both once it is Ready, then "
        "removes the old one.",
    )

    @field_validator("release", mode="before")
    @classmethod
    def _pool_release(cls, v: Any) -> Any:
        from components.releases import RELEASES

        if v == "":
            return None
        if isinstance(v, str) and v not in RELEASES:  # another type is the model's to refuse, by key
            raise ValueError(f"{v!r} is not a release set; use one of {', '.join(RELEASES)}")
        return v

    @property
    def gpus(self) -> int:
        return (
            self.prefill.replicas * self.prefill.tensor_parallelism
            + self.decode.replicas * self.decode.tensor_parallelism
        )

    def topology(self) -> str:
        p, d = self.prefill, self.decode
        return (
            f"pool {self.name}: {p.replicas}x prefill TP{p.tensor_parallelism} + "
            f"{d.replicas}x decode TP{d.tensor_parallelism} = {self.gpus} GPUs"
        )


# --- images, gateway, fabric --------------------------------------------------------------------------------------
class ImagesConfig(CamelModel):
    """Default: the images of `release` (components/releases.py); setting one overrides it explicitly."""

    vllm: ImageRef = _DEFAULT_SET.vllm_image
    epp: ImageRef = _DEFAULT_SET.epp_image
    sidecar: ImageRef = _DEFAULT_SET.sidecar_image
    require_digests: bool = Field(
        False,
        description="Refuse (in preflight) every image that is not pinned by digest (@sha256:...): a tag can be "
        "moved to another build, a digest cannot.",
    )


class GatewayProvider(StrEnum):
    ISTIO = "istio"
    KGATEWAY = "kgateway"
    """What the latest guide calls kgateway: the kgateway-dev agentgateway data plane (deprecated upstream)."""
    AGENTGATEWAY = "agentgateway"
    GKE = "gke"


class GatewayConfig(CamelModel):
    provider: GatewayProvider = GatewayProvider.ISTIO
    service_type: Literal["ClusterIP", "LoadBalancer", "NodePort"] | None = Field(
        None, description="Gateway Service type; default ClusterIP for istio, LoadBalancer for agentgateway."
    )
    class_name: DnsSubdomain | None = Field(
        None, description="Override the GatewayClass (GKE: gke-l7-rilb for an internal load balancer)."
    )
    proxy_subnet_cidr: Ipv4Cidr | None = Field(
        None, description="GKE: the region's proxy-only subnet, allowed to reach workers and EPP."
    )
    network_policies: bool = Field(
        True, description="NetworkPolicies: ingress and egress for the workers, the EPP and the Jobs."
    )
    download_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="Where decode workers may open downloadPorts outside the cluster (model downloads). Default: "
        "everywhere except the cluster's own ranges where the stack knows them (GKE).",
    )
    download_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=lambda: [443], min_length=1, description="TCP ports of downloadCidrs (HTTPS: Hugging Face)."
    )


class Fabric(StrEnum):
    INFINIBAND = "infiniband"
    GKE_DRA = "gke-dra"
    GKE_MULTINETWORK = "gke-multinetwork"
    NONE = "none"


class RdmaConfig(CamelModel):
    fabric: Fabric = Fabric.INFINIBAND
    resource_name: str = Field("rdma/ib", description="Extended resource the RDMA device plugin advertises.")
    ucx_env: dict[EnvVarName, str] = Field(
        # No `tcp` in the transport list: a broken fabric then fails loudly instead of silently moving KV over TCP.
        default_factory=lambda: {"UCX_TLS": "rc,sm,self,cuda_copy,cuda_ipc"},
        description="UCX env for the vLLM container (NIXL's transport).",
    )
    ipc_lock: bool = Field(True, description="Add CAP_IPC_LOCK so RDMA memory registration can pin pages.")
    shared_device_plugin_shares: Annotated[int, Field(ge=1, le=1000)] = Field(
        63, description="rdmaHcaMax of the RDMA shared device plugin: pods per node that can share the HCAs."
    )

    @field_validator("resource_name")
    @classmethod
    def _extended_resource(cls, v: str) -> str:
        if not _EXTENDED_RESOURCE.match(v) or v.startswith("kubernetes.io/") or qualified_name_problem(v):
            raise ValueError(f"{v!r} is not an extended resource name; write it as domain/name, e.g. rdma/ib")
        return v


# --- cluster and its preparation ----------------------------------------------------------------------------------
class ChartVersions(CamelModel):
    istio: Version = "1.29.1"
    agentgateway: Version = "v1.0.0"
    kgateway_agentgateway: Version = "v2.2.1"
    gpu_operator: Version = "v25.3.4"
    nvidia_dra_driver: Version = Field(
        "25.12.0", description="nvidia-dra-driver-gpu (25.12 takes resourceApiVersion: client-side rendering)."
    )
    gpu_driver_installer_ref: CommitSha = Field(
        # 2026-06-09; nvidia-driver-installer/cos/daemonset-preloaded.yaml there is an apps/v1 DaemonSet, unchanged
        # since f2cf4197 (2025-07-02). catalog.GPU_DRIVER_INSTALLER_KINDS records what each known commit holds.
        "992db81257553607f1477945f1b3219632991829",
        description="Commit of GoogleCloudPlatform/container-engine-accelerators whose COS driver installer is used.",
    )
    network_operator: Version = "25.7.0"
    keda: Version = Field("2.20.2", description="KEDA chart (kedacore/charts), installed when a role autoscales.")


class ClusterPrepConfig(CamelModel):
    """Cluster singletons. Exactly one stack per cluster sets `enabled: true` and owns them."""

    enabled: bool = False
    crds: bool = Field(True, description="Gateway API and Inference Extension CRDs (retained on destroy).")
    gateway_control_plane: bool = Field(True, description="istiod / agentgateway via helm.v4.Chart.")
    gpu_operator: bool = Field(False, description="NVIDIA GPU Operator (InfiniBand clusters).")
    gpu_operator_driver: bool = Field(False, description="Let the GPU Operator install the driver (else host's).")
    network_operator: bool = Field(False, description="NVIDIA Network Operator + NicClusterPolicy (InfiniBand).")
    gpu_driver_installer: bool = Field(
        True, description="gke-dra: the pinned COS NVIDIA driver installer DaemonSet (the GPU pool's own is off)."
    )
    nvidia_dra_driver: bool = Field(True, description="gke-dra: the NVIDIA GPU DRA driver chart.")
    keda: bool | None = Field(
        None,
        description="KEDA (operator, metrics adapter and CRDs) for per-role autoscaling; default on when a pool of "
        "this stack autoscales.",
    )
    charts: ChartVersions = Field(default_factory=ChartVersions)


class CrdsConfig(CamelModel):
    gateway_api_version: Version = "v1.5.1"
    inference_extension_version: Version = Field(
        _DEFAULT_SET.inference_extension_version, description="Default: the release's."
    )
    istio_version: Version = "1.29.1"
    directory: Annotated[str, Field(min_length=1)] | None = Field(
        None, description=f"Local directory of CRD manifests instead of upstream URLs (or set ${CRDS_DIR_ENV})."
    )

    def effective_directory(self) -> str | None:
        return os.environ.get(CRDS_DIR_ENV) or self.directory


class ClusterKind(StrEnum):
    EXISTING = "existing"
    GKE = "gke"


MAX_CLUSTER_NODES = 65000
"""The largest cluster GKE supports (Kubernetes itself is tested to 5000 nodes)."""


class NodeGroup(CamelModel):
    """Nodes of an existing cluster, declared so preflight can check that the workers fit."""

    name: str
    count: Annotated[int, Field(ge=1, le=MAX_CLUSTER_NODES)] = Field(description="Nodes in the group.")
    gpus_per_node: NonNegativeInt32 = 8
    accelerator: str = Field("h200-141gb", description="A catalog accelerator (h100-80gb, h200-141gb, ...).")
    gpu_memory: NonNegativeQuantity | None = Field(
        None, description="GPU memory, for an accelerator the catalog lacks."
    )
    ephemeral_storage: NonNegativeQuantity | None = Field(
        None, description="Node storage for emptyDirs; default catalog's."
    )
    cpu: NonNegativeQuantity = "224"
    memory: NonNegativeQuantity = "2000Gi"
    rdma_shares: NonNegativeInt32 = Field(63, description="Count of the RDMA resource each node advertises.")


class GkeCapacity(StrEnum):
    RESERVATION = "reservation"
    """A specific reservation of the GPU machine type (the usual way to get A3 Ultra / A4)."""
    SPOT = "spot"
    FLEX_START = "flex-start"
    """Experimental here: GKE provisions when capacity frees up; the pool starts at 0 nodes."""


class ControlPlaneAccess(StrEnum):
    DNS = "dns"
    """The DNS-based endpoint, authorized by IAM: no IP allow-list for operators or CI runners."""
    AUTHORIZED_NETWORKS = "authorized-networks"
    """The IP endpoint, open to `authorizedNetworks` only."""


class GkeNetworkConfig(CamelModel):
    """Address ranges of the VPCs this stack creates (must not overlap each other or peered networks)."""

    subnet_cidr: Ipv4Cidr = Field("10.0.0.0/20", description="Primary subnet: node addresses.")
    pods_cidr: Ipv4Cidr = Field("10.4.0.0/14", description="Secondary range for pods.")
    services_cidr: Ipv4Cidr = Field("10.8.0.0/20", description="Secondary range for Services.")
    proxy_subnet_cidr: Ipv4Cidr = Field("10.129.0.0/23", description="Proxy-only subnet of the GKE gateway.")
    gvnic_cidr: Ipv4Cidr = Field("192.168.64.0/18", description="gke-multinetwork: the second gVNIC's subnet.")
    rdma_cidr: Ipv4Cidr = Field("192.168.128.0/18", description="gke-multinetwork: split into 8 RoCE subnets (/21).")
    mtu: int = Field(8896, ge=1300, le=8896, description="MTU of the VPCs (8896 recommended for A3 Ultra/A4).")


MAX_GKE_POOL_NODES = 15000
"""GKE's limit of nodes per cluster (Standard)."""
MAX_GCP_DISK_GB = 65536
"""The largest persistent disk GCP creates."""


class GkeSystemPool(CamelModel):
    """CPU nodes for the EPP and system pods (one zone, the GPU zone)."""

    machine_type: GcpResourceName = "e2-standard-8"
    node_count: Annotated[int, Field(ge=1, le=MAX_GKE_POOL_NODES)] = 2
    disk_size_gb: Annotated[int, Field(ge=10, le=MAX_GCP_DISK_GB)] = 100


class GkeGpuPool(CamelModel):
    machine_type: GcpResourceName = Field(
        "a3-ultragpu-8g", description="a3-ultragpu-8g (8x H200) or a4-highgpu-8g (8x B200)."
    )
    node_count: Annotated[int, Field(ge=1, le=MAX_GKE_POOL_NODES)] = Field(
        1, description="Fixed node count (no autoscaling of 8-GPU nodes)."
    )
    capacity: GkeCapacity = GkeCapacity.RESERVATION
    reservation: GcpReservation | None = Field(
        None,
        description="capacity reservation: the reservation name (or name/reservationBlocks/block), in the stack's "
        "project; a shared reservation as projects/<owner>/reservations/<name>[/reservationBlocks/<block>].",
    )
    boot_disk_size_gb: Annotated[int, Field(ge=10, le=MAX_GCP_DISK_GB)] = Field(
        200, description="hyperdisk-balanced boot disk (required on A3U/A4)."
    )
    local_ssd_ephemeral_storage: bool = Field(
        True, description="Put emptyDirs (each pod's ~75 GB checkpoint download) on the machine's local SSDs."
    )
    shared_model_cache: bool = Field(
        False,
        description="Legacy spelling of pools[].model.cache.mode: node (one node-level Hugging Face cache, a hostPath, "
        "shared by the node's workers); true makes node the default mode of every pool.",
    )
    protect: bool = Field(
        False,
        description="Pulumi `protect` on the GPU pool: an update that would replace it (and give up its reservation) "
        "fails instead; turn it off before `pulumi destroy`.",
    )


MIN_GKE_DRA_VERSION = "1.34.1-gke.1829001"
"""GKE managed DRANET needs at least this version (Standard clusters)."""


class GkeConfig(CamelModel):
    """The GKE cluster this stack creates (cluster.kind: gke)."""

    project: GcpProjectId | None = Field(None, description="GCP project id (required).")
    region: GcpRegion | None = Field(
        None, description="Region of the cluster and networks, e.g. us-central1 (required)."
    )
    zone: GcpZone | None = Field(
        None, description="Zone of the node pools, inside region, with the GPU capacity (and <zone>-vpc-roce)."
    )
    provision: bool = Field(
        True,
        description="false: the cluster exists (kubeconfig) and only its in-cluster part is deployed: drivers, "
        "claim templates, the serving stack.",
    )
    cluster_name: GcpResourceName | None = Field(None, description="Default: the prefix.")
    release_channel: Literal["RAPID", "REGULAR", "STABLE"] = "RAPID"
    min_version: str | None = Field(
        None,
        description="Floor for the control-plane version (min_master_version), e.g. 1.35; unset: the release "
        f"channel's default. gke-dra needs at least {MIN_GKE_DRA_VERSION}. A minor the channel has dropped fails "
        "cluster creation, so set it only when you need it.",
    )
    deletion_protection: bool = Field(
        False, description="GKE's deletion protection; true makes `pulumi destroy` fail until it is turned off."
    )
    control_plane_access: ControlPlaneAccess = ControlPlaneAccess.DNS
    authorized_networks: list[Cidr] = Field(
        default_factory=list, description="CIDRs allowed to the IP endpoint (authorized-networks access)."
    )
    network: GkeNetworkConfig = Field(default_factory=GkeNetworkConfig)
    system_pool: GkeSystemPool = Field(default_factory=GkeSystemPool)
    gpu_pool: GkeGpuPool = Field(default_factory=GkeGpuPool)

    @field_validator("project", "region", "zone", "cluster_name", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        return None if v == "" else v


class ClusterConfig(CamelModel):
    kind: ClusterKind = ClusterKind.EXISTING
    gke: GkeConfig = Field(default_factory=GkeConfig, description="cluster.kind gke: the cluster to create.")
    kubeconfig: str | None = Field(None, description="Path or contents; default: the ambient kubeconfig.")
    context: str | None = None
    kubernetes_version: str | None = Field(None, description="Server version of an existing cluster, e.g. 1.33.")
    render_directory: str | None = Field(
        None,
        description="Write manifests to this directory (relative to the project) instead of applying them; no "
        "cluster is contacted. Render mode writes Secrets in plain text, so it requires hfTokenSecretName.",
    )
    inventory: list[NodeGroup] = Field(default_factory=list)


class MonitoringBackend(StrEnum):
    PROMETHEUS_OPERATOR = "prometheus-operator"
    GMP = "gmp"
    """Google Cloud Managed Service for Prometheus (PodMonitoring)."""
    OFF = "off"


def _scrape_interval(v: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]{0,5}(ms|s|m)", v):
        raise ValueError(f"{v!r} is not a scrape interval; write a whole number of ms, s or m, e.g. 30s")
    return v


ScrapeInterval = Annotated[str, AfterValidator(_scrape_interval)]


def _query_url(v: str) -> str:
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?", v):
        raise ValueError(
            f"{v!r} is not a Prometheus query URL; write http(s)://host[:port][/path] without a query string, e.g. "
            "http://prometheus-operated.monitoring.svc:9090"
        )
    return v.rstrip("/")


class MonitoringConfig(CamelModel):
    backend: MonitoringBackend | None = Field(
        None, description="prometheus-operator | gmp | off; default gmp on GKE, off elsewhere (the CRDs must exist)."
    )
    interval: ScrapeInterval = Field("30s", description="Scrape interval.")
    namespace: DnsLabel | None = Field(
        None, description="Where the scrapers run (NetworkPolicies admit it); default monitoring / gmp-system."
    )
    query_url: Annotated[str, AfterValidator(_query_url)] | None = Field(
        None,
        description="Prometheus query endpoint the autoscaler (KEDA) reads, e.g. "
        "http://prometheus-operated.monitoring.svc:9090; default on gmp: the project's Managed Prometheus API "
        "(read with KEDA's Workload Identity); required for prometheus-operator when a role autoscales.",
    )

    def scraper_namespace(self, backend: MonitoringBackend) -> str:
        return self.namespace or ("gmp-system" if backend is MonitoringBackend.GMP else "monitoring")


class VerificationConfig(CamelModel):
    """An optional Job per pool that sends one completion through the gateway once the workers are Ready, and the P/D
    gate (components/specs/pd_gate.py): a Job per serving pool that fails `up` unless requests were really
    disaggregated and their KV cache really moved."""

    enabled: bool = False
    image: ImageRef = "docker.io/curlimages/curl:8.11.1"
    prompt: str = "Say hello in one short sentence."
    timeout_seconds: PositiveInt32 = 600
    gate: bool | None = Field(
        None, description="The P/D gate; default on, off for render stacks (nothing runs). The local demo sets false."
    )
    gate_requests: int = Field(8, ge=1, le=64, description="Long (disaggregated) requests the gate sends per pool.")
    gate_image: ImageRef | None = Field(
        None, description="Image with python3 and prometheus_client for the gate; default images.vllm (on GPU nodes)."
    )


class BenchmarkConfig(CamelModel):
    """An opt-in benchmark Job (components/specs/benchmark.py): inference-perf (kubernetes-sigs) against the gateway's
    in-cluster address after the P/D gate, its results in the Job's log (JSON) and in a ConfigMap; on GKE, with
    gcsBucket, also in a bucket. scripts/bench-report turns them into a table and plots."""

    enabled: bool = False
    image: ImageRef = Field(
        "quay.io/inference-perf/inference-perf:v0.7.0", description="inference-perf's release image (PyPI 0.7.0)."
    )
    pool: DnsLabel | None = Field(None, description="The pool to benchmark; default the first serving pool.")
    input_tokens: PositiveInt32 = Field(1000, description="Mean prompt length (ISL), tokens.")
    input_tokens_std_dev: NonNegativeInt32 = Field(0, description="Standard deviation of the prompt length.")
    output_tokens: PositiveInt32 = Field(200, description="Mean output length (OSL), tokens.")
    output_tokens_std_dev: NonNegativeInt32 = Field(0, description="Standard deviation of the output length.")
    rates: list[Annotated[float, Field(gt=0, le=10000)]] = Field(
        default_factory=lambda: [1.0], max_length=32, description="Request rates (req/s) to sweep, one stage each."
    )
    concurrency: list[PositiveInt32] = Field(
        default_factory=list, max_length=32, description="Concurrency levels to sweep instead of rates."
    )
    stage_seconds: Annotated[int, Field(ge=5, le=3600)] = Field(60, description="Duration of each rate stage.")
    requests_per_stage: PositiveInt32 = Field(100, description="Requests per concurrency stage.")
    tokenizer: str | None = Field(
        None, description="Hugging Face tokenizer inference-perf sizes prompts with; default the pool's model id."
    )
    gcs_bucket: GcpResourceName | None = Field(
        None, description="GKE: also write the reports to this bucket (the Job's Workload Identity must write it)."
    )
    timeout_seconds: PositiveInt32 | None = Field(
        None, description="How long `up` waits for the Job; default the sweep's length + 15 minutes."
    )

    @model_validator(mode="after")
    def _rates_or_concurrency(self) -> BenchmarkConfig:
        if self.concurrency and "rates" in self.model_fields_set:
            raise ValueError("set rates or concurrency, not both (concurrency replaces the rate sweep)")
        return self

    @property
    def stages(self) -> int:
        return len(self.concurrency) or len(self.rates)

    @property
    def wait_seconds(self) -> int:
        if self.timeout_seconds is not None:
            return self.timeout_seconds
        return self.stages * self.stage_seconds + 15 * 60


Minutes = Annotated[float, Field(ge=0, le=24 * 60)]
Throughput = Annotated[float, Field(gt=0, le=1e7)]


class EstimateConfig(CamelModel):
    """The step durations of the time-to-serve estimate (components/estimate.py, which says where each default comes
    from). Every figure is modeled, none measured: override one with what your project and network really do."""

    apis_minutes: Minutes = Field(1.5, description="GKE: enabling the project's APIs.")
    network_minutes: Minutes = Field(2, description="GKE: VPC, subnets, router and NAT, firewall, service account.")
    cluster_minutes: Minutes = Field(12, description="GKE: the regional Standard cluster, default pool removed.")
    system_pool_minutes: Minutes = Field(4, description="GKE: the CPU system pool.")
    gpu_pool_minutes: Minutes = Field(14, description="GKE: the GPU pool, after the system pool (one operation each).")
    drivers_minutes: Minutes = Field(5, description="GKE: driver installer and DRA driver on the GPU node.")
    image_pull_minutes: Minutes = Field(4, description="Pulling the vLLM image onto a node.")
    engine_start_minutes: Minutes = Field(3, description="vLLM after its weights are in GPU memory: CUDA graphs.")
    gateway_minutes: Minutes = Field(6, description="GKE: the Gateway until Programmed (its load balancer).")
    huggingface_mb_per_s: Throughput = Field(
        200, description="Download from the Hugging Face hub, MB/s, shared by concurrent downloads of one cluster."
    )
    bucket_mb_per_s: Throughput = Field(800, description="Download from a bucket in the region, MB/s.")
    local_disk_mb_per_s: Throughput = Field(2000, description="Reading weights from a node's local SSDs, MB/s.")
    volume_mb_per_s: Throughput = Field(
        2400, description="Reading weights from the model volume, MB/s, shared by every worker reading it."
    )
    stream_mb_per_s: Throughput = Field(1500, description="vLLM streaming weights from a bucket, MB/s per worker.")


class PreflightConfig(CamelModel):
    min_concurrent_sequences: PositiveInt32 = Field(
        2, description="Warn when a role's KV cache holds fewer full-length sequences than this."
    )
    runtime_overhead_per_gpu: NonNegativeQuantity = Field(
        "4Gi", description="GPU memory vLLM uses besides weights and KV cache (activations, CUDA graphs, NCCL)."
    )
    estimate: EstimateConfig = Field(default_factory=EstimateConfig, description="Durations of the estimate.")


# --- the stack ------------------------------------------------------------------------------------------------------
class StackConfig(CamelModel):
    release: str | None = Field(
        None,
        description="The llm-d release set (components/releases.py): images, CRD versions, flags, EPP config. "
        "Default: the newest; an existing stack pins the set it was deployed with until it upgrades.",
    )
    namespace: DnsLabel = "llm-d-pd"
    create_namespace: bool = Field(True, description="Create the namespace; false when it exists or is shared.")
    prefix: str = Field(
        "",
        validate_default=True,
        description="Default: the stack name (the validation context's `stack`), sanitised to a DNS-1035 label.",
    )
    pools: list[PoolConfig] = Field(default_factory=lambda: [PoolConfig()], min_length=1)
    images: ImagesConfig = Field(default_factory=ImagesConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    rdma: RdmaConfig = Field(default_factory=RdmaConfig)
    cluster_prep: ClusterPrepConfig = Field(default_factory=ClusterPrepConfig)
    crds: CrdsConfig = Field(default_factory=CrdsConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    preflight: PreflightConfig = Field(default_factory=PreflightConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    hf_token: bool = Field(False, description="Set when the secret `hfToken` exists; its value never enters here.")
    hf_token_secret_name: DnsSubdomain | None = None

    @field_validator("release")
    @classmethod
    def _known_release(cls, v: str | None) -> str | None:
        from components.releases import RELEASES

        if v is not None and v not in RELEASES:
            raise ValueError(f"{v!r} is not a release set; use one of {', '.join(RELEASES)}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        """A cluster kind's own defaults (GKE's), before any field is validated, so they read like the user's."""
        return _gke_defaults(data) if isinstance(data, dict) else data

    @field_validator("release", "hf_token_secret_name", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        """Pulumi.yaml declares string keys with the default "" (a declared key without a default is required)."""
        return None if v == "" else v

    @field_validator("prefix", mode="before")
    @classmethod
    def _unset_prefix(cls, v: Any) -> Any:
        return "" if v is None else v

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str, info: ValidationInfo) -> str:
        """Unset: the stack's name (load_config passes it as the context), sanitised; the same for every stack."""
        if not v:
            return sanitize_prefix(str((info.context or {}).get(STACK_CONTEXT, "")))
        if not DNS_1035_LABEL_RE.match(v) or len(v) > MAX_PREFIX_LEN:
            raise ValueError(
                f"{v!r} is not a DNS-1035 label of at most {MAX_PREFIX_LEN} characters; "
                "use a leading letter, then lower-case letters, digits and '-'"
            )
        return v

    @field_validator("pools")
    @classmethod
    def _unique_pools(cls, v: list[PoolConfig]) -> list[PoolConfig]:
        names = [p.name for p in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pool names must be unique; rename the duplicates: {', '.join(dupes)}")
        matches = [(p.route.path_prefix, tuple(sorted(p.route.headers.items()))) for p in v if p.serve]
        if len(set(matches)) != len(matches):
            raise ValueError(
                "two serving pools have the same route match; give each its own route.pathPrefix/headers, or set "
                "serve: false on the one not taking traffic yet (blue-green cutover)"
            )
        if not any(p.serve for p in v):
            raise ValueError("no pool has serve: true; the route would have no rule")
        return v

    @property
    def autoscales(self) -> bool:
        return any(rc.autoscaling is not None for p in self.pools for rc in (p.prefill, p.decode))

    @property
    def installs_keda(self) -> bool:
        """This stack owns the cluster's singletons and KEDA is asked for (or needed)."""
        prep = self.cluster_prep
        return prep.enabled and (prep.keda if prep.keda is not None else self.autoscales)

    @property
    def monitoring_backend(self) -> MonitoringBackend:
        if self.monitoring.backend is not None:
            return self.monitoring.backend
        return MonitoringBackend.GMP if self.cluster.kind is ClusterKind.GKE else MonitoringBackend.OFF

    @model_validator(mode="after")
    def _exactly_one_token_source(self) -> StackConfig:
        if self.hf_token == bool(self.hf_token_secret_name):
            which = "both are set" if self.hf_token else "neither is set"
            raise ValueError(
                f"{PROJECT}:hfToken / {PROJECT}:hfTokenSecretName: {which}; set exactly one: "
                "`pulumi config set --secret hfToken <token>` or `pulumi config set hfTokenSecretName <secret>`"
            )
        return self


class ConfigError(Exception):
    """Invalid stack configuration; `problems` holds one message per problem, each naming its key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def _key_path(loc: tuple[Any, ...]) -> str:
    path = PROJECT
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += (":" if i == 0 else ".") + str(part)
    return path


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or inside Optional/list/dict."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The keys allowed at `loc` (the parent of an unknown key), by walking the model's fields."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None:
            return None
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return None
        current = _model_in(field.annotation)
    return [f.alias or n for n, f in current.model_fields.items()] if current is not None else None


_EXPECTED = {
    "dict_type": "an object (key: value pairs)",
    "model_type": "an object (key: value pairs)",
    "model_attributes_type": "an object (key: value pairs)",
    "list_type": "a list",
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_unicode": "a string",
    "int_parsing_size": "a whole number of sensible size",
}
"""What each of pydantic's type errors expected, in the config's words."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _what(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    return _shown(value)


def _describe(err: Any) -> str:
    """One of pydantic's errors in the config's words: the key, what is expected, the fix; never a class name."""
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if not err["loc"]:  # model-level checks name their keys themselves
        return msg
    # Annotated types add non-key entries (function-after[...]) to loc; a dict key's error ends in "[key]".
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    on_key = bool(loc) and loc[-1] == "[key]"
    loc = tuple(p for p in loc if p != "[key]")
    key = _key_path(loc)
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(StackConfig, loc[:-1])
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"{key}: unknown key; remove or rename it{hint}"
    if kind == "missing":
        return f"{key}: required here; set it"
    if kind in _EXPECTED:
        what = "key" if on_key else "value"
        fix = f"write it as {_EXPECTED[kind]}"
        if kind in ("dict_type", "model_type", "model_attributes_type"):
            allowed = _allowed_keys(StackConfig, loc)
            fix += f" with the keys {', '.join(allowed)}" if allowed else ""
        elif kind == "list_type":
            fix += " ([item, ...] in JSON, or one `- item` per line in YAML)"
        return f"{key}: expected {_EXPECTED[kind]}, got {_what(value)} as its {what}; {fix}"
    if kind in ("enum", "literal_error"):
        return f"{key}: got {_shown(value)}; use {ctx.get('expected', 'one of the documented values')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
        words = {"greater_than_equal": "greater than or equal to", "greater_than": "greater than",
                 "less_than_equal": "less than or equal to", "less_than": "less than"}[kind]  # fmt: skip
        why = " (Kubernetes stores it as a 32-bit integer)" if bound == 2**31 - 1 else ""
        fix = "raise it" if kind.startswith("greater") else "lower it"
        return f"{key}: must be {words} {bound}{why}; got {_shown(value)}, {fix}"
    if kind in ("too_short", "too_long", "string_too_short", "string_too_long"):
        unit = "characters" if kind.startswith("string") else "items"
        if kind.endswith("short"):
            return f"{key}: needs at least {ctx.get('min_length')} {unit}; add some"
        return f"{key}: takes at most {ctx.get('max_length')} {unit}; remove some"
    if kind == "string_pattern_mismatch":
        return f"{key}: {_shown(value)} does not have the expected form ({ctx.get('pattern')}); correct it"
    if kind in ("value_error", "assertion_error"):
        return f"{key}: {msg}"
    # Anything else: pydantic's words, with its class names and phrasing taken out.
    msg = re.sub(r"\b(a valid \w+ or )?instance of \w+", "the documented shape", msg)
    return f"{key}: {msg.replace('Input should be', 'expected')} (got {_what(value)}); correct it"


def load_config(raw: dict[str, Any], stack_name: str) -> StackConfig:
    """Validate the project's config (keys without the `llm-d-pd:` namespace) or raise ConfigError."""
    try:
        cfg = StackConfig.model_validate(raw, context={STACK_CONTEXT: stack_name})
    except ValidationError as e:
        raise ConfigError([_describe(err) for err in e.errors()]) from None
    if cfg.cluster.kind is ClusterKind.GKE:
        cfg = _with_gke_facts(cfg)
    return _with_release(_with_cache_modes(cfg))


def _filled(model: Any, /, **values: Any) -> Any:
    """`model` with these values, keeping which keys the user set (preflight tells defaults from overrides)."""
    return type(model).model_construct(_fields_set=set(model.model_fields_set), **{**dict(model), **values})


PER_POD_RELEASES = ("llm-d-v0.6",)
"""Stacks pinned to a release set from before cache modes keep per-pod as their GKE default, so they preview with no
change until they upgrade (tests/unit/test_releases.py pins what llm-d-v0.6 builds); newer sets default to volume."""
VOLUME_SYSTEM_MACHINE_TYPE = "c3-standard-8"
"""The system pool's default machine type when a model volume is filled on it (cache mode volume on a GKE cluster this
stack creates): the populate Job writes the Hyperdisk ML volume from there, and Hyperdisk ML attaches only to some
machine series (catalog.HYPERDISK_ML_MACHINE_SERIES), C3 among them and E2 not."""


def _with_cache_modes(cfg: StackConfig) -> StackConfig:
    """Each pool's cache mode, filled where unset: node while the legacy gpuPool.sharedModelCache is true, volume on a
    GKE cluster this stack creates (it knows the storage: Hyperdisk ML), per-pod elsewhere. With a volume on such a
    cluster, the system pool's default machine type becomes one that can attach it."""
    gke = cfg.cluster.gke
    on_gke = cfg.cluster.kind is ClusterKind.GKE
    legacy = on_gke and gke.gpu_pool.shared_model_cache
    volume_default = on_gke and gke.provision and cfg.release not in PER_POD_RELEASES
    problems, pools = [], []
    for i, pool in enumerate(cfg.pools):
        cache = pool.model.cache
        mode = cache.mode
        if mode is None:
            mode = CacheMode.NODE if legacy else CacheMode.VOLUME if volume_default else CacheMode.PER_POD
        elif legacy and mode is not CacheMode.NODE:
            problems.append(
                f"{PROJECT}:cluster.gke.gpuPool.sharedModelCache: true is the legacy spelling of "
                f"pools[].model.cache.mode: node, but pools[{i}].model.cache.mode is {mode.value}; remove "
                "sharedModelCache and set pools[].model.cache.mode: node on the pools that should use the node cache"
            )
        pools.append(_filled(pool, model=_filled(pool.model, cache=_filled(cache, mode=mode))))
    if problems:
        raise ConfigError(problems)
    update: dict[str, Any] = {"pools": pools}
    volume = any(p.model.cache.mode is CacheMode.VOLUME for p in pools)
    if on_gke and gke.provision and volume and "machine_type" not in gke.system_pool.model_fields_set:
        system = _filled(gke.system_pool, machine_type=VOLUME_SYSTEM_MACHINE_TYPE)
        update["cluster"] = _filled(cfg.cluster, gke=_filled(gke, system_pool=system))
    return _filled(cfg, **update)


def _with_release(cfg: StackConfig) -> StackConfig:
    """Fill every release-dependent default from the stack's release set."""
    from components import catalog
    from components.releases import release

    rel = release(cfg.release)

    def unset(model: BaseModel, name: str) -> bool:
        return name not in model.model_fields_set

    img = cfg.images
    images = _filled(
        img,
        vllm=rel.vllm_image if unset(img, "vllm") else img.vllm,
        epp=rel.epp_image if unset(img, "epp") else img.epp,
        sidecar=rel.sidecar_image if unset(img, "sidecar") else img.sidecar,
    )
    ie = cfg.crds.inference_extension_version
    crds = _filled(
        cfg.crds,
        inference_extension_version=rel.inference_extension_version
        if unset(cfg.crds, "inference_extension_version")
        else ie,
    )
    accelerator = next((g.accelerator for g in cfg.cluster.inventory if g.gpus_per_node), None)
    pools = []
    stack_rel = rel
    for pool in cfg.pools:
        rel = release(pool.release or stack_rel.name)
        sc = pool.sidecar
        ssrf = rel.sidecar.ssrf_allowlist_works if unset(sc, "ssrf_protection") else sc.ssrf_protection
        retries = rel.prefill_max_retries if sc.prefill_max_retries is None else sc.prefill_max_retries
        sidecar = _filled(sc, ssrf_protection=ssrf, prefill_max_retries=retries)
        sidecar._release = rel.name
        sched = pool.scheduling
        peak = sched.peak_prefill_throughput
        if peak is None and rel.epp.token_routing and accelerator is not None:
            measured = catalog.PEAK_PREFILL_THROUGHPUT.get(
                (pool.model.id, accelerator, pool.prefill.tensor_parallelism)
            )
            peak = measured.tokens_per_s if measured else None
        prompt_tokens = sched.prompt_tokens if sched.prompt_tokens is not None else 0
        scheduling = _filled(sched, peak_prefill_throughput=peak, prompt_tokens=prompt_tokens)
        pools.append(_filled(pool, sidecar=sidecar, scheduling=scheduling, release=rel.name))
    return _filled(cfg, release=stack_rel.name, images=images, crds=crds, pools=pools)


def pool_images(cfg: StackConfig, pool: PoolConfig) -> ImagesConfig:
    """The images of a pool: the stack's, or those of the release set the pool is pinned to."""
    from components.releases import release

    if pool.release in (None, cfg.release):
        return cfg.images
    rel = release(pool.release)
    return cfg.images.model_copy(update={"vllm": rel.vllm_image, "epp": rel.epp_image, "sidecar": rel.sidecar_image})


def _gke_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """GKE's defaults where they differ from an existing cluster's: fabric gke-dra, gateway gke, no CRDs or
    gateway control plane to install."""
    cluster = raw.get("cluster")
    if not (isinstance(cluster, dict) and cluster.get("kind") == ClusterKind.GKE.value):
        return raw
    raw = dict(raw)
    for key, field_, value in (
        ("rdma", "fabric", Fabric.GKE_DRA.value),
        ("gateway", "provider", GatewayProvider.GKE.value),
        # GKE manages the Gateway API and Inference Extension CRDs and runs the gateway itself.
        ("clusterPrep", "enabled", True),  # the stack that creates the cluster owns its singletons
        ("clusterPrep", "crds", False),
        ("clusterPrep", "gatewayControlPlane", False),
    ):
        section = raw.get(key)
        if section is not None and not isinstance(section, dict):
            continue  # a section of the wrong shape is reported by the model, not silently replaced
        section = dict(section or {})
        section.setdefault(field_, value)
        raw[key] = section
    return raw


def _with_gke_facts(cfg: StackConfig) -> StackConfig:
    """What preflight needs to know of a cluster this stack creates: its GPU nodes and its minimum version."""
    from components.catalog import GKE_GPU_MACHINES  # the catalog imports nothing from here; avoid a cycle anyway

    gke = cfg.cluster.gke
    update: dict[str, Any] = {}
    if cfg.cluster.kubernetes_version is None:
        # Unset minVersion: the channel's default, which for gke-dra preflight requires to be at least the floor.
        floor = MIN_GKE_DRA_VERSION if cfg.rdma.fabric is Fabric.GKE_DRA else None
        update["kubernetes_version"] = gke.min_version or floor
    pool = gke.gpu_pool
    machine = GKE_GPU_MACHINES.get(pool.machine_type)
    if not cfg.cluster.inventory and gke.provision and machine is not None:
        update["inventory"] = [
            NodeGroup(
                name="gpu-pool",
                count=gke.gpu_pool.node_count,
                gpus_per_node=8,
                accelerator=machine.accelerator,
                rdma_shares=0,
                # Without local SSDs, emptyDirs live on the boot disk.
                ephemeral_storage=None if pool.local_ssd_ephemeral_storage else f"{pool.boot_disk_size_gb}G",
            )
        ]
    top: dict[str, Any] = {}
    if update:
        top["cluster"] = cfg.cluster.model_copy(update=update)
    if gke.provision and cfg.gateway.proxy_subnet_cidr is None:
        top["gateway"] = cfg.gateway.model_copy(update={"proxy_subnet_cidr": gke.network.proxy_subnet_cidr})
    return cfg.model_copy(update=top) if top else cfg
