"""Prefill and decode worker Deployments: the vLLM container, the decode pod's routing sidecar, probes, volumes."""

from __future__ import annotations

import json
from typing import Any

from components.config import (
    STARTUP_INITIAL_DELAY_S,
    STARTUP_PERIOD_S,
    ImagesConfig,
    PoolConfig,
    RoleConfig,
    RolloutStrategy,
    SidecarConfig,
)
from components.releases import release
from components.specs import model_cache, rdma, vllm_runtime, wiring
from components.specs.names import NameRef, PoolNames
from components.specs.rdma import PodNetworking
from components.specs.security import pod_context, restricted
from components.specs.wiring import Role


def kv_transfer_config() -> str:
    """One raw JSON args item (no shell quotes: quotes copied into the item make vLLM fail to parse it)."""
    return json.dumps({"kv_connector": wiring.KV_CONNECTOR, "kv_role": wiring.KV_ROLE}, separators=(",", ":"))


def role_config(pool: PoolConfig, role: Role) -> RoleConfig:
    return pool.prefill if role is Role.PREFILL else pool.decode


def vllm_args(pool: PoolConfig, role: Role) -> list[str]:
    rc = role_config(pool, role)
    # The model argument follows the cache mode (hub id, the volume's weights, or the bucket); the served name stays.
    args = [model_cache.model_argument(pool), "--port", str(wiring.vllm_port(role))]
    args += ["--served-model-name", pool.model.served, *model_cache.loader_args(pool)]
    if rc.tensor_parallelism > 1:
        args += ["--tensor-parallel-size", str(rc.tensor_parallelism)]
    args += [
        "--block-size", str(pool.model.block_size),
        "--kv-transfer-config", kv_transfer_config(),
        "--max-model-len", str(pool.model.max_model_len),
        "--gpu-memory-utilization", str(pool.model.gpu_memory_utilization),
        "--disable-uvicorn-access-log",
    ]  # fmt: skip
    return args + list(rc.extra_args)


def vllm_env(pool: PoolConfig, role: Role, net: PodNetworking) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        # The side channel's default host is localhost, which breaks cross-pod transfer.
        {"name": "VLLM_NIXL_SIDE_CHANNEL_HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "VLLM_NIXL_SIDE_CHANNEL_PORT", "value": str(wiring.NIXL_SIDE_CHANNEL_PORT)},
        {"name": "HF_HOME", "value": wiring.MODEL_CACHE_PATH},
        # Caches on the pod's emptyDirs (the root filesystem is read-only); the HF token as a file, not in the env.
        *({"name": k, "value": v} for k, v in vllm_runtime.CACHE_ENV.items()),
    ]
    extra = {**net.env, **role_config(pool, role).extra_env}
    return env + [{"name": k, "value": v} for k, v in sorted(extra.items())]


def _http_probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": wiring.VLLM_PORT_NAME}, **timing}


def vllm_container(
    pool: PoolConfig, role: Role, image: str, net: PodNetworking, hf_secret_name: NameRef
) -> dict[str, Any]:
    rc = role_config(pool, role)
    resources = {"cpu": rc.cpu, "memory": rc.memory}
    if not net.gpus_by_claim:
        resources["nvidia.com/gpu"] = str(rc.tensor_parallelism)
    resources.update(net.resources)
    container: dict[str, Any] = {
        "name": wiring.VLLM_CONTAINER,
        "image": image,
        "command": ["vllm", "serve"],
        "args": vllm_args(pool, role),
        "env": vllm_env(pool, role, net),
        "ports": [
            {"name": wiring.VLLM_PORT_NAME, "containerPort": wiring.vllm_port(role), "protocol": "TCP"},
            {"name": wiring.NIXL_PORT_NAME, "containerPort": wiring.NIXL_SIDE_CHANNEL_PORT, "protocol": "TCP"},
        ],
        "startupProbe": _http_probe(
            "/v1/models",
            initialDelaySeconds=STARTUP_INITIAL_DELAY_S,
            periodSeconds=STARTUP_PERIOD_S,
            timeoutSeconds=5,
            failureThreshold=rc.startup_failure_threshold,
        ),
        "livenessProbe": _http_probe("/health", periodSeconds=10, timeoutSeconds=5, failureThreshold=3),
        "readinessProbe": _http_probe("/v1/models", periodSeconds=5, timeoutSeconds=2, failureThreshold=3),
        "resources": {
            "requests": dict(resources),
            "limits": dict(resources),
            **({"claims": [{"name": wiring.GPU_NIC_CLAIM}]} if net.gpus_by_claim else {}),
        },
        "volumeMounts": [
            {"name": "shm", "mountPath": "/dev/shm"},
            {"name": "model-cache", "mountPath": wiring.MODEL_CACHE_PATH},
            *model_cache.weights_mounts(pool),
            *vllm_runtime.volume_mounts(),
            *net.volume_mounts,
        ],
        # Restricted, relaxed only for RDMA (uid 0 + IPC_LOCK): components/specs/vllm_runtime.py says why.
        "securityContext": vllm_runtime.security_context(net.capabilities),
    }
    return container


