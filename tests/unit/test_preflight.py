"""Preflight: every misconfiguration found from the config alone, each message naming its key and the fix."""

from __future__ import annotations

import pytest

from components import catalog, preflight
from components.config import ConfigError, load_config

TOKEN = {"hfTokenSecretName": "hf"}
H200 = {"name": "gpu", "count": 1, "accelerator": "h200-141gb"}


def report(raw: dict) -> preflight.Report:
    return preflight.run(load_config({**TOKEN, **raw}, "ib"))


def inventory(**group) -> dict:
    return {"cluster": {"inventory": [{**H200, **group}]}}


def pool(**fields) -> dict:
    return {"pools": [{"name": "llama", **fields}]}


def merge(*parts: dict) -> dict:
    out: dict = {}
    for p in parts:
        for k, v in p.items():
            out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# Each row: config, the key the error must name, a word of the fix. Config-model errors (pydantic) and preflight
# errors both count: the user sees one list either way.
INVALID = [
    ({"bogus": 1}, "llm-d-pd:bogus", "unknown key"),
    ({"namespace": "UPPER"}, "llm-d-pd:namespace", "DNS-1123"),
    ({"prefix": "a" * 30}, "llm-d-pd:prefix", "at most 20"),
    ({"prefix": "1abc"}, "llm-d-pd:prefix", "leading letter"),
    (pool(name="Bad_Name"), "llm-d-pd:pools[0].name", "DNS-1123"),
    (pool(prefill={"replicas": -1}), "llm-d-pd:pools[0].prefill.replicas", "greater than"),
    (pool(decode={"tensorParallelism": 0}), "llm-d-pd:pools[0].decode.tensorParallelism", "greater than"),
    (pool(decode={"cpu": "lots"}), "llm-d-pd:pools[0].decode.cpu", "quantity"),
    (pool(model={"id": "no-slash"}), "llm-d-pd:pools[0].model.id", "org/name"),
    (pool(model={"gpuMemoryUtilization": 1.5}), "llm-d-pd:pools[0].model.gpuMemoryUtilization", "less than"),
    (pool(scheduling={"nonCachedTokens": 0}), "llm-d-pd:pools[0].scheduling", "use the `always` decider"),
    (pool(scheduling={"decider": "sometimes"}), "llm-d-pd:pools[0].scheduling.decider", "'selective'"),
    ({"gateway": {"provider": "nginx"}}, "llm-d-pd:gateway.provider", "'istio'"),
    ({"gateway": {"serviceType": "External"}}, "llm-d-pd:gateway.serviceType", "ClusterIP"),
    ({"images": {"sidecar": "x:latest"}}, "llm-d-pd:images.sidecar", "pin"),
    ({"rdma": {"fabric": "roce"}}, "llm-d-pd:rdma.fabric", "'infiniband'"),
    ({"rdma": {"resourceName": "ib"}}, "llm-d-pd:rdma.resourceName", "domain/name"),
    ({"rdma": {"resourceName": "kubernetes.io/ib"}}, "llm-d-pd:rdma.resourceName", "domain/name"),
    ({"rdma": {"fabric": "gke-dra"}}, "llm-d-pd:rdma.fabric", "GKE cluster"),
    ({"rdma": {"fabric": "gke-multinetwork"}}, "llm-d-pd:rdma.fabric", "GKE cluster"),
    ({"gateway": {"provider": "gke"}}, "llm-d-pd:gateway.provider", "only on GKE"),
    ({"cluster": {"kind": "gke"}}, "llm-d-pd:cluster.kind", "existing"),
    ({"cluster": {"kubernetesVersion": "1.28"}}, "llm-d-pd:cluster.kubernetesVersion", "1.29"),
    ({"cluster": {"kubernetesVersion": "latest"}}, "llm-d-pd:cluster.kubernetesVersion", "like 1.33"),
    (inventory(accelerator="tpu-v5"), "llm-d-pd:cluster.inventory[0].accelerator", "gpuMemory"),
    (merge(pool(decode={"tensorParallelism": 16}), inventory()), "decode.tensorParallelism", "at most 8"),
    (merge(pool(prefill={"replicas": 8}), inventory()), "llm-d-pd:pools", "cannot place"),
    (merge(pool(prefill={"tensorParallelism": 3}), inventory()), "prefill.tensorParallelism", "power of two"),
    (pool(prefill={"tensorParallelism": 2}, decode={"tensorParallelism": 3}), "decode.tensorParallelism", "divides"),
    (pool(model={"maxModelLen": 200000}), "llm-d-pd:pools[0].model.maxModelLen", "131072"),
    (pool(model={"blockSize": 48}), "llm-d-pd:pools[0].model.blockSize", "vLLM accepts"),
    (pool(model={"cacheSize": "10Gi"}), "llm-d-pd:pools[0].model.cacheSize", "raise it"),
    (pool(decode={"replicas": 0}), "llm-d-pd:pools[0].decode.replicas", "at least 1"),
    (merge(inventory(rdmaShares=0)), "llm-d-pd:cluster.inventory", "shared device plugin"),
    (merge(inventory(rdmaShares=2)), "llm-d-pd:cluster.inventory", "rdmaHcaMax"),
    (merge(inventory(accelerator="h100-80gb")), "prefill.tensorParallelism", "less than one 32000-token"),
    (merge(inventory(ephemeralStorage="200G")), "llm-d-pd:cluster.inventory[0].ephemeralStorage", "cacheSize"),
    (
        pool(
            model={
                "id": "acme/new-model",
                "facts": {
                    "checkpointSize": "300G",
                    "layers": 10,
                    "attentionHeads": 8,
                    "kvHeads": 8,
                    "headDim": 128,
                    "maxContext": 4096,
                },
            }
        ),
        "llm-d-pd:pools[0].model.maxModelLen",
        "4096",
    ),
    ({"pools": [{"name": "a"}, {"name": "a", "route": {"pathPrefix": "/x"}}]}, "llm-d-pd:pools", "unique"),
    ({"pools": [{"name": "a"}, {"name": "b"}]}, "llm-d-pd:pools", "route match"),
    ({"hfToken": True}, "llm-d-pd:hfToken", "exactly one"),
]


