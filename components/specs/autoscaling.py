"""Per-role autoscaling with KEDA: one ScaledObject per autoscaled role, its Prometheus trigger reading the role's
own signal from the stack's metrics backend.

KEDA (kedacore/keda v2.20.2) turns each ScaledObject into an HPA (`keda-hpa-<name>`) on an external metric its
metrics adapter serves; the HPA controller then sets the Deployment's replicas, which Pulumi leaves alone
(components/model_service.py ignores `spec.replicas` of an autoscaled role).

Field names: ScaledObjectSpec in apis/keda/v1alpha1/scaledobject_types.go; the prometheus trigger's metadata
(serverAddress, query, threshold, activationThreshold, authModes) in pkg/scalers/prometheus_scaler.go
(prometheusMetadata); TriggerAuthentication's podIdentity in apis/keda/v1alpha1/triggerauthentication_types.go;
all at kedacore/keda v2.20.2. The CRDs of that release (../shared/crds/keda-v2.20.2) validate them in the tests.
"""

from __future__ import annotations

from typing import Any

from components.config import (
    DECODE_SIGNALS,
    AutoscalingConfig,
    MonitoringBackend,
    PdRatio,
    PoolConfig,
    ScaleSignal,
    StackConfig,
)
from components.specs.names import PoolNames
from components.specs.wiring import Role

KEDA_API = "keda.sh/v1alpha1"
KEDA_NAMESPACE = "keda"
"""Where the KEDA chart runs the operator (its ServiceAccount `keda-operator` holds the GCP identity on GKE)."""
KEDA_OPERATOR_SA = "keda-operator"
GMP_QUERY_URL = "https://monitoring.googleapis.com/v1/projects/{project}/location/global/prometheus"
"""Managed Service for Prometheus' Prometheus-compatible query endpoint (Cloud Monitoring API), read with the KEDA
operator's Workload Identity (roles/monitoring.viewer)."""
GMP_READER_ROLE = "roles/monitoring.viewer"

# Metric names at the pinned versions. vLLM: vllm/v1/metrics/loggers.py (PrometheusStatLogger) of vLLM v0.26.0
# (the llm-d-cuda v0.9.0 image) and v0.17.1 (llm-d-cuda v0.6.x): num_requests_waiting, num_requests_running,
# kv_cache_usage_perc (gpu_cache_usage_perc is gone at both) and the time_to_first_token_seconds histogram; the
# llm-d-router v0.10.0 EPP reads the first three by these names (pkg/epp/server/options.go).
VLLM_WAITING = "vllm:num_requests_waiting"
VLLM_RUNNING = "vllm:num_requests_running"
VLLM_KV_USAGE = "vllm:kv_cache_usage_perc"
VLLM_TTFT_BUCKET = "vllm:time_to_first_token_seconds_bucket"
# The EPP's pool-wide average model-server queue, labelled `name` (the InferencePool): llm-d-router v0.10.0 emits
# llm_d_epp_average_queue_size (pkg/epp/metrics/llm_d_router_metrics.go) and, deprecated, the GAIE name
# inference_pool_average_queue_size (pkg/epp/metrics/metrics.go), which is all GAIE v1.4.0's EPP emits
# (pkg/epp/metrics/metrics.go). The query takes the first that exists, so pools of both release sets scale.
EPP_QUEUE = "llm_d_epp_average_queue_size"
EPP_QUEUE_LEGACY = "inference_pool_average_queue_size"
TTFT_QUANTILE = 0.9
RATE_WINDOW_S = 120
RATE_WINDOW = f"{RATE_WINDOW_S}s"

PER_REPLICA = "AverageValue"
"""The metric is a total across the role; the HPA wants ceil(total / target) replicas."""
ABSOLUTE = "Value"
"""The metric is a level (a latency); the HPA scales replicas by metric / target."""


def signal(role: Role, auto: AutoscalingConfig) -> ScaleSignal:
    if auto.signal is not None:
        return auto.signal
    return ScaleSignal.WAITING_REQUESTS if role is Role.PREFILL else DECODE_SIGNALS[0]


