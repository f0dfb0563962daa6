"""How a pool's weights reach vLLM (`pools[].model.cache.mode`), as data: what vLLM is pointed at, the worker's
volumes, and for mode `volume` the objects that fill one volume per model before any worker starts.

- per-pod: every worker downloads the checkpoint from the hub into its own emptyDir (`model.cacheSize`).
- node: one hostPath per node, shared by the node's workers.
- volume: one volume per model (id, revision, source), named after it, filled once by a populate Job and mounted
  read-only by every worker of every pool that serves the model; vLLM loads from the mount, and the served name stays
  the model's. A change of model is a new volume (blue-green friendly); the old one goes with the last pool using it.
  - GKE: a Hyperdisk ML StorageClass of the stack (Compute Engine persistent disk CSI driver,
    kubernetes-sigs/gcp-compute-persistent-disk-csi-driver v1.26.4 pkg/parameters/constants.go: `type` and
    `provisioned-throughput-on-create`, disk type `hyperdisk-ml`). GKE's documented way to many readers of one disk
    (cloud.google.com/kubernetes-engine/docs/how-to/persistent-volumes/readonlymany-disks): fill a source disk
    through a ReadWriteOnce claim, then clone it into a new ReadOnlyMany claim (a claim whose dataSource is the
    source claim; cloning: .../how-to/persistent-volumes/volume-cloning, same zone, same namespace). The driver
    creates the clone of a Hyperdisk ML disk READ_ONLY_MANY (controller.go at v1.26.4, getAccessMode).
  - elsewhere: one claim of `cache.storageClassName` with `cache.accessMode` (ReadWriteMany, or ReadOnlyMany where
    the class lets one writer mount it), written by the Job and read by the workers.
- stream: vLLM streams the safetensors from the bucket (`--load-format runai_streamer`; preflight says where it
  works).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lightkube.utils.quantity import parse_quantity

from components import catalog
from components.config import (
    CacheMode,
    CacheSource,
    ClusterKind,
    PoolConfig,
    StackConfig,
    VolumeAccessMode,
)
from components.specs import vllm_runtime, wiring
from components.specs.names import InstallNames, NameRef, content_named
from components.specs.security import pod_context, restricted

HEADROOM = 1.15
"""A model volume holds the checkpoint plus this share: the filesystem's own overhead, the tokenizer and config
files, the hub's download metadata. Preflight refuses a smaller `cache.size`."""
SCRATCH_SIZE = "1Gi"
"""The workers' HF_HOME emptyDir when the weights come from a volume or a bucket (nothing is downloaded into it)."""
HYPERDISK_ML_THROUGHPUT = "2400Mi"
"""Provisioned read throughput of a model volume on GKE (MiB/s, shared by every reader); Hyperdisk ML takes 400 to
1,200,000 MiB/s (cloud.google.com/compute/docs/disks/hd-types/hyperdisk-ml, size and performance limits)."""
HYPERDISK_ML_SIZE_GIB = (4, 64 * 1024)
"""Smallest and largest Hyperdisk ML volume, GiB (same page)."""
POPULATE_TIMEOUT_S = 3 * 3600
"""How long the populate Job may run (`activeDeadlineSeconds`), and `up` waits for it."""
POPULATE_CONTAINER = "populate"
VOLUME = "model-weights"
"""The pod's name for the model volume."""
LABEL_MODEL_VOLUME = "llm-d.ai/model-volume"


def _gib(q: str) -> float:
    value = parse_quantity(q)
    assert value is not None, q  # the config admits only parseable quantities
    return float(value) / catalog.GiB


def checkpoint_bytes(pool: PoolConfig) -> int | None:
    """The published weights of the pool's model: its `facts`, else the catalog's."""
    if pool.model.facts is not None:
        value = parse_quantity(pool.model.facts.checkpoint_size)
        return int(value) if value is not None else None
    known = catalog.MODELS.get(pool.model.id)
    return known.checkpoint_bytes if known else None


