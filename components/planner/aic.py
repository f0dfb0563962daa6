"""The aiconfigurator backend, out of process: the planner sends the candidates to aic_worker.py running in its own
virtualenv (`make plan-aic` creates .venv-aic from requirements-aic.txt: aiconfigurator 0.12.0 and its ~0.6 GB of
dependencies, which cap Python below 3.14). Its performance database ships in aiconfigurator-core, so it runs offline.

Every number it returns is MODELED by aiconfigurator from NVIDIA's kernel database, labelled with its version and the
database's (system, backend, backend version). TTFT there includes aiconfigurator's own allowances (prefill latency
x 1.1 correction x 1.8 for queueing at the rate-matched load, aiconfigurator/sdk/picking.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from components.config import PoolConfig
from components.planner.plan import Estimate, Hardware, Topology, Workload

NAME = "aiconfigurator"
WORKER = Path(__file__).with_name("aic_worker.py")
VENV_ENV = "LLMD_AIC_PYTHON"
"""Overrides the interpreter of the aiconfigurator virtualenv (default: .venv-aic/bin/python in the project)."""
PROJECT_ROOT = Path(__file__).resolve().parents[2]

MODELS: dict[str, tuple[str, str, str]] = {
    # Our model id -> (aiconfigurator model path, GEMM quantization, KV-cache quantization). Llama 3.3 70B has Llama
    # 3.1 70B's architecture (config.json), which aiconfigurator's model_configs carry.
    "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic": ("meta-llama/Meta-Llama-3.1-70B", "fp8", "bfloat16"),
    "meta-llama/Llama-3.3-70B-Instruct": ("meta-llama/Meta-Llama-3.1-70B", "bfloat16", "bfloat16"),
    "meta-llama/Llama-3.1-8B-Instruct": ("meta-llama/Meta-Llama-3.1-8B", "bfloat16", "bfloat16"),
    "Qwen/Qwen3-32B": ("Qwen/Qwen3-32B", "bfloat16", "bfloat16"),
}
SYSTEMS = {"h200-141gb": "h200_sxm", "h100-80gb": "h100_sxm", "b200-180gb": "b200_sxm", "a100-80gb": "a100_sxm"}


def python() -> Path:
    return Path(os.environ.get(VENV_ENV) or PROJECT_ROOT / ".venv-aic/bin/python")


def request(pool: PoolConfig, hw: Hardware, w: Workload, topologies: list[Topology]) -> dict:
    if pool.model.id not in MODELS:
        raise ValueError(f"aiconfigurator backend: no mapping for {pool.model.id}; known: {', '.join(MODELS)}")
    if hw.accelerator not in SYSTEMS:
        raise ValueError(f"aiconfigurator backend: no system for {hw.accelerator}; known: {', '.join(SYSTEMS)}")
    model_path, gemm, kv = MODELS[pool.model.id]
    if pool.model.kv_cache_dtype == "fp8":
        kv = "fp8"
    return {
        "model_path": model_path, "system": SYSTEMS[hw.accelerator], "backend": "vllm", "isl": w.isl, "osl": w.osl,
        "gemm_quant_mode": gemm, "kvcache_quant_mode": kv, "itl_ms": w.itl_s * 1000, "concurrency": w.concurrency,
        "candidates": [
            {"prefill_tp": t.prefill_tp, "prefill_replicas": t.prefill_replicas, "decode_tp": t.decode_tp,
             "decode_replicas": t.decode_replicas}
            for t in topologies
        ],
    }  # fmt: skip


def estimates(
    pool: PoolConfig, hw: Hardware, w: Workload, topologies: list[Topology], timeout_s: float = 1800
) -> tuple[list[Estimate], str]:
    exe = python()
    if not exe.exists():
        raise RuntimeError(f"aiconfigurator backend: {exe} does not exist; run `make plan-aic` (or set ${VENV_ENV})")
    unique = list(dict.fromkeys(topologies))
    done = subprocess.run(
        [str(exe), str(WORKER)],
        input=json.dumps(request(pool, hw, w, unique)),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"aiconfigurator backend failed ({done.returncode}):\n{done.stderr[-3000:]}")
    answer = json.loads(done.stdout)
    db = answer["database"]
    source = (
        f"MODELED by aiconfigurator {answer['version']} ({db['mode']} database: {db['system']}, {db['backend']} "
        f"{db['backend_version']}); TTFT includes its 1.1 x 1.8 allowances"
    )
    out = []
    for item in answer["results"]:
        c, e = item["candidate"], item["estimate"]
        t = Topology(c["prefill_replicas"], c["prefill_tp"], c["decode_replicas"], c["decode_tp"])
        if e is None:  # aiconfigurator: out of memory even at batch 1
            out.append(Estimate(t, float("inf"), float("inf"), 0.0, 0, source, problems=["aiconfigurator: OOM"],
                                _osl=w.osl))  # fmt: skip
            continue
        out.append(
            Estimate(
                t, e["ttft_ms"] / 1000, e["tpot_ms"] / 1000, e["requests_per_s"], e["decode_batch"], source, _osl=w.osl
            )
        )
    return out, source
