"""Proposes pools for a workload on given hardware, ranks them beside the seed (and the stack's current pools), and
renders the winner as a `pools:` block. Every proposal passes preflight (components/preflight.py) before it is shown.

Two latency backends give the numbers, both MODELED: the built-in analytic roofline (analytic.py) and, optionally,
NVIDIA's aiconfigurator run out of process (aic.py). Which one produced a number is printed beside it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from components import catalog, preflight
from components.config import PROJECT, NodeGroup, PoolConfig, StackConfig, load_config
from components.planner import analytic

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds of `2s`, `1.5s`, `30ms` or a bare number of seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration; write it like 2s or 30ms")
    return float(m[1]) / (1000 if m[2] == "ms" else 1)


@dataclass(frozen=True)
class Workload:
    isl: int
    osl: int
    ttft_s: float
    itl_s: float
    rate: float | None = None
    """Requests per second the pools must sustain (open loop)."""
    concurrency: int | None = None
    """Requests in flight (closed loop). Neither: the most throughput that meets both targets."""


@dataclass(frozen=True)
class Hardware:
    accelerator: str
    gpus_per_node: int
    nodes: int
    source: str
    """Where it came from: a GKE machine type or a stack's cluster.inventory."""

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes

    def inventory(self) -> list[NodeGroup]:
        return [NodeGroup(name="gpu", count=self.nodes, gpus_per_node=self.gpus_per_node, accelerator=self.accelerator)]


def machine_hardware(machine_type: str, nodes: int = 1) -> Hardware:
    m = catalog.GKE_GPU_MACHINES.get(machine_type)
    if m is None:
        raise ValueError(
            f"{machine_type!r} is not a known GKE GPU machine; use one of {', '.join(catalog.GKE_GPU_MACHINES)}"
        )
    return Hardware(m.accelerator, 8, nodes, f"{nodes} x {machine_type}")


def inventory_hardware(cfg: StackConfig, where: str) -> Hardware:
    groups = [g for g in cfg.cluster.inventory if g.gpus_per_node]
    if not groups:
        raise ValueError(f"{where}: no cluster.inventory with GPUs (and no GKE gpuPool machine type); use --machine")
    g = groups[0]  # one accelerator kind per plan: the first GPU node group
    return Hardware(g.accelerator, g.gpus_per_node, g.count, f"{where}: cluster.inventory[{g.name}]")


@dataclass(frozen=True)
class Topology:
    prefill_replicas: int
    prefill_tp: int
    decode_replicas: int
    decode_tp: int

    @property
    def gpus(self) -> int:
        return self.prefill_replicas * self.prefill_tp + self.decode_replicas * self.decode_tp

    def __str__(self) -> str:
        return (
            f"{self.prefill_replicas}P x TP{self.prefill_tp} + {self.decode_replicas}D x TP{self.decode_tp}"
            f" ({self.gpus} GPUs)"
        )

    @classmethod
    def of(cls, pool: PoolConfig) -> Topology:
        p, d = pool.prefill, pool.decode
        return cls(p.replicas, p.tensor_parallelism, d.replicas, d.tensor_parallelism)


@dataclass
class Estimate:
    topology: Topology
    ttft_s: float
    itl_s: float
    requests_per_s: float
    decode_batch: int
    source: str
    label: str = ""
    """seed / current / proposal."""
    problems: list[str] = field(default_factory=list)
    """Preflight errors: a topology with any is never proposed."""

    @property
    def output_tokens_per_s_per_gpu(self) -> float:
        return self._osl * self.requests_per_s / self.topology.gpus

    _osl: int = 0

    def misses(self, w: Workload) -> list[str]:
        out = []
        if self.ttft_s > w.ttft_s * (1 + 1e-9):
            out.append(f"TTFT {self.ttft_s:.2f}s > {w.ttft_s:g}s")
        if self.itl_s > w.itl_s * (1 + 1e-9):
            out.append(f"ITL {self.itl_s * 1000:.1f}ms > {w.itl_s * 1000:g}ms")
        if w.rate is not None and self.requests_per_s < w.rate * (1 - 1e-9):
            out.append(f"sustains {self.requests_per_s:.2f} req/s < {w.rate:g}")
        return out


def _powers_of_two(limit: int) -> list[int]:
    return [2**i for i in range(int(math.log2(limit)) + 1)] if limit >= 1 else []