def default_size(pool: PoolConfig) -> str | None:
    """The checkpoint plus HEADROOM, in whole GiB (at least Hyperdisk ML's smallest); None for an unknown model."""
    size = checkpoint_bytes(pool)
    if size is None:
        return None
    return f"{max(HYPERDISK_ML_SIZE_GIB[0], math.ceil(size * HEADROOM / catalog.GiB))}Gi"


def stack_storage_class(cfg: StackConfig) -> bool:
    """Whether the stack creates the model volumes' StorageClass (GKE, no class named in config)."""
    return cfg.cluster.kind is ClusterKind.GKE and any(
        p.model.cache.mode is CacheMode.VOLUME and p.model.cache.storage_class_name is None for p in cfg.pools
    )


def storage_class_name(names: InstallNames) -> str:
    return f"{names.prefix}-model-cache"


@dataclass(frozen=True)
class ModelVolume:
    """One model's volume: what fills it, where it lives, who mounts it."""

    name: str
    """Of the claim the workers mount; the populate Job and (GKE) the source claim are named after it."""
    model_id: str
    revision: str
    source: CacheSource
    bucket: str | None
    storage_class: str
    access_mode: VolumeAccessMode
    size: str
    clone: bool
    """GKE: fill a ReadWriteOnce source claim, then clone it into the ReadOnlyMany claim the workers mount."""
    populate_image: str
    system_pool: bool
    """GKE cluster of this stack: the Job runs on the system pool (its node label)."""

    @property
    def source_claim(self) -> str:
        return f"{self.name}-src" if self.clone else self.name

    @property
    def job_name(self) -> str:
        return f"{self.name}-fill"


def volume_name(names: InstallNames, pool: PoolConfig) -> str:
    """The model's identity (id, revision, where it is read from): the same model is the same volume, whichever
    pool serves it; another model, revision or source is another volume."""
    c = pool.model.cache
    return content_named(f"{names.prefix}-model", pool.model.id, c.revision, c.source.value, c.bucket)


def model_volume(names: InstallNames, pool: PoolConfig, cfg: StackConfig) -> ModelVolume | None:
    """The pool's volume in mode `volume`, else None."""
    c = pool.model.cache
    if c.mode is not CacheMode.VOLUME:
        return None
    on_gke = cfg.cluster.kind is ClusterKind.GKE
    access = c.access_mode or (VolumeAccessMode.READ_ONLY_MANY if on_gke else VolumeAccessMode.READ_WRITE_MANY)
    size = c.size or default_size(pool)
    assert size is not None, "preflight requires cache.size for a model the catalog does not know"
    return ModelVolume(
        name=volume_name(names, pool),
        model_id=pool.model.id,
        revision=c.revision,
        source=c.source,
        bucket=c.bucket,
        storage_class=c.storage_class_name or storage_class_name(names),
        access_mode=access,
        size=size,
        clone=on_gke and c.storage_class_name is None,
        populate_image=c.populate_image or cfg.images.vllm,
        system_pool=on_gke and cfg.cluster.gke.provision,
    )


def model_volumes(cfg: StackConfig) -> list[ModelVolume]:
    """Every model volume of the install, once each, in pool order."""
    names = InstallNames(cfg.prefix, cfg.namespace, cfg.release)
    seen: dict[str, ModelVolume] = {}
    for pool in cfg.pools:
        vol = model_volume(names, pool, cfg)
        if vol is not None:
            seen.setdefault(vol.name, vol)
    return list(seen.values())


# --- what the workers get -------------------------------------------------------------------------------------------
def model_argument(pool: PoolConfig) -> str:
    """vLLM's model argument: the hub id (per-pod, node), the volume's weights (volume), the bucket (stream). The
    served name is set apart (`--served-model-name`), so clients see the same model in every mode."""
    mode = pool.model.cache.mode
    if mode is CacheMode.VOLUME:
        return wiring.MODEL_VOLUME_WEIGHTS
    if mode is CacheMode.STREAM:
        assert pool.model.cache.bucket is not None, "preflight requires cache.bucket for stream"
        return pool.model.cache.bucket
    return pool.model.id


