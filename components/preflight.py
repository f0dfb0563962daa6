"""Checks over a validated config, run before any resource is registered.

Pure functions: each check appends to a Report every problem it finds (not just the first), each naming the config
key and the fix. Errors stop the program; warnings are logged; facts (GPU budget, memory fit, disk) are printed
and exported as `preflight`.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lightkube.utils.quantity import parse_quantity

from components import catalog, estimate, releases
from components.config import (
    CRDS_DIR_ENV,
    MIN_GKE_DRA_VERSION,
    PROJECT,
    CacheMode,
    CacheSource,
    ClusterKind,
    ControlPlaneAccess,
    Decider,
    Fabric,
    GkeCapacity,
    GkeConfig,
    MonitoringBackend,
    NodeGroup,
    PoolConfig,
    RoleConfig,
    ScaleSignal,
    StackConfig,
    VolumeAccessMode,
    pool_images,
)
from components.releases import release
from components.specs import autoscaling, model_cache, vllm_runtime, wiring
from components.specs import gateway as gw_specs
from components.specs import gke as gke_specs
from components.specs.names import DNS_1035_LABEL, DNS_1123_LABEL, InstallNames
from components.specs.rdma import worker_networking
from components.specs.wiring import Role
from components.vocabulary import RESERVATION_RE

MIN_KUBERNETES = (1, 29)
"""Native sidecars (the decode pod's routing proxy) need Kubernetes 1.29."""


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    """Numbers worth printing (GPU budget, memory fit, disk)."""

    @property
    def ok(self) -> bool:
        return not self.errors


def _key(path: str) -> str:
    return f"{PROJECT}:{path}"


def _gb(n: float) -> str:
    return f"{n / catalog.GB:.1f} GB"


def _bytes(q: str) -> int:
    value = parse_quantity(q)
    if value is None:  # the config's Quantity type admits only parseable values
        raise ValueError(f"not a quantity: {q!r}")
    return int(value)


def model_facts(pool: PoolConfig) -> catalog.ModelFacts | None:
    f = pool.model.facts
    if f is not None:
        return catalog.ModelFacts(
            _bytes(f.checkpoint_size), f.layers, f.attention_heads, f.kv_heads, f.head_dim, f.max_context,
            sliding_window=f.sliding_window, sliding_window_layers=f.sliding_window_layers, mla=f.mla,
        )  # fmt: skip
    return catalog.MODELS.get(pool.model.id)


def node_memory(group: NodeGroup) -> tuple[int | None, int | None]:
    """(GPU memory, ephemeral storage) of a node group, from config or the catalog (CUDA's figure where known)."""
    acc = catalog.ACCELERATORS.get(group.accelerator)
    gpu = _bytes(group.gpu_memory) if group.gpu_memory else catalog.cuda_memory_bytes(group.accelerator)
    disk = _bytes(group.ephemeral_storage) if group.ephemeral_storage else (acc.node_ephemeral_bytes if acc else None)
    return gpu, disk


def _roles(pool: PoolConfig):
    return ((Role.PREFILL, pool.prefill), (Role.DECODE, pool.decode))


# --- cluster, fabric, gateway ---------------------------------------------------------------------------------------
def check_cluster(cfg: StackConfig, r: Report) -> None:
    if cfg.cluster.kind is ClusterKind.GKE:
        check_gke(cfg, r)
    elif cfg.cluster.gke != GkeConfig():
        r.errors.append(
            f"{_key('cluster.gke')}: set, but cluster.kind is {cfg.cluster.kind.value}; set cluster.kind: gke to "
            "create (or use) a GKE cluster, or remove cluster.gke"
        )
    v = cfg.cluster.kubernetes_version
    if v is not None:
        m = re.match(r"^v?(\d+)\.(\d+)", v)
        if not m:
            r.errors.append(f"{_key('cluster.kubernetesVersion')}: {v!r} is not a version; write it like 1.33")
        elif (int(m[1]), int(m[2])) < MIN_KUBERNETES:
            r.errors.append(
                f"{_key('cluster.kubernetesVersion')}: {v} has no native sidecars (the decode pod's routing proxy "
                "needs them); upgrade the cluster to Kubernetes 1.29 or newer"
            )
    if cfg.cluster.render_directory:
        if cfg.hf_token:
            r.errors.append(
                f"{_key('hfToken')}: render mode writes Secrets in plain text; create the Secret out of band and "
                "set hfTokenSecretName instead"
            )
        if cfg.cluster_prep.enabled and cfg.cluster_prep.gateway_control_plane:
            r.warnings.append(
                f"{_key('clusterPrep.gatewayControlPlane')}: charts are templated into the render directory too; "
                "most GitOps setups install the gateway control plane separately"
            )
    for i, g in enumerate(cfg.cluster.inventory):
        if g.accelerator not in catalog.ACCELERATORS and g.gpu_memory is None and g.gpus_per_node:
            r.errors.append(
                f"{_key(f'cluster.inventory[{i}].accelerator')}: {g.accelerator!r} is not in the catalog "
                f"({', '.join(catalog.ACCELERATORS)}); use one of them or set gpuMemory"
            )


_GKE_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+)(?:-gke\.(\d+))?)?$")


def gke_version_at_least(version: str, floor: str) -> bool | None:
    """Whether a GKE version (1.35, 1.34.1 or 1.34.1-gke.1829001) is at least `floor` (a full version); None when
    `version` is not a GKE version. A minor-only version counts as its lowest patch."""
    m, f = _GKE_VERSION.match(version), _GKE_VERSION.match(floor)
    assert f is not None
    if m is None:
        return None
    return tuple(int(x or 0) for x in m.groups()) >= tuple(int(x or 0) for x in f.groups())


def check_gke(cfg: StackConfig, r: Report) -> None:
    gke = cfg.cluster.gke
    key = "cluster.gke"
    if gke.provision:
        for field_, example in (("project", "my-project"), ("region", "us-central1"), ("zone", "us-central1-b")):
            if getattr(gke, field_) is None:
                r.errors.append(
                    f"{_key(f'{key}.{field_}')}: required to create the cluster; "
                    f"`pulumi config set --path cluster.gke.{field_} {example}`"
                )
    if gke.region and gke.zone and not gke.zone.startswith(gke.region + "-"):
        r.errors.append(f"{_key(key + '.zone')}: {gke.zone!r} is not in region {gke.region!r}; pick a zone of it")
    name = gke.cluster_name or cfg.prefix
    if not DNS_1035_LABEL.match(name) or len(name) > 40:
        r.errors.append(
            f"{_key(key + '.clusterName')}: {name!r} is not a GKE cluster name (a DNS-1035 label of at most 40 "
            "characters); set clusterName"
        )
    if gke.provision:
        check_gke_pools(cfg, r)
    check_driver_installer(cfg, r)
    net = gke.network
    ranges = {"subnetCidr": net.subnet_cidr, "podsCidr": net.pods_cidr, "servicesCidr": net.services_cidr,
              "proxySubnetCidr": net.proxy_subnet_cidr}  # fmt: skip
    if cfg.rdma.fabric is Fabric.GKE_MULTINETWORK:
        ranges |= {"gvnicCidr": net.gvnic_cidr, "rdmaCidr": net.rdma_cidr}
        if ipaddress.IPv4Network(net.rdma_cidr).prefixlen > gke_specs.RDMA_SUBNET_PREFIX - 3:
            r.errors.append(
                f"{_key(key + '.network.rdmaCidr')}: {net.rdma_cidr} is too small for 8 RoCE subnets of "
                f"/{gke_specs.RDMA_SUBNET_PREFIX}; use a /{gke_specs.RDMA_SUBNET_PREFIX - 3} or larger "
                "(default 192.168.128.0/18)"
            )
    names = list(ranges)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if ipaddress.IPv4Network(ranges[a]).overlaps(ipaddress.IPv4Network(ranges[b])):
                r.errors.append(
                    f"{_key(key + '.network.' + b)}: {ranges[b]} overlaps {a} {ranges[a]}; give each range its own "
                    "addresses"
                )
    if cfg.gateway.proxy_subnet_cidr and cfg.gateway.proxy_subnet_cidr != net.proxy_subnet_cidr and gke.provision:
        r.errors.append(
            f"{_key('gateway.proxySubnetCidr')}: differs from cluster.gke.network.proxySubnetCidr, the subnet this "
            "stack creates; remove gateway.proxySubnetCidr"
        )


