"""The policy pack run by the real engine during `preview` of the local stack: a compliant config passes, a config
that breaks an invariant is blocked before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e.conftest import ROOT, Kubectl, new_stack

pytestmark = pytest.mark.e2e

PACK = str(ROOT / "policy")
IB_CONFIG = str(ROOT / "policy" / "ib.json")


def test_the_local_stack_passes_the_policy_pack(project_copy: Path, kubectl: Kubectl):
    stack = new_stack(project_copy, "policy-ok")
    stack.set_config("namespace", auto.ConfigValue("llm-d-pd-policy"))
    try:
        result = stack.preview(policy_packs=[PACK], policy_pack_configs=[IB_CONFIG], color="never")
        assert "Policies:" in result.stdout and "llm-d-pd@" in result.stdout
        assert "mandatory" not in result.stdout.lower().split("policies:")[-1]  # no violation listed
        assert result.change_summary.get("create", 0) > 20
    finally:
        stack.workspace.remove_stack("policy-ok")


def test_workers_without_the_fabrics_rdma_resource_are_blocked(project_copy: Path, kubectl: Kubectl):
    stack = new_stack(project_copy, "policy-broken")
    stack.set_config("namespace", auto.ConfigValue("llm-d-pd-policy"))
    stack.set_config("rdma.fabric", auto.ConfigValue("none"), path=True)  # KV over TCP on an IB cluster
    stack.remove_config("rdma.resourceName", path=True)  # only the infiniband fabric reads it (preflight refuses it)
    try:
        with pytest.raises(auto.CommandError) as e:
            stack.preview(policy_packs=[PACK], policy_pack_configs=[IB_CONFIG], color="never")
        out = str(e.value)
        assert "rdma-resource-present" in out and "vllm requests no rdma/ib" in out
    finally:
        stack.workspace.remove_stack("policy-broken")
    assert kubectl.run("get", "namespace", "llm-d-pd-policy", check=False).returncode != 0  # nothing created
