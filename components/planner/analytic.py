"""The planner's built-in latency model: a roofline (compute or memory bound, whichever is slower) per worker.

MODELED, not measured. The peak figures are datasheet facts (catalog.ACCELERATOR_PERF); the efficiencies below are
assumptions, chosen once and stated here, not fitted per case. For reference, aiconfigurator 0.12.0 (vllm 0.24.0
database, h200_sxm) models the seed case (Llama-3.3-70B FP8, ISL 10000) at 1.26 s of raw prefill on TP 1 and reports
a TTFT of 2.50 s after its own 1.1 x 1.8 queueing allowances; this model gives 2.1 s of prefill plus queueing.

Prefill (one request at a time per worker, compute bound):
    linear FLOPs 2 x active_params x ISL at the weights' tensor-core rate x PREFILL_MFU
  + attention FLOPs 2 x layers x heads x head_dim x ISL^2 (causal) at the BF16 rate x PREFILL_MFU
  + 2 all-reduces per layer of ISL x hidden x 2 bytes over NVLink (ring: 2 (TP-1)/TP of the bytes), TP > 1 only.
KV transfer: the prompt's KV cache over RDMA, min(prefill TP, decode TP) NICs.
Decode step at batch b (memory bound at the batches that meet an ITL target):
    (weights / TP + b x context x KV bytes per token) / (HBM x HBM_EFFICIENCY), or the compute time if larger,
  + 2 all-reduces per layer at ALLREDUCE_LATENCY_S each (TP > 1) + STEP_OVERHEAD_S (scheduler, sampling).
TTFT = queueing (M/D/1 per prefill worker at the offered rate) + prefill + KV transfer + one decode step.
"""

from __future__ import annotations

from dataclasses import dataclass

from components import catalog

PREFILL_MFU = 0.4
"""Fraction of the tensor-core peak a prefill reaches (assumption: vLLM's GEMMs and FlashAttention at long prompts)."""
HBM_EFFICIENCY = 0.8
"""Fraction of the HBM bandwidth a decode step reaches (assumption; aiconfigurator's h200_sxm system file uses the
same 0.8 scaling)."""
DECODE_MFU = 0.3
"""Fraction of the tensor-core peak a decode step reaches when it is compute bound (assumption)."""
ALLREDUCE_LATENCY_S = 15e-6
"""One small all-reduce over NVLink (assumption: NCCL/custom all-reduce latency for a decode batch)."""
STEP_OVERHEAD_S = 1.5e-3
"""Per decode step: scheduling, sampling, detokenization (assumption, with CUDA graphs)."""
NAME = "analytic"
SOURCE = (
    "MODELED by the planner's analytic roofline (components/planner/analytic.py: datasheet peaks x assumed "
    f"efficiencies, prefill MFU {PREFILL_MFU}, HBM {HBM_EFFICIENCY})"
)


@dataclass(frozen=True)
class Worker:
    model: str
    facts: catalog.ModelFacts
    compute: catalog.ModelCompute
    perf: catalog.AcceleratorPerf


def _allreduce_s(bytes_: float, tp: int, perf: catalog.AcceleratorPerf) -> float:
    return 0.0 if tp == 1 else 2 * (tp - 1) / tp * bytes_ / perf.nvlink_bytes_per_s


def prefill_seconds(w: Worker, tp: int, isl: int) -> float:
    """Service time of one prompt of `isl` tokens on a prefill worker of `tp` GPUs."""
    rate = w.perf.fp8_flops if w.compute.fp8_weights else w.perf.bf16_flops
    linear = 2 * w.compute.active_params * isl / (tp * rate * PREFILL_MFU)
    attention = 2 * w.facts.layers * w.facts.attention_heads * w.facts.head_dim * isl**2
    attention_s = attention / (tp * w.perf.bf16_flops * PREFILL_MFU)
    comm = 2 * w.facts.layers * _allreduce_s(isl * w.compute.hidden_size * 2, tp, w.perf)
    return linear + attention_s + comm


def kv_transfer_seconds(w: Worker, prefill_tp: int, decode_tp: int, isl: int) -> float:
    total = w.facts.kv_bytes_per_token(1, isl) * isl
    return total / (min(prefill_tp, decode_tp) * w.perf.rdma_bytes_per_s)


def decode_step_seconds(w: Worker, tp: int, batch: int, context: int) -> float:
    """One decode step (= inter-token latency) of `batch` sequences of `context` tokens on `tp` GPUs."""
    read = w.facts.checkpoint_bytes / tp + batch * context * w.facts.kv_bytes_per_token(tp, context)
    memory = read / (w.perf.hbm_bytes_per_s * HBM_EFFICIENCY)
    rate = w.perf.fp8_flops if w.compute.fp8_weights else w.perf.bf16_flops
    compute = 2 * w.compute.active_params * batch / (tp * rate * DECODE_MFU)
    comm = 0.0 if tp == 1 else 2 * w.facts.layers * ALLREDUCE_LATENCY_S
    return max(memory, compute) + comm + STEP_OVERHEAD_S
