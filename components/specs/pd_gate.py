"""The P/D gate of one serving pool, as Kubernetes objects: a Job that runs components/gate/pd_gate.py (shipped in a
ConfigMap) after the workers and the route are Ready, so `up` fails unless requests were really disaggregated and
their KV cache really moved.

Least privilege: its own ServiceAccount, whose token only lets it GET the EPP's /metrics (the EPP reviews the token;
the same path the monitoring scrape uses, components/specs/monitoring.py); headless Services give it the worker pods'
addresses through DNS, so it needs no API access to find them; its egress NetworkPolicy lets it reach DNS, the gateway,
the EPP's metrics port and the workers' vLLM ports only, and the workers' and EPP's ingress policies admit it there
(components/specs/network_policy.py).

The Job and its ConfigMap are named with a hash of everything the gate does (its code, its config, the Job spec), so
a changed config or gate replaces the Job and `up` runs it again; an unchanged one is not rerun.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.config import Decider, PoolConfig, StackConfig, pool_images
from components.gate import pd_gate
from components.specs import gateway, wiring
from components.specs.gateway import GATEWAY_POD_LABEL
from components.specs.names import NameRef, PoolNames, content_named
from components.specs.security import pod_context, restricted
from components.specs.verification import disaggregated_prompt_chars, gateway_url
from components.specs.wiring import Role

GATE_SOURCE = Path(pd_gate.__file__).read_text()
SCRIPT_KEY = "pd_gate.py"
CONFIG_KEY = "config.json"
MOUNT = "/gate"
TOKEN_DIR = "/var/run/secrets/pd-gate"
CONTAINER = "gate"
COMPONENT = "pd-gate"
SHORT_PROMPT = "Hi."
"""Estimated 0 tokens (3 characters / 4): below every selective threshold (nonCachedTokens >= 1)."""
GATEWAY_URL_ENV = "PD_GATE_GATEWAY_URL"


def gate_enabled(cfg: StackConfig) -> bool:
    """`verification.gate`, by default on, except for render stacks (nothing runs there)."""
    if cfg.verification.gate is not None:
        return cfg.verification.gate
    return cfg.cluster.render_directory is None


def gate_image(cfg: StackConfig, pool: PoolConfig) -> str:
    """The pool's vLLM image by default: pinned, already pulled on the GPU nodes the gate is placed next to, and it
    has python3 and prometheus_client (a vLLM dependency). A pool pinned to another release set uses its own, so
    moving the stack's release does not rerun a pinned pool's gate."""
    return cfg.verification.gate_image or pool_images(cfg, pool).vllm


def gate_labels(names: PoolNames) -> dict[str, str]:
    return {**names.install.common_labels(), **gate_selector(names)}


def gate_selector(names: PoolNames) -> dict[str, str]:
    """Matches no worker (no inference-serving label) and no EPP (no inferencepool label)."""
    return {**names.install.install_labels(), wiring.LABEL_POOL: names.pool, wiring.LABEL_COMPONENT: COMPONENT}


def gate_name(names: PoolNames) -> str:
    """The ServiceAccount and the egress NetworkPolicy."""
    return f"{names.inference_pool}-pd-gate"


def cluster_role_name(names: PoolNames) -> str:
    """Cluster-scoped: carries the namespace and the prefix, as the EPP's ClusterRole does."""
    return f"{names.install.namespace}-{gate_name(names)}"


def metrics_service(names: PoolNames, role: Role) -> str:
    return f"{names.worker(role)}-metrics"


def _fqdn(names: PoolNames, service: str) -> str:
    return f"{service}.{names.install.namespace}.svc.cluster.local"


