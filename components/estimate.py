"""How long `up` takes until every pool serves, modeled from the program's own dependency graph: each step with a
duration, each starting when everything it depends on has finished. The longest chain (the critical path) is the
estimate; a step off it (a volume filled while the GPU pool is still being created) costs nothing.

Every duration is modeled, none measured (this project's machines have no cloud access), and each can be overridden
in `preflight.estimate` (components/config.py, EstimateConfig):

- apisMinutes 1.5, networkMinutes 2, clusterMinutes 12, systemPoolMinutes 4, gpuPoolMinutes 14, driversMinutes 5,
  gatewayMinutes 6: the middle of the modeled `up` table in docs/gke.md ("How long `up` and `destroy` take"),
  GKE's steps in the order the program runs them; GKE runs one node-pool operation at a time per cluster, so the
  GPU pool follows the system pool.
- imagePullMinutes 4, engineStartMinutes 3: the same table's image pull and its "loading and CUDA graph capture".
- huggingfaceMbPerS 200: an assumption, one cluster's downloads from the hub through Cloud NAT, shared by all the
  downloads running at once.
- bucketMbPerS 800: an assumption, a bucket in the cluster's region read by one Job.
- localDiskMbPerS 2000: an assumption, one node's local SSDs (emptyDirs, node cache), shared by its workers.
- volumeMbPerS 2400: the Hyperdisk ML volume's provisioned throughput (components/specs/model_cache.py, 2400 MiB/s),
  shared by all its readers.
- streamMbPerS 1500: an assumption, the Run:ai Model Streamer from a regional bucket, per worker.

The graph: GKE (a cluster this stack creates) runs APIs -> network -> cluster -> system pool -> GPU pool -> drivers,
and the Gateway after the cluster; an existing cluster starts at the workers. Per pool, by cache mode:
- per-pod: every worker downloads the checkpoint once the GPU node is up (the pool's workers share the hub's
  bandwidth with every other per-pod download), then reads it from local disk;
- node: one download per GPU node, then the node's workers read it from local disk;
- volume: the populate Job fills the model's volume on the system pool (after the system pool, not the GPU pool),
  then the workers read it from the volume (its throughput shared by every worker of every pool on that model);
- stream: every worker streams the checkpoint from the bucket.
Each worker step adds an image pull and the engine start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from components.config import (
    CacheMode,
    CacheSource,
    ClusterKind,
    EstimateConfig,
    Fabric,
    StackConfig,
)
from components.specs import gateway, model_cache
from components.specs.names import InstallNames

MB = 10**6


@dataclass(frozen=True)
class Step:
    name: str
    minutes: float
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Estimate:
    steps: tuple[Step, ...]
    finish: dict[str, float]
    """Minute at which each step ends."""
    path: tuple[str, ...]
    """The critical path, first step first."""
    total: float
    fills: dict[str, float]
    """Minute at which each model volume is filled (cache mode volume)."""


def schedule(steps: list[Step] | tuple[Step, ...]) -> dict[str, float]:
    """Each step's finish: its duration after the latest finish of what it depends on. Steps may come in any order;
    an unknown dependency or a cycle is an error."""
    by_name = {s.name: s for s in steps}
    if len(by_name) != len(steps):
        raise ValueError("step names must be unique")
    finish: dict[str, float] = {}
    visiting: set[str] = set()

    def end(name: str) -> float:
        if name in finish:
            return finish[name]
        if name not in by_name:
            raise ValueError(f"unknown step {name!r}")
        if name in visiting:
            raise ValueError(f"cycle through {name!r}")
        visiting.add(name)
        step = by_name[name]
        start = max((end(a) for a in step.after), default=0.0)
        visiting.discard(name)
        finish[name] = start + step.minutes
        return finish[name]

    for s in steps:
        end(s.name)
    return finish


def critical_path(steps: list[Step] | tuple[Step, ...], finish: dict[str, float]) -> tuple[str, ...]:
    """The chain that ends last: from the step that finishes last, back through the dependency that finished last
    (ties: the first listed)."""
    if not steps:
        return ()
    by_name = {s.name: s for s in steps}
    last = max(steps, key=lambda s: finish[s.name]).name
    path = [last]
    while by_name[path[-1]].after:
        path.append(max(by_name[path[-1]].after, key=lambda a: finish[a]))
    return tuple(reversed(path))


def estimate(steps: list[Step]) -> Estimate:
    finish = schedule(steps)
    path = critical_path(steps, finish)
    return Estimate(tuple(steps), finish, path, max(finish.values(), default=0.0), {})


def _minutes(nbytes: float, mb_per_s: float) -> float:
    return nbytes / (mb_per_s * MB) / 60


def _gpu_nodes(cfg: StackConfig) -> int:
    groups = [g for g in cfg.cluster.inventory if g.gpus_per_node]
    return max(1, sum(g.count for g in groups))


def stack_steps(cfg: StackConfig) -> tuple[list[Step], dict[str, str]]:
    """The graph of this config, and the step that fills each model volume (volume name -> step name)."""
    e: EstimateConfig = cfg.preflight.estimate
    steps: list[Step] = []
    workers_after: tuple[str, ...] = ()
    fill_after: tuple[str, ...] = ()
    gke = cfg.cluster.gke
    if cfg.cluster.kind is ClusterKind.GKE and gke.provision:
        steps += [
            Step("apis", e.apis_minutes),
            Step("network", e.network_minutes, ("apis",)),
            Step("cluster", e.cluster_minutes, ("network",)),
            Step("system pool", e.system_pool_minutes, ("cluster",)),
            Step("gpu pool", e.gpu_pool_minutes, ("system pool",)),
        ]
        workers_after, fill_after = ("gpu pool",), ("system pool",)
        prep = cfg.cluster_prep
        if cfg.rdma.fabric is Fabric.GKE_DRA and prep.enabled and (prep.gpu_driver_installer or prep.nvidia_dra_driver):
            steps.append(Step("drivers", e.drivers_minutes, ("gpu pool",)))
            workers_after = ("drivers",)
        if not gateway.profile(cfg.gateway).in_cluster:  # a cloud load balancer
            steps.append(Step("gateway", e.gateway_minutes, ("cluster",)))
    many = len(cfg.pools) > 1

    def named(base: str, pool: str) -> str:
        return f"{base} {pool}" if many else base

    names = InstallNames(cfg.prefix, cfg.namespace, cfg.release)
    checkpoint = {p.name: model_cache.checkpoint_bytes(p) or 0 for p in cfg.pools}
    pods = {p.name: p.prefill.replicas + p.decode.replicas for p in cfg.pools}
    per_pod_bytes = sum(pods[p.name] * checkpoint[p.name] for p in cfg.pools if p.model.cache.mode is CacheMode.PER_POD)
    readers: dict[str, int] = {}
    for p in cfg.pools:
        vol = model_cache.volume_name(names, p)
        if p.model.cache.mode is CacheMode.VOLUME:
            readers[vol] = readers.get(vol, 0) + pods[p.name]
    fills: dict[str, str] = {}
    nodes = _gpu_nodes(cfg) if cfg.cluster.inventory else 1
    for p in cfg.pools:
        mode, size, n = p.model.cache.mode, checkpoint[p.name], pods[p.name]
        load_after = workers_after
        if mode is CacheMode.VOLUME:
            vol = model_cache.volume_name(names, p)
            if vol not in fills:
                fills[vol] = named("fill", p.name)
                rate = e.bucket_mb_per_s if p.model.cache.source is CacheSource.BUCKET else e.huggingface_mb_per_s
                steps.append(Step(fills[vol], e.image_pull_minutes + _minutes(size, rate), fill_after))
            load_after = (*workers_after, fills[vol])
            read = _minutes(readers[vol] * size, e.volume_mb_per_s)
        elif mode is CacheMode.STREAM:
            read = _minutes(size, e.stream_mb_per_s)
        else:
            total = per_pod_bytes if mode is CacheMode.PER_POD else nodes * size
            download = named("download", p.name)
            steps.append(Step(download, e.image_pull_minutes + _minutes(total, e.huggingface_mb_per_s), workers_after))
            load_after = (download,)
            read = _minutes(math.ceil(n / nodes) * size, e.local_disk_mb_per_s)
        pull = 0.0 if mode in (CacheMode.PER_POD, CacheMode.NODE) else e.image_pull_minutes
        steps.append(Step(named("load", p.name), pull + read + e.engine_start_minutes, load_after))
    return steps, fills


def stack_estimate(cfg: StackConfig) -> Estimate:
    steps, fills = stack_steps(cfg)
    est = estimate(steps)
    return Estimate(est.steps, est.finish, est.path, est.total, {vol: est.finish[s] for vol, s in fills.items()})


def _m(minutes: float) -> str:
    """A step's own duration, to a tenth of a minute."""
    return f"{round(minutes, 1):g} min" if minutes >= 1 else "<1 min"


def _at(minutes: float) -> str:
    """A point in time (the total, when weights are ready), to the minute."""
    return f"{minutes:.0f} min"


def describe(est: Estimate) -> str:
    """One line: the total, the critical path with each step's own duration, and when each volume is filled and
    whether that is on the path."""
    by_name = {s.name: s for s in est.steps}
    path = " → ".join(f"{name} {_m(by_name[name].minutes)}" for name in est.path)
    text = f"time to serve (modeled, not measured; preflight.estimate overrides): {_at(est.total)}"
    text += f"; critical path: {path}"
    fill_steps = [s for s in est.steps if s.name.startswith("fill")]
    for s in fill_steps:
        where = "on the path" if s.name in est.path else "off the path"
        text += f"; weights ready at {_at(est.finish[s.name])} ({s.name}), {where}"
    return text


def unknown_sizes(cfg: StackConfig) -> list[str]:
    """Pools whose checkpoint size is unknown (their download and load count as 0 in the estimate)."""
    return [p.name for p in cfg.pools if model_cache.checkpoint_bytes(p) is None]