BOOT_DISK_RESERVE_GB = 30
"""What the node OS and logs keep of the boot disk, besides a shared model cache."""


def check_gke_pools(cfg: StackConfig, r: Report) -> None:
    """What only matters when this stack creates the cluster: its GPU pool and version."""
    gke = cfg.cluster.gke
    key = "cluster.gke"
    node_cached = [p for p in cfg.pools if p.model.cache.mode is CacheMode.NODE]
    if node_cached:
        checkpoints = {p.model.id: f.checkpoint_bytes for p in node_cached if (f := model_facts(p))}
        need = sum(checkpoints.values())
        room = (gke.gpu_pool.boot_disk_size_gb - BOOT_DISK_RESERVE_GB) * catalog.GB
        r.facts.append(f"shared model cache on the boot disk: {_gb(need)} of checkpoints, {_gb(room)} free")
        if need > room:
            r.errors.append(
                f"{_key(key + '.gpuPool.bootDiskSizeGb')}: the shared model cache lives on the boot disk and needs "
                f"{_gb(need)} for the checkpoints; raise bootDiskSizeGb to at least "
                f"{int(need / catalog.GB) + BOOT_DISK_RESERVE_GB + 1}"
            )
    machine = catalog.GKE_GPU_MACHINES.get(gke.gpu_pool.machine_type)
    if machine is None:
        r.errors.append(
            f"{_key(key + '.gpuPool.machineType')}: {gke.gpu_pool.machine_type!r} has no GPUDirect RDMA NICs; use "
            f"one of {', '.join(catalog.GKE_GPU_MACHINES)}"
        )
    pool = gke.gpu_pool
    if pool.capacity is GkeCapacity.RESERVATION and not pool.reservation:
        r.errors.append(
            f"{_key(key + '.gpuPool.reservation')}: capacity reservation needs the reservation's name; set it, or "
            "set gpuPool.capacity to spot"
        )
    if pool.capacity is not GkeCapacity.RESERVATION and pool.reservation:
        r.errors.append(
            f"{_key(key + '.gpuPool.reservation')}: set only with capacity reservation (capacity is "
            f"{pool.capacity.value}); remove it or set capacity: reservation"
        )
    if pool.reservation and not _RESERVATION.match(pool.reservation):
        r.errors.append(
            f"{_key(key + '.gpuPool.reservation')}: {pool.reservation!r} is not a reservation; write its name, "
            "name/reservationBlocks/<block>, or projects/<project>/reservations/<name>[/reservationBlocks/<block>]"
        )
    if pool.capacity is GkeCapacity.RESERVATION and not pool.protect:
        r.warnings.append(
            f"{_key(key + '.gpuPool.protect')}: the GPU pool is reserved and not protected; a change of "
            f"{', '.join(gke_specs.GPU_POOL_REPLACING_KEYS)} replaces it: its nodes and their reservation are "
            "released and every worker reloads its model. Set gpuPool.protect: true to make such an update fail "
            "instead (docs/gke.md: What replaces the GPU pool)"
        )
    if pool.capacity is GkeCapacity.FLEX_START:
        r.warnings.append(
            f"{_key(key + '.gpuPool.capacity')}: flex-start is experimental here: the pool starts empty and the "
            "workers stay Pending until GKE finds capacity (the readiness wait may run out first)"
        )
    if pool.capacity is GkeCapacity.SPOT:
        r.warnings.append(
            f"{_key(key + '.gpuPool.capacity')}: spot GPU nodes can be preempted at any time; the model then "
            "reloads from scratch on the replacement node"
        )
    if gke.control_plane_access is ControlPlaneAccess.AUTHORIZED_NETWORKS:
        if not gke.authorized_networks:
            r.errors.append(
                f"{_key(key + '.authorizedNetworks')}: authorized-networks access needs at least one CIDR (the "
                "operators' and CI runners' addresses); or use controlPlaneAccess: dns"
            )
        for i, cidr in enumerate(gke.authorized_networks):
            try:
                ipaddress.ip_network(cidr)
            except ValueError:
                r.errors.append(f"{_key(f'{key}.authorizedNetworks[{i}]')}: {cidr!r} is not a CIDR block")
    if cfg.rdma.fabric is Fabric.GKE_DRA and gke.min_version is None:
        if gke.release_channel != "RAPID":
            r.warnings.append(
                f"{_key(key + '.minVersion')}: unset, so the cluster starts at the {gke.release_channel} channel's "
                f"default version, which may be older than {MIN_GKE_DRA_VERSION} (managed DRANET, gke-dra); set "
                "minVersion to a version the channel offers (`gcloud container get-server-config`)"
            )
    elif cfg.rdma.fabric is Fabric.GKE_DRA:
        assert gke.min_version is not None
        at_least = gke_version_at_least(gke.min_version, MIN_GKE_DRA_VERSION)
        if at_least is None:
            r.errors.append(f"{_key(key + '.minVersion')}: {gke.min_version!r} is not a GKE version; write 1.35")
        elif not at_least:
            r.errors.append(
                f"{_key(key + '.minVersion')}: {gke.min_version} is older than {MIN_GKE_DRA_VERSION}, the first "
                "with managed DRANET (gke-dra); set 1.35 or newer"
            )


_RESERVATION = RESERVATION_RE