def loader_args(pool: PoolConfig) -> list[str]:
    """stream: the Run:ai Model Streamer load format (vLLM's LoadConfig.load_format `runai_streamer`,
    vllm/config/load.py; the loader needs vLLM's optional `runai` extra, runai-model-streamer)."""
    return ["--load-format", "runai_streamer"] if pool.model.cache.mode is CacheMode.STREAM else []


def cache_volume(pool: PoolConfig) -> dict[str, Any]:
    """The `model-cache` volume (HF_HOME): the download cache in per-pod and node modes, scratch otherwise."""
    mode = pool.model.cache.mode
    if mode is CacheMode.NODE:
        return {"name": "model-cache", "hostPath": {"path": wiring.SHARED_MODEL_CACHE_HOST_PATH,
                                                    "type": "DirectoryOrCreate"}}  # fmt: skip
    if mode in (CacheMode.VOLUME, CacheMode.STREAM):
        return {"name": "model-cache", "emptyDir": {"sizeLimit": SCRATCH_SIZE}}
    return {"name": "model-cache", "emptyDir": {"sizeLimit": pool.model.cache_size}}


def weights_volumes(names: InstallNames, pool: PoolConfig) -> list[dict[str, Any]]:
    """volume: the model's claim, read-only."""
    if pool.model.cache.mode is not CacheMode.VOLUME:
        return []
    claim = volume_name(names, pool)
    return [{"name": VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}]


def weights_mounts(pool: PoolConfig) -> list[dict[str, Any]]:
    if pool.model.cache.mode is not CacheMode.VOLUME:
        return []
    return [{"name": VOLUME, "mountPath": wiring.MODEL_VOLUME_PATH, "readOnly": True}]


def node_cache(cfg: StackConfig) -> bool:
    """Some pool mounts the node's hostPath cache (the namespace's Pod Security level must allow it)."""
    return any(p.model.cache.mode is CacheMode.NODE for p in cfg.pools)


# --- the objects of a model volume ----------------------------------------------------------------------------------
def labels(names: InstallNames, vol: ModelVolume) -> dict[str, str]:
    return {**names.common_labels(), wiring.LABEL_COMPONENT: "model-cache", LABEL_MODEL_VOLUME: vol.name}


def service_account_name(names: InstallNames) -> str:
    """The populate Jobs' ServiceAccount: no token; on GKE the identity a bucket grants read access to."""
    return f"{names.prefix}-model-cache"


def service_account(names: InstallNames) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": service_account_name(names),
            "namespace": names.namespace,
            "labels": {**names.common_labels(), wiring.LABEL_COMPONENT: "model-cache"},
        },
        "automountServiceAccountToken": False,
    }


def storage_class(names: InstallNames) -> dict[str, Any]:
    """GKE: Hyperdisk ML through the persistent disk CSI driver. WaitForFirstConsumer: a disk is created in the zone
    of the pod that first mounts it (the populate Job's for the source, the first worker's for the clone; both pools
    are in `cluster.gke.zone`, as cloning needs). Delete: a claim's disk goes with it."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": storage_class_name(names),
            "labels": {**names.common_labels(), wiring.LABEL_COMPONENT: "model-cache"},
        },
        "provisioner": "pd.csi.storage.gke.io",
        "parameters": {"type": "hyperdisk-ml", "provisioned-throughput-on-create": HYPERDISK_ML_THROUGHPUT},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": False,
    }


def _claim(names: InstallNames, vol: ModelVolume, name: str, access: str, source: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": [access],
        "storageClassName": vol.storage_class,
        "resources": {"requests": {"storage": vol.size}},
    }
    if source is not None:
        spec["dataSource"] = {"kind": "PersistentVolumeClaim", "name": source}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": names.namespace, "labels": labels(names, vol)},
        "spec": spec,
    }


def source_claim(names: InstallNames, vol: ModelVolume) -> dict[str, Any]:
    """The claim the populate Job writes: the workers' own claim, or (GKE) a ReadWriteOnce source of the clone."""
    access = VolumeAccessMode.READ_WRITE_ONCE.value if vol.clone else vol.access_mode.value
    return _claim(names, vol, vol.source_claim, access, None)


