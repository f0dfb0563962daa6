"""The benchmark Job (benchmark.enabled, opt-in): inference-perf (kubernetes-sigs/inference-perf, the release image of
PyPI's 0.7.0) against the gateway's in-cluster address with the configured workload (ISL/OSL distribution, a rate or
concurrency sweep), after the P/D gate. It runs components/bench/run_benchmark.py, shipped in a ConfigMap with the
inference-perf config, which prints the lifecycle reports as one JSON line in the Job's log and writes them into the
results ConfigMap; with benchmark.gcsBucket inference-perf also uploads them to the bucket (GKE).

Least privilege: its own ServiceAccount whose Role may only get and patch the one results ConfigMap (by name); the
restricted security context; the Hugging Face token (for the tokenizer inference-perf sizes prompts with) from the
install's Secret. Like the P/D gate, the Job and its code ConfigMap are named with a hash of what they do, so a changed
workload is a new run and an unchanged one is not rerun.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.bench import run_benchmark
from components.config import PoolConfig, StackConfig
from components.specs import wiring
from components.specs.names import NameRef, PoolNames, content_named
from components.specs.security import pod_context, restricted
from components.specs.verification import gateway_url

RUNNER_SOURCE = Path(run_benchmark.__file__).read_text()
SCRIPT_KEY = "run_benchmark.py"
CONFIG_KEY = "inference-perf.yaml"
MOUNT = "/bench"
RESULTS_DIR = "/results"
CONTAINER = "inference-perf"
COMPONENT = "benchmark"
GATEWAY_URL_ENV = "BENCH_GATEWAY_URL"


def benchmark_pool(cfg: StackConfig) -> PoolConfig:
    """benchmark.pool, or the first serving pool."""
    wanted = cfg.benchmark.pool
    serving = [p for p in cfg.pools if p.serve]
    return next((p for p in serving if p.name == wanted), serving[0]) if wanted else serving[0]


def bench_name(names: PoolNames) -> str:
    return f"{names.inference_pool}-bench"


def results_config_map_name(names: PoolNames) -> str:
    """Fixed: where the user reads the results (`kubectl get configmap <name> -o json | scripts/bench-report -`)."""
    return f"{bench_name(names)}-results"


def labels(names: PoolNames) -> dict[str, str]:
    return {**names.install.common_labels(), wiring.LABEL_POOL: names.pool, wiring.LABEL_COMPONENT: COMPONENT}


def _meta(names: PoolNames, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": names.install.namespace, "labels": labels(names)}


def _distribution(mean: int, std_dev: int, count: int) -> dict[str, int]:
    spread = 3 * std_dev
    return {"min": max(1, mean - spread), "max": mean + spread, "mean": mean, "std_dev": std_dev, "total_count": count}


def inference_perf_config(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    """inference-perf's config (docs/config.md of kubernetes-sigs/inference-perf v0.7.0). The gateway URL is a
    placeholder on GKE, filled from BENCH_GATEWAY_URL when the Job runs."""
    b = cfg.benchmark
    url = gateway_url(cfg) or "@GATEWAY_URL@"
    base = url + pool.route.path_prefix.rstrip("/")
    if b.concurrency:
        load: dict[str, Any] = {
            "type": "concurrent",
            "stages": [{"concurrency_level": c, "num_requests": b.requests_per_stage} for c in b.concurrency],
        }
        count = max(b.requests_per_stage, 100)
    else:
        load = {"type": "constant", "stages": [{"rate": r, "duration": b.stage_seconds} for r in b.rates]}
        count = max(100, int(max(b.rates) * b.stage_seconds))
    storage: dict[str, Any] = {"local_storage": {"path": "@RESULTS_DIR@"}}
    if b.gcs_bucket:
        storage["google_cloud_storage"] = {"bucket_name": b.gcs_bucket, "path": f"{bench_name(names)}/{{timestamp}}"}
    return {
        "api": {"type": "completion", "streaming": True},
        "server": {"type": "vllm", "model_name": pool.model.served, "base_url": base, "ignore_eos": True},
        "tokenizer": {"pretrained_model_name_or_path": b.tokenizer or pool.model.id},
        "data": {
            "type": "random",
            "input_distribution": _distribution(b.input_tokens, b.input_tokens_std_dev, count),
            "output_distribution": _distribution(b.output_tokens, b.output_tokens_std_dev, count),
        },
        "load": load,
        "report": {"request_lifecycle": {"summary": True, "per_stage": True, "per_request": False}},
        "storage": storage,
    }


def _job_spec(names: PoolNames, pool: PoolConfig, cfg: StackConfig, config_map: str, token_secret: Any) -> dict:
    b = cfg.benchmark
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": b.image,
        "command": ["python3", f"{MOUNT}/{SCRIPT_KEY}", f"{MOUNT}/{CONFIG_KEY}", RESULTS_DIR],
        "env": [
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            {"name": "HOME", "value": "/tmp"},
            {"name": "HF_HOME", "value": "/tmp/hf"},
            {
                "name": wiring.HF_TOKEN_KEY,
                "valueFrom": {"secretKeyRef": {"name": token_secret, "key": wiring.HF_TOKEN_KEY}},
            },
            {"name": "BENCH_RESULTS_CONFIGMAP", "value": results_config_map_name(names)},
            {"name": "BENCH_NAMESPACE", "value": names.install.namespace},
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {
            "requests": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
            "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"},
        },
        "securityContext": restricted(),
        "volumeMounts": [
            {"name": "bench", "mountPath": MOUNT, "readOnly": True},
            {"name": "results", "mountPath": RESULTS_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "backoffLimit": 0,
        "activeDeadlineSeconds": b.wait_seconds,
        "template": {
            "metadata": {"labels": labels(names)},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": bench_name(names),
                # The API token patches the results ConfigMap; the Role allows nothing else.
                "automountServiceAccountToken": True,
                "securityContext": pod_context(),
                "containers": [container],
                "volumes": [
                    {"name": "bench", "configMap": {"name": config_map}},
                    {"name": "results", "emptyDir": {"sizeLimit": "512Mi"}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                ],
            },
        },
    }


def run_name(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> str:
    """Changes with the runner, the workload and the Job's spec: a changed benchmark is a new run."""
    spec = _job_spec(names, pool, cfg, "", "")
    return content_named(bench_name(names), RUNNER_SOURCE, inference_perf_config(names, pool, cfg), spec)


