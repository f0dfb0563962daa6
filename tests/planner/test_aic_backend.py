"""The planner's aiconfigurator backend against aiconfigurator's real SDK (0.12.0, .venv-aic from
requirements-aic.txt: `make test-planner`, which `make test` runs). Its numbers are MODELED from NVIDIA's database."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import load_config
from components.planner import aic, plan

BASE = {"hfTokenSecretName": "plan", "cluster": {"kind": "existing"}}
SEED = plan.Topology(4, 1, 1, 4)
TWO_TP2 = plan.Topology(2, 2, 1, 4)
CASE = plan.Workload(isl=10000, osl=1000, ttft_s=2.0, itl_s=0.030)


@pytest.fixture(scope="module")
def estimates() -> tuple[dict[plan.Topology, plan.Estimate], str]:
    assert Path(aic.python()).exists(), "run `make plan-aic` first: .venv-aic holds aiconfigurator"
    pool = load_config(BASE, "plan").pools[0]
    found, source = aic.estimates(pool, plan.machine_hardware("a3-ultragpu-8g"), CASE, [SEED, TWO_TP2])
    return {e.topology: e for e in found}, source


def test_llama_70b_fp8_on_8_h200_the_seed_misses_a_2s_ttft_and_2p_tp2_1d_tp4_meets_it(estimates):
    by, _ = estimates
    assert any(m.startswith("TTFT") for m in by[SEED].misses(CASE))
    assert not by[TWO_TP2].misses(CASE)
    assert [e.topology for e in plan.rank(list(by.values()), CASE)] == [TWO_TP2, SEED]
    # Prefill TP 2 halves the seed's TP-1 prefill, roughly (aiconfigurator: 2.50 s vs 1.49 s).
    assert 1.4 < by[SEED].ttft_s / by[TWO_TP2].ttft_s < 2.0


def test_every_number_is_labelled_modeled_with_the_database_version(estimates):
    by, source = estimates
    assert source.startswith("MODELED by aiconfigurator 0.12.0 (SILICON database: h200_sxm, vllm ")
    assert all(e.source == source for e in by.values())
    # The decode batch is the largest whose TPOT meets the ITL target.
    assert all(e.itl_s <= CASE.itl_s and e.decode_batch >= 8 for e in by.values())


def test_a_model_aiconfigurator_does_not_know_is_refused_before_it_runs():
    raw = {**BASE, "pools": [{"name": "gpt", "model": {"id": "openai/gpt-oss-120b"}}]}
    with pytest.raises(ValueError, match="no mapping for openai/gpt-oss-120b"):
        aic.request(load_config(raw, "plan").pools[0], plan.machine_hardware("a3-ultragpu-8g"), CASE, [SEED])
