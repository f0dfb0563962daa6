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


GKE = {"project": "my-project", "region": "us-central1", "zone": "us-central1-b", "gpuPool": {"reservation": "r"}}


def gke(**fields) -> dict:
    """A gke stack that passes preflight, with these cluster.gke fields replaced."""
    return {"cluster": {"kind": "gke", "gke": {**GKE, **fields}}}


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
    ({"cluster": {"kind": "gke"}}, "llm-d-pd:cluster.gke.project", "pulumi config set --path cluster.gke.project"),
    ({"cluster": {"gke": {"project": "my-project"}}}, "llm-d-pd:cluster.gke", "set cluster.kind: gke"),
    (gke(zone="europe-west4-a"), "llm-d-pd:cluster.gke.zone", "pick a zone"),
    (
        gke(gpuPool={"reservation": "r", "sharedModelCache": True, "bootDiskSizeGb": 100}),
        "llm-d-pd:cluster.gke.gpuPool.bootDiskSizeGb",
        "at least 103",
    ),
    (gke(clusterName="c" * 41), "llm-d-pd:cluster.gke.clusterName", "at most 40"),
    (gke(gpuPool={"machineType": "a3-highgpu-8g", "reservation": "r"}), "gpuPool.machineType", "a3-ultragpu-8g"),
    (gke(gpuPool={"capacity": "reservation"}), "llm-d-pd:cluster.gke.gpuPool.reservation", "capacity to spot"),
    (gke(gpuPool={"capacity": "spot", "reservation": "r"}), "cluster.gke.gpuPool.reservation", "remove it"),
    (gke(controlPlaneAccess="authorized-networks"), "llm-d-pd:cluster.gke.authorizedNetworks", "dns"),
    (gke(controlPlaneAccess="authorized-networks", authorizedNetworks=["10.1.2"]), "authorizedNetworks[0]", "CIDR"),
    (gke(minVersion="1.34"), "llm-d-pd:cluster.gke.minVersion", "1.35 or newer"),
    (gke(minVersion="1.34.1-gke.1000"), "llm-d-pd:cluster.gke.minVersion", "older than 1.34.1-gke.1829001"),
    (gke(minVersion="latest"), "llm-d-pd:cluster.gke.minVersion", "write 1.35"),
    (gke(network={"podsCidr": "10.0.0.0/16"}), "llm-d-pd:cluster.gke.network.podsCidr", "overlaps subnetCidr"),
    (gke(network={"subnetCidr": "10.0.0.1/20"}), "llm-d-pd:cluster.gke.network.subnetCidr", "host bits"),
    (merge(gke(), {"rdma": {"fabric": "infiniband"}}), "llm-d-pd:rdma.fabric", "use gke-dra"),
    (merge(gke(), {"rdma": {"fabric": "gke-multinetwork"}}), "pools[0].prefill.tensorParallelism", "use gke-dra"),
    (merge(gke(), {"clusterPrep": {"enabled": True, "crds": True}}), "llm-d-pd:clusterPrep.crds", "false"),
    (
        merge(gke(), {"rdma": {"fabric": "gke-multinetwork"}}, gke(network={"rdmaCidr": "192.168.128.0/24"})),
        "cluster.gke.network.rdmaCidr",
        "/18 or larger",
    ),
    (  # a /20 holds two /21 RoCE subnets, not eight (once accepted: the subnets came out short)
        merge(gke(), {"rdma": {"fabric": "gke-multinetwork"}}, gke(network={"rdmaCidr": "192.168.128.0/20"})),
        "cluster.gke.network.rdmaCidr",
        "/18 or larger",
    ),
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
    # P/D rules of the pinned upstream releases.
    ({"release": "llm-d-v0.6", **pool(sidecar={"ssrfProtection": True})}, "llm-d-pd:pools[0].sidecar.ssrfProtection",
     "llm-d/llm-d#1365"),
    (pool(prefill={"tensorParallelism": 4}, decode={"tensorParallelism": 2}),
     "llm-d-pd:pools[0].prefill.tensorParallelism", "only for MLA models"),
    (pool(decode={"extraArgs": ["--kv-transfer-config={}"]}), "llm-d-pd:pools[0].decode.extraArgs", "remove it"),
    (pool(prefill={"extraArgs": ["--block_size=64"]}), "llm-d-pd:pools[0].prefill.extraArgs", "blockSize"),
    (pool(scheduling={"nonCachedTokens": 40000}), "llm-d-pd:pools[0].scheduling.nonCachedTokens", "lower it"),
    ({"gateway": {"downloadCidrs": ["10.0.0.0/33"]}}, "llm-d-pd:gateway.downloadCidrs", "CIDR"),
    # One vocabulary for what Kubernetes, GCP and vLLM constrain (components/vocabulary.py).
    (pool(decode={"replicas": 2**31}), "llm-d-pd:pools[0].decode.replicas", "32-bit integer"),
    (pool(prefill={"replicas": 0}), "llm-d-pd:pools[0].prefill.replicas", "serve: false"),
    (pool(decode={"nodeSelector": {"a b": "x"}}), "llm-d-pd:pools[0].decode.nodeSelector", "qualified name"),
    (pool(decode={"extraEnv": {"HF_HOME": "/x"}}), "llm-d-pd:pools[0].decode.extraEnv", "set by the program"),
    (pool(decode={"priorityClassName": "A B"}), "llm-d-pd:pools[0].decode.priorityClassName", "subdomain"),
    (pool(route={"headers": {"x:y": "a"}}), "llm-d-pd:pools[0].route.headers", "HTTP header name"),
    ({"images": {"vllm": "ghcr.io/x/y:v1 "}}, "llm-d-pd:images.vllm", "image reference"),
    ({"crds": {"gatewayApiVersion": "v1.5.1/../x"}}, "llm-d-pd:crds.gatewayApiVersion", "semantic version"),
    (gke(project="p"), "llm-d-pd:cluster.gke.project", "GCP project id"),
    (gke(region="US-Central1"), "llm-d-pd:cluster.gke.region", "us-central1"),
    ({"monitoring": {"namespace": "Mon"}}, "llm-d-pd:monitoring.namespace", "DNS-1123 label"),
    ({"cluster": {"inventory": [{**H200, "count": 10**12}]}}, "llm-d-pd:cluster.inventory[0].count", "lower it"),
    ({"rdma": {"fabric": "none", "ucxEnv": {"UCX_TLS": "tcp"}}}, "llm-d-pd:rdma.ucxEnv", "remove it"),
    ({"clusterPrep": {"nvidiaDraDriver": False}}, "llm-d-pd:clusterPrep.nvidiaDraDriver", "gke-dra"),
    (merge(gke(provision=False, systemPool={"nodeCount": 3})), "llm-d-pd:cluster.gke.systemPool", "provision"),
    (pool(prefill={"extraArgs": ["--api-key", "hf_" + "x1" * 17]}), "pools[0].prefill.extraArgs[1]", "--secret"),
]  # fmt: skip


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
    # CUDA's 143156 MiB x 0.9 = 135.1 GB; 72.7 GB of weights + 2.5 GiB TP1 overhead leave 59.7 GB: 182k tokens of
    # 320 KiB (BF16 KV). aiconfigurator 0.12.0 counts 178,129.
    assert "overhead 2.7 GB + KV cache 59.7 GB = 182234 tokens = 5.7 sequences of 32000" in prefill
    # TP 4: a quarter of the weights and KV heads, 4 GiB overhead (NCCL): 1,374,865 tokens (aiconfigurator 1,382,497).
    assert "weights 18.2 GB + overhead 4.3 GB" in decode and "1374865 tokens = 43.0 sequences" in decode
    assert any(f.startswith("memory model: vLLM 0.21+ accounting") and "h200-141gb 143156 MiB" in f for f in r.facts)
    assert "GPUs declared: 8 on 1 node(s); 0 spare" in r.facts


