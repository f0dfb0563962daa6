"""Security contexts. Secure by default: the EPP, the routing sidecar (their images run as 65532) and the Jobs get the
restricted profile. The vLLM container starts from it too and relaxes only what RDMA needs (uid 0 and IPC_LOCK on
RDMA fabrics): components/specs/vllm_runtime.py."""

from __future__ import annotations

from typing import Any

NONROOT_UID = 65532
"""The EPP and routing-sidecar images (distroless nonroot) run as this user and group."""


def restricted() -> dict[str, Any]:
    """Non-root (the images' own 65532, stated so no low ID is ever picked), no privilege escalation, read-only root
    filesystem, every capability dropped, RuntimeDefault seccomp (the Pod Security Standards' restricted profile)."""
    return {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": NONROOT_UID,
        "runAsGroup": NONROOT_UID,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_context(non_root: bool = True) -> dict[str, Any]:
    """Pod level: RuntimeDefault seccomp for every container (init containers included) and, where no container
    needs root, runAsNonRoot as a second guard. Containers state their own users."""
    return {"seccompProfile": {"type": "RuntimeDefault"}, **({"runAsNonRoot": True} if non_root else {})}


# --- Pod Security Admission ------------------------------------------------------------------------------------------
PSA_LABEL = "pod-security.kubernetes.io"
BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
     "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)  # fmt: skip
"""What the Pod Security Standards' baseline level lets a container add (kubernetes.io, Pod Security Standards)."""


def pod_security_level(capabilities: tuple[str, ...], host_paths: bool, gateway_pods: bool) -> str:
    """The strictest Pod Security Standards level every pod of the namespace passes.

    - privileged: a worker adds a capability baseline does not allow (IPC_LOCK, RDMA fabrics) or mounts a hostPath
      (gke-multinetwork's NVIDIA libraries, a shared model cache); baseline forbids both.
    - baseline: the gateway's data plane pods (istio, agentgateway) are deployed into this namespace by their
      controllers, from templates this program does not own.
    - restricted: otherwise (no RDMA, GKE's pod-less gateway): every pod is ours and runs restricted."""
    if set(capabilities) - BASELINE_CAPABILITIES or host_paths:
        return "privileged"
    return "baseline" if gateway_pods else "restricted"


def namespace_labels(level: str) -> dict[str, str]:
    """`enforce` at the level that holds; `warn` and `audit` at restricted, so every exception stays visible."""
    return {f"{PSA_LABEL}/enforce": level, f"{PSA_LABEL}/warn": "restricted", f"{PSA_LABEL}/audit": "restricted"}


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Namespace (the install's carries its Pod Security labels; the singletons' charts' carry none)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
    }