def pod_matcher(names: PoolNames, role: Role) -> str:
    """PromQL label matchers for the pods of one role: the scrapers of both backends label each sample with its
    pod's `namespace` and `pod`, and a Deployment's pods are named <deployment>-<replicaset hash>-<suffix>."""
    return f'namespace="{names.install.namespace}",pod=~"{names.worker(role)}-[a-z0-9]+-[a-z0-9]+"'


def query(names: PoolNames, role: Role, sig: ScaleSignal) -> str:
    """The PromQL of one signal, summed over the role (or its p90, for TTFT)."""
    pods = pod_matcher(names, role)
    if sig is ScaleSignal.WAITING_REQUESTS:
        return f"sum({VLLM_WAITING}{{{pods}}})"
    if sig is ScaleSignal.RUNNING_REQUESTS:
        return f"sum({VLLM_RUNNING}{{{pods}}})"
    if sig is ScaleSignal.KV_CACHE_USAGE:
        return f"sum({VLLM_KV_USAGE}{{{pods}}})"
    if sig is ScaleSignal.TTFT:
        return f"histogram_quantile({TTFT_QUANTILE}, sum by (le) (rate({VLLM_TTFT_BUCKET}{{{pods}}}[{RATE_WINDOW}])))"
    pool = f'namespace="{names.install.namespace}",name="{names.inference_pool}"'
    return f"max({EPP_QUEUE}{{{pool}}} or {EPP_QUEUE_LEGACY}{{{pool}}})"


def metric_type(sig: ScaleSignal) -> str:
    """Levels (a latency, an average queue per model server) scale by level / target; totals by total / target."""
    return ABSOLUTE if sig in (ScaleSignal.TTFT, ScaleSignal.EPP_QUEUE) else PER_REPLICA


def query_url(cfg: StackConfig) -> str | None:
    """The Prometheus query endpoint KEDA reads: `monitoring.queryUrl`, else GMP's for the stack's project."""
    if cfg.monitoring.query_url:
        return cfg.monitoring.query_url
    if cfg.monitoring_backend is MonitoringBackend.GMP and cfg.cluster.gke.project:
        return GMP_QUERY_URL.format(project=cfg.cluster.gke.project)
    return None


def uses_gcp_identity(cfg: StackConfig) -> bool:
    return cfg.monitoring_backend is MonitoringBackend.GMP and not cfg.monitoring.query_url


def trigger_authentication_name(names: PoolNames) -> str:
    return f"{names.inference_pool}-keda-gcp"


def trigger_authentication(names: PoolNames) -> dict[str, Any]:
    """GMP: the prometheus trigger authenticates as the KEDA operator's Workload Identity."""
    return {
        "apiVersion": KEDA_API,
        "kind": "TriggerAuthentication",
        "metadata": {
            "name": trigger_authentication_name(names),
            "namespace": names.install.namespace,
            "labels": names.install.common_labels(),
        },
        "spec": {"podIdentity": {"provider": "gcp"}},
    }


def autoscaled_roles(pool: PoolConfig) -> list[tuple[Role, AutoscalingConfig]]:
    return [
        (role, rc.autoscaling)
        for role, rc in ((Role.PREFILL, pool.prefill), (Role.DECODE, pool.decode))
        if rc.autoscaling is not None
    ]


def _number(x: float) -> str:
    """KEDA reads threshold as a string that parses as a float."""
    return f"{x:g}"


def trigger_name(sig: ScaleSignal) -> str:
    """A trigger's name is a variable of the scalingModifiers formula (expr-lang): no '-'."""
    return sig.value.replace("-", "_")


def other_pods_name(role: Role) -> str:
    return f"{other(role).value}_pods"


def other(role: Role) -> Role:
    return Role.DECODE if role is Role.PREFILL else Role.PREFILL


