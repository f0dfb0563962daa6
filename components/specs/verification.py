"""The verification Job of one pool: once the workers are Ready, one completion through the gateway's in-cluster
Service, checked for an OpenAI `text_completion` answer. It proves the route, the pool and a worker answer; which
transport moved the KV cache is shown by scripts/verify-pd."""

from __future__ import annotations

import json
import shlex
from typing import Any

from components.config import PoolConfig, StackConfig
from components.specs import wiring
from components.specs.gateway import gateway_service_name
from components.specs.names import InstallNames, PoolNames
from components.specs.security import restricted


def gateway_url(cfg: StackConfig) -> str | None:
    assert cfg.prefix is not None
    names = InstallNames(cfg.prefix, cfg.namespace)
    svc = gateway_service_name(names, cfg.gateway)
    if svc is None:
        return None
    return f"http://{svc}.{cfg.namespace}.svc.cluster.local:{wiring.GATEWAY_LISTENER_PORT}"


def verification_job(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    url = gateway_url(cfg)
    assert url is not None, "preflight refuses verification without an in-cluster gateway Service"
    body = json.dumps({"model": pool.model.served, "prompt": cfg.verification.prompt, "max_tokens": 16})
    headers = " ".join(f"-H {shlex.quote(f'{k}: {v}')}" for k, v in sorted(pool.route.headers.items()))
    path = pool.route.path_prefix.rstrip("/") + "/v1/completions"
    script = (
        f"answer=$(curl -sS --fail --retry 30 --retry-delay 10 --retry-all-errors --max-time 120 -X POST "
        f"{url}{path} -H 'Content-Type: application/json' {headers} -d {shlex.quote(body)}) && echo \"$answer\" && "
        'echo "$answer" | grep -q \'"text_completion"\''
    )
    labels = {**names.install.common_labels(), wiring.LABEL_COMPONENT: "verification", wiring.LABEL_POOL: names.pool}
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
