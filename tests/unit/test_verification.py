"""The optional verification Job: one completion through the gateway's in-cluster Service, after the workers."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest

from components import preflight
from components.config import load_config
from components.specs import verification
from components.specs.names import InstallNames
from components.specs.verification import CHARS_PER_TOKEN, MARGIN_TOKENS
from tests.harness import run_program


def job_for(raw: dict) -> tuple[dict, object]:
    cfg = load_config({"hfTokenSecretName": "hf", "verification": {"enabled": True}, **raw}, "ib")
    pool = cfg.pools[0]
    return verification.verification_job(InstallNames("ib", cfg.namespace).pool(pool.name), pool, cfg), cfg


def script_of(job: dict) -> str:
    return job["spec"]["template"]["spec"]["containers"][0]["command"][2]


def body_of(job: dict) -> dict:
    return json.loads(shlex.split(re.search(r"printf '%s' ('.*?') \| sed", script_of(job)).group(1))[0])


def test_job_posts_the_served_model_to_the_gateway_service_and_checks_the_answer():
    job, _ = job_for({"pools": [{"name": "llama", "model": {"servedName": "llama-70b"}}]})
    script = script_of(job)
    assert "http://ib-inference-gateway-istio.llm-d-pd.svc.cluster.local:80/v1/completions" in script
    body = body_of(job)
    assert body["model"] == "llama-70b"
    assert body["max_tokens"] > 1  # decode generates from the transferred KV cache
    assert "text_completion" in script and "--fail" in script
    assert '"text": *"[^"]' in script  # passes only on generated text
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 600
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_job_follows_the_pools_route_match():
    job, _ = job_for({"pools": [{"name": "qwen", "route": {"pathPrefix": "/qwen", "headers": {"x-model": "q"}}}]})
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "svc.cluster.local:80/qwen/v1/completions" in script and "-H 'x-model: q'" in script


def test_agentgateway_jobs_use_its_service_and_gke_is_refused():
    job, _ = job_for({"gateway": {"provider": "agentgateway"}, "rdma": {"fabric": "none"}})
    assert (
        "http://ib-inference-gateway.llm-d-pd.svc.cluster.local:80/"
        in job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    )
    cfg = load_config(
        {"hfTokenSecretName": "hf", "verification": {"enabled": True}, "gateway": {"provider": "gke"}}, "ib"
    )
    assert any(e.startswith("llm-d-pd:verification.enabled") for e in preflight.run(cfg).errors)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_job_is_registered_only_when_enabled(enabled):
    rec = run_program({"verification": {"enabled": enabled}}, secrets={"hfToken": "hf_x"})
    verify = [j for j in rec.of_type("kubernetes:batch/v1:Job") if j.metadata["name"].endswith("-verify")]
    assert len(verify) == (1 if enabled else 0)


def decider_disaggregates(prompt: str, non_cached_tokens: int, cached_tokens: int = 0) -> bool:
    """The prefix-based P/D decider's rule at EPP v0.7.0: estimated prompt tokens (characters / 4) minus the tokens
    the chosen decode pod has cached, at least the threshold."""
    return len(prompt) // CHARS_PER_TOKEN - cached_tokens >= non_cached_tokens


@pytest.mark.parametrize("threshold", [1, 16, 256, 4096, 20000])
def test_the_prompt_is_long_enough_for_the_pools_decider(threshold):
    job, cfg = job_for({"pools": [{"name": "llama", "scheduling": {"nonCachedTokens": threshold}}]})
    prompt = body_of(job)["prompt"].replace("@NONCE@", "run-" + "0" * 36)
    assert decider_disaggregates(prompt, threshold)
    # ...with margin: a handful of cached tokens does not flip it.
    assert decider_disaggregates(prompt, threshold, cached_tokens=MARGIN_TOKENS - 1)
    # ...and it fits the model's context with the answer.
    assert len(prompt) // CHARS_PER_TOKEN + verification.MAX_TOKENS < cfg.pools[0].model.max_model_len


def test_the_default_prompt_is_not_the_short_one_that_stayed_decode_only():
    job, cfg = job_for({})
    prompt = body_of(job)["prompt"]
    assert not decider_disaggregates(cfg.verification.prompt, cfg.pools[0].scheduling.non_cached_tokens)
    assert decider_disaggregates(prompt, cfg.pools[0].scheduling.non_cached_tokens)


def test_each_run_draws_its_own_nonce_at_the_start_of_the_prompt():
    job, _ = job_for({})
    script = script_of(job)
    assert body_of(job)["prompt"].startswith("@NONCE@ ")
    # Run the substitution part of the script the way the pod does, twice: two different nonces, valid JSON.
    substitution = script.split(" && answer=")[0] + ' && printf "%s" "$body"'
    runs = [json.loads(subprocess.run(["sh", "-c", substitution], capture_output=True, text=True, check=True).stdout)
            for _ in range(2)]  # fmt: skip
    assert all(r["prompt"].startswith("run-") for r in runs)
    assert runs[0]["prompt"] != runs[1]["prompt"] and runs[0]["prompt"][40:] == runs[1]["prompt"][40:]


def test_a_threshold_no_prompt_can_reach_is_refused():
    cfg = load_config(
        {"hfTokenSecretName": "hf", "pools": [{"name": "llama", "scheduling": {"nonCachedTokens": 32000}}]}, "ib"
    )
    assert any(e.startswith("llm-d-pd:pools[0].scheduling.nonCachedTokens") for e in preflight.run(cfg).errors)