def candidates(hw: Hardware, fill: bool, mla: bool = False) -> list[Topology]:
    """Every xPyD with power-of-two TP up to a node; `fill`: exactly the hardware's GPUs, else at most."""
    out = []
    tps = _powers_of_two(hw.gpus_per_node)
    for ptp in tps:
        for dtp in tps:
            if ptp > dtp and not mla:
                continue  # NixlConnector: prefill TP above decode TP only for MLA models (preflight refuses it)
            for np_ in range(1, hw.gpus // ptp + 1):
                for nd in range(1, (hw.gpus - np_ * ptp) // dtp + 1):
                    t = Topology(np_, ptp, nd, dtp)
                    if t.gpus == hw.gpus or (not fill and t.gpus <= hw.gpus):
                        out.append(t)
    return out


def with_topology(pool: PoolConfig, t: Topology) -> PoolConfig:
    return pool.model_copy(
        update={
            "prefill": pool.prefill.model_copy(
                update={"replicas": t.prefill_replicas, "tensor_parallelism": t.prefill_tp}
            ),
            "decode": pool.decode.model_copy(update={"replicas": t.decode_replicas, "tensor_parallelism": t.decode_tp}),
        }
    )


def preflight_errors(base: StackConfig, pool_index: int, t: Topology, hw: Hardware) -> list[str]:
    """preflight.run on the stack with this pool's topology replaced, on the planned hardware."""
    pools = list(base.pools)
    pools[pool_index] = with_topology(pools[pool_index], t)
    cluster = base.cluster.model_copy(update={"inventory": hw.inventory()})
    cfg = base.model_copy(update={"pools": pools, "cluster": cluster})
    return preflight.run(cfg).errors


def kv_tokens(pool: PoolConfig, hw: Hardware, tp: int) -> int:
    """KV-cache tokens one worker holds, by preflight's memory model (CUDA memory, TP-dependent overhead)."""
    facts = preflight.model_facts(pool)
    mem = catalog.cuda_memory_bytes(hw.accelerator)
    if facts is None or mem is None:
        return 0
    if pool.model.kv_cache_dtype == "fp8":
        facts = replace(facts, kv_cache_dtype_bytes=1)
    space = mem * pool.model.gpu_memory_utilization - facts.checkpoint_bytes / tp - catalog.runtime_overhead_bytes(tp)
    return max(0, int(space / facts.kv_bytes_per_token(tp, pool.model.max_model_len)))


# --- the analytic backend: per-worker latencies composed with queueing and rate matching ----------------------------
def _mdl_wait(rho: float, service: float) -> float:
    """Mean wait of an M/D/1 queue (Pollaczek-Khinchine with deterministic service)."""
    return math.inf if rho >= 1 else rho * service / (2 * (1 - rho))


def analytic_estimate(pool: PoolConfig, hw: Hardware, w: Workload, t: Topology) -> Estimate:
    facts = preflight.model_facts(pool)
    compute = catalog.MODEL_COMPUTE.get(pool.model.id)
    perf = catalog.ACCELERATOR_PERF.get(hw.accelerator)
    if facts is None or compute is None or perf is None:
        raise ValueError(
            f"the analytic model knows no compute facts for {pool.model.id} on {hw.accelerator} "
            f"(catalog.MODEL_COMPUTE, catalog.ACCELERATOR_PERF)"
        )
    worker = analytic.Worker(pool.model.id, facts, compute, perf)
    context = w.isl + w.osl // 2
    prefill = analytic.prefill_seconds(worker, t.prefill_tp, w.isl)
    transfer = analytic.kv_transfer_seconds(worker, t.prefill_tp, t.decode_tp, w.isl)
    capacity = kv_tokens(pool, hw, t.decode_tp) // (w.isl + w.osl)

    def step(batch: int) -> float:
        return analytic.decode_step_seconds(worker, t.decode_tp, batch, context)

    def ttft(rate: float, batch: int) -> float:
        return _mdl_wait(rate * prefill / t.prefill_replicas, prefill) + prefill + transfer + step(batch)

    def decode_rate(batch: int) -> float:
        return t.decode_replicas * batch / (w.osl * step(batch))

    if w.concurrency:
        batch = max(1, math.ceil(w.concurrency / t.decode_replicas))
        rate = 0.0
        for _ in range(50):  # closed loop: rate = concurrency / request time, at that rate's TTFT
            rate = w.concurrency / (min(ttft(rate, batch), 1e6) + w.osl * step(batch))
        rate = min(rate, decode_rate(batch), 0.999 * t.prefill_replicas / prefill)
    else:
        # The largest decode batch that meets the ITL target and fits the KV cache (at least one sequence).
        batch = 1
        while batch < max(1, capacity) and step(batch + 1) <= w.itl_s:
            batch += 1
        if w.rate is not None:
            rate = min(w.rate, decode_rate(batch), 0.999 * t.prefill_replicas / prefill)
            # The smallest decode batch that carries the rate (Little's law), not the largest allowed.
            while batch > 1 and decode_rate(batch - 1) >= rate:
                batch -= 1
        else:
            # The most throughput whose TTFT still meets the target: prefill utilisation up to that point.
            # A topology that misses the target even unloaded is shown at half prefill utilisation.
            budget = w.ttft_s - prefill - transfer - step(batch)
            rho = min(0.99, 2 * budget / (prefill + 2 * budget)) if budget > 0 else 0.5
            rate = min(decode_rate(batch), rho * t.prefill_replicas / prefill)
    return Estimate(t, ttft(rate, batch), step(batch), rate, batch, analytic.SOURCE, _osl=w.osl)


Estimator = Callable[[Iterable[Topology]], list[Estimate]]


def rank(estimates: list[Estimate], w: Workload) -> list[Estimate]:
    """Meets every target first; then (with a rate or concurrency) fewer GPUs; then output tokens/s per GPU; then
    TTFT."""
    sized = w.rate is not None or w.concurrency is not None
    return sorted(
        estimates,
        key=lambda e: (
            bool(e.misses(w)),
            e.topology.gpus if sized else 0,
            -e.output_tokens_per_s_per_gpu,
            e.ttft_s,
        ),
    )


@dataclass
class Plan:
    workload: Workload
    hardware: Hardware
    model: str
    backend: str
    source: str
    ranked: list[Estimate]
    """Proposals that pass preflight, best first."""
    references: list[Estimate]
    """The seed and the stack's current pools, estimated the same way (with their preflight problems)."""
    refused: int
    """Candidates preflight refused (never shown as proposals)."""
    pools_block: str = ""


def make_plan(
    base: StackConfig,
    hw: Hardware,
    w: Workload,
    estimator: Callable[[PoolConfig, list[Topology]], tuple[list[Estimate], str]] | None = None,
    backend: str = analytic.NAME,
    pool_index: int = 0,
) -> Plan:
    pool = base.pools[pool_index]
    facts = preflight.model_facts(pool)
    fill = w.rate is None and w.concurrency is None
    all_topologies = candidates(hw, fill=fill, mla=bool(facts and facts.mla))
    passing = [t for t in all_topologies if not preflight_errors(base, pool_index, t, hw)]
    refs: list[tuple[str, Topology]] = [("seed", Topology.of(PoolConfig()))]
    if Topology.of(pool) != refs[0][1]:
        refs.append(("current", Topology.of(pool)))
    if estimator is None:

        def estimator(p: PoolConfig, ts: list[Topology]) -> tuple[list[Estimate], str]:
            return [analytic_estimate(p, hw, w, t) for t in ts], analytic.SOURCE

    estimates, source = estimator(pool, [*passing, *(t for _, t in refs)])
    by_topology = {e.topology: e for e in estimates}
    references = []
    for label, t in refs:
        e = by_topology[t]
        references.append(replace(e, label=label, problems=preflight_errors(base, pool_index, t, hw)))
    ranked = rank([replace(by_topology[t], label="proposal") for t in passing], w)
    plan = Plan(w, hw, pool.model.id, backend, source, ranked, references, len(all_topologies) - len(passing))
    if ranked:
        plan.pools_block = pools_block(base, pool_index, ranked[0].topology)
    return plan


def pools_block(base: StackConfig, pool_index: int, t: Topology) -> str:
    """The stack's pools with this one's topology replaced, as `Pulumi.<stack>.yaml` writes them."""
    pools = []
    for i, p in enumerate(base.pools):
        dumped = p.model_dump(by_alias=True, exclude_unset=True, mode="json")
        dumped = {"name": p.name, **dumped}
        if i == pool_index:
            dumped["prefill"] = {**dumped.get("prefill", {}), "replicas": t.prefill_replicas,
                                 "tensorParallelism": t.prefill_tp}  # fmt: skip
            dumped["decode"] = {**dumped.get("decode", {}), "replicas": t.decode_replicas,
                                "tensorParallelism": t.decode_tp}  # fmt: skip
        pools.append(dumped)
    text = yaml.safe_dump({f"{PROJECT}:pools": pools}, sort_keys=False, default_flow_style=False)
    return "".join(f"  {line}\n" for line in text.splitlines())


def check_pools_block(block: str, base_raw: dict[str, Any], hw: Hardware, stack: str = "plan") -> list[str]:
    """preflight over the printed block itself, as a user would paste it (the last gate before printing)."""
    pools = yaml.safe_load(block)[f"{PROJECT}:pools"]
    raw = {**base_raw, "pools": pools}
    cluster = dict(raw.get("cluster") or {})
    if cluster.get("kind") != "gke":
        cluster.setdefault("kind", "existing")
        cluster["inventory"] = [g.model_dump(by_alias=True, mode="json", exclude_defaults=True) for g in hw.inventory()]
    raw["cluster"] = cluster
    return preflight.run(load_config(raw, stack)).errors


def render(plan: Plan, top: int = 5) -> str:
    w, hw = plan.workload, plan.hardware
    load = (
        f"{w.rate:g} req/s"
        if w.rate is not None
        else f"concurrency {w.concurrency}"
        if w.concurrency
        else "max throughput"
    )
    lines = [
        f"workload: ISL {w.isl}, OSL {w.osl}, TTFT <= {w.ttft_s:g}s, ITL <= {w.itl_s * 1000:g}ms, {load}",
        f"hardware: {hw.source} = {hw.gpus} x {hw.accelerator}",
        f"model:    {plan.model}",
        f"numbers:  {plan.source}",
        f"          ({len(plan.ranked)} topologies pass preflight; {plan.refused} refused by preflight, not shown)",
        "",
        f"{'rank':<9}{'topology':<34}{'TTFT':>8}{'ITL':>9}{'req/s':>8}{'out tok/s/GPU':>15}{'batch':>7}  verdict",
    ]

    def row(tag: str, e: Estimate) -> str:
        why = e.misses(w)
        verdict = "meets targets" if not why else "misses: " + "; ".join(why)
        if e.problems:
            verdict += f"; preflight: {len(e.problems)} error(s)"
        return (
            f"{tag:<9}{e.topology!s:<34}{e.ttft_s:>7.2f}s{e.itl_s * 1000:>7.1f}ms{e.requests_per_s:>8.2f}"
            f"{e.output_tokens_per_s_per_gpu:>15.1f}{e.decode_batch:>7}  {verdict}"
        )

    lines += [row(f"#{i + 1}", e) for i, e in enumerate(plan.ranked[:top])]
    for e in plan.references:
        place = next((i + 1 for i, r in enumerate(plan.ranked) if r.topology == e.topology), None)
        lines.append(row(e.label + (f" #{place}" if place else ""), e))
    if plan.pools_block:
        lines += [
            "",
            f"pools block for Pulumi.<stack>.yaml (#1, passes preflight on {hw.source}):",
            "",
            plan.pools_block,
        ]
    else:
        lines += ["", "no topology passes preflight on this hardware: nothing to propose"]
    return "\n".join(lines)


def as_json(plan: Plan) -> dict[str, Any]:
    """What scripts/bench-report draws as 'planned' beside the measurements."""

    def one(e: Estimate) -> dict[str, Any]:
        return {
            "label": e.label, "topology": str(e.topology), "ttft_s": e.ttft_s, "itl_s": e.itl_s,
            "requests_per_s": e.requests_per_s, "output_tokens_per_s_per_gpu": e.output_tokens_per_s_per_gpu,
            "decode_batch": e.decode_batch, "misses": e.misses(plan.workload), "preflight_errors": e.problems,
        }  # fmt: skip

    return {
        "modeled_by": plan.source,
        "workload": plan.workload.__dict__,
        "hardware": {**plan.hardware.__dict__, "gpus": plan.hardware.gpus},
        "model": plan.model,
        "proposals": [one(e) for e in plan.ranked],
        "references": [one(e) for e in plan.references],
        "pools_block": plan.pools_block,
    }
