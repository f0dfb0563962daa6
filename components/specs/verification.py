"""The verification Job of one pool: once the workers are Ready, one completion through the gateway's in-cluster
Service, with a prompt the EPP disaggregates. It passes only on generated text.

What it proves: the route, the InferencePool, the EPP and a decode worker answer a request long enough for the
pool's decider to send it through prefill, so with a healthy EPP the prefill leg runs (a sidecar that refuses the
leg, e.g. with HTTP 403, fails the request and the Job). What it does not prove: which transport moved the KV cache,
or that the prefill leg was not skipped by a decider that never disaggregates; scripts/verify-pd shows the transport.
"""

from __future__ import annotations

import json
import math
import shlex
from typing import Any

from components.config import Decider, PoolConfig, StackConfig
from components.specs import wiring
from components.specs.gateway import gateway_service_name
from components.specs.names import InstallNames, PoolNames
from components.specs.security import pod_context, restricted

CHARS_PER_TOKEN = 4
"""The EPP's prompt-length estimate: characters per token (llm-d/llm-d-inference-scheduler v0.7.0, the prefix-based
P/D decider counts a prompt's tokens as its length in characters divided by this)."""
MARGIN_TOKENS = 64
"""Tokens above the decider's threshold, so rounding and a few cached tokens never keep a request decode-only."""
FILLER = "Verification context line {i}: prefill computes this text once and decode reuses its KV cache. "
MAX_TOKENS = 16
"""More than one token: decode must generate from the transferred KV cache, not just return prefill's token."""


def disaggregated_prompt_chars(pool: PoolConfig) -> int:
    """The least prompt length (characters) that the pool's decider disaggregates when nothing of it is cached:
    the selective decider needs nonCachedTokens estimated tokens, the `always` decider none (the margin stays)."""
    threshold = pool.scheduling.non_cached_tokens if pool.scheduling.decider is Decider.SELECTIVE else 0
    return CHARS_PER_TOKEN * (threshold + MARGIN_TOKENS)


def filler(chars: int) -> str:
    """Deterministic text of at least `chars` characters."""
    out: list[str] = []
    while sum(len(line) for line in out) < chars:
        out.append(FILLER.format(i=len(out)))
    return "".join(out)


def prompt_tokens_estimate(prompt: str) -> int:
    return math.floor(len(prompt) / CHARS_PER_TOKEN)


def gateway_url(cfg: StackConfig) -> str | None:
    names = InstallNames(cfg.prefix, cfg.namespace, cfg.release)
    svc = gateway_service_name(names, cfg.gateway)
    if svc is None:
        return None
    return f"http://{svc}.{cfg.namespace}.svc.cluster.local:{wiring.GATEWAY_LISTENER_PORT}"


def verification_selector(names: PoolNames) -> dict[str, str]:
    """The verification Job's pods (its egress NetworkPolicy selects them)."""
    return {**names.install.install_labels(), wiring.LABEL_COMPONENT: "verification", wiring.LABEL_POOL: names.pool}


def verification_job(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    url = gateway_url(cfg)
    assert url is not None, "preflight refuses verification without an in-cluster gateway Service"
    # The prompt starts with a nonce drawn when the pod runs, so no earlier run's prefix-cache entry can make the
    # decider keep it decode-only; the rest is long enough for the decider on its own.
    text = f"{filler(disaggregated_prompt_chars(pool))}{cfg.verification.prompt}"
    body = json.dumps({"model": pool.model.served, "prompt": "@NONCE@ " + text, "max_tokens": MAX_TOKENS})
    headers = " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in sorted(pool.route.headers.items()))
    path = pool.route.path_prefix.rstrip("/") + "/v1/completions"
    script = (
        "nonce=$(cat /proc/sys/kernel/random/uuid) && "
        f"body=$(printf '%s' {shlex.quote(body)} | sed \"s/@NONCE@/run-$nonce/\") && "
        f"answer=$(curl -sS --fail --retry 30 --retry-delay 10 --retry-all-errors --max-time 300 -X POST "
        f'{url}{path} -H \'Content-Type: application/json\' {headers} -d "$body") && echo "$answer" && '
        # Generated text, not only a well-formed answer: a "text" field that is not empty.
        'echo "$answer" | grep -q \'"text_completion"\' && echo "$answer" | grep -q \'"text": *"[^"]\''
    )
    labels = {**names.install.common_labels(), **verification_selector(names)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{names.inference_pool}-verify", "namespace": names.install.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": cfg.verification.timeout_seconds,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": pod_context(),
                    "containers": [
                        {
                            "name": "verify",
                            "image": cfg.verification.image,
                            "command": ["sh", "-c", script],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "32Mi", "ephemeral-storage": "16Mi"},
                                "limits": {"memory": "64Mi", "ephemeral-storage": "64Mi"},
                            },
                            "securityContext": restricted(),
                        }
                    ],
                },
            },
        },
    }
