"""The benchmark Job's entry point (shipped in a ConfigMap; standard library only): runs inference-perf with the
config next to it, then publishes its lifecycle reports (a) on stdout as one JSON line starting with RESULTS_MARKER,
so `kubectl logs job/<name>` carries them, and (b) into the results ConfigMap through the API server (merge patch, with
the Job's own ServiceAccount, allowed to patch only that ConfigMap).

    python3 run_benchmark.py CONFIG_YAML RESULTS_DIR

Environment: BENCH_GATEWAY_URL replaces server.base_url (GKE: the Gateway's address, known only once Programmed);
BENCH_RESULTS_CONFIGMAP / BENCH_NAMESPACE name the ConfigMap; BENCH_API_URL and BENCH_TOKEN_FILE override the
in-cluster API address and token (tests); BENCH_COMMAND overrides the inference-perf command (JSON list).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

RESULTS_MARKER = "LLMD_BENCHMARK_RESULTS "
RESULTS_KEY = "results.json"
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def run_inference_perf(config: Path, results: Path) -> int:
    text = config.read_text()
    gateway = os.environ.get("BENCH_GATEWAY_URL")
    if gateway:
        text = text.replace("@GATEWAY_URL@", gateway.rstrip("/"))
    text = text.replace("@RESULTS_DIR@", str(results))
    effective = results / "config.yaml"
    results.mkdir(parents=True, exist_ok=True)
    effective.write_text(text)
    command = json.loads(os.environ.get("BENCH_COMMAND") or "null") or [
        sys.executable, "-m", "inference_perf.main", "--config_file",
    ]  # fmt: skip
    return subprocess.run([*command, str(effective)], check=False).returncode


def collect(results: Path, exit_code: int) -> dict[str, Any]:
    """Every lifecycle report inference-perf wrote (per stage and the summary; not the per-request file)."""
    reports = {}
    for f in sorted(results.rglob("*_lifecycle_metrics.json")):
        if f.name.startswith("per_request"):
            continue
        reports[f.name] = json.loads(f.read_text())
    return {
        "format": "inference-perf lifecycle metrics",
        "exit_code": exit_code,
        "config": (results / "config.yaml").read_text(),
        "reports": reports,
    }


def publish(results: dict[str, Any]) -> None:
    name, namespace = os.environ.get("BENCH_RESULTS_CONFIGMAP"), os.environ.get("BENCH_NAMESPACE")
    if not (name and namespace):
        return
    api = os.environ.get("BENCH_API_URL")
    context = None
    if not api:
        host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
        api = f"https://{host}:{port}"
        context = ssl.create_default_context(cafile=str(SA_DIR / "ca.crt"))
    token = Path(os.environ.get("BENCH_TOKEN_FILE") or SA_DIR / "token").read_text().strip()
    body = json.dumps({"data": {RESULTS_KEY: json.dumps(results, sort_keys=True)}}).encode()
    request = urllib.request.Request(
        f"{api}/api/v1/namespaces/{namespace}/configmaps/{name}",
        data=body,
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        answer.read()
    print(f"results written to ConfigMap {namespace}/{name} (key {RESULTS_KEY})", flush=True)


def main(argv: list[str]) -> int:
    config, results_dir = Path(argv[1]), Path(argv[2])
    code = run_inference_perf(config, results_dir)
    results = collect(results_dir, code)
    print(RESULTS_MARKER + json.dumps(results, sort_keys=True), flush=True)
    if not results["reports"]:
        print("inference-perf wrote no lifecycle report", file=sys.stderr)
        return code or 1
    publish(results)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
