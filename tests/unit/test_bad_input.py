"""Bad input, as a new user writes it: every value the API server, GCP or vLLM would refuse is refused first, by key,
with a fix, and nothing is registered. A property test feeds configs built from the models' own JSON schema: the
program either stops with a ConfigError whose every problem names a key under `llm-d-pd:`, or registers only objects
that pass the Kubernetes schema and the CRDs' schema and CEL rules."""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import preflight
from components.config import CRDS_DIR_ENV, StackConfig, load_config
from components.vocabulary import INT32_MAX, SHAPE_MODELS
from tests.harness import GKE_CLUSTER, Recorder, run_program
from tests.unit.test_schemas import kubernetes_objects
from tests.validation import validate_object

TOKEN = {"hfToken": "hf_not_a_real_token"}
HF_TOKEN_LOOKALIKE = "hf_" + "aB3" * 12  # the shape of a Hugging Face token (not a real one)
CLASS_NAMES = {m.__name__ for m in SHAPE_MODELS} | {
    "StackConfig", "PoolConfig", "ModelConfig", "ModelFactsConfig", "RoleConfig", "PrefillConfig", "DecodeConfig",
    "GkeConfig", "GkeGpuPool", "ClusterConfig", "NodeGroup", "RdmaConfig", "GatewayConfig", "CamelModel",
    "RouteMatch", "SchedulingConfig", "VerificationConfig", "ChartVersions", "CrdsConfig",
}  # fmt: skip


def names_a_class(text: str) -> bool:
    return any(re.search(rf"\b{name}\b", text) for name in CLASS_NAMES)


def pool(**fields: Any) -> dict[str, Any]:
    return {"pools": [{"name": "llama", **fields}]}


def gke(**fields: Any) -> dict[str, Any]:
    return {"cluster": {**GKE_CLUSTER, "gke": {**GKE_CLUSTER["gke"], **fields}}}


def problems_of(error: BaseException) -> list[str]:
    return [line[4:] for line in str(error).splitlines() if line.startswith("  - ")]


