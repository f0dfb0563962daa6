"""What the vLLM container needs of its pod once its root filesystem is read-only and it runs from the restricted
profile down: its user, the directories it writes (each an emptyDir, with the cache variables pointing there), and
the HF token as a file.

Where the image writes, from its source (llm-d/llm-d, docker/Dockerfile.cuda, runtime stage, the build of the
`ghcr.io/llm-d/llm-d-cuda` images that `images.vllm` pins): it creates user `vllm` (uid 2000, gid 0), ends with
`USER 2000`, sets `HOME=/home/vllm`, `HF_HOME=/var/lib/llm-d/.hf`, and puts vLLM's, Triton's, Numba's and Outlines'
caches under /tmp (`VLLM_CACHE_ROOT=/tmp/vllm`, `TRITON_CACHE_DIR=/tmp/triton`, ...). What the libraries default to
when nothing is set: vLLM (vllm/envs.py) `VLLM_CACHE_ROOT` = `$XDG_CACHE_HOME/vllm` or `~/.cache/vllm` (its
torch.compile cache lives there), `VLLM_CONFIG_ROOT` = `~/.config/vllm`, `VLLM_RPC_BASE_PATH` = the temp dir (ZMQ
IPC sockets between the API server and the engine); Triton `~/.triton/cache`; torch inductor
`/tmp/torchinductor_<user>`; FlashInfer's JIT cache `$FLASHINFER_WORKSPACE_BASE/.cache/flashinfer` (base: home); the
CUDA driver's JIT cache `~/.nv/ComputeCache`; Hugging Face `$HF_HOME` (`~/.cache/huggingface`). UCX and NIXL write
to /dev/shm (its own memory emptyDir). So: HOME and /tmp are emptyDirs, and every cache variable is set to a path in
them, so no default (and no image change of one) can land on the read-only root.
"""

from __future__ import annotations

from typing import Any

from components.specs import wiring
from components.specs.names import NameRef

VLLM_UID = 2000
"""The image's own non-root user `vllm` (llm-d/llm-d docker/Dockerfile.cuda: `useradd --uid 2000 --gid 0`)."""
VLLM_GID = 0
"""The image's group for `vllm`: the image makes its writable directories group-0 writable (OpenShift style)."""

HOME = "/home/vllm"
TMP = "/tmp"
CACHE = f"{HOME}/.cache"
HF_TOKEN_DIR = "/var/run/secrets/hf"
HF_TOKEN_FILE = "token"

HOME_VOLUME = "home"
TMP_VOLUME = "tmp"
HF_TOKEN_VOLUME = "hf-token"

CACHE_ENV: dict[str, str] = {
    "HOME": HOME,
    "TMPDIR": TMP,
    "XDG_CACHE_HOME": CACHE,
    "XDG_CONFIG_HOME": f"{HOME}/.config",
    "VLLM_CACHE_ROOT": f"{CACHE}/vllm",
    "VLLM_CONFIG_ROOT": f"{HOME}/.config/vllm",
    "TRITON_HOME": HOME,
    "TRITON_CACHE_DIR": f"{CACHE}/triton",
    "TORCHINDUCTOR_CACHE_DIR": f"{CACHE}/torchinductor",
    "FLASHINFER_WORKSPACE_BASE": HOME,
    "CUDA_CACHE_PATH": f"{CACHE}/nv",
    "NUMBA_CACHE_DIR": f"{CACHE}/numba",
    "OUTLINES_CACHE_DIR": f"{CACHE}/outlines",
    # huggingface_hub reads the token from this file when HF_TOKEN is unset: the secret never enters the
    # environment (which child processes inherit and /proc/<pid>/environ shows).
    "HF_TOKEN_PATH": f"{HF_TOKEN_DIR}/{HF_TOKEN_FILE}",
}
"""Every writable location the image, vLLM, torch, Triton, FlashInfer, CUDA and the Hugging Face hub use, pointed at
the emptyDirs below. HF_HOME (the model cache volume) is set by the worker spec."""


def hf_token_secret(namespace: str, labels: dict[str, str], token: NameRef) -> dict[str, Any]:
    """The Secret with HF_TOKEN that this stack creates from the secret config `hfToken` (an Output, kept secret by
    Pulumi). No name: Pulumi names it, so a new token rolls the workers that mount it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"namespace": namespace, "labels": labels},
        "type": "Opaque",
        "stringData": {wiring.HF_TOKEN_KEY: token},
    }


def volumes(hf_secret_name: NameRef) -> list[dict[str, Any]]:
    return [
        {"name": HOME_VOLUME, "emptyDir": {}},
        {"name": TMP_VOLUME, "emptyDir": {}},
        {
            "name": HF_TOKEN_VOLUME,
            "secret": {
                "secretName": hf_secret_name,
                "items": [{"key": wiring.HF_TOKEN_KEY, "path": HF_TOKEN_FILE}],
                "defaultMode": 0o440,
            },
        },
    ]


def volume_mounts() -> list[dict[str, Any]]:
    return [
        {"name": HOME_VOLUME, "mountPath": HOME},
        {"name": TMP_VOLUME, "mountPath": TMP},
        {"name": HF_TOKEN_VOLUME, "mountPath": HF_TOKEN_DIR, "readOnly": True},
    ]


def runs_as_root(capabilities: tuple[str, ...]) -> bool:
    """Root only where RDMA needs CAP_IPC_LOCK.

    Why a non-root process cannot use it: registering memory with an RDMA device (ibv_reg_mr, which NIXL/UCX call
    for the KV cache) pins its pages, and the kernel (ib_umem_get) refuses pinning beyond RLIMIT_MEMLOCK unless the
    caller has CAP_IPC_LOCK in its effective set. A pod cannot raise RLIMIT_MEMLOCK (the Pod API has no rlimits; it
    inherits the container runtime's). A capability in `capabilities.add` reaches a non-root process only through
    the ambient set, which the Pod API cannot set (kubernetes/kubernetes#56374): at execve the kernel computes a
    non-root process's permitted set from file and ambient capabilities alone, so `vllm` (uid 2000) would start
    with none and every registration of the multi-GB KV cache would fail with ENOMEM. With user namespaces
    (hostUsers: false) root is not root on the host and CAP_IPC_LOCK there does not count for the host's rlimit
    either. So on RDMA fabrics vLLM runs as uid 0 with only IPC_LOCK; everywhere else as the image's uid 2000."""
    return "IPC_LOCK" in capabilities


def security_context(capabilities: tuple[str, ...]) -> dict[str, Any]:
    """The restricted profile, relaxed only for RDMA: uid 0 with IPC_LOCK added (see runs_as_root)."""
    ctx: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        # Drops NET_RAW and every other default capability; IPC_LOCK is the only one RDMA needs.
        "capabilities": {"drop": ["ALL"], **({"add": list(capabilities)} if capabilities else {})},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if runs_as_root(capabilities):
        ctx.update(runAsUser=0, runAsGroup=VLLM_GID, runAsNonRoot=False)
    else:
        ctx.update(runAsUser=VLLM_UID, runAsGroup=VLLM_GID, runAsNonRoot=True)
    return ctx
