"""scripts/bench-report on a recorded result (a real inference-perf 0.7.0 run against tests/bench/stub_server.py:
it measures the harness, not a model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/bench/results.json"
PNG = b"\x89PNG\r\n\x1a\n"


def report(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts/bench-report"), *args], input=stdin,
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip


def test_a_recorded_run_becomes_a_table_two_plots_and_llm_d_benchmark_reports(tmp_path):
    done = report(str(FIXTURE), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = [line for line in (tmp_path / "table.md").read_text().splitlines() if line.startswith("| 0") or
            line.startswith("| 1")]  # fmt: skip
    assert len(rows) == 2 and "| 2 req/s |" in rows[0] and "| 4 req/s |" in rows[1]
    for png in ("throughput_vs_ttft.png", "throughput_vs_itl.png"):
        data = (tmp_path / png).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    br = yaml.safe_load((tmp_path / "br-stage-1.yaml").read_text())
    assert br["version"] == "0.2.1"  # llmd-benchmark-report 0.2.1 writes v0.2.1, a superset of v0.2
    assert br["scenario"]["load"]["standardized"]["tool"] == "inference-perf"
    assert br["results"]["request_performance"]["aggregate"]["requests"]["total"] == 20


def test_the_config_map_the_job_fills_and_the_job_log_are_read_alike(tmp_path):
    results = FIXTURE.read_text()
    cm = json.dumps({"kind": "ConfigMap", "data": {"results.json": results}})
    log = "starting\nLLMD_BENCHMARK_RESULTS " + json.dumps(json.loads(results)) + "\ndone\n"
    (tmp_path / "job.log").write_text(log)
    from_cm = report("-", "--out", str(tmp_path / "a"), "--no-br", stdin=cm)
    from_log = report(str(tmp_path / "job.log"), "--out", str(tmp_path / "b"), "--no-br")
    assert from_cm.returncode == from_log.returncode == 0
    assert (tmp_path / "a/table.md").read_text() == (tmp_path / "b/table.md").read_text()


def test_planned_points_sit_beside_the_measured_ones_per_gpu(tmp_path):
    plan = tmp_path / "plan.json"
    subprocess.run([sys.executable, str(ROOT / "scripts/plan"), "--isl", "200", "--osl", "40", "--ttft", "1s",
                    "--itl", "30ms", "--machine", "a3-ultragpu-8g", "--json", str(plan)],
                   check=True, capture_output=True, cwd=ROOT)  # fmt: skip
    done = report(str(FIXTURE), "--out", str(tmp_path / "out"), "--plan", str(plan), "--no-br")
    assert done.returncode == 0, done.stderr
    assert "output tok/s / GPU (8)" in done.stdout
    assert (tmp_path / "out/throughput_vs_ttft.png").read_bytes().startswith(PNG)


def test_an_empty_config_map_says_the_job_has_not_finished(tmp_path):
    done = report("-", "--out", str(tmp_path), stdin=json.dumps({"kind": "ConfigMap", "data": {}}))
    assert done.returncode == 2 and "has the benchmark Job finished" in done.stderr