def routing_sidecar(image: str, names: PoolNames, sidecar: SidecarConfig) -> dict[str, Any]:
    """Decode only: a native sidecar (initContainer with restartPolicy Always, Kubernetes >= 1.29) that owns the
    pool port, runs the prefill leg for requests carrying x-prefiller-host-port, then forwards to local vLLM.

    Flags as the sidecar of the pool's release set spells them (components/releases.py: llm-d-inference-scheduler
    v0.7.1 or llm-d-router v0.10.0, pkg/sidecar/proxy/options.go, AddFlags): `--kv-connector` (nixlv2) and
    `--inference-pool=<namespace>/<name>` at both (the deprecated `--connector` and `--inference-pool-name` are gone
    at v0.10.0); the vLLM port flag is `--vllm-port` at v0.7.1 and `--model-server-port` at v0.10.0 (where
    `--vllm-port` is deprecated); `--secure-proxy` defaults to true (TLS), and the gateway and EPP talk plain HTTP to
    the pool. Without SSRF protection the sidecar creates no Kubernetes client (allowlist.go), so it needs no token.
    With it, it watches that pool and forwards only to its pods (the Role from `sidecar_role`); on by default only
    where the allow-list reads a v1 pool. `--prefill-max-retries` exists from v0.10.0: a failed prefill leg is
    retried, then returned to the client as an error instead of silently decoding without P/D."""
    rel = release(sidecar.release)
    args = [
        f"--port={wiring.SIDECAR_PORT}",
        f"{rel.sidecar.model_server_port}={wiring.DECODE_VLLM_PORT}",
        f"--kv-connector={wiring.SIDECAR_CONNECTOR}",
        f"--inference-pool={names.install.namespace}/{names.inference_pool}",
        "--secure-proxy=false",
        "--zap-encoder=json",
        f"--zap-log-level={sidecar.log_level}",
    ]
    if sidecar.ssrf_protection:
        args.append("--enable-ssrf-protection=true")
    if rel.sidecar.prefill_retries and sidecar.prefill_max_retries is not None:
        args.append(f"--prefill-max-retries={sidecar.prefill_max_retries}")
    return {
        "name": wiring.SIDECAR_CONTAINER,
        "image": image,
        "restartPolicy": "Always",
        "args": args,
        "ports": [{"name": wiring.SIDECAR_PORT_NAME, "containerPort": wiring.SIDECAR_PORT, "protocol": "TCP"}],
        # No CPU limit: throttling the proxy adds latency to every request (kube-score allow-list).
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
            "limits": {"memory": "512Mi", "ephemeral-storage": "256Mi"},
        },
        "securityContext": restricted(),
    }


def strategy(rc: RoleConfig) -> dict[str, Any]:
    if rc.strategy is RolloutStrategy.RECREATE:
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def model_cache_volume(pool: PoolConfig) -> dict[str, Any]:
    """HF_HOME's volume, by cache mode (components/specs/model_cache.py)."""
    return model_cache.cache_volume(pool)


def gpu_nic_claim_template(names: PoolNames, pool: PoolConfig, role: Role) -> dict[str, Any]:
    """gke-dra: one GPU-NIC pair per GPU of the role (tensor parallelism)."""
    return rdma.gpu_nic_claim_template(
        names.claim_template(role),
        names.install.namespace,
        names.worker_labels(role, pool.model.id),
        role_config(pool, role).tensor_parallelism,
    )


