"""The shell scripts a new user runs first: the engine preflight on a fresh machine, and verify-pd's gateway lookup
(with a stand-in kubectl that records what it is asked)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def fresh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Every cache pointed at folders that do not exist yet, as on a machine that never ran Go."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "LLMD_", "XDG_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        GOMODCACHE=str(tmp_path / "fresh/mod"),
        GOCACHE=str(tmp_path / "fresh/gocache"),
        GOPATH=str(tmp_path / "fresh/gopath"),
        LLMD_CACHE=str(tmp_path / "fresh/llmd"),
        GOPROXY="off",
    )
    env.update(extra)
    return env


def test_engine_check_passes_on_a_machine_that_never_ran_go(tmp_path):
    out = subprocess.run([ROOT / "scripts/build-engine", "--check"], env=fresh_env(tmp_path), capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "preflight ok" in out.stderr
    for d in ("mod", "gocache", "llmd"):
        assert (tmp_path / "fresh" / d).is_dir()  # created, not assumed
    assert not list((tmp_path / "fresh/llmd").glob("engine-*"))  # --check builds nothing


def test_engine_build_says_why_it_stops(tmp_path):
    """A cache that cannot be created is named, never a silent exit."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = fresh_env(tmp_path, LLMD_CACHE=str(blocker / "cache"))
    out = subprocess.run([ROOT / "scripts/build-engine", "--check"], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode != 0
    assert f"cannot create or write {blocker / 'cache'}" in out.stderr


def test_engine_build_rejects_unknown_arguments_with_a_message(tmp_path):
    out = subprocess.run([ROOT / "scripts/build-engine", "--chek"], env=fresh_env(tmp_path), capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 2 and "unknown argument --chek" in out.stderr


FAKE_KUBECTL = """#!/usr/bin/env bash
# Stand-in kubectl: one Running pod per role, zero counters, and it records the URL the probe request goes to.
echo "$*" >> "$FAKE_LOG"
case "$*" in
  *"get pods"*"role=prefill"*) echo prefill-0 ;;
  *"get pods"*"role=decode"*) echo decode-0 ;;
  *"get pod decode-0"*) echo '["m", "--served-model-name", "llama-70b"]' ;;
  *ucx_info*) exit 1 ;;
  *"sh -c"*) echo "0 0" ;;
  *"python3 -c"*) echo "URL ${@: -2:1}" >> "$FAKE_LOG"; echo text_completion ;;
esac
"""


def run_verify_pd(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    log = tmp_path / "kubectl.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(log)}
    out = subprocess.run([ROOT / "scripts/verify-pd", *args], env=env, capture_output=True, text=True, timeout=60)
    return out, log.read_text() if log.exists() else ""


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("istio", "http://ib-inference-gateway-istio.llm-d-pd.svc.cluster.local:80"),
        ("agentgateway", "http://ib-inference-gateway.llm-d-pd.svc.cluster.local:80"),
        ("kgateway", "http://ib-inference-gateway.llm-d-pd.svc.cluster.local:80"),
    ],
)
def test_verify_pd_finds_each_providers_gateway_service(tmp_path, provider, url):
    out, log = run_verify_pd(tmp_path, "-p", "ib", "--provider", provider)
    assert out.returncode == 0, out.stderr
    assert f"URL {url}" in log
    assert "no KV transfer seen" in out.stdout  # zero counters: the verdict says so rather than claiming RDMA


def test_verify_pd_names_the_model_the_decode_pod_serves(tmp_path):
    out, _ = run_verify_pd(tmp_path, "-p", "ib")
    assert "model:       llama-70b" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "ib", "--provider", "gke"], "GKE's gateway has no in-cluster Service"),
        (["-p", "ib", "--provider", "nginx"], "--provider must be istio, agentgateway, kgateway or gke"),
        ([], "pass --stack STACK, or -p PREFIX"),
        (["--bogus"], "unknown argument --bogus"),
    ],
)
def test_verify_pd_refuses_clearly(tmp_path, args, message):
    out, log = run_verify_pd(tmp_path, *args)
    assert out.returncode == 2 and message in out.stderr
    assert "python3 -c" not in log  # nothing was sent


def test_verify_pd_on_gke_uses_the_given_address(tmp_path):
    out, log = run_verify_pd(tmp_path, "-p", "gke", "--provider", "gke", "--gateway-url", "http://10.0.0.9")
    assert out.returncode == 0, out.stderr
    assert "URL http://10.0.0.9" in log
    assert "llm-d.ai/install=gke" in log