def removed_apis(kinds: tuple[tuple[str, str], ...], version: str) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, removed in) of each of `kinds` that Kubernetes `version` (1.35, 1.34.1-gke.1) no longer
    serves."""
    m = re.match(r"^v?(\d+)\.(\d+)", version)
    assert m, version
    have = (int(m[1]), int(m[2]))
    out = []
    for api, kind in kinds:
        removed = catalog.REMOVED_APIS.get((api, kind))
        if removed is not None and have >= tuple(int(x) for x in removed.split(".")):
            out.append((api, kind, removed))
    return out


def check_driver_installer(cfg: StackConfig, r: Report) -> None:
    """gke-dra applies the COS driver installer by URL at a pinned commit. Its kinds are known per commit (catalog);
    one the cluster no longer serves fails `up` (the workers would wait on it forever). A release channel keeps
    upgrading the cluster, so the newest Kubernetes in the catalog counts too."""
    prep = cfg.cluster_prep
    if not (cfg.rdma.fabric is Fabric.GKE_DRA and prep.enabled and prep.gpu_driver_installer):
        return
    key = _key("clusterPrep.charts.gpuDriverInstallerRef")
    ref = prep.charts.gpu_driver_installer_ref
    kinds = catalog.GPU_DRIVER_INSTALLER_KINDS.get(ref)
    if kinds is None:
        r.warnings.append(
            f"{key}: commit {ref[:12]} is not in the catalog, so the API versions of its driver installer manifest "
            "are not checked; read nvidia-driver-installer/cos/daemonset-preloaded.yaml at that commit and add it "
            "to catalog.GPU_DRIVER_INSTALLER_KINDS"
        )
        return
    for api, kind, removed in removed_apis(kinds, catalog.NEWEST_KUBERNETES):
        r.errors.append(
            f"{key}: the driver installer at commit {ref[:12]} is a {api} {kind}, which Kubernetes stopped serving "
            f"in {removed}; pin a commit whose manifest uses a served API (default "
            f"{type(prep.charts).model_fields['gpu_driver_installer_ref'].default[:12]})"
        )


def check_fabric(cfg: StackConfig, r: Report) -> None:
    fabric, kind = cfg.rdma.fabric, cfg.cluster.kind
    if fabric in (Fabric.GKE_DRA, Fabric.GKE_MULTINETWORK) and kind is not ClusterKind.GKE:
        r.errors.append(
            f"{_key('rdma.fabric')}: {fabric.value!r} needs a GKE cluster (cluster.kind: gke); "
            "on an existing cluster use infiniband or none"
        )
    if fabric is Fabric.INFINIBAND and kind is ClusterKind.GKE:
        r.errors.append(
            f"{_key('rdma.fabric')}: GKE nodes advertise no InfiniBand resource; use gke-dra (default on GKE), "
            "gke-multinetwork or none"
        )
    if fabric is Fabric.GKE_MULTINETWORK:
        for i, pool in enumerate(cfg.pools):
            for role, rc in _roles(pool):
                if rc.replicas and rc.tensor_parallelism != 8:
                    r.errors.append(
                        f"{_key(f'pools[{i}].{role.value}.tensorParallelism')}: with gke-multinetwork only one pod "
                        "per node can use RDMA, so each pod must take the whole node (8 GPUs); use gke-dra to pair "
                        "single GPUs with their NICs"
                    )
    if fabric is Fabric.NONE:
        r.warnings.append(f"{_key('rdma.fabric')}: none: NIXL moves KV cache over TCP; P/D works but slowly")


def check_gateway(cfg: StackConfig, r: Report) -> None:
    on_gke = cfg.cluster.kind is ClusterKind.GKE
    if gw_specs.profile(cfg.gateway).gke_only and not on_gke:
        r.errors.append(
            f"{_key('gateway.provider')}: gke's gateway classes exist only on GKE; use istio or agentgateway here"
        )
    if on_gke and cfg.cluster_prep.enabled and cfg.cluster_prep.crds:
        r.errors.append(
            f"{_key('clusterPrep.crds')}: GKE installs and manages the Gateway API and Inference Extension CRDs; "
            "set it to false"
        )
    r.warnings += list(gw_specs.profile(cfg.gateway).notes)
    if cfg.verification.enabled and not gw_specs.profile(cfg.gateway).in_cluster:
        r.errors.append(
            f"{_key('verification.enabled')}: the GKE gateway has no in-cluster Service to test through; send the "
            "exported curl to the gateway address instead"
        )


# --- pools ----------------------------------------------------------------------------------------------------------
def image_version(image: str) -> tuple[int, int, int] | None:
    """The release an image tag names (`...:v0.7.1`, `...:0.9.0-rc1`), or None for a digest or another tag."""
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    m = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?", tag)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def check_sidecar(cfg: StackConfig, r: Report) -> None:
    """SSRF protection only where the release's allow-list can read a v1 pool (components/releases.py); an image
    overridden by hand is judged by its tag."""
    if not any(p.sidecar.ssrf_protection for p in cfg.pools):
        return
    rel = release(cfg.release)
    fixed = ".".join(map(str, catalog.SIDECAR_V1_POOL_ALLOWLIST_FIXED))
    assert cfg.images.sidecar is not None  # filled from the release by load_config
    owner = releases.image_release(cfg.images.sidecar)
    version = image_version(cfg.images.sidecar)
    keys = ", ".join(f"pools[{i}].sidecar.ssrfProtection" for i, p in enumerate(cfg.pools) if p.sidecar.ssrf_protection)
    if owner is not None:
        works, which = owner.sidecar.ssrf_allowlist_works, f"of release {owner.name}"
    elif version is not None:
        works, which = version >= catalog.SIDECAR_V1_POOL_ALLOWLIST_FIXED, f"v{'.'.join(map(str, version))}"
    else:
        r.warnings.append(
            f"{_key(keys)}: cannot tell the release of images.sidecar {cfg.images.sidecar}; SSRF protection answers "
            f"every P/D request with 403 before v{fixed} (llm-d/llm-d#1365)"
        )
        return
    if not works:
        r.errors.append(
            f"{_key(keys)}: routing sidecar {which} cannot read a v1 InferencePool's selector "
            f"and answers every P/D request with 403 (llm-d/llm-d#1365, fixed in v{fixed}); set it to false (the "
            "decode egress NetworkPolicy confines the prefill leg) or use a sidecar image of v"
            f"{fixed} or later (release: {rel.name if rel.sidecar.ssrf_allowlist_works else releases.DEFAULT_RELEASE})"
        )


def check_release(cfg: StackConfig, r: Report) -> None:
    """Images of one release set only: the specs emit that set's flags and EPP config, and a vLLM of another
    release may not pair with the other role's NIXL. An image that is none of the sets' is an explicit override."""
    rel = release(cfg.release)
    r.facts.append(f"release {rel.name} (llm-d {rel.llm_d}): {rel.vllm_image}, {rel.epp_image}, {rel.sidecar_image}")
    for key in sorted(cfg.images.model_fields_set & {"vllm", "epp", "sidecar"}):
        image = getattr(cfg.images, key)
        owner = releases.image_release(image)
        if owner is not None and owner.name != rel.name:
            r.errors.append(
                f"{_key(f'images.{key}')}: {image} is release {owner.name}'s, but the stack's release is {rel.name}, "
                f"whose flags and EPP config the specs emit; mixing sets is refused: remove images.{key}, or set "
                f"release: {owner.name}"
            )
        elif owner is None:
            r.warnings.append(
                f"{_key(f'images.{key}')}: {image} overrides release {rel.name}'s image explicitly; the specs emit "
                f"that release's flags and config, so the image must be of the same release"
            )
    for i, pool in enumerate(cfg.pools):
        key = f"pools[{i}]"
        sched, sc = pool.scheduling, pool.sidecar
        rel = release(pool.release)
        if "prefill_max_retries" in sc.model_fields_set and not rel.sidecar.prefill_retries:
            r.errors.append(
                f"{_key(key + '.sidecar.prefillMaxRetries')}: release {rel.name}'s sidecar has no prefill retries "
                "(it falls back to decoding without P/D); remove it, or upgrade the release"
            )
        if sched.prompt_tokens and not rel.epp.decider_prompt_tokens:
            r.errors.append(
                f"{_key(key + '.scheduling.promptTokens')}: release {rel.name}'s decider has no promptTokens gate; "
                "remove it, or upgrade the release"
            )
        if not rel.epp.token_routing:
            if "peak_prefill_throughput" in sched.model_fields_set:
                r.errors.append(
                    f"{_key(key + '.scheduling.peakPrefillThroughput')}: release {rel.name} has no token-based "
                    "routing; remove it, or upgrade the release"
                )
            continue
        if sched.peak_prefill_throughput is None:
            r.warnings.append(
                f"{_key(key + '.scheduling.peakPrefillThroughput')}: unset and not measured upstream for "
                f"{pool.model.id} at prefill TP {pool.prefill.tensor_parallelism} on this hardware, so pool "
                f"{pool.name} routes by prefix cache and queue depth, not by tokens; set it (tokens/s of one prefill "
                "pod) for token-based routing"
            )
        elif "peak_prefill_throughput" not in sched.model_fields_set:
            acc = next((g.accelerator for g in cfg.cluster.inventory if g.gpus_per_node), "")
            m = catalog.PEAK_PREFILL_THROUGHPUT[(pool.model.id, acc, pool.prefill.tensor_parallelism)]
            r.facts.append(f"pool {pool.name}: peakPrefillThroughput {m.tokens_per_s:g} tokens/s from {m.source}")


OWNED_VLLM_FLAGS = {
    "--kv-transfer-config": "both roles must carry the same NixlConnector config, or KV is recomputed",
    "--port": "the sidecar, the InferencePool and the probes use the wired port",
    "--served-model-name": "set pools[].model.servedName",
    "--block-size": "set pools[].model.blockSize (prefill and decode must agree)",
    "--tensor-parallel-size": "set pools[].<role>.tensorParallelism",
    "--max-model-len": "set pools[].model.maxModelLen",
    "--gpu-memory-utilization": "set pools[].model.gpuMemoryUtilization",
}
"""vLLM flags the program sets from config; an extraArgs copy would silently override one role only."""


def check_extra_args(pool: PoolConfig, key: str, r: Report) -> None:
    for role, rc in _roles(pool):
        for arg in rc.extra_args:
            flag = arg.split("=", 1)[0].replace("_", "-")
            if flag in OWNED_VLLM_FLAGS:
                r.errors.append(
                    f"{_key(f'{key}.{role.value}.extraArgs')}: {flag} is set by the program "
                    f"({OWNED_VLLM_FLAGS[flag]}); remove it"
                )


OWNED_ENV = {
    "VLLM_NIXL_SIDE_CHANNEL_HOST": "the pod's IP, so the other role reaches NIXL's side channel",
    "VLLM_NIXL_SIDE_CHANNEL_PORT": "the wired side-channel port, which the Service ports and NetworkPolicies open",
    "HF_HOME": "the model cache volume; size it with pools[].model.cacheSize",
    "HF_TOKEN": "set the secret hfToken or hfTokenSecretName (vLLM reads it from a mounted file)",
    **{
        k: "the root filesystem is read-only: every cache points at the pod's emptyDirs"
        for k in vllm_runtime.CACHE_ENV
        if k != "HF_TOKEN_PATH"
    },
    "HF_TOKEN_PATH": "the HF token Secret's key, mounted as a file",
}
"""Environment variables the program sets on the vLLM container; an extraEnv or ucxEnv copy would override them."""


def check_owned_env(env: dict[str, str], key: str, r: Report) -> None:
    for name in sorted(set(env) & set(OWNED_ENV)):
        r.errors.append(f"{_key(key)}: {name} is set by the program ({OWNED_ENV[name]}); remove it")


def images_in_use(cfg: StackConfig) -> dict[str, str]:
    """Every image the program runs, by its config key."""
    images = {f"images.{k}": getattr(cfg.images, k) for k in ("vllm", "epp", "sidecar")}
    if cfg.verification.enabled:
        images["verification.image"] = cfg.verification.image
    if cfg.verification.gate_image:
        images["verification.gateImage"] = cfg.verification.gate_image
    return images


def check_images(cfg: StackConfig, r: Report) -> None:
    """`images.requireDigests`: only digest references (a tag may move to another build; a digest cannot)."""
    if not cfg.images.require_digests:
        return
    for key, image in images_in_use(cfg).items():
        if "@sha256:" not in image:
            r.errors.append(
                f"{_key(key)}: {image} is not pinned by digest and images.requireDigests is true; write it as "
                "registry/repository@sha256:<digest> (or repository:tag@sha256:<digest>)"
            )


# --- model cache ----------------------------------------------------------------------------------------------------
_CACHE_KEYS_READ: dict[CacheMode, set[str]] = {
    CacheMode.PER_POD: {"mode"},
    CacheMode.NODE: {"mode"},
    CacheMode.VOLUME: {"mode", "revision", "source", "bucket", "storage_class_name", "access_mode", "size",
                       "populate_image"},
    CacheMode.STREAM: {"mode", "bucket"},
}  # fmt: skip
"""The `pools[].model.cache` keys each mode reads; any other set key is refused, not silently dropped."""


def check_model_cache(cfg: StackConfig, r: Report) -> None:
    """Each pool's cache mode fits the cluster, the fabric, the volume and the image (components/specs/
    model_cache.py)."""
    on_gke = cfg.cluster.kind is ClusterKind.GKE
    legacy = on_gke and cfg.cluster.gke.gpu_pool.shared_model_cache
    if legacy:
        r.warnings.append(
            f"{_key('cluster.gke.gpuPool.sharedModelCache')}: the legacy spelling of pools[].model.cache.mode: node; "
            "set that on the pools instead and remove sharedModelCache"
        )
    net = worker_networking(cfg)
    names = InstallNames(cfg.prefix, cfg.namespace, cfg.release)
    facts_of: set[str] = set()
    for i, pool in enumerate(cfg.pools):
        c = pool.model.cache
        assert c.mode is not None  # filled by load_config
        key = f"pools[{i}].model.cache"
        legacy_mode = legacy and "mode" not in c.model_fields_set
        mode_key = "cluster.gke.gpuPool.sharedModelCache" if legacy_mode else f"{key}.mode"
        for name in sorted(c.model_fields_set - _CACHE_KEYS_READ[c.mode]):
            r.errors.append(
                f"{_key(f'{key}.{_alias(c, name)}')}: set, but cache mode {c.mode.value} does not read it; remove it"
            )
        if c.mode is not CacheMode.PER_POD and "cache_size" in pool.model.model_fields_set:
            volume = " (the volume's is cache.size)" if c.mode is CacheMode.VOLUME else ""
            r.errors.append(
                f"{_key(f'pools[{i}].model.cacheSize')}: sizes the per-pod download cache, but cache mode is "
                f"{c.mode.value}; remove it{volume}"
            )
        if c.mode is CacheMode.NODE and not vllm_runtime.runs_as_root(net.capabilities):
            r.errors.append(
                f"{_key(mode_key)}: the node's cache directory {wiring.SHARED_MODEL_CACHE_HOST_PATH} is created owned "
                f"by root and vLLM runs as uid {vllm_runtime.VLLM_UID} without an RDMA fabric with rdma.ipcLock; use "
                "cache mode volume or per-pod"
            )
        if c.mode is CacheMode.VOLUME:
            check_model_volume(cfg, i, pool, names, facts_of, r)
        if c.mode is CacheMode.STREAM:
            check_stream(cfg, i, pool, names, r)
        if c.bucket is not None and c.mode is CacheMode.VOLUME and c.source is CacheSource.HUGGINGFACE:
            r.errors.append(
                f"{_key(key + '.bucket')}: set, but the populate Job reads the hub (source huggingface); set "
                "source: bucket to fill the volume from it, or remove bucket"
            )


def check_model_volume(
    cfg: StackConfig, i: int, pool: PoolConfig, names: InstallNames, facts_of: set[str], r: Report
) -> None:
    c = pool.model.cache
    key = f"pools[{i}].model.cache"
    on_gke = cfg.cluster.kind is ClusterKind.GKE
    stack_class = on_gke and c.storage_class_name is None
    if not on_gke and c.storage_class_name is None:
        r.errors.append(
            f"{_key(key + '.storageClassName')}: required for cache mode volume on an existing cluster; name a class "
            "whose volumes several nodes can mount (ReadWriteMany, or ReadOnlyMany), or use cache mode per-pod"
        )
    access = c.access_mode
    if access is VolumeAccessMode.READ_WRITE_ONCE:
        r.errors.append(
            f"{_key(key + '.accessMode')}: ReadWriteOnce lets one node mount the volume, but the populate Job and the "
            "workers run on different nodes (and workers on several); use ReadWriteMany or ReadOnlyMany"
        )
    elif stack_class and access not in (None, VolumeAccessMode.READ_ONLY_MANY):
        r.errors.append(
            f"{_key(key + '.accessMode')}: the stack's Hyperdisk ML volumes are ReadOnlyMany (many readers, no "
            "writer once filled); remove accessMode, or name your own class in storageClassName"
        )
    elif not on_gke and access is VolumeAccessMode.READ_ONLY_MANY:
        r.warnings.append(
            f"{_key(key + '.accessMode')}: ReadOnlyMany: the populate Job writes through the same claim, so the class "
            "must let one pod mount it read-write (static hostPath, local or NFS volumes do; a CSI disk attached "
            "read-only does not): use ReadWriteMany otherwise"
        )
    checkpoint = model_cache.checkpoint_bytes(pool)
    size = c.size or model_cache.default_size(pool)
    if size is None:
        r.errors.append(
            f"{_key(key + '.size')}: {pool.model.id} is not in the catalog, so the volume cannot be sized; set "
            f"size (the checkpoint plus {round((model_cache.HEADROOM - 1) * 100)}%) or model.facts.checkpointSize"
        )
    elif checkpoint is not None and _bytes(size) < checkpoint * model_cache.HEADROOM:
        need = math.ceil(checkpoint * model_cache.HEADROOM / catalog.GiB)
        r.errors.append(
            f"{_key(key + '.size')}: {size} cannot hold the {_gb(checkpoint)} checkpoint with "
            f"{round((model_cache.HEADROOM - 1) * 100)}% headroom (filesystem, tokenizer and download metadata); "
            f"raise it to at least {need}Gi or remove it (the default is sized from the catalog)"
        )
    if size is not None and stack_class:
        low, high = model_cache.HYPERDISK_ML_SIZE_GIB
        if not low * catalog.GiB <= _bytes(size) <= high * catalog.GiB:
            r.errors.append(f"{_key(key + '.size')}: a Hyperdisk ML volume is {low}Gi to {high}Gi; got {size}")
    if c.source is CacheSource.BUCKET:
        if c.bucket is None:
            r.errors.append(f"{_key(key + '.bucket')}: source bucket needs the bucket, e.g. gs://my-models/llama")
        elif on_gke and not c.bucket.startswith("gs://"):
            r.errors.append(
                f"{_key(key + '.bucket')}: {c.bucket} is not a Cloud Storage bucket; on GKE the Job reads gs:// "
                "with its Workload Identity"
            )
        if c.populate_image is None:
            r.errors.append(
                f"{_key(key + '.populateImage')}: source bucket copies with `gcloud storage rsync`, which the vLLM "
                "image lacks; set an image with the Google Cloud CLI, pinned by tag or digest"
            )
    gke = cfg.cluster.gke
    if stack_class and gke.provision:
        for pool_key, machine, why in (
            ("systemPool", gke.system_pool.machine_type, "the populate Job writes the volume from the system pool"),
            ("gpuPool", gke.gpu_pool.machine_type, "every GPU node reads the volume"),
        ):
            series = catalog.machine_series(machine)
            where = f"cluster.gke.{pool_key}.machineType"
            if series in catalog.NO_HYPERDISK_MACHINE_SERIES:
                fix = (
                    "use c3-standard-8 (the default with cache mode volume)" if pool_key == "systemPool"
                    else "use a GPU machine that attaches Hyperdisk ML"
                )  # fmt: skip
                r.errors.append(
                    f"{_key(where)}: {machine} attaches no Hyperdisk, and {why} (cache mode volume, Hyperdisk ML); "
                    f"{fix}, or set {key}.mode to per-pod"
                )
            elif series not in catalog.HYPERDISK_ML_MACHINE_SERIES:
                r.warnings.append(
                    f"{_key(where)}: the catalog does not know whether {machine} attaches Hyperdisk ML, and {why}; "
                    "check Compute Engine's Hyperdisk ML machine series "
                    f"({', '.join(catalog.HYPERDISK_ML_MACHINE_SERIES)} are known to)"
                )
    vol = model_cache.model_volume(names, pool, cfg) if size is not None else None
    if vol is not None and vol.name not in facts_of:
        facts_of.add(vol.name)
        where = "on the system pool" if vol.system_pool else "on a node without GPUs"
        how = "cloned ReadOnlyMany once filled" if vol.clone else vol.access_mode.value
        r.facts.append(
            f"pool {pool.name}: model volume {vol.name} ({vol.size}, class {vol.storage_class}, {how}), filled once by "
            f"Job {vol.job_name} {where} from {c.source.value}; every worker mounts it read-only"
        )


def check_stream(cfg: StackConfig, i: int, pool: PoolConfig, names: InstallNames, r: Report) -> None:
    """stream: vLLM's Run:ai Model Streamer (`--load-format runai_streamer`) needs vLLM's optional `runai` extra
    (runai-model-streamer: vLLM 0.20.0's package metadata lists it under extra `runai` only). llm-d's CUDA image
    installs vLLM from source without extras (llm-d/llm-d docker/scripts/cuda/runtime/install-vllm.sh: the vLLM
    checkout, huggingface_hub and the build's wheels), and the vLLM version inside `llm-d-cuda:v0.9.0` was not read at
    its tag; so a release set's image is refused, and another image is taken as the user's word that it has it."""
    c = pool.model.cache
    key = f"pools[{i}].model.cache"
    if c.bucket is None:
        r.errors.append(f"{_key(key + '.bucket')}: cache mode stream needs the bucket vLLM streams from, e.g. gs://b/m")
    elif cfg.cluster.kind is ClusterKind.GKE and not c.bucket.startswith("gs://"):
        r.errors.append(
            f"{_key(key + '.bucket')}: {c.bucket} is not a Cloud Storage bucket; on GKE the workers read gs:// with "
            "their Workload Identity"
        )
    image = pool_images(cfg, pool).vllm
    owner = releases.image_release(image)
    if owner is not None:
        r.errors.append(
            f"{_key(key + '.mode')}: stream loads with vLLM's Run:ai Model Streamer, which needs vLLM's optional "
            f"`runai` extra; release {owner.name}'s image {image} installs vLLM without it (llm-d/llm-d "
            "docker/scripts/cuda/runtime/install-vllm.sh); use cache mode volume, or set images.vllm to an image "
            "with vllm[runai]"
        )
    else:
        r.warnings.append(
            f"{_key(key + '.mode')}: stream needs vllm[runai] (runai-model-streamer) in {image}; vLLM fails at "
            "load without it"
        )
    if cfg.cluster.kind is ClusterKind.GKE and c.bucket is not None:
        pn = names.pool(pool.name)
        accounts = ", ".join(f"{cfg.namespace}/{pn.worker(role)}" for role in (Role.PREFILL, Role.DECODE))
        r.facts.append(
            f"pool {pool.name} streams {c.bucket}: grant roles/storage.objectViewer on the bucket to the workers' "
            f"Kubernetes service accounts {accounts} (Workload Identity Federation for GKE principals)"
        )


def check_pools(cfg: StackConfig, r: Report) -> None:
    check_images(cfg, r)
    check_model_cache(cfg, r)
    check_release(cfg, r)
    check_sidecar(cfg, r)
    check_owned_env(cfg.rdma.ucx_env, "rdma.ucxEnv", r)
    for i, pool in enumerate(cfg.pools):
        key = f"pools[{i}]"
        for role, rc in _roles(pool):
            if (
                rc.replicas == 0
                and rc.autoscaling is None  # scale to zero, asked for: check_autoscaling warns
                and (pool.serve or (role is Role.DECODE and pool.prefill.replicas > 0))
            ):
                why = (
                    "a serving pool needs both roles (its route sends traffic to it)"
                    if pool.serve
                    else "0 decode workers leave the pool unservable"
                )
                r.errors.append(
                    f"{_key(f'{key}.{role.value}.replicas')}: 0 {role.value} workers: {why}; set at least 1, or "
                    "set serve: false while the pool is scaled down"
                )
            check_owned_env(rc.extra_env, f"{key}.{role.value}.extraEnv", r)
        if pool.model.block_size not in catalog.VLLM_BLOCK_SIZES:
            r.errors.append(
                f"{_key(key + '.model.blockSize')}: vLLM accepts {', '.join(map(str, catalog.VLLM_BLOCK_SIZES))}"
            )
        check_extra_args(pool, key, r)
        sched = pool.scheduling
        if sched.decider is Decider.SELECTIVE and sched.non_cached_tokens >= pool.model.max_model_len:
            r.errors.append(
                f"{_key(key + '.scheduling.nonCachedTokens')}: {sched.non_cached_tokens} is not below maxModelLen "
                f"{pool.model.max_model_len}, so no request that fits is ever disaggregated; lower it"
            )
        p_tp, d_tp = pool.prefill.tensor_parallelism, pool.decode.tensor_parallelism
        if max(p_tp, d_tp) % min(p_tp, d_tp):
            r.errors.append(
                f"{_key(key + '.decode.tensorParallelism')}: NixlConnector maps KV heads between prefill TP "
                f"{p_tp} and decode TP {d_tp} only when one divides the other; change either"
            )
        facts = model_facts(pool)
        # NixlConnector splits KV heads from prefill ranks to decode ranks, not back: for non-MLA models prefill TP
        # must not exceed decode TP (llm-d/llm-d docs/operations/disaggregation/vllm.md; vLLM's nixl_connector
        # asserts it when it maps remote ranks).
        if p_tp > d_tp and not (facts is not None and facts.mla):
            r.errors.append(
                f"{_key(key + '.prefill.tensorParallelism')}: prefill TP {p_tp} is larger than decode TP {d_tp}, "
                "which NixlConnector supports only for MLA models; lower prefill TP or raise decode TP (for an MLA "
                f"model the catalog does not know, set {key}.model.facts.mla: true)"
            )
        if facts is None:
            r.warnings.append(
                f"{_key(key + '.model.id')}: {pool.model.id} is not in the catalog; describe it in "
                f"{key}.model.facts to check TP, context and memory fit"
            )
            continue
        if pool.model.max_model_len > facts.max_context:
            r.errors.append(
                f"{_key(key + '.model.maxModelLen')}: {pool.model.max_model_len} exceeds the model's context of "
                f"{facts.max_context}; lower it"
            )
        for role, rc in _roles(pool):
            tp = rc.tensor_parallelism
            if facts.attention_heads % tp or (facts.kv_heads % tp and tp % facts.kv_heads):
                r.errors.append(
                    f"{_key(f'{key}.{role.value}.tensorParallelism')}: TP {tp} must divide the model's "
                    f"{facts.attention_heads} attention heads and divide or be a multiple of its {facts.kv_heads} "
                    "KV heads; use a power of two up to 8"
                )


# --- placement, memory, disk ----------------------------------------------------------------------------------------
@dataclass
class Pod:
    """`count` identical pods: the replicas of one role of one pool."""

    key: str
    pool: int
    role: Role
    gpus: int
    count: int = 1


@dataclass
class Node:
    """`count` identical nodes of one inventory group, each with `gpus_free` GPUs left and the same pods."""

    group: int
    gpus_free: int
    count: int = 1
    pods: dict[tuple[int, Role], int] = field(default_factory=dict)
    """(pool, role) -> pods of it on each of these nodes."""

    @property
    def workers(self) -> int:
        return sum(self.pods.values())

    def holding(self, pod: Pod, per_node: int, count: int) -> Node:
        pods = {**self.pods, (pod.pool, pod.role): self.pods.get((pod.pool, pod.role), 0) + per_node}
        return Node(self.group, self.gpus_free - per_node * pod.gpus, count, pods)


def replicas_at(rc: RoleConfig, at_max: bool) -> int:
    """A role's replicas at the start (an autoscaled role's minReplicas), or at its autoscaler's ceiling."""
    return rc.autoscaling.max_replicas if at_max and rc.autoscaling is not None else rc.replicas


def place(cfg: StackConfig, at_max: bool = False) -> tuple[list[Node], list[Pod]]:
    """First fit by decreasing GPU count on the declared nodes: (runs of identical nodes with their pods, pods that
    do not fit). Computed on counts, so its cost depends on the number of node groups and roles, not on how many
    nodes or replicas they declare: first fit puts identical pods on the first node with room until it is full.
    `at_max`: every autoscaled role at its maxReplicas."""
    nodes = [Node(i, g.gpus_per_node, g.count) for i, g in enumerate(cfg.cluster.inventory)]
    pods = [
        Pod(f"pools[{i}].{role.value}", i, role, rc.tensor_parallelism, replicas_at(rc, at_max))
        for i, pool in enumerate(cfg.pools)
        for role, rc in _roles(pool)
        if replicas_at(rc, at_max)
    ]
    unplaced = []
    for pod in sorted(pods, key=lambda p: -p.gpus):
        left, out = pod.count, []
        for node in nodes:
            per_node = node.gpus_free // pod.gpus
            if not left or not per_node:
                out.append(node)
                continue
            full, rest = divmod(left, per_node)
            if full >= node.count:
                out.append(node.holding(pod, per_node, node.count))
                left -= per_node * node.count
                continue
            out += [node.holding(pod, per_node, full)] if full else []
            out += [node.holding(pod, rest, 1)] if rest else []
            idle = node.count - full - (1 if rest else 0)
            out += [replace(node, count=idle)] if idle else []
            left = 0
        nodes = out
        if left:
            unplaced.append(replace(pod, count=left))
    return nodes, unplaced


def check_gpu_budget(cfg: StackConfig, r: Report) -> list[Node]:
    total = sum(p.gpus for p in cfg.pools)
    r.facts.append(f"GPUs requested: {total} ({'; '.join(p.topology() for p in cfg.pools)})")
    inventory = cfg.cluster.inventory
    if not inventory:
        r.facts.append("no cluster.inventory declared: fit, memory and disk checks skipped")
        return []
    nodes, unplaced = place(cfg)
    largest = max(g.gpus_per_node for g in inventory)
    capacity = sum(g.gpus_per_node * g.count for g in inventory)
    r.facts.append(f"GPUs declared: {capacity} on {sum(n.count for n in nodes)} node(s); {capacity - total} spare")
    too_big = {(p.key, p.gpus) for p in unplaced if p.gpus > largest}
    for key, gpus in sorted(too_big):
        r.errors.append(
            f"{_key(key + '.tensorParallelism')}: {gpus} GPUs per pod but the largest node has {largest}; "
            f"lower tensorParallelism to at most {largest}"
        )
    rest = [p for p in unplaced if p.gpus <= largest]
    if rest:
        what = ", ".join(sorted({f"{p.key} ({p.gpus} GPUs)" for p in rest}))
        r.errors.append(
            f"{_key('pools')}: {total} GPUs requested, {capacity} declared in {_key('cluster.inventory')}; "
            f"cannot place {sum(p.count for p in rest)} pod(s): {what}; lower replicas or tensorParallelism, or "
            "add nodes"
        )
    for i, pool in enumerate(cfg.pools):
        for role, rc in _roles(pool):
            if (
                rc.strategy.value == "RollingUpdate"
                and rc.replicas
                and not any(n.gpus_free >= rc.tensor_parallelism for n in nodes)
            ):
                r.warnings.append(
                    f"{_key(f'pools[{i}].{role.value}.strategy')}: RollingUpdate (maxSurge 0) replaces one pod at "
                    "a time, so the role runs one pod short during an update; Recreate stops all at once"
                )
    if cfg.rdma.fabric is Fabric.INFINIBAND:
        shares = min(g.rdma_shares for g in inventory)
        busiest = max((n.workers for n in nodes), default=0)
        if shares == 0:
            r.errors.append(
                f"{_key('cluster.inventory')}: nodes advertise no {cfg.rdma.resource_name}; every InfiniBand "
                "worker requests one: install the RDMA shared device plugin or set rdma.fabric: none"
            )
        elif shares < busiest:
            r.errors.append(
                f"{_key('cluster.inventory')}: a node would run {busiest} workers but advertises {shares} "
                f"{cfg.rdma.resource_name}; raise the shared device plugin's rdmaHcaMax"
            )
    return nodes


def _seconds(interval: str) -> float:
    """A scrape interval (config ScrapeInterval: a whole number of ms, s or m) in seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m)", interval)
    assert m is not None
    return int(m[1]) * {"ms": 0.001, "s": 1, "m": 60}[m[2]]


# --- autoscaling ----------------------------------------------------------------------------------------------------
def check_autoscaling(cfg: StackConfig, r: Report) -> None:
    """KEDA reads each autoscaled role's signal from the metrics backend; both roles at their maxReplicas must fit the
    declared GPUs (components/specs/autoscaling.py)."""
    scaled = [(i, pool, role, rc) for i, pool in enumerate(cfg.pools) for role, rc in _roles(pool) if rc.autoscaling]
    for i, pool in enumerate(cfg.pools):
        ratio = pool.pd_ratio
        if ratio is None:
            continue
        mine = [(role, rc) for role, rc in _roles(pool) if rc.autoscaling]
        if not mine:
            r.errors.append(
                f"{_key(f'pools[{i}].pdRatio')}: no role of pool {pool.name} autoscales, so nothing keeps the "
                "ratio; add prefill.autoscaling or decode.autoscaling, or remove pdRatio"
            )
        for role, rc in mine:
            assert rc.autoscaling is not None
            if autoscaling.metric_type(autoscaling.signal(role, rc.autoscaling)) != autoscaling.PER_REPLICA:
                r.errors.append(
                    f"{_key(f'pools[{i}].pdRatio')}: {role.value} scales on a level (ttft, epp-queue), which a "
                    "pod-count bound cannot clamp; use a per-replica signal (waiting-requests, kv-cache-usage, "
                    "running-requests), or remove pdRatio"
                )
        lo_p = pool.prefill.replicas
        hi_d = pool.decode.autoscaling.max_replicas if pool.decode.autoscaling else pool.decode.replicas
        if ratio.max is not None and hi_d and lo_p / hi_d > ratio.max:
            r.warnings.append(
                f"{_key(f'pools[{i}].pdRatio.max')}: {ratio.max:g}, but prefill's floor ({lo_p}) per decode's "
                f"ceiling ({hi_d}) is already {lo_p / hi_d:g}; minReplicas wins over the ratio"
            )
    if not scaled:
        if cfg.cluster_prep.keda and cfg.cluster_prep.enabled:
            r.facts.append("KEDA: installed by this stack (clusterPrep.keda); no role of this stack autoscales")
        return
    backend = cfg.monitoring_backend
    if backend is MonitoringBackend.OFF:
        r.errors.append(
            f"{_key('monitoring.backend')}: off, but {_key('pools[].prefill/decode.autoscaling')} reads its signal "
            "from Prometheus; set monitoring.backend to prometheus-operator (with monitoring.queryUrl) or gmp"
        )
    elif autoscaling.query_url(cfg) is None:
        r.errors.append(
            f"{_key('monitoring.queryUrl')}: unset; the autoscaler (KEDA) needs the Prometheus query endpoint that "
            f"scrapes the {backend.value} monitors, e.g. http://prometheus-operated.monitoring.svc:9090"
        )
    if autoscaling.uses_gcp_identity(cfg) and not (cfg.installs_keda and cfg.cluster.gke.provision):
        r.warnings.append(
            f"{_key('clusterPrep.keda')}: KEDA is installed elsewhere, so this stack grants it no Managed "
            f"Prometheus access; give the KEDA operator's identity {autoscaling.GMP_READER_ROLE} on the project"
        )
    if not cfg.installs_keda:
        r.facts.append(
            "autoscaling: KEDA must already run in the cluster (the stack with clusterPrep.enabled installs it); "
            "`up` fails at the first ScaledObject otherwise"
        )
    for i, pool, role, rc in scaled:
        a = rc.autoscaling
        assert a is not None
        key = f"pools[{i}].{role.value}.autoscaling"
        sig = autoscaling.signal(role, a)
        unit = {ScaleSignal.TTFT: "p90 seconds", ScaleSignal.EPP_QUEUE: "queued per model server"}.get(
            sig, "per replica"
        )
        r.facts.append(
            f"autoscaling: pool {pool.name} {role.value} {a.min_replicas}..{a.max_replicas} replicas on "
            f"{sig.value} (target {a.target_value(sig):g} {unit}); Pulumi creates the Deployment at "
            f"{a.min_replicas} and leaves its replicas to KEDA"
        )
        if sig is ScaleSignal.TTFT and _seconds(cfg.monitoring.interval) * 2 > autoscaling.RATE_WINDOW_S:
            r.errors.append(
                f"{_key('monitoring.interval')}: {cfg.monitoring.interval}, but {_key(key + '.signal')}: ttft takes "
                f"a rate over {autoscaling.RATE_WINDOW_S} s, which needs two samples in it; scrape at least every "
                f"{autoscaling.RATE_WINDOW_S // 2} s or use waiting-requests"
            )
        if a.min_replicas == 0:
            r.warnings.append(
                f"{_key(key + '.minReplicas')}: 0 scales {role.value} to zero when idle: the first request after "
                f"{a.cooldown_seconds} s idle waits for a worker to start (a pod's startup budget is "
                f"{rc.startup_budget_s // 60} min with the weights downloaded), longer than the gateway's and the "
                "router's request timeouts; keep 1 unless idle GPUs cost more than that wait"
            )
    if not cfg.cluster.inventory:
        return
    _, unplaced = place(cfg, at_max=True)
    if unplaced:
        capacity = sum(g.gpus_per_node * g.count for g in cfg.cluster.inventory)
        need = sum(replicas_at(rc, True) * rc.tensor_parallelism for p in cfg.pools for _, rc in _roles(p))
        keys = ", ".join(_key(f"pools[{i}].{role.value}.autoscaling.maxReplicas") for i, _, role, _ in scaled)
        r.errors.append(
            f"{keys}: at their maxReplicas the pools need {need} GPUs, {capacity} declared in "
            f"{_key('cluster.inventory')}; cannot place {sum(p.count for p in unplaced)} pod(s) "
            f"({', '.join(sorted({p.key for p in unplaced}))}); lower maxReplicas or add nodes"
        )


def check_memory_fit(cfg: StackConfig, nodes: list[Node], r: Report) -> None:
    """Per role: weights / TP + runtime overhead + KV cache for one max_model_len sequence must fit the GPU's
    memory x gpu_memory_utilization. Reports KV-cache tokens and concurrent full-length sequences."""
    if not cfg.cluster.inventory:
        return
    # Unset preflight.runtimeOverheadPerGpu: vLLM's TP-dependent overhead (catalog.runtime_overhead_bytes).
    fixed_overhead = (
        _bytes(cfg.preflight.runtime_overhead_per_gpu)
        if "runtime_overhead_per_gpu" in cfg.preflight.model_fields_set
        else None
    )
    r.facts.append(
        f"memory model: vLLM {catalog.VLLM_MEMORY_ACCOUNTING}+ accounting (CUDA graphs inside "
        "gpuMemoryUtilization); GPU memory as CUDA reports it where the catalog knows it ("
        + ", ".join(f"{a} {b // catalog.MiB} MiB" for a, b in catalog.CUDA_MEMORY_BYTES.items())
        + "; source: a comparison with aiconfigurator 0.12.0's vLLM memory model), else nvidia-smi's; runtime overhead "
        + (
            f"{cfg.preflight.runtime_overhead_per_gpu} per GPU (preflight.runtimeOverheadPerGpu)"
            if fixed_overhead is not None
            else f"{catalog.RUNTIME_OVERHEAD_TP1 / catalog.GiB:.1f} GiB at TP 1, "
            f"{catalog.RUNTIME_OVERHEAD_TP_N / catalog.GiB:.1f} GiB at TP >= 2 (same source)"
        )
    )
    for i, pool in enumerate(cfg.pools):
        facts = model_facts(pool)
        if facts is None:
            continue
        if pool.model.kv_cache_dtype == "fp8":
            facts = catalog.ModelFacts(**{**facts.__dict__, "kv_cache_dtype_bytes": 1})
        for role, rc in _roles(pool):
            groups = {n.group for n in nodes if (i, role) in n.pods}
            for g in sorted(groups) or [0]:
                gpu_mem, _ = node_memory(cfg.cluster.inventory[g])
                if gpu_mem is None:
                    continue
                key = f"pools[{i}].{role.value}"
                tp, seq = rc.tensor_parallelism, pool.model.max_model_len
                overhead = catalog.runtime_overhead_bytes(tp) if fixed_overhead is None else fixed_overhead
                budget = gpu_mem * pool.model.gpu_memory_utilization
                weights = facts.checkpoint_bytes / tp
                kv_space = budget - weights - overhead
                per_token = facts.kv_bytes_per_token(tp, seq)
                tokens = max(0, int(kv_space / per_token))
                seqs = tokens / seq
                r.facts.append(
                    f"{key} on {cfg.cluster.inventory[g].accelerator}: budget {_gb(budget)} per GPU = weights "
                    f"{_gb(weights)} + overhead {_gb(overhead)} + KV cache {_gb(max(kv_space, 0))} = {tokens} tokens "
                    f"= {seqs:.1f} sequences of {seq}"
                )
                if tokens < seq:
                    r.errors.append(
                        f"{_key(key + '.tensorParallelism')}: at TP {tp} the weights ({_gb(weights)} per GPU) leave "
                        f"room for {tokens} KV-cache tokens, less than one {seq}-token sequence; raise "
                        "tensorParallelism, lower model.maxModelLen, set model.kvCacheDtype: fp8 or use larger GPUs"
                    )
                elif seqs < cfg.preflight.min_concurrent_sequences:
                    r.warnings.append(
                        f"{_key(key)}: the KV cache holds only {seqs:.1f} full-length sequences "
                        f"(preflight.minConcurrentSequences is {cfg.preflight.min_concurrent_sequences}); raise "
                        "tensorParallelism or lower model.maxModelLen"
                    )


def _cache_bytes(pool: PoolConfig) -> int:
    """What one worker's model cache may take of its node's local disk: the per-pod download cache, the scratch
    HF_HOME where the weights come from a volume or a bucket, nothing of its own in node mode (the node's cache is
    checked against the boot disk)."""
    mode = pool.model.cache.mode
    if mode is CacheMode.PER_POD:
        return _bytes(pool.model.cache_size)
    return 0 if mode is CacheMode.NODE else _bytes(model_cache.SCRATCH_SIZE)


def check_estimate(cfg: StackConfig, r: Report) -> None:
    """The time-to-serve estimate (components/estimate.py) as a fact, with the critical path named."""
    r.facts.append(estimate.describe(estimate.stack_estimate(cfg)))
    unknown = estimate.unknown_sizes(cfg)
    if unknown:
        r.facts.append(
            f"estimate: the checkpoint size of pool(s) {', '.join(unknown)} is unknown (not in the catalog, no "
            "model.facts.checkpointSize), so their download and load count as nothing"
        )


def check_disk(cfg: StackConfig, nodes: list[Node], r: Report) -> None:
    for i, pool in enumerate(cfg.pools):
        facts = model_facts(pool)
        per_pod = pool.model.cache.mode is CacheMode.PER_POD
        if facts and per_pod and _bytes(pool.model.cache_size) < facts.checkpoint_bytes:
            r.errors.append(
                f"{_key(f'pools[{i}].model.cacheSize')}: {pool.model.cache_size} cannot hold the "
                f"{_gb(facts.checkpoint_bytes)} checkpoint; raise it"
            )
    first = 0
    for node in nodes:
        n_idx, first = first, first + node.count
        _, disk = node_memory(cfg.cluster.inventory[node.group])
        if disk is None or not node.pods:
            continue
        need = sum(_cache_bytes(cfg.pools[pool]) * k for (pool, _), k in node.pods.items())
        which = f"node {n_idx}" if node.count == 1 else f"nodes {n_idx}-{first - 1}"
        each = "" if node.count == 1 else " each"
        r.facts.append(
            f"{which} ({node.workers} workers{each}): model caches {_gb(need)} of {_gb(disk)} local disk{each}"
        )
        if need > disk:
            r.errors.append(
                f"{_key(f'cluster.inventory[{node.group}].ephemeralStorage')}: {node.workers} workers on one node "
                f"each cache their model ({_gb(need)} in all) but the node has {_gb(disk)}; lower "
                "pools[].model.cacheSize or spread the workers"
            )


# --- names and wiring -----------------------------------------------------------------------------------------------
def check_names(cfg: StackConfig, r: Report) -> None:
    names = InstallNames(cfg.prefix, cfg.namespace, cfg.release)
    services = [names.pool(p.name).epp for p in cfg.pools]
    for s in services:
        if len(s) > 63 or not DNS_1035_LABEL.match(s):
            r.errors.append(f"{_key('prefix')}: the EPP Service name {s!r} is not a DNS-1035 label; shorten names")
    for p in cfg.pools:
        pn = names.pool(p.name)
        for n in (pn.inference_pool, pn.worker(Role.PREFILL), pn.worker(Role.DECODE), names.gateway()):
            if len(n) > 63 or not DNS_1123_LABEL.match(n):
                r.errors.append(f"{_key('prefix')}: derived name {n!r} exceeds 63 characters; shorten prefix or pool")
        for v in pn.worker_labels(Role.DECODE, p.model.id).values():
            if len(v) > 63:
                r.errors.append(f"{_key('pools')}: label value {v!r} exceeds 63 characters; shorten it")


def check_wiring(r: Report) -> None:
    """The constants P/D depends on agree (a mismatch silently serves every request decode-only)."""
    if not (wiring.POOL_TARGET_PORT == wiring.vllm_port(Role.PREFILL) == wiring.SIDECAR_PORT):
        r.errors.append("wiring: pool target port, prefill vLLM port and sidecar port differ")
    if wiring.vllm_port(Role.DECODE) == wiring.SIDECAR_PORT:
        r.errors.append("wiring: decode vLLM port collides with the sidecar's")


# --- secrets, ignored keys, files -----------------------------------------------------------------------------------
HF_TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}")
"""A Hugging Face user access token (hf_ and 34 letters and digits today)."""


def _strings(value: Any, path: str) -> Any:
    """(key path, string) of every key and string value in a dumped config."""
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            yield sub, str(k)
            yield from _strings(v, sub)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


def check_secrets(cfg: StackConfig, r: Report) -> None:
    """A Hugging Face token anywhere in the plain config (extraEnv, ucxEnv, extraArgs, a prompt, ...) would sit
    unencrypted in Pulumi.<stack>.yaml and the state, and in every pod spec."""
    for path, text in _strings(cfg.model_dump(by_alias=True, mode="json"), ""):
        if HF_TOKEN_SHAPE.search(text):
            r.errors.append(
                f"{_key(path)}: holds what looks like a Hugging Face token (hf_...); plain config is not encrypted: "
                "remove it (and revoke the token if it was committed), then `pulumi config set --secret hfToken "
                "<token>` or set hfTokenSecretName"
            )


def _set(model: Any, *names: str) -> list[str]:
    return [n for n in names if n in model.model_fields_set]


def _alias(model: Any, name: str) -> str:
    return type(model).model_fields[name].alias or name


def check_ignored_keys(cfg: StackConfig, r: Report) -> None:
    """Keys that this cluster kind, fabric or gke.provision never reads: an error, so a setting is never silently
    dropped."""

    def ignored(model: Any, section: str, names: list[str], why: str) -> None:
        for n in names:
            r.errors.append(f"{_key(f'{section}.{_alias(model, n)}')}: set, but {why}; remove it")

    fabric, prep = cfg.rdma.fabric, cfg.cluster_prep
    if fabric is not Fabric.INFINIBAND:
        ignored(cfg.rdma, "rdma", _set(cfg.rdma, "resource_name", "shared_device_plugin_shares"),
                f"only the infiniband fabric reads it (fabric is {fabric.value})")  # fmt: skip
        ignored(prep, "clusterPrep", _set(prep, "gpu_operator", "gpu_operator_driver", "network_operator"),
                f"the NVIDIA operators are installed only with infiniband (fabric is {fabric.value})")  # fmt: skip
    if fabric is Fabric.NONE:
        ignored(cfg.rdma, "rdma", _set(cfg.rdma, "ucx_env"), "fabric none moves KV cache without UCX settings")
    if fabric is not Fabric.GKE_DRA:
        ignored(prep, "clusterPrep", _set(prep, "gpu_driver_installer", "nvidia_dra_driver"),
                f"only the gke-dra fabric installs them (fabric is {fabric.value})")  # fmt: skip
    if not (prep.enabled and prep.crds):
        ignored(cfg.crds, "crds",
                _set(cfg.crds, "gateway_api_version", "inference_extension_version", "istio_version", "directory"),
                "this stack installs no CRDs (clusterPrep.enabled and clusterPrep.crds are not both true)")  # fmt: skip
    gke = cfg.cluster.gke
    if cfg.cluster.kind is ClusterKind.GKE and gke.provision:
        ignored(cfg.cluster, "cluster", _set(cfg.cluster, "kubeconfig", "context", "render_directory"),
                "a stack that creates its GKE cluster reaches that cluster (set cluster.gke.provision: false to use "
                "an existing one)")  # fmt: skip
    if cfg.cluster.kind is ClusterKind.GKE and not gke.provision:
        why = "cluster.gke.provision is false, so no cluster or node pool is created from it"
        ignored(gke, "cluster.gke", _set(gke, "system_pool", "network", "release_channel", "deletion_protection",
                                         "control_plane_access", "authorized_networks"), why)  # fmt: skip
        pool = gke.gpu_pool
        ignored(pool, "cluster.gke.gpuPool", sorted(pool.model_fields_set - {"shared_model_cache"}), why)


def check_crds_directory(cfg: StackConfig, r: Report) -> None:
    """A local CRD directory must hold every bundle this stack installs (checked here, before anything exists)."""
    directory = cfg.crds.effective_directory()
    if directory is None or not (cfg.cluster_prep.enabled and cfg.cluster_prep.crds):
        return
    from components.specs.crds import crd_bundles  # imports only config: no cycle, kept local to stay cheap

    key = _key("crds.directory") + (f" (from ${CRDS_DIR_ENV})" if os.environ.get(CRDS_DIR_ENV) else "")
    if not Path(directory).is_dir():
        r.errors.append(
            f"{key}: {directory} is not a directory; run `scripts/fetch-crds {directory}` to fill it, or unset it to "
            "install the pinned upstream releases"
        )
        return
    try:
        crd_bundles(cfg.crds, cfg.gateway, cfg.cluster_prep)
    except (FileNotFoundError, OSError) as e:
        r.errors.append(f"{key}: {e}; run `scripts/fetch-crds {directory}` to fill it with the pinned releases")


def run(cfg: StackConfig) -> Report:
    r = Report()
    check_secrets(cfg, r)
    check_ignored_keys(cfg, r)
    check_crds_directory(cfg, r)
    check_cluster(cfg, r)
    check_fabric(cfg, r)
    check_gateway(cfg, r)
    check_pools(cfg, r)
    nodes = check_gpu_budget(cfg, r)
    check_autoscaling(cfg, r)
    check_memory_fit(cfg, nodes, r)
    check_disk(cfg, nodes, r)
    check_estimate(cfg, r)
    check_names(cfg, r)
    check_wiring(r)
    return r
