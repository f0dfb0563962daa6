"""scripts/plan: proposes prefill/decode pools (xPyD, TP per role, replicas) for a workload on the stack's hardware.

Every number here is MODELED, not measured: by the analytic model (analytic.py) or by NVIDIA's aiconfigurator
(aic.py, out of process). The benchmark Job (components/specs/benchmark.py) and scripts/bench-report measure.
"""
