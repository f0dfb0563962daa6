"""Cache modes (pools[].model.cache): the default per cluster kind, the objects of each mode (schema-valid), the
populate Job's place in the dependency graph (on the system pool, not after the GPU pool; the workers after it), the
refusals preflight makes before anything exists, and the time-to-serve estimate as a pure function."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import estimate, preflight
from components.config import CacheMode, ConfigError, load_config
from components.specs import model_cache
from components.specs.names import InstallNames
from tests.harness import GKE_CLUSTER, Recorder, Registered, run_program
from tests.unit.test_schemas import unwrap
from tests.validation import validate_object

TOKEN = {"hfToken": "hf_not_a_real_token"}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
NODE_POOL = "gcp:container/nodePool:NodePool"
MODEL = "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"
BUCKET = "gs://my-models/llama"
EXISTING_VOLUME = {"mode": "volume", "storageClassName": "shared-models", "accessMode": "ReadWriteMany"}


def gke(**gpu_pool: Any) -> dict[str, Any]:
    return {"cluster": {**GKE_CLUSTER, "gke": {**GKE_CLUSTER["gke"], "gpuPool": {"reservation": "r", **gpu_pool}}}}


def cache(**fields: Any) -> dict[str, Any]:
    return {"pools": [{"name": "llama", "model": {"cache": fields}}]}


def pod_spec(dep: Registered) -> dict[str, Any]:
    return dep.inputs["spec"]["template"]["spec"]


def vllm(dep: Registered) -> dict[str, Any]:
    return next(c for c in pod_spec(dep)["containers"] if c["name"] == "vllm")


def volumes(dep: Registered) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(dep)["volumes"]}


def mounts(dep: Registered) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in vllm(dep)["volumeMounts"]}


@pytest.fixture(scope="module")
def gke_volume() -> Recorder:
    return run_program(gke(), TOKEN, "gke")


# --- which mode, by default -----------------------------------------------------------------------------------------
EXISTING_GKE = {"cluster": {"kind": "gke", "gke": {"provision": False}}}
SYSTEM_C3D = {
    "cluster": {**GKE_CLUSTER, "gke": {**GKE_CLUSTER["gke"], "systemPool": {"machineType": "c3d-standard-8"}}}
}
DEFAULTS = [
    ("existing cluster: no storage known", {}, CacheMode.PER_POD, None),
    ("GKE cluster of this stack: Hyperdisk ML", gke(), CacheMode.VOLUME, "c3-standard-8"),
    ("GKE pinned to a release from before cache modes", {**gke(), "release": "llm-d-v0.6"}, CacheMode.PER_POD,
     "e2-standard-8"),
    ("an existing GKE cluster", EXISTING_GKE, CacheMode.PER_POD, None),
    ("legacy sharedModelCache", gke(sharedModelCache=True), CacheMode.NODE, "e2-standard-8"),
    ("an explicit system machine type is kept", SYSTEM_C3D, CacheMode.VOLUME, "c3d-standard-8"),
    ("an explicit mode wins", {**gke(), **cache(mode="per-pod")}, CacheMode.PER_POD, "e2-standard-8"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "mode", "system"), [d[1:] for d in DEFAULTS], ids=[d[0] for d in DEFAULTS])
def test_the_default_mode_follows_what_storage_the_stack_knows(raw, mode, system):
    cfg = load_config({**raw, "hfTokenSecretName": "hf"}, "s")
    assert cfg.pools[0].model.cache.mode is mode
    if system is not None:
        assert cfg.cluster.gke.system_pool.machine_type == system
    assert preflight.run(cfg).errors == []


def test_legacy_shared_cache_and_another_mode_is_refused_naming_both_keys():
    with pytest.raises(ConfigError) as e:
        load_config({**gke(sharedModelCache=True), **cache(mode="volume"), "hfTokenSecretName": "hf"}, "gke")
    (problem,) = e.value.problems
    assert "cluster.gke.gpuPool.sharedModelCache" in problem and "pools[0].model.cache.mode is volume" in problem


def test_legacy_shared_cache_still_mounts_the_node_directory_and_says_it_is_legacy():
    cfg = load_config({**gke(sharedModelCache=True), "hfTokenSecretName": "hf"}, "gke")
    assert any("legacy spelling of pools[].model.cache.mode: node" in w for w in preflight.run(cfg).warnings)


# --- GKE, cache mode volume -----------------------------------------------------------------------------------------
def test_gke_volume_is_a_hyperdisk_ml_class_a_filled_source_and_its_read_only_many_clone(gke_volume):
    sc = gke_volume.one(STORAGE_CLASS)
    assert sc.inputs["provisioner"] == "pd.csi.storage.gke.io"
    assert sc.inputs["parameters"] == {"type": "hyperdisk-ml", "provisioned-throughput-on-create": "2400Mi"}
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc.inputs["metadata"]["name"] == "gke-model-cache"  # cluster-scoped: carries the install's prefix
    claims = {c.inputs["metadata"]["name"]: c.inputs["spec"] for c in gke_volume.of_type(PVC)}
    (serving,) = [n for n in claims if not n.endswith("-src")]
    source = f"{serving}-src"
    assert claims[source]["accessModes"] == ["ReadWriteOnce"]
    assert claims[serving]["accessModes"] == ["ReadOnlyMany"]
    assert claims[serving]["dataSource"] == {"kind": "PersistentVolumeClaim", "name": source}
    for spec in claims.values():
        assert spec["storageClassName"] == "gke-model-cache"
        assert spec["resources"]["requests"]["storage"] == "78Gi"  # 72.7 GB x 1.15, in GiB, rounded up


def test_the_populate_job_fills_the_source_on_the_system_pool_with_the_token_as_a_file(gke_volume):
    job = next(j for j in gke_volume.of_type(JOB) if j.name.endswith("-fill"))
    pod = job.inputs["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"llm-d.ai/node-role": "system"} and "tolerations" not in pod
    (c,) = pod["containers"]
    assert c["command"][:2] == ["python3", "-c"] and "snapshot_download" in c["command"][2]
    assert c["command"][3:] == [MODEL, "main", "/models/weights"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HF_TOKEN_PATH"] == "/var/run/secrets/hf/token" and "HF_TOKEN" not in env
    claim = next(v for v in pod["volumes"] if v["name"] == model_cache.VOLUME)["persistentVolumeClaim"]
    assert claim["claimName"].endswith("-src") and "readOnly" not in claim
    assert c["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False


def test_the_fill_waits_for_the_system_pool_never_the_gpu_pool_and_the_workers_wait_for_the_fill(gke_volume):
    pools = {r.inputs["name"]: r for r in gke_volume.of_type(NODE_POOL)}
    job = next(j for j in gke_volume.of_type(JOB) if j.name.endswith("-fill"))
    chart = gke_volume.one("kubernetes:helm.sh/v4:Chart")
    installer = gke_volume.one("kubernetes:yaml/v2:ConfigFile")
    assert gke_volume.depends_on(job, pools["system"])
    for gpu_side in (pools["gpu"], chart, installer):
        assert not gke_volume.depends_on(job, gpu_side), gpu_side.name
    serving = next(c for c in gke_volume.of_type(PVC) if c.name.endswith("-claim"))
    assert gke_volume.depends_on(serving, job)  # the clone is taken once the source is filled
    for role in ("prefill", "decode"):
        worker = gke_volume.one(DEPLOYMENT, f"gke-llama-{role}")
        assert gke_volume.depends_on(worker, job) and gke_volume.depends_on(worker, pools["gpu"])


def test_workers_mount_the_volume_read_only_and_serve_it_under_the_models_name(gke_volume):
    for role in ("prefill", "decode"):
        dep = gke_volume.one(DEPLOYMENT, f"gke-llama-{role}")
        claim = volumes(dep)[model_cache.VOLUME]["persistentVolumeClaim"]
        assert claim["readOnly"] is True and not claim["claimName"].endswith("-src")
        assert mounts(dep)[model_cache.VOLUME] == {"name": model_cache.VOLUME, "mountPath": "/models",
                                                   "readOnly": True}  # fmt: skip
        args = vllm(dep)["args"]
        assert args[0] == "/models/weights"
        assert args[args.index("--served-model-name") + 1] == MODEL
        assert volumes(dep)["model-cache"] == {"name": "model-cache", "emptyDir": {"sizeLimit": "1Gi"}}


def test_every_model_cache_object_is_schema_valid(gke_volume):
    objects = [
        unwrap(r.inputs)
        for r in gke_volume.resources
        if r.typ in (JOB, PVC, STORAGE_CLASS, "kubernetes:core/v1:ServiceAccount", DEPLOYMENT)
    ]
    assert len(objects) >= 6
    for obj in objects:
        validate_object(obj)


def test_the_estimate_shows_the_fill_off_the_critical_path():
    cfg = load_config({**gke(), "hfTokenSecretName": "hf"}, "gke")
    (fact,) = [f for f in preflight.run(cfg).facts if f.startswith("time to serve")]
    assert "gpu pool 14 min" in fact and "off the path" in fact and "(fill)" in fact
    est = estimate.stack_estimate(cfg)
    assert "fill" not in est.path and est.path[-1] == "load"
    assert next(iter(est.fills.values())) < est.finish["drivers"]


def test_a_second_program_run_names_the_same_volume_and_job_and_a_new_revision_a_new_one():
    def fill_and_claims(raw: dict[str, Any]) -> tuple[str, set[str]]:
        rec = run_program(raw, TOKEN, "gke")
        job = next(j for j in rec.of_type(JOB) if j.name.endswith("-fill"))
        return job.inputs["metadata"]["name"], {c.inputs["metadata"]["name"] for c in rec.of_type(PVC)}

    first, again = fill_and_claims(gke()), fill_and_claims(gke())
    assert first == again
    other = fill_and_claims({**gke(), **cache(revision="v2")})
    assert other[0] != first[0] and not other[1] & first[1]


def test_two_pools_of_one_model_share_one_volume_and_another_model_gets_its_own():
    pools = [
        {"name": "blue", "decode": {"replicas": 0}, "prefill": {"replicas": 0}, "serve": False},
        {"name": "green", "prefill": {"replicas": 2}},
        {"name": "qwen", "model": {"id": "Qwen/Qwen3-32B", "maxModelLen": 16000}, "prefill": {"replicas": 0},
         "decode": {"replicas": 0}, "serve": False},
    ]  # fmt: skip
    cfg = load_config({**gke(), "pools": pools, "hfTokenSecretName": "hf"}, "gke")
    vols = model_cache.model_volumes(cfg)
    assert [v.model_id for v in vols] == [MODEL, "Qwen/Qwen3-32B"]
    names = InstallNames("gke", "llm-d-pd")
    assert model_cache.volume_name(names, cfg.pools[0]) == model_cache.volume_name(names, cfg.pools[1])


# --- existing clusters and the other modes --------------------------------------------------------------------------
def test_existing_cluster_volume_is_one_claim_of_the_named_class_written_by_the_job_read_by_the_workers():
    rec = run_program({**cache(**EXISTING_VOLUME), "rdma": {"fabric": "none"}}, TOKEN)
    assert rec.of_type(STORAGE_CLASS) == []
    (claim,) = rec.of_type(PVC)
    spec = claim.inputs["spec"]
    assert spec["accessModes"] == ["ReadWriteMany"] and spec["storageClassName"] == "shared-models"
    assert "dataSource" not in spec
    job = next(j for j in rec.of_type(JOB) if j.name.endswith("-fill"))
    pod = job.inputs["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod  # no system pool to name: any node without a taint
    assert rec.depends_on(job, claim)
    for role in ("prefill", "decode"):
        dep = rec.one(DEPLOYMENT, f"ib-llama-{role}")
        assert (
            volumes(dep)[model_cache.VOLUME]["persistentVolumeClaim"]["claimName"] == claim.inputs["metadata"]["name"]
        )
        assert rec.depends_on(dep, job)
    for obj in (unwrap(claim.inputs), unwrap(job.inputs)):
        validate_object(obj)


MODES = [
    ("per-pod", {}, "emptyDir", {"sizeLimit": "100Gi"}, MODEL, []),
    ("node", {"mode": "node"}, "hostPath", {"path": "/var/cache/huggingface", "type": "DirectoryOrCreate"}, MODEL, []),
    ("stream", {"mode": "stream", "bucket": BUCKET}, "emptyDir", {"sizeLimit": "1Gi"},
     BUCKET, ["--load-format", "runai_streamer"]),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "kind", "source", "model_arg", "loader"), [m[1:] for m in MODES],
                         ids=[m[0] for m in MODES])  # fmt: skip
def test_each_mode_gives_the_worker_its_cache_volume_and_model_argument(fields, kind, source, model_arg, loader):
    images = {"images": {"vllm": "registry.example/vllm-runai:0.20.0"}} if fields.get("mode") == "stream" else {}
    rec = run_program({**cache(**fields), **images}, TOKEN)
    assert not [j for j in rec.of_type(JOB) if j.name.endswith("-fill")] and rec.of_type(PVC) == []
    for role in ("prefill", "decode"):
        dep = rec.one(DEPLOYMENT, f"ib-llama-{role}")
        assert volumes(dep)["model-cache"] == {"name": "model-cache", kind: source}
        assert model_cache.VOLUME not in volumes(dep)
        args = vllm(dep)["args"]
        assert args[0] == model_arg and args[args.index("--served-model-name") + 1] == MODEL
        assert [a for a in args if a in ("--load-format", "runai_streamer")] == loader
        validate_object(unwrap(dep.inputs))


def test_the_populate_jobs_reach_dns_and_the_download_ports_only():
    rec = run_program(gke(), TOKEN, "gke")
    pol = rec.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "gke-model-cache")
    spec = pol.inputs["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in spec
    assert spec["podSelector"]["matchLabels"] == {
        "llm-d.ai/install": "gke",
        "app.kubernetes.io/component": "model-cache",
    }
    ports = [p["port"] for rule in spec["egress"] for p in rule["ports"]]
    assert sorted(ports) == [53, 53, 443]
    job = next(j for j in rec.of_type(JOB) if j.name.endswith("-fill"))
    labels = job.inputs["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()


# --- refused before anything exists ---------------------------------------------------------------------------------
REFUSED = [
    ("volume on an existing cluster names its class", cache(mode="volume"), "pools[0].model.cache.storageClassName",
     "required"),
    ("one node's volume cannot serve two", cache(**{**EXISTING_VOLUME, "accessMode": "ReadWriteOnce"}),
     "pools[0].model.cache.accessMode", "ReadWriteMany or ReadOnlyMany"),
    ("Hyperdisk ML is read-only-many", {**gke(), **cache(accessMode="ReadWriteMany")},
     "pools[0].model.cache.accessMode", "ReadOnlyMany"),
    ("the checkpoint does not fit", {**gke(), **cache(size="80G")}, "pools[0].model.cache.size", "at least 78Gi"),
    ("an unknown model cannot be sized", {**gke(), "pools": [{"model": {"id": "acme/secret-model"}}]},
     "pools[0].model.cache.size", "not in the catalog"),
    ("a bucket source needs the bucket", {**gke(), **cache(source="bucket", populateImage="gcr.io/x/gcloud:1.0")},
     "pools[0].model.cache.bucket", "gs://"),
    ("a bucket source needs gcloud", {**gke(), **cache(source="bucket", bucket=BUCKET)},
     "pools[0].model.cache.populateImage", "gcloud"),
    ("E2 attaches no Hyperdisk",
     {"cluster": {**GKE_CLUSTER, "gke": {**GKE_CLUSTER["gke"], "systemPool": {"machineType": "e2-standard-8"}}}},
     "cluster.gke.systemPool.machineType", "c3-standard-8"),
    ("the release image has no streamer", cache(mode="stream", bucket=BUCKET), "pools[0].model.cache.mode",
     "runai"),
    ("stream needs a bucket", {**cache(mode="stream"), "images": {"vllm": "registry.example/v:1.0"}},
     "pools[0].model.cache.bucket", "streams from"),
    ("a key the mode does not read", cache(storageClassName="x"), "pools[0].model.cache.storageClassName",
     "does not read it"),
    ("cacheSize is the per-pod cache's", {**gke(), "pools": [{"model": {"cacheSize": "200Gi"}}]},
     "pools[0].model.cacheSize", "cache.size"),
    ("the node cache needs a root vLLM", {**cache(mode="node"), "rdma": {"fabric": "none"}},
     "pools[0].model.cache.mode", "uid 2000"),
    ("a bucket with the hub as source", {**gke(), **cache(bucket=BUCKET)}, "pools[0].model.cache.bucket",
     "source: bucket"),
    ("not a revision", cache(revision="../main"), "pools[0].model.cache.revision", "branch, tag or commit"),
    ("not a bucket", cache(mode="stream", bucket="http://x"), "pools[0].model.cache.bucket", "gs://bucket/path"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "key", "fix"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_a_cache_that_cannot_work_stops_before_anything_is_registered(raw, key, fix):
    rec = Recorder()
    with pytest.raises(pulumi.RunError) as e:
        run_program(raw, TOKEN, "gke" if "cluster" in raw else "ib", recorder=rec)
    problems = [line[4:] for line in str(e.value).splitlines() if line.startswith("  - ")]
    assert any(f"llm-d-pd:{key}" in p and fix in p for p in problems), problems
    assert rec.resources == []


def test_a_read_only_many_class_elsewhere_is_allowed_with_a_warning_that_the_job_writes_through_it():
    raw = {**cache(**{**EXISTING_VOLUME, "accessMode": "ReadOnlyMany"}), "hfTokenSecretName": "hf"}
    report = preflight.run(load_config(raw, "ib"))
    assert not [e for e in report.errors if "cache" in e]
    assert any("accessMode" in w and "writes through the same claim" in w for w in report.warnings)


# --- the estimate, a pure function ----------------------------------------------------------------------------------
S = estimate.Step
GRAPHS = [
    ("one step", [S("a", 3)], 3, ("a",)),
    ("a chain adds up", [S("a", 1), S("b", 2, ("a",)), S("c", 3, ("b",))], 6, ("a", "b", "c")),
    ("the longer branch is the path", [S("a", 1), S("b", 5, ("a",)), S("c", 2, ("a",)), S("d", 1, ("b", "c"))], 7,
     ("a", "b", "d")),
    ("a branch off the path costs nothing",
     [S("pool", 14), S("fill", 6), S("load", 3, ("pool", "fill"))], 17, ("pool", "load")),
    ("a fill slower than the pool is the path", [S("pool", 14), S("fill", 20), S("load", 3, ("pool", "fill"))], 23,
     ("fill", "load")),
    ("order of listing does not matter", [S("c", 3, ("b",)), S("b", 2, ("a",)), S("a", 1)], 6, ("a", "b", "c")),
]  # fmt: skip


@pytest.mark.parametrize(("steps", "total", "path"), [g[1:] for g in GRAPHS], ids=[g[0] for g in GRAPHS])
def test_the_estimate_is_the_longest_chain(steps, total, path):
    est = estimate.estimate(steps)
    assert est.total == total and est.path == path


@pytest.mark.parametrize(
    ("steps", "error"),
    [([S("a", 1, ("x",))], "unknown step"), ([S("a", 1, ("b",)), S("b", 1, ("a",))], "cycle"),
     ([S("a", 1), S("a", 2)], "unique")],
)  # fmt: skip
def test_a_broken_graph_is_an_error(steps, error):
    with pytest.raises(ValueError, match=error):
        estimate.schedule(steps)


@st.composite
def dags(draw: st.DrawFn) -> list[estimate.Step]:
    n = draw(st.integers(1, 12))
    steps = []
    for i in range(n):
        after = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        steps.append(S(f"s{i}", draw(st.floats(0, 60, allow_nan=False)), tuple(f"s{j}" for j in after)))
    return steps


@settings(max_examples=200, deadline=None, derandomize=True)
@given(dags())
def test_laws_of_the_schedule(steps):
    est = estimate.estimate(steps)
    by_name = {s.name: s for s in steps}
    for s in steps:  # a step ends its own duration after its last dependency, never before
        start = max((est.finish[a] for a in s.after), default=0.0)
        assert est.finish[s.name] == pytest.approx(start + s.minutes)
    assert all(est.finish[s.name] <= est.total + 1e-9 for s in steps)
    # The path is a chain of dependencies whose durations add up to the total.
    assert all(est.path[i] in by_name[est.path[i + 1]].after for i in range(len(est.path) - 1))
    assert not by_name[est.path[0]].after
    assert sum(by_name[n].minutes for n in est.path) == pytest.approx(est.total)


ESTIMATES = [
    ("GKE volume: the GPU pool is the path", gke(), ("gpu pool", "drivers", "load"), "off the path"),
    ("GKE per-pod: five downloads after the GPU pool", {**gke(), **cache(mode="per-pod")},
     ("gpu pool", "drivers", "download", "load"), None),
    ("existing per-pod: only the workers' steps", {}, ("download", "load"), None),
    ("a slow hub puts the fill on the path",
     {**gke(), "preflight": {"estimate": {"huggingfaceMbPerS": 10}}}, ("system pool", "fill", "load"), "on the path"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "on_path", "fill"), [e[1:] for e in ESTIMATES], ids=[e[0] for e in ESTIMATES])
def test_the_stack_estimate_names_its_critical_path(raw, on_path, fill):
    cfg = load_config({**raw, "hfTokenSecretName": "hf"}, "gke")
    est = estimate.stack_estimate(cfg)
    assert all(step in est.path for step in on_path), est.path
    text = estimate.describe(est)
    assert text.startswith("time to serve (modeled")
    if fill is None:
        assert "weights ready" not in text
    else:
        assert f"(fill), {fill}" in text


def test_an_override_moves_the_estimate_by_exactly_its_change_on_the_path():
    base = load_config({**gke(), "hfTokenSecretName": "hf"}, "gke")
    slower = load_config({**gke(), "hfTokenSecretName": "hf", "preflight": {"estimate": {"gpuPoolMinutes": 30}}}, "gke")
    assert estimate.stack_estimate(slower).total - estimate.stack_estimate(base).total == pytest.approx(16)


def _egress(rec: Recorder, name_suffix: str) -> list[dict[str, Any]]:
    (pol,) = [
        unwrap(r.inputs)
        for r in rec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["name"].endswith(name_suffix)
    ]
    return pol["spec"]["egress"]


METADATA_RULE = {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"protocol": "TCP", "port": 80}]}


def test_pods_that_read_a_bucket_on_gke_may_reach_the_metadata_server_for_their_identity(gke_volume: Recorder) -> None:
    """Workload Identity tokens come from GKE's metadata server; the egress policies must let exactly the pods that
    call Google APIs reach it."""
    from_bucket = run_program(
        {**gke(), **cache(source="bucket", bucket=BUCKET, populateImage="gcr.io/x/gcloud:1.0")}, TOKEN, "gke"
    )
    assert METADATA_RULE in _egress(from_bucket, "-model-cache")
    assert METADATA_RULE not in _egress(from_bucket, "-prefill-egress")
    from_hub = gke_volume
    assert METADATA_RULE not in _egress(from_hub, "-model-cache")
    streaming = run_program(
        {**gke(), **cache(mode="stream", bucket=BUCKET), "images": {"vllm": "registry.example/vllm-runai:1.0"}},
        TOKEN,
        "gke",
    )
    assert METADATA_RULE in _egress(streaming, "-prefill-egress")
    assert METADATA_RULE in _egress(streaming, "-decode-egress")