def gate_config(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    """What the gate checks (components.gate.pd_gate.GateConfig). On GKE the gateway's address is known only once the
    Gateway is Programmed: the Job passes it in PD_GATE_GATEWAY_URL."""
    timeout = cfg.verification.timeout_seconds
    return {
        "pool": pool.name,
        "gateway_url": gateway_url(cfg) or "",
        "path": pool.route.path_prefix.rstrip("/") + "/v1/completions",
        "headers": dict(sorted(pool.route.headers.items())),
        "model": pool.model.served,
        "requests": cfg.verification.gate_requests,
        "long_prompt_chars": disaggregated_prompt_chars(pool),
        "short_prompt": SHORT_PROMPT if pool.scheduling.decider is Decider.SELECTIVE else None,
        "max_tokens": 16,
        "epp_metrics_url": f"http://{names.epp_service_fqdn}:{wiring.EPP_METRICS_PORT}/metrics",
        "token_file": f"{TOKEN_DIR}/token",
        "prefill_metrics": [
            f"dns://{_fqdn(names, metrics_service(names, Role.PREFILL))}:{wiring.vllm_port(Role.PREFILL)}/metrics"
        ],
        "decode_metrics": [
            f"dns://{_fqdn(names, metrics_service(names, Role.DECODE))}:{wiring.vllm_port(Role.DECODE)}/metrics"
        ],
        "request_timeout": float(min(300, max(30, timeout // 4))),
        "warmup_seconds": float(max(30, timeout // 2)),
        "settle_seconds": 30.0,
        "poll_seconds": 5.0,
    }


def _meta(names: PoolNames, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": names.install.namespace, "labels": gate_labels(names)}


def service_account(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(names, gate_name(names)),
        "automountServiceAccountToken": False,
    }


def cluster_role(names: PoolNames) -> dict[str, Any]:
    """Only GET /metrics: what the EPP's subject access review asks (GAIE v1.4.0, cmd/epp/runner/runner.go)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": cluster_role_name(names), "labels": gate_labels(names)},
        "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
    }


def cluster_role_binding(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": cluster_role_name(names), "labels": gate_labels(names)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role_name(names)},
        "subjects": [{"kind": "ServiceAccount", "name": gate_name(names), "namespace": names.install.namespace}],
    }


def job_role(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    """get and patch on the gate's own Job, by name: it records its figures there (nothing else)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(names, gate_name(names)),
        "rules": [
            {
                "apiGroups": ["batch"],
                "resources": ["jobs"],
                "resourceNames": [run_name(names, pool, cfg)],
                "verbs": ["get", "patch"],
            }
        ],
    }


def job_role_binding(names: PoolNames) -> dict[str, Any]:
    name = gate_name(names)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(names, name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": names.install.namespace}],
    }


def metrics_services(names: PoolNames) -> list[dict[str, Any]]:
    """Headless, one per role: their DNS names resolve to the Ready worker pods, whose vLLM /metrics the gate reads."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": metrics_service(names, role),
                "namespace": names.install.namespace,
                "labels": names.install.common_labels(),
            },
            "spec": {
                "clusterIP": "None",
                "selector": names.worker_selector(role),
                "ports": [
                    {
                        "name": wiring.VLLM_PORT_NAME,
                        "port": wiring.vllm_port(role),
                        "targetPort": wiring.VLLM_PORT_NAME,
                        "protocol": "TCP",
                    }
                ],
            },
        }
        for role in (Role.PREFILL, Role.DECODE)
    ]


def run_name(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> str:
    """The Job's and its ConfigMap's name: everything the gate does (its code, its config and the Job's spec:
    image, placement, deadline), so a change to any of it is a new run."""
    spec = _job_spec(names, pool, cfg, config_map="")
    return content_named(gate_name(names), GATE_SOURCE, gate_config(names, pool, cfg), spec)


def config_map(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(names, run_name(names, pool, cfg)),
        "data": {
            SCRIPT_KEY: GATE_SOURCE,
            CONFIG_KEY: json.dumps(gate_config(names, pool, cfg), indent=2, sort_keys=True),
        },
    }


def _job_spec(names: PoolNames, pool: PoolConfig, cfg: StackConfig, config_map: str) -> dict[str, Any]:
    decode = pool.decode
    codes = sorted({code for code, _ in pd_gate.CAUSES.values()} | {pd_gate.CONFIG_ERROR})
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": gate_image(cfg, pool),
        "command": ["python3", f"{MOUNT}/{SCRIPT_KEY}", f"{MOUNT}/{CONFIG_KEY}"],
        "env": [
            # Where the gate records its figures (publish in components/gate/pd_gate.py).
            {"name": "PD_GATE_JOB", "value": config_map},  # the run's name: its Job's and its ConfigMap's
            {"name": "PD_GATE_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            {"name": "HOME", "value": "/tmp"},
        ],
        # The verdict and the figures: `kubectl describe pod` shows them, and pulumi-kubernetes prints a failed
        # Job's pod status with its message.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "16Mi"},
            "limits": {"cpu": "1", "memory": "256Mi", "ephemeral-storage": "64Mi"},
        },
        "securityContext": restricted(),
        "volumeMounts": [
            {"name": "gate", "mountPath": MOUNT, "readOnly": True},
            {"name": "token", "mountPath": TOKEN_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": gate_name(names),
        "automountServiceAccountToken": False,
        "securityContext": pod_context(),
        "containers": [container],
        "volumes": [
            {"name": "gate", "configMap": {"name": config_map}},
            # A short-lived token of the gate's own ServiceAccount, for the EPP's /metrics and for annotating its own
            # Job with its figures; the cluster's CA to reach the API server (kube-root-ca.crt: published in every
            # namespace by kube-controller-manager's root-ca-cert-publisher since Kubernetes 1.20).
            {
                "name": "token",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    ]
                },
            },
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
        # Next to the decode pod: the default image (vLLM's) is already on that node.
        "affinity": {
            "podAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": names.worker_selector(Role.DECODE)},
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
    }
    if decode.node_selector:
        pod["nodeSelector"] = dict(decode.node_selector)
    if decode.tolerations:
        pod["tolerations"] = [dict(t) for t in decode.tolerations]
    return {
        "backoffLimit": 0,
        "activeDeadlineSeconds": cfg.verification.timeout_seconds,
        # A failed check fails the Job at once, and its condition names the gate's exit code (one per cause).
        "podFailurePolicy": {
            "rules": [
                {"action": "FailJob", "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": codes}}
            ]
        },
        "template": {"metadata": {"labels": gate_labels(names)}, "spec": pod},
    }


def job(names: PoolNames, pool: PoolConfig, cfg: StackConfig, gateway_url: NameRef | None = None) -> dict[str, Any]:
    """No TTL: the finished Job and its pod keep the figures (`kubectl logs job/<name>`) until the next run. GKE:
    `gateway_url` (gateway.external_url of the Programmed Gateway's address, an Output) in PD_GATE_GATEWAY_URL, since
    the gateway has no in-cluster Service there. The run's name does not depend on it."""
    name = run_name(names, pool, cfg)
    spec = _job_spec(names, pool, cfg, config_map=name)
    if gateway_url is not None:
        spec["template"]["spec"]["containers"][0]["env"].append({"name": GATEWAY_URL_ENV, "value": gateway_url})
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(names, name), "spec": spec}


def egress_policy(
    names: PoolNames, cfg: StackConfig, gateway_name: str, gateway_cidr: NameRef | None = None
) -> dict[str, Any]:
    """The gate reaches DNS, the gateway's listener, the EPP's metrics port and the vLLM ports: nothing else; and
    nothing reaches it (Ingress with no rule)."""

    def tcp(*ports: int) -> list[dict[str, Any]]:
        return [{"protocol": "TCP", "port": p} for p in ports]

    if not gateway.profile(cfg.gateway).in_cluster:
        # GKE: the load balancer's address (gateway.external_cidr, an Output); none yet on a first preview.
        gateway_peer: list[dict[str, Any]] = [{"ipBlock": {"cidr": gateway_cidr}}] if gateway_cidr is not None else []
    else:
        gateway_peer = [{"podSelector": {"matchLabels": {GATEWAY_POD_LABEL: gateway_name}}}]
    rules: list[dict[str, Any]] = [
        {"ports": [{"protocol": proto, "port": 53} for proto in ("UDP", "TCP")]},
        # The API server, to annotate its own Job (its Role allows nothing else); its address is not known here.
        {"ports": tcp(*wiring.API_SERVER_PORTS)},
        {"to": [{"podSelector": {"matchLabels": names.epp_selector()}}], "ports": tcp(wiring.EPP_METRICS_PORT)},
        {
            "to": [{"podSelector": {"matchLabels": names.worker_selector(Role.PREFILL)}}],
            "ports": tcp(wiring.vllm_port(Role.PREFILL)),
        },
        {
            "to": [{"podSelector": {"matchLabels": names.worker_selector(Role.DECODE)}}],
            "ports": tcp(wiring.vllm_port(Role.DECODE)),
        },
    ]
    if gateway_peer:
        rules.insert(1, {"to": gateway_peer, "ports": tcp(wiring.GATEWAY_LISTENER_PORT)})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": gate_name(names), "namespace": names.install.namespace, "labels": gate_labels(names)},
        "spec": {
            "podSelector": {"matchLabels": gate_selector(names)},
            "policyTypes": ["Ingress", "Egress"],
            "egress": rules,
        },
    }


def proof_spec(names: PoolNames, pool: PoolConfig, cfg: StackConfig) -> dict[str, Any]:
    """The `pdProof.<pool>` export: what the gate required and where its measured figures are."""
    name = run_name(names, pool, cfg)
    n = cfg.verification.gate_requests
    return {
        "job": name,
        "requests": n,
        "requires": {
            "generatedText": n,
            "pdDecisions": n,
            "kvTransfers": n,
            "failedTransfers": 0,
            "shortPromptDecodeOnly": pool.scheduling.decider is Decider.SELECTIVE,
        },
        "figures": f"kubectl -n {names.install.namespace} logs job/{name}",
        "exitCodes": {cause: code for cause, (code, _) in pd_gate.CAUSES.items()},
    }


def _status_field(status: Any, camel: str, snake: str) -> Any:
    """A field of the Job's status: a dict under mocks, a typed output object from the provider."""
    if status is None:
        return None
    if isinstance(status, dict) and camel in status:
        return status[camel]
    return getattr(status, snake, None)


def measured(metadata: Any) -> dict[str, Any] | None:
    """The figures the gate recorded on its Job (annotation pd_gate.PROOF_ANNOTATION), if any."""
    if metadata is None:
        return None
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else getattr(metadata, "annotations", None)
    raw = (annotations or {}).get(pd_gate.PROOF_ANNOTATION)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def proof_with_status(proof: dict[str, Any], status: Any, metadata: Any = None) -> dict[str, Any]:
    """The proof spec with what the Job reported: 1 succeeded once the gate passed (a failed gate fails `up`), and
    the measured figures (requests, P/D decisions, KV transfers and bytes, TTFT) the gate recorded on the Job."""
    return {
        **proof,
        "succeeded": _status_field(status, "succeeded", "succeeded") or 0,
        "completionTime": _status_field(status, "completionTime", "completion_time"),
        "measured": measured(metadata),
    }
