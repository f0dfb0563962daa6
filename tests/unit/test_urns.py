"""Every resource keeps its URN: the (type, name, parent) set of each benchmarked stack is pinned
(tests/urn_snapshot.py says how to regenerate it after a deliberate change)."""

from __future__ import annotations

import json

import pytest

from tests.harness import BENCH_STACKS, run_program
from tests.urn_snapshot import SNAPSHOT, identities


@pytest.mark.parametrize("stack", sorted(BENCH_STACKS))
def test_the_stacks_resource_identities_are_unchanged(stack):
    config, secrets = BENCH_STACKS[stack]
    pinned = json.loads(SNAPSHOT.read_text())[stack]
    now = identities(run_program(config, secrets=secrets, stack=stack).resources)
    added = [r for r in now if r not in pinned]
    removed = [r for r in pinned if r not in now]
    assert not added and not removed, (
        f"stack {stack}: resources added {added}, removed {removed}. A removed or renamed resource is replaced or "
        "orphaned in live stacks unless it carries `aliases`; after a deliberate change run "
        "`python -m tests.urn_snapshot` and say why in the commit."
    )


def test_identities_name_the_parent_so_a_moved_resource_counts_as_changed():
    rec = run_program(*BENCH_STACKS["ib"], stack="ib")
    rows = identities(rec.resources)
    decode = next(r for r in rows if r[0] == "kubernetes:apps/v1:Deployment" and "decode" in r[1])
    assert decode[2:] == ["llmd:serving:ModelService", "ib-llama-decode"]