def worker_deployment(
    names: PoolNames,
    pool: PoolConfig,
    role: Role,
    images: ImagesConfig,
    net: PodNetworking,
    hf_secret_name: NameRef,
    skip_await: bool = False,
) -> dict[str, Any]:
    """The Deployment of one role of one pool (a full Kubernetes object). `skip_await`: pulumi-kubernetes does not
    wait for its rollout (render mode, or when the caller waits elsewhere)."""
    rc = role_config(pool, role)
    labels = names.worker_labels(role, pool.model.id)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": names.worker(role),
        "containers": [vllm_container(pool, role, images.vllm, net, hf_secret_name)],
        "volumes": [
            {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
            model_cache_volume(pool),
            *model_cache.weights_volumes(names.install, pool),
            *vllm_runtime.volumes(hf_secret_name),
            *net.volumes,
        ],
        "terminationGracePeriodSeconds": 30,
        "securityContext": pod_context(non_root=not vllm_runtime.runs_as_root(net.capabilities)),
        # vLLM never talks to the API server; only the SSRF-protected sidecar needs a token.
        "automountServiceAccountToken": needs_api_access(pool, role),
    }
    if net.gpus_by_claim:
        pod_spec["resourceClaims"] = [
            {"name": wiring.GPU_NIC_CLAIM, "resourceClaimTemplateName": names.claim_template(role)}
        ]
    if role is Role.DECODE:
        pod_spec["initContainers"] = [routing_sidecar(images.sidecar, names, pool.sidecar)]
    if rc.node_selector:
        pod_spec["nodeSelector"] = dict(rc.node_selector)
    if rc.tolerations:
        pod_spec["tolerations"] = [t.to_api() for t in rc.tolerations]
    if rc.affinity:
        pod_spec["affinity"] = rc.affinity.to_api()
    if rc.priority_class_name:
        pod_spec["priorityClassName"] = rc.priority_class_name
    template_meta: dict[str, Any] = {"labels": labels}
    if net.annotations:
        template_meta["annotations"] = dict(net.annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": names.worker(role),
            "namespace": names.install.namespace,
            "labels": labels,
            **({"annotations": {wiring.SKIP_AWAIT: "true"}} if skip_await else {}),
        },
        "spec": {
            "replicas": rc.replicas,
            "selector": {"matchLabels": names.worker_selector(role)},
            "strategy": strategy(rc),
            "template": {"metadata": template_meta, "spec": pod_spec},
        },
    }


def needs_api_access(pool: PoolConfig, role: Role) -> bool:
    """Only the decode pod's sidecar talks to the API server (to watch its pool, for SSRF protection)."""
    return role is Role.DECODE and pool.sidecar.ssrf_protection


def worker_service_account(names: PoolNames, pool: PoolConfig, role: Role) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": names.worker(role),
            "namespace": names.install.namespace,
            "labels": names.worker_labels(role, pool.model.id),
        },
        # vLLM never talks to the API server; no token unless the sidecar needs one.
        "automountServiceAccountToken": needs_api_access(pool, role),
    }


def sidecar_role(names: PoolNames, pool: PoolConfig) -> dict[str, Any]:
    """What the SSRF-protected sidecar reads: its InferencePool and the pods it selects."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {
            "name": names.worker(Role.DECODE),
            "namespace": names.install.namespace,
            "labels": names.worker_labels(Role.DECODE, pool.model.id),
        },
        "rules": [
            {"apiGroups": [wiring.INFERENCE_POOL_GROUP], "resources": ["inferencepools"], "verbs": wiring.READ_VERBS},
            {"apiGroups": [""], "resources": ["pods"], "verbs": wiring.READ_VERBS},
        ],
    }


def sidecar_role_binding(names: PoolNames, pool: PoolConfig) -> dict[str, Any]:
    name = names.worker(Role.DECODE)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": name,
            "namespace": names.install.namespace,
            "labels": names.worker_labels(Role.DECODE, pool.model.id),
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": names.install.namespace}],
    }
