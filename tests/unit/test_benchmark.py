"""The benchmark Job (benchmark.enabled): its objects under mocks, its inference-perf config, and its runner's
publishing into the results ConfigMap (against a fake API server on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from components.bench import run_benchmark
from components.config import ConfigError, load_config
from components.specs import benchmark
from components.specs.names import InstallNames
from tests.harness import GKE_CLUSTER, run_program

TOKEN = {"hfToken": "hf_x"}
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/bench/results.json"


def config(**bench) -> object:
    return load_config({"hfTokenSecretName": "hf", "benchmark": {"enabled": True, **bench}}, "ib")


def ip_config(**bench) -> dict:
    cfg = config(**bench)
    pool = cfg.pools[0]
    return benchmark.inference_perf_config(InstallNames("ib", cfg.namespace).pool(pool.name), pool, cfg)


def test_no_benchmark_objects_unless_enabled():
    rec = run_program({}, secrets=TOKEN)
    assert not [r for r in rec.resources if r.typ == "llmd:serving:Benchmark"]


def test_the_job_runs_after_the_pd_gate_and_patches_only_its_results_config_map():
    rec = run_program({"benchmark": {"enabled": True, "rates": [1, 2, 4]}}, secrets=TOKEN)
    jobs = rec.of_type("kubernetes:batch/v1:Job")
    bench = next(j for j in jobs if "-bench-" in j.metadata["name"])
    gate = next(j for j in jobs if "-pd-gate-" in j.metadata["name"])
    assert rec.depends_on(bench, gate)
    role = rec.one("kubernetes:rbac.authorization.k8s.io/v1:Role", "ib-llama-bench")
    rule = {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["ib-llama-bench-results"]}
    assert role.inputs["rules"] == [{**rule, "verbs": ["get", "patch"]}]
    results = rec.one("kubernetes:core/v1:ConfigMap", "ib-llama-bench-results")
    assert rec.depends_on(bench, results)
    pod = bench.inputs["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "quay.io/inference-perf/inference-perf:v0.7.0"
    assert c["securityContext"]["readOnlyRootFilesystem"] and c["securityContext"]["runAsNonRoot"]
    env = {e["name"]: e for e in c["env"]}
    assert env["BENCH_RESULTS_CONFIGMAP"]["value"] == "ib-llama-bench-results"
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "HF_TOKEN"
    assert pod["serviceAccountName"] == "ib-llama-bench" and bench.inputs["spec"]["backoffLimit"] == 0
    # The sweep's length plus 15 minutes of allowance.
    assert bench.inputs["spec"]["activeDeadlineSeconds"] == 3 * 60 + 15 * 60
    code = next(r for r in rec.of_type("kubernetes:core/v1:ConfigMap") if r.metadata["name"] == bench.metadata["name"])
    assert code.inputs["data"]["run_benchmark.py"] == Path(run_benchmark.__file__).read_text()


def test_without_the_gate_it_waits_for_the_route_and_the_workers():
    rec = run_program({"benchmark": {"enabled": True}, "verification": {"gate": False}}, secrets=TOKEN)
    bench = next(j for j in rec.of_type("kubernetes:batch/v1:Job") if "-bench-" in j.metadata["name"])
    route = rec.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")[0]
    assert rec.depends_on(bench, route)
    for d in rec.of_type("kubernetes:apps/v1:Deployment"):
        if "decode" in d.name or "prefill" in d.name:
            assert rec.depends_on(bench, d)


def test_on_gke_the_job_gets_the_gateway_address():
    rec = run_program({"cluster": GKE_CLUSTER, "benchmark": {"enabled": True}}, secrets=TOKEN, stack="gke")
    bench = next(j for j in rec.of_type("kubernetes:batch/v1:Job") if "-bench-" in j.metadata["name"])
    code = next(r for r in rec.of_type("kubernetes:core/v1:ConfigMap") if r.metadata["name"] == bench.metadata["name"])
    assert "@GATEWAY_URL@" in code.inputs["data"]["inference-perf.yaml"]


def test_the_inference_perf_config_carries_the_workload_and_the_gateway():
    c = ip_config(inputTokens=10000, inputTokensStdDev=500, outputTokens=1000, rates=[0.5, 1], stageSeconds=120)
    assert c["server"]["base_url"] == "http://ib-inference-gateway-istio.llm-d-pd.svc.cluster.local:80"
    assert c["server"]["model_name"] == "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"
    assert c["data"]["type"] == "random"
    assert c["data"]["input_distribution"] == {"min": 8500, "max": 11500, "mean": 10000, "std_dev": 500,
                                               "total_count": 120}  # fmt: skip
    assert c["load"] == {"type": "constant", "stages": [{"rate": 0.5, "duration": 120}, {"rate": 1, "duration": 120}]}
    assert c["tokenizer"]["pretrained_model_name_or_path"] == "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"
    assert c["report"]["request_lifecycle"] == {"summary": True, "per_stage": True, "per_request": False}


def test_a_concurrency_sweep_replaces_the_rates_and_a_bucket_adds_gcs_storage():
    c = ip_config(concurrency=[1, 8, 32], requestsPerStage=200, gcsBucket="my-results")
    assert c["load"]["type"] == "concurrent"
    assert [s["concurrency_level"] for s in c["load"]["stages"]] == [1, 8, 32]
    assert c["storage"]["google_cloud_storage"]["bucket_name"] == "my-results"


def test_rates_and_concurrency_together_are_refused():
    with pytest.raises(ConfigError, match="rates or concurrency"):
        config(rates=[1], concurrency=[4])


def test_a_changed_workload_is_a_new_run():
    cfg_a, cfg_b = config(rates=[1]), config(rates=[2])
    n = InstallNames("ib", "llm-d-pd").pool("llama")
    assert benchmark.run_name(n, cfg_a.pools[0], cfg_a) != benchmark.run_name(n, cfg_b.pools[0], cfg_b)
    assert benchmark.run_name(n, cfg_a.pools[0], cfg_a) == benchmark.run_name(n, cfg_a.pools[0], config(rates=[1]))


def test_the_runner_prints_the_results_line_and_patches_the_config_map(tmp_path, monkeypatch, capsys):
    received: list[tuple[str, str, dict, str]] = []

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_PATCH(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, self.headers["Content-Type"], body, self.headers["Authorization"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        recorded = json.loads(FIXTURE.read_text())
        results = tmp_path / "results"
        results.mkdir()
        for name, report in recorded["reports"].items():
            (results / name).write_text(json.dumps(report))
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({"server": {"base_url": "@GATEWAY_URL@"}}))
        (tmp_path / "token").write_text("sa-token\n")
        fake = tmp_path / "fake_inference_perf.py"
        fake.write_text("import sys\nassert open(sys.argv[1]).read().count('http://gw.example:80')\n")
        monkeypatch.setenv("BENCH_COMMAND", json.dumps(["python3", str(fake)]))
        monkeypatch.setenv("BENCH_GATEWAY_URL", "http://gw.example:80/")
        monkeypatch.setenv("BENCH_RESULTS_CONFIGMAP", "ib-llama-bench-results")
        monkeypatch.setenv("BENCH_NAMESPACE", "llm-d-pd")
        monkeypatch.setenv("BENCH_API_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("BENCH_TOKEN_FILE", str(tmp_path / "token"))
        assert run_benchmark.main(["run", str(tmp_path / "config.yaml"), str(results)]) == 0
    finally:
        server.shutdown()
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(run_benchmark.RESULTS_MARKER))
    printed = json.loads(line[len(run_benchmark.RESULTS_MARKER) :])
    assert set(printed["reports"]) == set(recorded["reports"]) and printed["exit_code"] == 0
    ((path, ctype, body, auth),) = received
    assert path == "/api/v1/namespaces/llm-d-pd/configmaps/ib-llama-bench-results"
    assert ctype == "application/merge-patch+json" and auth == "Bearer sa-token"
    assert json.loads(body["data"]["results.json"]) == printed


def test_the_runner_fails_when_inference_perf_wrote_nothing(tmp_path, monkeypatch):
    (tmp_path / "config.yaml").write_text("{}\n")
    monkeypatch.setenv("BENCH_COMMAND", json.dumps(["python3", "-c", "import sys; sys.exit(3)"]))
    monkeypatch.delenv("BENCH_RESULTS_CONFIGMAP", raising=False)
    assert run_benchmark.main(["run", str(tmp_path / "config.yaml"), str(tmp_path / "results")]) == 3
