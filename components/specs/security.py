"""Container security contexts. Secure by default: the EPP and the routing sidecar (their images run as 65532)
get the restricted profile. The vLLM container is the documented exception: it may add what RDMA needs (IPC_LOCK),
see components/specs/rdma.py."""

from __future__ import annotations

from typing import Any


def restricted() -> dict[str, Any]:
    """Non-root, no privilege escalation, read-only root filesystem, every capability dropped, RuntimeDefault
    seccomp (the Pod Security Standards' restricted profile)."""
    return {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