# The issue's examples: config, the key the error names, a word of the fix.
EXAMPLES = [
    # a crash instead of a message
    ({"pools": '[{"name": "llama"}'}, "llm-d-pd:pools", "line 1 column 19"),
    ({"cluster": {"inventory": [{"name": "g", "count": 10**12}]}}, "cluster.inventory[0].count", "lower it"),
    # accepted, then refused by the API server or GCP
    (pool(decode={"replicas": 2**31}), "llm-d-pd:pools[0].decode.replicas", "32-bit integer"),
    (pool(prefill={"nodeSelector": {"gpu type": "h200"}}), "pools[0].prefill.nodeSelector", "qualified name"),
    (pool(prefill={"nodeSelector": {"gpu": "h200 sxm"}}), "pools[0].prefill.nodeSelector.gpu", "label value"),
    ({"images": {"vllm": "ghcr.io/llm-d/llm-d-cuda: v0.6.0"}}, "llm-d-pd:images.vllm", "without spaces"),
    ({"images": {"epp": ""}}, "llm-d-pd:images.epp", "registry/repository:tag"),
    (pool(decode={"extraEnv": {"1_BAD": "x"}}), "pools[0].decode.extraEnv", "environment variable name"),
    (pool(decode={"extraEnv": {"MY-VAR": "x"}}), "pools[0].decode.extraEnv", "letters, digits and '_'"),
    (pool(decode={"priorityClassName": "High_Priority"}), "pools[0].decode.priorityClassName", "DNS-1123 subdomain"),
    ({"hfTokenSecretName": "My Secret"}, "llm-d-pd:hfTokenSecretName", "DNS-1123 subdomain"),
    (pool(decode={"cpu": "-4"}), "llm-d-pd:pools[0].decode.cpu", "must be 0 or more"),
    (pool(prefill={"memory": "64 GB"}), "llm-d-pd:pools[0].prefill.memory", "64Gi"),
    ({"rdma": {"resourceName": "rdma ib"}}, "llm-d-pd:rdma.resourceName", "domain/name"),
    (pool(prefill={"readinessTimeoutMinutes": 10**12}), "prefill.readinessTimeoutMinutes", "lower it"),
    (pool(prefill={"startupFailureThreshold": INT32_MAX}), "pools[0].prefill", "readinessTimeoutMinutes"),
    ({"namespace": "Not_Valid"}, "llm-d-pd:namespace", "DNS-1123 label"),
    (gke(project="My Project"), "llm-d-pd:cluster.gke.project", "GCP project id"),
    (gke(zone="us central1 b"), "llm-d-pd:cluster.gke.zone", "us-central1-b"),
    (pool(decode={"tolerations": [{"key": "a", "operator": "Sometimes"}]}), "tolerations[0].operator", "'Exists'"),
    (pool(decode={"tolerations": {"key": "a"}}), "pools[0].decode.tolerations", "expected a list"),
    (pool(decode={"tolerations": [{"operator": "Equal", "value": "x"}]}), "decode.tolerations[0]", "operator: Exists"),
    (pool(decode={"affinity": {"nodeAffinity": []}}), "decode.affinity.nodeAffinity", "expected an object"),
    (pool(decode={"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{}]}}}),
     "requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "required here"),
    (pool(route={"headers": {"x model": "llama"}}), "llm-d-pd:pools[0].route.headers", "HTTP header name"),
    (pool(route={"pathPrefix": "llama"}), "llm-d-pd:pools[0].route.pathPrefix", "start with '/'"),
    (pool(route={"pathPrefix": "/a//b"}), "llm-d-pd:pools[0].route.pathPrefix", "'//'"),
    # accepted though it should not be
    ({"crds": {"gatewayApiVersion": "../../v1.5.1"}}, "llm-d-pd:crds.gatewayApiVersion", "semantic version"),
    ({"crds": {"istioVersion": "1.29.1; rm -rf"}}, "llm-d-pd:crds.istioVersion", "semantic version"),
    ({"clusterPrep": {"charts": {"istio": "latest"}}}, "llm-d-pd:clusterPrep.charts.istio", "no 'latest'"),
    (pool(decode={"extraArgs": ["--tensor-parallel-size=8"]}), "pools[0].decode.extraArgs", "tensorParallelism"),
    (pool(prefill={"replicas": 0}), "llm-d-pd:pools[0].prefill.replicas", "at least 1"),
    (pool(scheduling={"nonCachedTokens": 40000}), "pools[0].scheduling.nonCachedTokens", "lower it"),
    ({"rdma": {"ucxEnv": {"UCX_TLS": "rc", "TOKEN": HF_TOKEN_LOOKALIKE}}}, "llm-d-pd:rdma.ucxEnv.TOKEN", "--secret"),
    (pool(decode={"extraArgs": [f"--hf-token={HF_TOKEN_LOOKALIKE}"]}), "pools[0].decode.extraArgs[0]", "--secret"),
    (pool(prefill={"extraEnv": {"HF_HOME": "/tmp"}}), "llm-d-pd:pools[0].prefill.extraEnv", "set by the program"),
    (pool(decode={"extraEnv": {"VLLM_NIXL_SIDE_CHANNEL_PORT": "1"}}), "decode.extraEnv", "set by the program"),
    ({"rdma": {"ucxEnv": {"VLLM_NIXL_SIDE_CHANNEL_HOST": "x"}}}, "llm-d-pd:rdma.ucxEnv", "set by the program"),
    ({**gke(), "rdma": "gke-dra"}, "llm-d-pd:rdma", "expected an object"),
    ({**gke(), "gateway": ["gke"]}, "llm-d-pd:gateway", "expected an object"),
    ({"cluster": {**gke()["cluster"], "kubeconfig": "~/.kube/config"}}, "llm-d-pd:cluster.kubeconfig", "remove it"),
    ({"rdma": {"fabric": "none", "resourceName": "rdma/ib"}}, "llm-d-pd:rdma.resourceName", "remove it"),
    ({"crds": {"istioVersion": "1.28.0"}}, "llm-d-pd:crds.istioVersion", "installs no CRDs"),
    (gke(gpuPool={"machineType": "a3 ultragpu 8g", "reservation": "r"}), "gpuPool.machineType", "GCP resource name"),
    (gke(gpuPool={"reservation": "my reservation"}), "cluster.gke.gpuPool.reservation", "no spaces"),
    (pool(model={"facts": "large"}), "llm-d-pd:pools[0].model.facts", "with the keys checkpointSize"),
]  # fmt: skip


@pytest.mark.parametrize(("config", "key", "fix"), EXAMPLES, ids=[f"{i:02d}" for i in range(len(EXAMPLES))])
def test_each_example_stops_before_registering_anything_naming_its_key_and_a_fix(config, key, fix):
    secrets = None if "hfTokenSecretName" in config else TOKEN
    rec = Recorder()
    with pytest.raises(pulumi.RunError) as e:
        run_program(config, secrets=secrets, recorder=rec)
    found = problems_of(e.value)
    assert any(key in p and fix in p for p in found), found
    assert rec.resources == []


def test_a_crds_directory_that_does_not_exist_is_a_preflight_error_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.delenv(CRDS_DIR_ENV, raising=False)
    for directory, fix in ((tmp_path / "missing", "is not a directory"), (tmp_path, "no CRD manifests")):
        rec = Recorder()
        config = {"clusterPrep": {"enabled": True}, "crds": {"directory": str(directory)}}
        with pytest.raises(pulumi.RunError) as e:
            run_program(config, secrets=TOKEN, recorder=rec)
        (problem,) = problems_of(e.value)
        assert problem.startswith("llm-d-pd:crds.directory: ") and fix in problem and "scripts/fetch-crds" in problem
        assert rec.resources == []


def test_pydantic_type_errors_are_rewritten_without_class_names():
    raw = {"hfTokenSecretName": "hf", **pool(model={"facts": 5}, prefill={"replicas": "many"}, decode=[])}
    with pytest.raises(Exception) as e:
        load_config(raw, "ib")
    text = str(e.value)
    assert "Input should" not in text and not names_a_class(text), text
    assert "llm-d-pd:pools[0].prefill.replicas: expected a whole number, got 'many'" in text


def test_decode_only_is_still_possible_for_a_pool_that_takes_no_traffic():
    idle = {"name": "b", "serve": False, "prefill": {"replicas": 0}, "decode": {"replicas": 0}}
    raw = {"hfTokenSecretName": "hf", "pools": [{"name": "a"}, idle]}
    assert preflight.run(load_config(raw, "ib")).ok


# --- placement by counts --------------------------------------------------------------------------------------------
def naive_place(groups: list[tuple[int, int]], pods: list[tuple[int, int]]) -> tuple[list[int], int]:
    """First fit by decreasing size, one node and one pod at a time: (GPUs left per node, pods not placed)."""
    free = [gpus for gpus, count in groups for _ in range(count)]
    unplaced = 0
    for size in sorted((size for size, count in pods for _ in range(count)), reverse=True):
        i = next((i for i, f in enumerate(free) if f >= size), None)
        if i is None:
            unplaced += 1
        else:
            free[i] -= size
    return free, unplaced


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(
    groups=st.lists(st.tuples(st.integers(0, 8), st.integers(1, 6)), min_size=1, max_size=3),
    pods=st.lists(st.tuples(st.sampled_from([1, 2, 4, 8]), st.integers(0, 9)), min_size=1, max_size=4),
)
def test_placing_by_counts_is_the_same_first_fit_as_placing_one_by_one(groups, pods):
    pools = [
        {"name": f"p{i}", "serve": False, "prefill": {"replicas": n, "tensorParallelism": size},
         "decode": {"replicas": 0}}
        for i, (size, n) in enumerate(pods)
    ]  # fmt: skip
    inventory = [{"name": f"g{i}", "gpusPerNode": g, "count": c} for i, (g, c) in enumerate(groups)]
    cfg = StackConfig.model_validate(
        {"hfTokenSecretName": "hf", "pools": [*pools, {"name": "s"}], "cluster": {"inventory": inventory}}
    )
    cfg = cfg.model_copy(update={"pools": cfg.pools[:-1]})  # only the generated pools
    nodes, unplaced = preflight.place(cfg)
    free, not_placed = naive_place(groups, [(size, n) for size, n in pods])
    assert [n.gpus_free for n in nodes for _ in range(n.count)] == free
    assert sum(p.count for p in unplaced) == not_placed


def test_preflight_work_does_not_grow_with_node_or_replica_counts():
    """Placement keeps runs of identical nodes: at most a few runs per role and node group, whatever the counts
    (the old placement built one object per node and per replica, and never finished on 10^12 nodes)."""
    raw = {
        "hfTokenSecretName": "hf",
        "rdma": {"fabric": "none"},
        **pool(prefill={"replicas": INT32_MAX}, decode={"replicas": 2**30}),
        "cluster": {"inventory": [{"name": "big", "count": 65000, "accelerator": "h200-141gb"}]},
    }
    cfg = load_config(raw, "ib")
    runs, unplaced = preflight.place(cfg)
    assert sum(p.count for p in unplaced) > 0  # more GPUs asked than declared
    assert len(runs) <= 3 * 2  # at most three runs per role on one node group
    assert sum(n.count for n in runs) == 65000
    r = preflight.run(cfg)
    assert any("cannot place" in e for e in r.errors)
    assert "GPUs declared: 520000 on 65000 node(s)" in " ".join(r.facts)


# --- the property test ----------------------------------------------------------------------------------------------
SCHEMA = StackConfig.model_json_schema(by_alias=True)
DEFS = SCHEMA.get("$defs", {})
NASTY = [None, "", " ", "a b", "../x", "latest", "UPPER", "x" * 300, "ü", "{", "[1", HF_TOKEN_LOOKALIKE, -1, 0,
         INT32_MAX + 1, 10**12, 1.5, True, [], {}, ["x"], {"x": 1}]  # fmt: skip
GOOD = ["a", "llama", "x-model", "/v1", "8", "500m", "64Gi", "ghcr.io/x/y:v1.0.0", "v1.2.3", "1.29.1",
        "10.0.0.0/8", "us-central1", "us-central1-b", "my-project", "nvidia.com/gpu", "Exists", "NoSchedule",
        "example.com/pool", "FOO_BAR", "30s", "1.35"]  # fmt: skip
KEYS = st.sampled_from(["FOO", "x", "bad key", "example.com/gpu", "", "HF_TOKEN", "HF_HOME", "x" * 70, "Accept"])


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = DEFS[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def slots(schema: dict[str, Any], path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every place a value can go, with its schema: (key path, schema); 0 stands for a list's first item, None for
    a generated dict key."""
    s = resolve(schema)
    found = [(path, s)] if path else []
    for alt in s.get("anyOf", []):
        if resolve(alt).get("type") != "null":
            found += slots(alt, path)[1:] if path else slots(alt, path)
    for name, sub in s.get("properties", {}).items():
        found += slots(sub, (*path, name))
    if isinstance(s.get("items"), dict):
        found += slots(s["items"], (*path, 0))
    if isinstance(s.get("additionalProperties"), dict):
        found += slots(s["additionalProperties"], (*path, None))
    return found


SLOTS = slots(SCHEMA)
AREAS = sorted({path[:3] for path, _ in SLOTS}, key=str)
"""Slots grouped by their first keys, so the deep Kubernetes shapes (affinity has dozens) do not crowd out the rest."""


def values(schema: dict[str, Any], depth: int = 0, nasty: bool = True) -> st.SearchStrategy[Any]:
    """Values of the schema's type (within and, when nasty, just beyond its bounds), good-looking strings, and (when
    nasty) values of the wrong type or shape."""
    s = resolve(schema)
    options: list[st.SearchStrategy[Any]] = [st.sampled_from(NASTY)] if nasty else []
    options += [values(alt, depth, nasty) for alt in s.get("anyOf", [])]
    if "enum" in s:
        options.append(st.sampled_from(s["enum"]))
    if "const" in s:
        options.append(st.just(s["const"]))
    if "default" in schema or "default" in s:
        options.append(st.just(schema.get("default", s.get("default"))))
    kind = s.get("type")
    if kind == "integer":
        lo = s.get("minimum", s.get("exclusiveMinimum", -5))
        hi = s.get("maximum", s.get("exclusiveMaximum", lo + 200))
        options += [st.integers(lo, min(hi, lo + 200)), st.sampled_from([lo, hi, lo - 1, hi + 1] if nasty else [lo])]
    elif kind == "number":
        options.append(st.floats(-2, 2, allow_nan=False))
    elif kind == "boolean":
        options.append(st.booleans())
    elif kind == "string":
        options += [st.sampled_from(GOOD)] + ([st.text("abcXYZ019-_./: @%", max_size=12)] if nasty else [])
    elif kind == "array" and depth < 3:
        options.append(st.lists(values(s.get("items", {}), depth + 1, nasty), max_size=2))
    elif kind == "object" and depth < 3:
        if "properties" in s:
            props = {k: values(v, depth + 1, nasty) for k, v in s["properties"].items()}
            required = {k: v for k, v in props.items() if k in s.get("required", [])}
            optional = {k: v for k, v in props.items() if k not in required}
            options.append(st.fixed_dictionaries(required, optional=optional))
        if isinstance(s.get("additionalProperties"), dict):
            options.append(st.dictionaries(KEYS, values(s["additionalProperties"], depth + 1, nasty), max_size=2))
    return st.one_of(options) if options else st.sampled_from(NASTY)


BASES: list[tuple[dict[str, Any], dict[str, str] | None]] = [
    ({"hfTokenSecretName": "hf"}, None),
    ({"clusterPrep": {"enabled": True}, "pools": [{"name": "llama"}]}, TOKEN),
    ({"gateway": {"provider": "agentgateway"}, "rdma": {"fabric": "none"}}, TOKEN),
    ({"cluster": GKE_CLUSTER, "monitoring": {"backend": "gmp"}}, TOKEN),
]


def put(config: dict[str, Any], path: tuple[Any, ...], key: str, value: Any) -> dict[str, Any]:
    """A copy of `config` with `value` at `path` (creating what is missing; a wrong-typed parent is replaced)."""
    out = json.loads(json.dumps(config))
    node: Any = out
    for here, there in zip(path, (*path[1:], "leaf"), strict=True):
        k = key if here is None else here
        if isinstance(node, list):
            if not node:
                node.append({})
            k = 0
        if there == "leaf":
            node[k] = value
            break
        child = node.get(k) if isinstance(node, dict) else node[k]
        want = list if isinstance(there, int) else dict
        if not isinstance(child, want):
            child = [] if want is list else {}
            node[k] = child
        node = child
    return out


@st.composite
def configs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, str] | None]:
    config, secrets = draw(st.sampled_from(BASES))
    nasty = draw(st.booleans())  # half the examples keep to the schema's types and bounds
    for _ in range(draw(st.integers(1, 3))):
        area = draw(st.sampled_from(AREAS))
        path, schema = draw(st.sampled_from([slot for slot in SLOTS if slot[0][:3] == area]))
        config = put(config, path, draw(KEYS), draw(values(schema, nasty=nasty)))
    return config, secrets


VALIDATED: set[str] = set()


@settings(
    max_examples=200, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
@given(configs())
@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")  # Pulumi raises it while it runs
def test_random_configs_either_fail_by_key_or_register_only_valid_objects(case):
    config, secrets = case
    rec = Recorder()
    try:
        run_program(config, secrets=secrets, recorder=rec)
    except pulumi.RunError as e:
        found = problems_of(e)
        assert found, str(e)
        for p in found:
            assert p.startswith("llm-d-pd:"), p
            assert "Input should" not in p and not names_a_class(p), p
        assert rec.resources == []
        return
    for obj in kubernetes_objects(rec.resources):
        text = json.dumps(obj, sort_keys=True)
        if text not in VALIDATED:  # most objects recur unchanged from one example to the next
            validate_object(obj)
            VALIDATED.add(text)