def test_seed_prefill_at_tp1_does_not_fit_an_h100_80gb_with_32k_context():
    r = report(inventory(accelerator="h100-80gb"))
    (err,) = r.errors
    assert err.startswith("llm-d-pd:pools[0].prefill.tensorParallelism: at TP 1 the weights (72.7 GB per GPU)")
    assert any("pools[0].prefill on h100-80gb: budget 77.0 GB" in f and " 4835 tokens" in f for f in r.facts)
    # ... and what fixes it: FP8 KV cache is not enough (the weights alone fill the budget); TP 2 is (3P x 2 + 1D x 2).
    fp8 = report(merge(inventory(accelerator="h100-80gb"), pool(model={"kvCacheDtype": "fp8"})))
    assert any("prefill.tensorParallelism" in e for e in fp8.errors)
    tp2 = pool(prefill={"replicas": 3, "tensorParallelism": 2}, decode={"tensorParallelism": 2})
    assert not report(merge(inventory(accelerator="h100-80gb"), tp2)).errors


def test_the_runtime_overhead_follows_tensor_parallelism_unless_configured():
    tp = pool(prefill={"replicas": 2, "tensorParallelism": 2}, decode={"tensorParallelism": 4})
    facts = report(merge(inventory(), tp)).facts
    assert any("pools[0].prefill on h200-141gb" in f and "overhead 4.3 GB" in f for f in facts)  # 4 GiB at TP 2
    fixed = report(merge(inventory(), {"preflight": {"runtimeOverheadPerGpu": "1Gi"}})).facts
    assert any("pools[0].prefill on h200-141gb" in f and "overhead 1.1 GB" in f for f in fixed)
    assert any("runtime overhead 1Gi per GPU (preflight.runtimeOverheadPerGpu)" in f for f in fixed)
    # An accelerator without a CUDA figure budgets from nvidia-smi's.
    assert catalog.cuda_memory_bytes("h100-80gb") == catalog.ACCELERATORS["h100-80gb"].memory_bytes
    assert (
        catalog.cuda_memory_bytes("h200-141gb") == catalog.ACCELERATORS["h200-141gb"].memory_bytes - 615 * catalog.MiB
    )


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


