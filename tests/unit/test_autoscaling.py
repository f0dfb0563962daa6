"""Per-role autoscaling (components/specs/autoscaling.py): one KEDA ScaledObject per autoscaled role with its own
signal and bounds, valid against KEDA v2.20.2's CRDs; the Deployment's replicas left to the autoscaler; KEDA
installed by the stack that owns the cluster's singletons; preflight refusing what cannot work."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components import preflight
from components.config import DECODE_SIGNALS, PREFILL_SIGNALS, ConfigError, PdRatio, ScaleSignal, load_config
from components.specs import autoscaling, charts
from components.specs.names import InstallNames
from components.specs.wiring import Role
from tests.harness import GKE_CLUSTER, Recorder, run_program
from tests.unit.test_schemas import kubernetes_objects
from tests.validation import validate_object

TOKEN = {"hfToken": "hf_not_a_real_token"}
KEDA_CRDS = ("keda-v2.20.2",)
PROM = {"backend": "prometheus-operator", "queryUrl": "http://prometheus-operated.monitoring.svc:9090"}
TWO_NODES = {"inventory": [{"name": "gpu", "count": 2, "gpusPerNode": 8, "accelerator": "h200-141gb"}]}
SCALED = {
    "monitoring": PROM,
    "cluster": TWO_NODES,
    "clusterPrep": {"enabled": True, "gatewayControlPlane": False},
    "pools": [
        {
            "prefill": {"autoscaling": {"minReplicas": 2, "maxReplicas": 8, "scaleDownStabilizationSeconds": 30}},
            "decode": {"autoscaling": {"maxReplicas": 2, "target": 0.7}},
        }
    ],
}


def scaled_objects(rec: Recorder) -> dict[str, dict[str, Any]]:
    return {
        o["spec"]["scaleTargetRef"]["name"]: o for o in kubernetes_objects(rec.resources) if o["kind"] == "ScaledObject"
    }


def test_a_scaled_object_per_role_with_its_bounds_signal_and_target() -> None:
    rec = run_program(SCALED, secrets=TOKEN)
    objs = scaled_objects(rec)
    assert set(objs) == {"ib-llama-prefill", "ib-llama-decode"}
    prefill, decode = objs["ib-llama-prefill"]["spec"], objs["ib-llama-decode"]["spec"]
    assert (prefill["minReplicaCount"], prefill["maxReplicaCount"]) == (2, 8)
    assert (decode["minReplicaCount"], decode["maxReplicaCount"]) == (1, 2)
    assert prefill["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ib-llama-prefill"}
    assert prefill["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 30
    }
    (pt,), (dt,) = prefill["triggers"], decode["triggers"]
    assert pt["type"] == dt["type"] == "prometheus"
    assert pt["metadata"]["serverAddress"] == PROM["queryUrl"]
    assert pt["name"] == "waiting_requests" and pt["metricType"] == "AverageValue"
    assert pt["metadata"]["query"] == (
        'sum(vllm:num_requests_waiting{namespace="llm-d-pd",pod=~"ib-llama-prefill-[a-z0-9]+-[a-z0-9]+"})'
    )
    assert pt["metadata"]["threshold"] == "4"
    assert dt["name"] == "kv_cache_usage" and dt["metadata"]["threshold"] == "0.7"
    assert "ib-llama-decode-" in dt["metadata"]["query"] and "prefill" not in dt["metadata"]["query"]
    for o in objs.values():
        validate_object(o, KEDA_CRDS)


def test_the_deployment_starts_at_min_replicas_and_pulumi_leaves_replicas_to_the_autoscaler() -> None:
    rec = run_program(SCALED, secrets=TOKEN)
    deployments = {r.inputs["metadata"]["name"]: r for r in rec.of_type("kubernetes:apps/v1:Deployment")}
    prefill, decode = deployments["ib-llama-prefill"], deployments["ib-llama-decode"]
    assert prefill.inputs["spec"]["replicas"] == 2 and decode.inputs["spec"]["replicas"] == 1
    assert prefill.ignore_changes == ["spec.replicas"] and decode.ignore_changes == ["spec.replicas"]
    for so in rec.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject"):
        target = deployments[so.inputs["spec"]["scaleTargetRef"]["name"]]
        assert rec.depends_on(so, target), "KEDA needs its target Deployment"


def test_fixed_roles_keep_their_replicas_and_get_no_scaled_object() -> None:
    config = {**SCALED, "pools": [{"prefill": {"autoscaling": {"maxReplicas": 6}}}]}
    rec = run_program(config, secrets=TOKEN)
    assert set(scaled_objects(rec)) == {"ib-llama-prefill"}
    decode = next(r for r in rec.of_type("kubernetes:apps/v1:Deployment") if r.name.endswith("decode-deployment"))
    assert decode.ignore_changes == [] and decode.inputs["spec"]["replicas"] == 1
    plain = run_program({"clusterPrep": {"enabled": True}}, secrets=TOKEN)
    assert not plain.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert not [r for r in plain.resources if r.name == "keda"], "no KEDA chart unless something autoscales"


def test_keda_chart_installed_by_the_stack_that_owns_the_singletons() -> None:
    rec = run_program(SCALED, secrets=TOKEN)
    chart = rec.one("kubernetes:helm.sh/v4:Chart", "keda")
    assert chart.inputs["chart"] == "keda" and chart.inputs["version"] == "2.20.2"
    assert chart.inputs["repositoryOpts"]["repo"] == charts.KEDA_REPO
    assert chart.inputs["values"]["serviceAccount"]["operator"]["name"] == autoscaling.KEDA_OPERATOR_SA
    assert chart.inputs["namespace"] == autoscaling.KEDA_NAMESPACE
    serving_only = run_program({**SCALED, "clusterPrep": {"enabled": False}}, secrets=TOKEN)
    assert not [r for r in serving_only.resources if r.name == "keda"]
    assert serving_only.of_type("kubernetes:keda.sh/v1alpha1:ScaledObject")


def test_gke_reads_managed_prometheus_as_the_keda_operator_workload_identity() -> None:
    config = {
        "cluster": GKE_CLUSTER,
        "pools": [{"prefill": {"autoscaling": {"maxReplicas": 4, "signal": "ttft", "target": 1.5}}}],
    }
    rec = run_program(config, secrets=TOKEN, stack="gke")
    (so,) = scaled_objects(rec).values()
    (trigger,) = so["spec"]["triggers"]
    assert trigger["metadata"]["serverAddress"] == (
        "https://monitoring.googleapis.com/v1/projects/my-project/location/global/prometheus"
    )
    assert trigger["metricType"] == "Value" and trigger["metadata"]["query"].startswith("histogram_quantile(0.9, ")
    auth = next(o for o in kubernetes_objects(rec.resources) if o["kind"] == "TriggerAuthentication")
    assert auth["spec"] == {"podIdentity": {"provider": "gcp"}}
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}
    validate_object(auth, KEDA_CRDS)
    grant = rec.one("gcp:projects/iAMMember:IAMMember", "gke-keda-monitoring-viewer")
    assert grant.inputs["role"] == "roles/monitoring.viewer"
    assert grant.inputs["member"] == (
        "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/"
        "my-project.svc.id.goog/subject/ns/keda/sa/keda-operator"
    )
    chart = rec.one("kubernetes:helm.sh/v4:Chart", "keda")
    system_pool = next(r for r in rec.of_type("gcp:container/nodePool:NodePool") if r.name.endswith("system"))
    gpu_pool = next(r for r in rec.of_type("gcp:container/nodePool:NodePool") if r.name.endswith("gpu"))
    assert rec.depends_on(chart, system_pool) and not rec.depends_on(chart, gpu_pool)
    scaled = rec.one("kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert rec.depends_on(scaled, chart), "the ScaledObject's CRD comes with the chart"


# --- the queries ------------------------------------------------------------------------------------------------------
NAMES = InstallNames("p", "ns", None).pool("llama")


@pytest.mark.parametrize(
    ("role", "signal", "metric", "kind"),
    [
        (Role.PREFILL, ScaleSignal.WAITING_REQUESTS, autoscaling.VLLM_WAITING, "AverageValue"),
        (Role.PREFILL, ScaleSignal.TTFT, autoscaling.VLLM_TTFT_BUCKET, "Value"),
        (Role.PREFILL, ScaleSignal.EPP_QUEUE, autoscaling.EPP_QUEUE, "Value"),
        (Role.DECODE, ScaleSignal.KV_CACHE_USAGE, autoscaling.VLLM_KV_USAGE, "AverageValue"),
        (Role.DECODE, ScaleSignal.RUNNING_REQUESTS, autoscaling.VLLM_RUNNING, "AverageValue"),
    ],
)
def test_each_signal_reads_its_metric_for_its_own_role_only(role, signal, metric, kind) -> None:
    q = autoscaling.query(NAMES, role, signal)
    assert f"{metric}{{" in q and autoscaling.metric_type(signal) == kind
    if signal is ScaleSignal.EPP_QUEUE:
        pool = 'namespace="ns",name="p-llama"'
        assert q == f"max({autoscaling.EPP_QUEUE}{{{pool}}} or {autoscaling.EPP_QUEUE_LEGACY}{{{pool}}})"
    else:
        other = Role.DECODE if role is Role.PREFILL else Role.PREFILL
        assert f'pod=~"p-llama-{role.value}-[a-z0-9]+-[a-z0-9]+"' in q and other.value not in q


@given(st.from_regex(r"[a-z0-9]{5,10}-[a-z0-9]{5}", fullmatch=True))
def test_the_pod_pattern_matches_deployment_pods_of_that_role_only(suffix: str) -> None:
    import re

    pattern = re.search(r'pod=~"([^"]+)"', autoscaling.pod_matcher(NAMES, Role.PREFILL))
    assert pattern is not None
    rx = re.compile(pattern[1])  # PromQL anchors =~ at both ends, like fullmatch
    assert rx.fullmatch(f"p-llama-prefill-{suffix}")
    assert not rx.fullmatch(f"p-llama-decode-{suffix}")
    assert not rx.fullmatch(f"p-llama-prefill-x-{suffix}"), "a pool named llama-prefill-x is another pool"


# --- bad input -------------------------------------------------------------------------------------------------------
def problems(config: dict[str, Any]) -> list[str]:
    try:
        cfg = load_config({**config, "hfToken": True}, "ib")
    except ConfigError as e:
        return e.problems
    return preflight.run(cfg).errors


@pytest.mark.parametrize(
    ("config", "key", "fix"),
    [
        (
            {**SCALED, "pools": [{"prefill": {"autoscaling": {"maxReplicas": 13}}}]},  # 13 + 4 > 2 x 8
            "pools[0].prefill.autoscaling.maxReplicas",
            "lower maxReplicas or add nodes",
        ),
        (
            {**SCALED, "pools": [{"decode": {"autoscaling": {"maxReplicas": 4}}}]},  # 4 + 4 x 4 > 2 x 8
            "pools[0].decode.autoscaling.maxReplicas",
            "lower maxReplicas or add nodes",
        ),
        ({**SCALED, "monitoring": {"backend": "off"}}, "monitoring.backend", "prometheus-operator"),
        ({**SCALED, "monitoring": {"backend": "prometheus-operator"}}, "monitoring.queryUrl", "http://"),
        (
            {**SCALED, "monitoring": {**PROM, "queryUrl": "prometheus:9090"}},
            "monitoring.queryUrl",
            "http(s)://host",
        ),
        (
            {**SCALED, "pools": [{"decode": {"autoscaling": {"maxReplicas": 2, "signal": "ttft"}}}]},
            "pools[0].decode",
            "kv-cache-usage, running-requests",
        ),
        (
            {
                **SCALED,
                "monitoring": {**PROM, "interval": "2m"},
                "pools": [{"prefill": {"autoscaling": {"maxReplicas": 4, "signal": "ttft"}}}],
            },
            "monitoring.interval",
            "scrape at least every 60 s",
        ),
        (
            {**SCALED, "pools": [{"prefill": {"autoscaling": {"maxReplicas": 2, "minReplicas": 3}}}]},
            "pools[0].prefill.autoscaling",
            "raise maxReplicas",
        ),
        (
            {**SCALED, "pools": [{"prefill": {"replicas": 3, "autoscaling": {"maxReplicas": 6}}}]},
            "pools[0].prefill",
            "remove replicas",
        ),
    ],
)
def test_bad_autoscaling_is_refused_naming_the_key_and_the_fix(config, key, fix) -> None:
    found = problems(config)
    assert any(f"llm-d-pd:{key}" in p and fix in p for p in found), found


def test_what_fits_at_max_passes_and_scale_to_zero_warns() -> None:
    config = {**SCALED, "pools": [{"prefill": {"autoscaling": {"minReplicas": 0, "maxReplicas": 12}}}]}
    cfg = load_config({**config, "hfToken": True}, "ib")
    report = preflight.run(cfg)
    assert report.ok, report.errors  # 12 x TP1 + 1 x TP4 = 16 GPUs on 2 x 8
    assert any("prefill.autoscaling.minReplicas" in w and "startup budget" in w for w in report.warnings)
    assert any("0..12 replicas on waiting-requests" in f for f in report.facts)


def test_signals_partition_by_role() -> None:
    assert set(PREFILL_SIGNALS) | set(DECODE_SIGNALS) == set(ScaleSignal)
    assert not set(PREFILL_SIGNALS) & set(DECODE_SIGNALS)


# --- P:D ratio bounds ------------------------------------------------------------------------------------------------
def test_pd_ratio_adds_the_other_roles_pod_count_and_a_clamping_formula() -> None:
    config = {**SCALED, "pools": [{**SCALED["pools"][0], "pdRatio": {"min": 2, "max": 8}}]}
    objs = scaled_objects(run_program(config, secrets=TOKEN))
    prefill = objs["ib-llama-prefill"]["spec"]
    signal_trigger, pods_trigger = prefill["triggers"]
    assert pods_trigger["type"] == "kubernetes-workload" and pods_trigger["name"] == "decode_pods"
    assert pods_trigger["metadata"]["value"] == "1"
    selector = dict(kv.split("=") for kv in pods_trigger["metadata"]["podSelector"].split(","))
    assert selector["llm-d.ai/role"] == "decode" and selector["llm-d.ai/pool"] == "llama"
    mods = prefill["advanced"]["scalingModifiers"]
    assert mods == {
        "formula": "max(min(waiting_requests, decode_pods * 8 * 4), decode_pods * 2 * 4)",
        "target": "4",
        "metricType": "AverageValue",
    }
    assert signal_trigger["name"] in mods["formula"]
    decode = objs["ib-llama-decode"]["spec"]
    assert decode["advanced"]["scalingModifiers"]["formula"] == (
        "max(min(kv_cache_usage, prefill_pods / 2 * 0.7), prefill_pods / 8 * 0.7)"
    )
    for o in objs.values():
        validate_object(o, KEDA_CRDS)


def replicas_wanted(formula: str, target: float, values: dict[str, float]) -> int:
    """What the HPA asks for from KEDA's composite metric (AverageValue): ceil(value / target). The formula uses
    only min, max, *, / and names, whose meaning is the same in expr-lang and Python."""
    value = eval(formula, {"__builtins__": {}, "min": min, "max": max}, values)
    return math.ceil(round(value / target, 9))


def ceil(x: float) -> int:
    return math.ceil(round(x, 9))


@given(
    load=st.floats(0, 1e4),
    other_pods=st.integers(0, 64),
    target=st.sampled_from([0.5, 1, 4, 64]),
    bounds=st.sampled_from([(None, 2), (None, 8), (0.5, None), (2, None), (0.5, 2), (1, 8), (4, 4)]),
)
def test_the_formula_keeps_prefill_per_decode_within_the_bounds(load, other_pods, target, bounds) -> None:
    lo, hi = bounds
    ratio = PdRatio(min=lo, max=hi)
    # prefill, given D decode pods: between ceil(D * min) and ceil(D * max) replicas; its own signal in between.
    p = autoscaling.ratio_formula(Role.PREFILL, ScaleSignal.WAITING_REQUESTS, target, ratio)
    wanted = replicas_wanted(p, target, {"waiting_requests": load, "decode_pods": other_pods})
    floor_, ceiling = ceil(other_pods * (lo or 0)), ceil(other_pods * hi) if hi else None
    assert wanted >= floor_
    assert ceiling is None or wanted <= ceiling
    own = ceil(load / target)
    if own >= floor_ and (ceiling is None or own <= ceiling):
        assert wanted == own
    # decode, given P prefill pods: between ceil(P / max) and ceil(P / min) replicas.
    d = autoscaling.ratio_formula(Role.DECODE, ScaleSignal.RUNNING_REQUESTS, target, ratio)
    wanted = replicas_wanted(d, target, {"running_requests": load, "prefill_pods": other_pods})
    floor_, ceiling = ceil(other_pods / hi) if hi else 0, ceil(other_pods / lo) if lo else None
    assert wanted >= floor_
    assert ceiling is None or wanted <= ceiling


@pytest.mark.parametrize(
    ("pool", "fix"),
    [
        ({"pdRatio": {"max": 4}}, "add prefill.autoscaling or decode.autoscaling"),
        (
            {"pdRatio": {"max": 4}, "prefill": {"autoscaling": {"maxReplicas": 8, "signal": "ttft"}}},
            "use a per-replica signal",
        ),
        ({"pdRatio": {"min": 4, "max": 2}, "prefill": {"autoscaling": {"maxReplicas": 8}}}, "swap them"),
        ({"pdRatio": {}, "prefill": {"autoscaling": {"maxReplicas": 8}}}, "set min, max or both"),
    ],
)
def test_a_ratio_that_cannot_be_kept_is_refused(pool, fix) -> None:
    found = problems({**SCALED, "pools": [pool]})
    assert any("llm-d-pd:pools[0].pdRatio" in p and fix in p for p in found), found