def code_config_map(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(names, run_name(names, pool, cfg)),
        "data": {
            SCRIPT_KEY: RUNNER_SOURCE,
            CONFIG_KEY: yaml.safe_dump(inference_perf_config(names, pool, cfg), sort_keys=False),
        },
    }


def results_config_map(names: PoolNames) -> dict[str, Any]:
    """Created empty; the Job fills `results.json` (Pulumi ignores changes to its data)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(names, results_config_map_name(names)),
        "data": {},
    }


def service_account(names: PoolNames) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(names, bench_name(names)),
            "automountServiceAccountToken": False}  # fmt: skip


def role(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(names, bench_name(names)),
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [results_config_map_name(names)],
             "verbs": ["get", "patch"]}
        ],
    }  # fmt: skip


def role_binding(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(names, bench_name(names)),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": bench_name(names)},
        "subjects": [{"kind": "ServiceAccount", "name": bench_name(names), "namespace": names.install.namespace}],
    }


def job(
    names: PoolNames, pool: PoolConfig, cfg: StackConfig, token_secret: NameRef, gateway_url: NameRef | None = None
) -> dict[str, Any]:
    """No TTL: the finished Job keeps its log (the results line) until the next run replaces it. GKE: `gateway_url`
    (gateway.external_url, an Output) in BENCH_GATEWAY_URL, since the gateway has no in-cluster Service there."""
    name = run_name(names, pool, cfg)
    spec = _job_spec(names, pool, cfg, config_map=name, token_secret=token_secret)
    if gateway_url is not None:
        spec["template"]["spec"]["containers"][0]["env"].append({"name": GATEWAY_URL_ENV, "value": gateway_url})
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(names, name), "spec": spec}