def test_a_gke_stack_with_project_region_zone_and_reservation_passes_with_gke_defaults():
    cfg = load_config({**TOKEN, **gke()}, "gke")
    assert cfg.rdma.fabric.value == "gke-dra" and cfg.gateway.provider.value == "gke"
    assert not cfg.cluster_prep.crds and not cfg.cluster_prep.gateway_control_plane  # GKE manages both
    assert cfg.gateway.proxy_subnet_cidr == "10.129.0.0/23"  # the proxy-only subnet the stack creates
    r = preflight.run(cfg)
    assert r.ok, r.errors
    # The seed's 4P + 1D fit the one a3-ultragpu-8g node the pool declares.
    assert "GPUs declared: 8 on 1 node(s); 0 spare" in r.facts


def test_gke_multinetwork_accepts_pods_that_each_take_a_whole_node():
    raw = merge(
        gke(gpuPool={"reservation": "r", "nodeCount": 2}),
        {"rdma": {"fabric": "gke-multinetwork"}},
        pool(prefill={"replicas": 1, "tensorParallelism": 8}, decode={"replicas": 1, "tensorParallelism": 8}),
    )
    r = preflight.run(load_config({**TOKEN, **raw}, "gke"))
    assert r.ok, r.errors


def test_gke_version_comparison_reads_gke_patch_builds():
    at_least = preflight.gke_version_at_least
    assert at_least("1.34.1-gke.1829001", "1.34.1-gke.1829001")
    assert at_least("1.34.2", "1.34.1-gke.1829001")
    assert at_least("1.35", "1.34.1-gke.1829001")
    assert not at_least("1.34.1-gke.1828999", "1.34.1-gke.1829001")
    assert not at_least("1.34", "1.34.1-gke.1829001")
    assert at_least("v1.35", "1.34.1-gke.1829001") is None


def test_spot_and_flex_start_capacity_warn():
    spot = preflight.run(load_config({**TOKEN, **gke(gpuPool={"capacity": "spot"})}, "gke"))
    flex = preflight.run(load_config({**TOKEN, **gke(gpuPool={"capacity": "flex-start"})}, "gke"))
    assert spot.ok and flex.ok
    assert any("preempted" in w for w in spot.warnings)
    assert any("experimental" in w for w in flex.warnings)


@pytest.mark.parametrize(
    ("image", "verdict"),
    [
        ("ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1", "error"),
        ("ghcr.io/llm-d/llm-d-routing-sidecar:v0.8.3", "error"),
        ("ghcr.io/llm-d/llm-d-routing-sidecar:v0.9.0", "error"),  # the fix (PR #1696) shipped in v0.10.0
        ("ghcr.io/llm-d/llm-d-routing-sidecar:v0.10.0", "ok"),
        ("ghcr.io/llm-d/llm-d-routing-sidecar:0.10.0-rc1", "ok"),
        ("registry.local:5000/sidecar@sha256:" + "a" * 64, "warning"),
    ],
)
def test_ssrf_protection_is_refused_for_sidecars_whose_allow_list_cannot_read_a_v1_pool(image, verdict):
    r = report({"images": {"sidecar": image}, **pool(sidecar={"ssrfProtection": True})})
    key = "llm-d-pd:pools[0].sidecar.ssrfProtection"
    assert any(key in e for e in r.errors) is (verdict == "error")
    assert any(key in w for w in r.warnings) is (verdict == "warning")


def test_the_seed_topology_passes_the_upstream_pd_rules():
    assert report({}).ok
    assert report(pool(prefill={"tensorParallelism": 2}, decode={"tensorParallelism": 4})).ok  # prefill TP below
    mla = {"checkpointSize": "10G", "layers": 8, "attentionHeads": 32, "kvHeads": 32, "headDim": 128,
           "maxContext": 65536, "mla": True}  # fmt: skip
    r = report(pool(model={"id": "org/mla-model", "facts": mla}, prefill={"tensorParallelism": 4},
                    decode={"tensorParallelism": 2}))  # fmt: skip
    assert not any("prefill.tensorParallelism" in e for e in r.errors)
