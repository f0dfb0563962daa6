"""Runs inside the aiconfigurator virtualenv (.venv-aic, requirements-aic.txt), never imported by the program.

Reads one JSON request on stdin and writes one JSON answer on stdout: for each candidate topology, aiconfigurator's
disaggregated estimate (TTFT, TPOT, requests/s, output tokens/s per GPU) at the largest decode batch whose TPOT meets
the ITL target (or at the batch a concurrency gives). Standard library and aiconfigurator only.

aiconfigurator's command line is being renamed, so this calls its Python API, aiconfigurator.cli.api.cli_estimate,
of the pinned release (0.12.0); a new release needs this file checked against its API.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import logging
import math
import sys
from typing import Any

BATCH_SIZES = (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def main() -> None:
    request = json.load(sys.stdin)
    logging.disable(logging.WARNING)
    from aiconfigurator.cli.api import cli_estimate  # heavy: imported once the request parsed

    cache: dict[tuple[int, int, int, int, int], dict[str, Any] | None] = {}
    version: dict[str, str] = {}

    def estimate(c: dict[str, int], batch: int) -> dict[str, Any] | None:
        key = (c["prefill_tp"], c["prefill_replicas"], c["decode_tp"], c["decode_replicas"], batch)
        if key not in cache:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    r = cli_estimate(
                        request["model_path"], request["system"], mode="disagg",
                        backend_name=request["backend"], isl=request["isl"], osl=request["osl"],
                        gemm_quant_mode=request["gemm_quant_mode"], kvcache_quant_mode=request["kvcache_quant_mode"],
                        prefill_tp_size=c["prefill_tp"], prefill_batch_size=1,
                        prefill_num_workers=c["prefill_replicas"], decode_tp_size=c["decode_tp"],
                        decode_batch_size=batch, decode_num_workers=c["decode_replicas"],
                    )  # fmt: skip
            except RuntimeError:  # aiconfigurator raises on OOM (weights or the batch's KV cache do not fit)
                cache[key] = None
            else:
                version["backend_version"] = str(r.backend_version)
                raw = r.raw
                cache[key] = {
                    "ttft_ms": float(r.ttft), "tpot_ms": float(r.tpot), "decode_batch": batch,
                    "requests_per_s": float(raw["seq/s"]), "tokens_per_s_per_gpu": float(raw["tokens/s/gpu"]),
                }  # fmt: skip
        return cache[key]

    results = []
    for c in request["candidates"]:
        if request.get("concurrency"):
            best = estimate(c, max(1, math.ceil(request["concurrency"] / c["decode_replicas"])))
        else:
            # TPOT grows with the batch: binary search for the largest batch that meets the ITL target.
            lo, hi, best = 0, len(BATCH_SIZES) - 1, None
            while lo <= hi:
                mid = (lo + hi) // 2
                e = estimate(c, BATCH_SIZES[mid])
                if e is not None and e["tpot_ms"] <= request["itl_ms"]:
                    best, lo = e, mid + 1
                else:
                    hi = mid - 1
            if best is None:
                best = estimate(c, 1)
        results.append({"candidate": c, "estimate": best})
    json.dump(
        {
            "tool": "aiconfigurator",
            "version": importlib.metadata.version("aiconfigurator"),
            "database": {
                "system": request["system"],
                "backend": request["backend"],
                "backend_version": version.get("backend_version", "unknown"),
                "mode": "SILICON",
            },
            "results": results,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
