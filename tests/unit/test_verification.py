"""The optional verification Job: one completion through the gateway's in-cluster Service, after the workers."""

from __future__ import annotations

import json
import re

import pytest

from components import preflight
from components.config import load_config
from components.specs import verification
from components.specs.names import InstallNames
from tests.harness import run_program


def job_for(raw: dict) -> tuple[dict, object]:
    cfg = load_config({"hfTokenSecretName": "hf", "verification": {"enabled": True}, **raw}, "ib")
    pool = cfg.pools[0]
    return verification.verification_job(InstallNames("ib", cfg.namespace).pool(pool.name), pool, cfg), cfg


def test_job_posts_the_served_model_to_the_gateway_service_and_checks_the_answer():
    job, _ = job_for({"pools": [{"name": "llama", "model": {"servedName": "llama-70b"}}]})
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "http://ib-inference-gateway-istio.llm-d-pd.svc.cluster.local:80/v1/completions" in script
    body = json.loads(re.search(r" -d '(\{.*?\})'\)", script).group(1))
    assert body["model"] == "llama-70b"
    assert "text_completion" in script and "--fail" in script
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
    assert len(rec.of_type("kubernetes:batch/v1:Job")) == (1 if enabled else 0)
