"""scripts/plan with the analytic backend: candidates, preflight on every proposal, the known ranking, the pools
block."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components import catalog
from components.config import PROJECT, load_config
from components.planner import analytic, plan

ROOT = Path(__file__).resolve().parents[2]
BASE = {"hfTokenSecretName": "plan", "cluster": {"kind": "existing"}}
SEED_CASE = plan.Workload(isl=10000, osl=1000, ttft_s=2.0, itl_s=0.030)


def seed_plan(w: plan.Workload = SEED_CASE) -> plan.Plan:
    return plan.make_plan(load_config(BASE, "plan"), plan.machine_hardware("a3-ultragpu-8g"), w)


@pytest.mark.parametrize(("text", "seconds"), [("2s", 2.0), ("30ms", 0.03), ("1.5", 1.5), (" 250 ms", 0.25)])
def test_durations_parse_in_seconds_and_milliseconds(text, seconds):
    assert plan.parse_duration(text) == pytest.approx(seconds)


def test_a_duration_without_a_number_is_refused():
    with pytest.raises(ValueError, match="2s or 30ms"):
        plan.parse_duration("fast")


def test_candidates_fill_the_machine_and_never_put_prefill_tp_above_decode_tp():
    hw = plan.machine_hardware("a3-ultragpu-8g")
    filled = plan.candidates(hw, fill=True)
    assert filled and all(t.gpus == 8 for t in filled)
    assert all(t.prefill_tp <= t.decode_tp for t in filled)
    assert plan.Topology(4, 1, 1, 4) in filled and plan.Topology(2, 2, 1, 4) in filled
    sized = plan.candidates(hw, fill=False)
    assert set(filled) < set(sized) and all(t.gpus <= 8 for t in sized)
    assert any(t.prefill_tp > t.decode_tp for t in plan.candidates(hw, fill=True, mla=True))


def test_the_seed_misses_a_2s_ttft_at_isl_10000_and_2p_tp2_1d_tp4_meets_it():
    p = seed_plan()
    seed = next(e for e in p.references if e.label == "seed")
    assert seed.topology == plan.Topology(4, 1, 1, 4)
    assert any(m.startswith("TTFT") for m in seed.misses(SEED_CASE))
    ranked = {e.topology: e for e in p.ranked}
    assert not ranked[plan.Topology(2, 2, 1, 4)].misses(SEED_CASE)
    assert not p.ranked[0].misses(SEED_CASE)
    # ...and ranked above the seed.
    order = [e.topology for e in p.ranked]
    assert order.index(plan.Topology(2, 2, 1, 4)) < order.index(plan.Topology(4, 1, 1, 4))


def test_every_proposal_passes_preflight_and_the_pools_block_does_too():
    p = seed_plan()
    base = load_config(BASE, "plan")
    assert all(not plan.preflight_errors(base, 0, e.topology, p.hardware) for e in p.ranked)
    assert plan.check_pools_block(p.pools_block, BASE, p.hardware) == []
    pools = yaml.safe_load(p.pools_block)[f"{PROJECT}:pools"]
    top = p.ranked[0].topology
    assert pools[0]["prefill"] == {"replicas": top.prefill_replicas, "tensorParallelism": top.prefill_tp}
    assert pools[0]["decode"] == {"replicas": top.decode_replicas, "tensorParallelism": top.decode_tp}


def test_topologies_preflight_refuses_are_never_proposed():
    # Llama 70B BF16 (141 GB) cannot sit on one H100 at TP 1: no proposal has a TP-1 role there.
    raw = {
        **BASE,
        "pools": [{"name": "llama", "model": {"id": "meta-llama/Llama-3.3-70B-Instruct", "cacheSize": "200Gi"}}],
    }
    p = plan.make_plan(load_config(raw, "plan"), plan.Hardware("h100-80gb", 8, 1, "one H100 node"), SEED_CASE)
    assert p.refused > 0
    assert p.ranked and all(e.topology.prefill_tp > 1 and e.topology.decode_tp > 1 for e in p.ranked)
    assert plan.check_pools_block(p.pools_block, raw, p.hardware) == []


def test_a_rate_target_prefers_the_fewest_gpus_that_sustain_it():
    w = plan.Workload(isl=2000, osl=200, ttft_s=1.0, itl_s=0.03, rate=1.0)
    p = seed_plan(w)
    best = p.ranked[0]
    assert not best.misses(w) and best.requests_per_s == pytest.approx(1.0)
    assert best.topology.gpus == min(e.topology.gpus for e in p.ranked if not e.misses(w))


def test_more_load_than_the_hardware_carries_is_reported_as_a_miss():
    w = plan.Workload(isl=10000, osl=1000, ttft_s=2.0, itl_s=0.03, rate=100.0)
    p = seed_plan(w)
    assert all(any("sustains" in m for m in e.misses(w)) for e in p.ranked)


def test_concurrency_gives_a_closed_loop_rate_below_what_the_decode_batch_allows():
    w = plan.Workload(isl=2000, osl=200, ttft_s=2.0, itl_s=0.05, concurrency=16)
    e = plan.analytic_estimate(load_config(BASE, "plan").pools[0], plan.machine_hardware("a3-ultragpu-8g"), w,
                               plan.Topology(2, 2, 1, 4))  # fmt: skip
    assert e.decode_batch == 16
    assert 0 < e.requests_per_s <= 16 / (w.osl * e.itl_s)


def test_the_analytic_model_is_a_roofline_that_grows_with_load_and_shrinks_with_tp():
    facts = catalog.MODELS["RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"]
    w = analytic.Worker("x", facts, catalog.MODEL_COMPUTE["RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"],
                        catalog.ACCELERATOR_PERF["h200-141gb"])  # fmt: skip
    assert analytic.prefill_seconds(w, 2, 10000) < analytic.prefill_seconds(w, 1, 10000)
    assert analytic.prefill_seconds(w, 1, 20000) > 2 * analytic.prefill_seconds(w, 1, 10000)  # attention is quadratic
    assert analytic.decode_step_seconds(w, 4, 64, 10500) > analytic.decode_step_seconds(w, 4, 8, 10500)
    # Decode at batch 1 is bound by reading the weights: 18.2 GB per GPU at TP 4 over 0.8 x 4.8 TB/s, about 4.7 ms.
    assert 0.0047 < analytic.decode_step_seconds(w, 4, 1, 1000) < 0.0047 + 0.004


def test_the_kv_capacity_follows_preflights_memory_model():
    pool = load_config(BASE, "plan").pools[0]
    hw = plan.machine_hardware("a3-ultragpu-8g")
    assert plan.kv_tokens(pool, hw, 1) == 182234  # the preflight fact for the seed's prefill (test_preflight)
    assert plan.kv_tokens(pool, hw, 4) == 1374865


def test_the_script_prints_ranked_proposals_with_the_seed_and_a_pools_block(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/plan"), "--isl", "10000", "--osl", "1000", "--ttft", "2s", "--itl", "30ms",
         "--machine", "a3-ultragpu-8g", "--json", str(tmp_path / "plan.json")],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert "MODELED" in out and "\n#1 " in out and "\nseed " in out and f"{PROJECT}:pools:" in out
    doc = json.loads((tmp_path / "plan.json").read_text())
    assert doc["modeled_by"].startswith("MODELED") and doc["references"][0]["label"] == "seed"


def test_the_script_reads_a_stacks_inventory_and_shows_its_current_pools_beside_the_seed(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts/plan"), "--isl", "2000", "--osl", "200", "--ttft", "1s", "--itl", "30ms",
         "--rate", "1", "--stack", "local", "--model", "meta-llama/Llama-3.1-8B-Instruct"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert "Pulumi.local.yaml: cluster.inventory[gpu-node] = 8 x h200-141gb" in out
    assert "meta-llama/Llama-3.1-8B-Instruct" in out


def test_an_unknown_machine_is_refused_naming_the_known_ones():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/plan"), "--isl", "1", "--osl", "1", "--ttft", "1s", "--itl", "1ms",
         "--machine", "n1-standard-4"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2 and "a3-ultragpu-8g" in done.stderr
