"""The stack config: defaults reproduce the seed guide; bad input names its key and the fix."""

from __future__ import annotations

import re

import pytest

from components.config import ConfigError, Decider, Fabric, GatewayProvider, RolloutStrategy, load_config
from components.specs.names import DNS_1035_LABEL, DNS_1123_LABEL, sanitize_prefix

TOKEN = {"hfTokenSecretName": "hf"}


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(raw, "ib")
    return e.value.problems


def test_defaults_reproduce_the_seed_topology_on_infiniband_with_istio():
    cfg = load_config(TOKEN, "ib")
    (pool,) = cfg.pools
    assert pool.model.id == "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"
    assert (pool.prefill.replicas, pool.prefill.tensor_parallelism) == (4, 1)
    assert (pool.decode.replicas, pool.decode.tensor_parallelism) == (1, 4)
    assert pool.gpus == 8
    assert (pool.model.block_size, pool.model.max_model_len) == (128, 32000)
    assert cfg.gateway.provider is GatewayProvider.ISTIO
    assert cfg.rdma.fabric is Fabric.INFINIBAND and cfg.rdma.resource_name == "rdma/ib"
    assert cfg.namespace == "llm-d-pd"
    assert pool.scheduling.decider is Decider.SELECTIVE and pool.scheduling.non_cached_tokens == 16
    assert pool.prefill.strategy is RolloutStrategy.RECREATE is pool.decode.strategy


def test_partial_role_config_keeps_that_roles_own_defaults():
    cfg = load_config({**TOKEN, "pools": [{"name": "llama", "decode": {"replicas": 2}}]}, "ib")
    assert cfg.pools[0].decode.tensor_parallelism == 4  # not the prefill default of 1
    assert cfg.pools[0].decode.cpu == "16"


def test_readiness_timeout_is_sized_from_the_startup_probe_budget():
    cfg = load_config({**TOKEN, "pools": [{"name": "a", "decode": {"startupFailureThreshold": 100}}]}, "ib")
    decode = cfg.pools[0].decode
    assert decode.startup_budget_s == 15 + 30 * 100
    assert decode.readiness_timeout_s >= decode.startup_budget_s + 600
    assert cfg.pools[0].prefill.readiness_timeout_s == 41 * 60  # 1815 s + 600 s, rounded up to minutes


@pytest.mark.parametrize(
    ("raw", "key", "fix"),
    [
        ({"bogus": 1}, "llm-d-pd:bogus", "unknown key"),
        ({"pools": [{"name": "a", "prefill": {"replicaz": 2}}]}, "llm-d-pd:pools[0].prefill.replicaz", "allowed here"),
        ({"pools": [{"name": "a", "prefill": {"replicas": -1}}]}, "llm-d-pd:pools[0].prefill.replicas", "greater than"),
        ({"gateway": {"provider": "nginx"}}, "llm-d-pd:gateway.provider", "'istio'"),
        ({"namespace": "LLM_D"}, "llm-d-pd:namespace", "DNS-1123"),
        ({"prefix": "9-lives"}, "llm-d-pd:prefix", "leading letter"),
        ({"images": {"vllm": "ghcr.io/llm-d/llm-d-cuda:latest"}}, "llm-d-pd:images.vllm", "pin a release tag"),
        ({"images": {"epp": "ghcr.io/llm-d/epp"}}, "llm-d-pd:images.epp", "no tag"),
        ({"rdma": {"resourceName": "rdma"}}, "llm-d-pd:rdma.resourceName", "domain/name"),
        ({"pools": [{"name": "a", "prefill": {"memory": "64 GB"}}]}, "llm-d-pd:pools[0].prefill.memory", "64Gi"),
        (
            {"pools": [{"name": "a", "prefill": {"extraEnv": {"HF_TOKEN": "x"}}}]},
            "llm-d-pd:pools[0].prefill.extraEnv",
            "secret",
        ),
        (
            {"pools": [{"name": "a", "scheduling": {"nonCachedTokens": 0}}]},
            "llm-d-pd:pools[0].scheduling",
            "use the `always` decider",
        ),
        ({"pools": [{"name": "a"}, {"name": "a", "route": {"pathPrefix": "/b"}}]}, "llm-d-pd:pools", "unique"),
        ({"pools": []}, "llm-d-pd:pools", "at least 1"),
    ],
)
def test_bad_input_names_the_key_and_the_fix(raw, key, fix):
    found = problems({**TOKEN, **raw})
    assert any(p.startswith(key) and fix in p for p in found), found


@pytest.mark.parametrize(
    ("raw", "which"),
    [({}, "neither is set"), ({"hfToken": True, "hfTokenSecretName": "hf"}, "both are set")],
)
def test_exactly_one_token_source(raw, which):
    (p,) = problems(raw)
    assert "llm-d-pd:hfToken" in p and "hfTokenSecretName" in p and which in p and "--secret" in p


def test_every_problem_is_reported_not_just_the_first():
    found = problems({**TOKEN, "bogus": 1, "namespace": "X", "gateway": {"provider": "nginx"}})
    assert len(found) == 3


@pytest.mark.parametrize(
    ("stack", "prefix"),
    [("ib", "ib"), ("Dev_Stack.2", "dev-stack-2"), ("9b", "s-9b"), ("---", "llmd"), ("a" * 40, "a" * 20),
     ("prod--eu-west1-very-long-name", "prod-eu-west1-very-l")],
)  # fmt: skip
def test_prefix_is_sanitised_from_the_stack_name(stack, prefix):
    assert sanitize_prefix(stack) == prefix
    assert load_config(TOKEN, stack).prefix == prefix


@pytest.mark.parametrize("stack", ["x", "UPPER", "a.b.c", "1234", "-lead", "trail-", "ü-nicode", "a__b", "Z" * 99])
def test_sanitised_prefix_is_always_a_dns_1035_label(stack):
    p = sanitize_prefix(stack)
    assert DNS_1035_LABEL.match(p) and DNS_1123_LABEL.match(p) and len(p) <= 20, p
    assert re.fullmatch(r"[a-z][a-z0-9-]*", p)