def serving_claim(names: InstallNames, vol: ModelVolume) -> dict[str, Any] | None:
    """GKE: the ReadOnlyMany clone of the filled source claim, which the workers mount. None elsewhere (the
    workers mount the source claim itself)."""
    if not vol.clone:
        return None
    return _claim(names, vol, vol.name, VolumeAccessMode.READ_ONLY_MANY.value, vol.source_claim)


def populate_command(vol: ModelVolume) -> list[str]:
    """What the Job runs. huggingface: huggingface_hub's snapshot_download (repo_id, revision, local_dir; the
    token from HF_TOKEN_PATH: huggingface/huggingface_hub v0.36.0 and v1.0.0 src/huggingface_hub/_snapshot_download.py,
    constants.py), which skips files already complete in local_dir, so a rerun downloads only what is missing.
    bucket: `gcloud storage rsync SOURCE DESTINATION --recursive` (cloud.google.com/sdk/gcloud/reference/storage/rsync),
    which copies only what differs."""
    if vol.source is CacheSource.BUCKET:
        assert vol.bucket is not None, "preflight requires cache.bucket for source bucket"
        return ["gcloud", "storage", "rsync", vol.bucket, wiring.MODEL_VOLUME_WEIGHTS, "--recursive"]
    script = (
        "import sys\n"
        "from huggingface_hub import snapshot_download\n"
        "snapshot_download(repo_id=sys.argv[1], revision=sys.argv[2], local_dir=sys.argv[3])\n"
    )
    return ["python3", "-c", script, vol.model_id, vol.revision, wiring.MODEL_VOLUME_WEIGHTS]


SYSTEM_POOL_LABEL = {"llm-d.ai/node-role": "system"}
"""The GKE system pool's node label (components/specs/gke.py, system_pool)."""


def populate_job(names: InstallNames, vol: ModelVolume, hf_secret_name: NameRef) -> dict[str, Any]:
    """The Job that fills the volume, once per model: on the CPU system pool (GKE), never on a GPU node, so it runs
    while the GPU pool is still being created. Restricted profile; fsGroup makes the new filesystem writable for
    its user (the kubelet applies it to block volumes)."""
    container: dict[str, Any] = {
        "name": POPULATE_CONTAINER,
        "image": vol.populate_image,
        "command": populate_command(vol),
        "env": [
            {"name": "HOME", "value": vllm_runtime.TMP},
            {"name": "HF_HOME", "value": f"{vllm_runtime.TMP}/hf"},
            {"name": "HF_TOKEN_PATH", "value": f"{vllm_runtime.HF_TOKEN_DIR}/{vllm_runtime.HF_TOKEN_FILE}"},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "resources": {
            "requests": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "1Gi"},
            "limits": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "4Gi"},
        },
        "securityContext": restricted(),
        "volumeMounts": [
            {"name": VOLUME, "mountPath": wiring.MODEL_VOLUME_PATH},
            {"name": vllm_runtime.TMP_VOLUME, "mountPath": vllm_runtime.TMP},
            {"name": vllm_runtime.HF_TOKEN_VOLUME, "mountPath": vllm_runtime.HF_TOKEN_DIR, "readOnly": True},
        ],
    }
    token = next(v for v in vllm_runtime.volumes(hf_secret_name) if v["name"] == vllm_runtime.HF_TOKEN_VOLUME)
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": service_account_name(names),
        "automountServiceAccountToken": False,
        "securityContext": {**pod_context(), "fsGroup": restricted()["runAsGroup"]},
        "containers": [container],
        "volumes": [
            {"name": VOLUME, "persistentVolumeClaim": {"claimName": vol.source_claim}},
            {"name": vllm_runtime.TMP_VOLUME, "emptyDir": {"sizeLimit": "4Gi"}},
            token,
        ],
    }
    if vol.system_pool:
        pod["nodeSelector"] = dict(SYSTEM_POOL_LABEL)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": vol.job_name, "namespace": names.namespace, "labels": labels(names, vol)},
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": POPULATE_TIMEOUT_S,
            "template": {"metadata": {"labels": labels(names, vol)}, "spec": pod},
        },
    }
