"""Container security contexts. Secure by default: the EPP and the routing sidecar (their images run as 65532)
get the restricted profile. The vLLM container is the documented exception: it may add what RDMA needs (IPC_LOCK),
see components/specs/rdma.py."""

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