def ratio_formula(role: Role, sig: ScaleSignal, target: float, ratio: PdRatio) -> str:
    """The role's signal clamped so that prefill pods per decode pod stay within `ratio`, given the other role's pod
    count: with an AverageValue target T the HPA wants ceil(formula / T) replicas, so a bound of n pods is n * T.
    KEDA evaluates the formula (advanced.scalingModifiers, pkg/scaling/modifiers/formula.go at v2.20.2) with
    expr-lang, whose builtins include min and max (expr-lang/expr v1.17.8 builtin/builtin.go)."""
    f, n, t = trigger_name(sig), other_pods_name(role), _number(target)
    if role is Role.PREFILL:
        upper = f"{n} * {_number(ratio.max)} * {t}" if ratio.max is not None else None
        lower = f"{n} * {_number(ratio.min)} * {t}" if ratio.min is not None else None
    else:
        upper = f"{n} / {_number(ratio.min)} * {t}" if ratio.min is not None else None
        lower = f"{n} / {_number(ratio.max)} * {t}" if ratio.max is not None else None
    if upper is not None:
        f = f"min({f}, {upper})"
    if lower is not None:
        f = f"max({f}, {lower})"
    return f


def scaled_object(names: PoolNames, pool: PoolConfig, role: Role, cfg: StackConfig) -> dict[str, Any]:
    auto = pool.prefill.autoscaling if role is Role.PREFILL else pool.decode.autoscaling
    assert auto is not None
    url = query_url(cfg)
    assert url is not None  # preflight refuses autoscaling without a query endpoint
    sig = signal(role, auto)
    trigger: dict[str, Any] = {
        "type": "prometheus",
        "name": trigger_name(sig),
        "metricType": metric_type(sig),
        "metadata": {
            "serverAddress": url,
            "query": query(names, role, sig),
            "threshold": _number(auto.target_value(sig)),
        },
    }
    if uses_gcp_identity(cfg):
        trigger["authenticationRef"] = {"name": trigger_authentication_name(names)}
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": names.worker(role)},
        "minReplicaCount": auto.min_replicas,
        "maxReplicaCount": auto.max_replicas,
        "pollingInterval": auto.polling_interval_seconds,
        "cooldownPeriod": auto.cooldown_seconds,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": auto.scale_down_stabilization_seconds}}
            }
        },
        "triggers": [trigger],
    }
    if pool.pd_ratio is not None:
        # The other role's pods, counted by KEDA's kubernetes-workload scaler (podSelector, value: pkg/scalers/
        # kubernetes_workload_scaler.go at v2.20.2); the formula then replaces both triggers' metrics with one.
        selector = ",".join(f"{k}={v}" for k, v in names.worker_selector(other(role)).items())
        spec["triggers"].append(
            {
                "type": "kubernetes-workload",
                "name": other_pods_name(role),
                "metadata": {"podSelector": selector, "value": "1"},
            }
        )
        spec["advanced"]["scalingModifiers"] = {
            "formula": ratio_formula(role, sig, auto.target_value(sig), pool.pd_ratio),
            "target": _number(auto.target_value(sig)),
            "metricType": PER_REPLICA,
        }
    return {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": {
            "name": names.worker(role),
            "namespace": names.install.namespace,
            "labels": names.worker_labels(role, pool.model.id),
        },
        "spec": spec,
    }


def role_scaled_object(names: PoolNames, pool: PoolConfig, role: Role, cfg: StackConfig) -> dict[str, Any] | None:
    """The role's ScaledObject, or None when it has fixed replicas."""
    rc = pool.prefill if role is Role.PREFILL else pool.decode
    return scaled_object(names, pool, role, cfg) if rc.autoscaling is not None else None


def pool_authentications(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> list[dict[str, Any]]:
    """What the pool's triggers authenticate with: on GMP the TriggerAuthentication, when a role autoscales."""
    return [trigger_authentication(names)] if autoscaled_roles(pool) and uses_gcp_identity(cfg) else []


def keda_workload_identity_member(project: str, project_number: str) -> str:
    """The KEDA operator's Kubernetes ServiceAccount as an IAM principal (Workload Identity Federation for GKE)."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/workloadIdentityPools/"
        f"{project}.svc.id.goog/subject/ns/{KEDA_NAMESPACE}/sa/{KEDA_OPERATOR_SA}"
    )