@pytest.mark.parametrize(("raw", "key", "fix"), INVALID, ids=[f"{i:02d}" for i in range(len(INVALID))])
def test_invalid_configuration_is_rejected_naming_the_key_and_the_fix(raw, key, fix):
    try:
        found = report(raw).errors
    except ConfigError as e:
        found = e.problems
    assert any(key in p and fix in p for p in found), found


def test_the_table_covers_at_least_30_invalid_configurations():
    assert len(INVALID) >= 30


def test_every_problem_is_reported_at_once():
    r = report(merge({"rdma": {"fabric": "gke-dra"}, "gateway": {"provider": "gke"}},
                     pool(model={"blockSize": 48}, decode={"replicas": 0})))  # fmt: skip
    assert len(r.errors) == 4


def test_seed_topology_fits_an_h200_node_and_reports_its_headroom():
    r = report(inventory())
    assert r.ok, r.errors
    prefill, decode = (f for f in r.facts if f.startswith(("pools[0].prefill", "pools[0].decode")))
    # 141 GB x 0.9 = 135.7 GB; 72.7 GB of weights + 4.3 GB overhead leave 58.7 GB: 179k tokens of 320 KiB (BF16 KV).
    assert "KV cache 58.7 GB = 179090 tokens = 5.6 sequences of 32000" in prefill
    assert "weights 18.2 GB" in decode and "43.2 sequences" in decode  # TP 4: a quarter of the weights and KV heads
    assert "GPUs declared: 8 on 1 node(s); 0 spare" in r.facts


def test_seed_prefill_at_tp1_does_not_fit_an_h100_80gb_with_32k_context():
    r = report(inventory(accelerator="h100-80gb"))
    (err,) = r.errors
    assert err.startswith("llm-d-pd:pools[0].prefill.tensorParallelism: at TP 1 the weights (72.7 GB per GPU)")
    assert any("pools[0].prefill on h100-80gb: budget 77.0 GB" in f and "0 tokens" in f for f in r.facts)
    # ... and what fixes it: FP8 KV cache is not enough (the weights alone fill the budget); TP 2 is (3P x 2 + 1D x 2).
    fp8 = report(merge(inventory(accelerator="h100-80gb"), pool(model={"kvCacheDtype": "fp8"})))
    assert any("prefill.tensorParallelism" in e for e in fp8.errors)
    tp2 = pool(prefill={"replicas": 3, "tensorParallelism": 2}, decode={"tensorParallelism": 2})
    assert not report(merge(inventory(accelerator="h100-80gb"), tp2)).errors


def test_fp8_kv_cache_halves_the_bytes_per_token():
    m = catalog.MODELS["RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"]
    assert m.kv_bytes_per_token(1, 32000) == 2 * 8 * 128 * 2 * 80 == 327680
    fp8 = catalog.ModelFacts(**{**m.__dict__, "kv_cache_dtype_bytes": 1})
    assert fp8.kv_bytes_per_token(1, 32000) == 327680 / 2


def test_kv_heads_are_replicated_above_their_count():
    m = catalog.MODELS["meta-llama/Llama-3.1-8B-Instruct"]  # 8 KV heads
    assert m.kv_bytes_per_token(8, 1000) == m.kv_bytes_per_token(16, 1000) == 2 * 1 * 128 * 2 * 32


def test_sliding_window_layers_cost_only_their_window():
    m = catalog.MODELS["openai/gpt-oss-120b"]
    full = 2 * 8 * 64 * 2 * 18
    assert m.kv_bytes_per_token(1, 128) == 2 * full
    assert m.kv_bytes_per_token(1, 128_000) == pytest.approx(full * (1 + 128 / 128_000))


def test_kgateway_is_accepted_with_a_deprecation_warning():
    r = report({"gateway": {"provider": "kgateway"}})
    assert r.ok and any("deprecated" in w for w in r.warnings)


def test_an_uncatalogued_model_warns_instead_of_guessing():
    r = report(pool(model={"id": "acme/unknown-13b"}))
    assert r.ok and any("acme/unknown-13b is not in the catalog" in w for w in r.warnings)
