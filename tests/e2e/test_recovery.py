"""Failure and recovery on the local cluster with the real engine: an `up` killed mid-run converges through
`scripts/stack recover` with no duplicate and no orphan; an object deleted behind Pulumi's back comes back with
`refresh` and `up`; an object the API server rejects fails with the server's message and leaves the rest
consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pulumi_engine
import pytest
from pulumi import automation as auto

from tests.e2e.conftest import Kubectl, scratch_stack

pytestmark = pytest.mark.e2e

STACK = "crash"
NS = "llm-d-pd-crash"
LABEL = f"llm-d.ai/install={STACK}"
KINDS = "deployments,services,serviceaccounts,configmaps,secrets,roles,rolebindings,networkpolicies"


@pytest.fixture(scope="module")
def stack(project_copy: Path, kubectl: Kubectl) -> Iterator[auto.Stack]:
    yield from scratch_stack(project_copy, kubectl, STACK, NS)


def objects(kubectl: Kubectl) -> Counter[str]:
    names = kubectl.run("get", KINDS, "-n", NS, "-l", LABEL, "-o", "name").stdout.split()
    names += kubectl.run("get", "clusterroles,clusterrolebindings", "-l", LABEL, "-o", "name").stdout.split()
    return Counter(names)


def kill_up_midway(stack: auto.Stack, kubectl: Kubectl) -> None:
    """Start `up`, and SIGKILL the CLI (and its provider) once the Deployments are being created."""
    failure: list[BaseException] = []

    def up() -> None:
        try:
            stack.up(color="never")
        except BaseException as e:
            failure.append(e)

    t = threading.Thread(target=up)
    t.start()
    deadline = time.monotonic() + 120
    while not kubectl.run("get", "deployments", "-n", NS, "-l", LABEL, "-o", "name", check=False).stdout.strip():
        assert time.monotonic() < deadline, "up created no Deployment within 120 s"
        time.sleep(0.2)
    (cli,) = subprocess.run(["pgrep", "-f", f"pulumi --non-interactive up .*--stack {STACK}$"],
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    plugins = subprocess.run(["pgrep", "-P", cli], capture_output=True, text=True).stdout.split()
    # SIGKILL the CLI and its plugins together, as a crashed runner would lose them.
    for pid in [cli, *plugins]:
        os.kill(int(pid), signal.SIGKILL)
    t.join(timeout=60)
    assert failure, "the killed up did not fail"


def test_up_killed_midway_converges_through_recover_without_duplicates_or_orphans(stack, kubectl: Kubectl):
    kill_up_midway(stack, kubectl)
    assert stack.export_stack().deployment.get("pending_operations"), "the kill left no pending operation"

    imports, result = pulumi_engine.recover(stack, on_output=lambda _: None)
    assert result.summary.result == "succeeded"
    assert imports, "nothing was imported"

    after = objects(kubectl)
    assert all(n == 1 for n in after.values()), after  # no duplicates
    state = stack.export_stack().deployment["resources"]
    managed = {(r.get("outputs") or {}).get("metadata", {}).get("name") for r in state}
    orphans = [n for n in after if n.split("/", 1)[1] not in managed]
    assert orphans == []  # every object of the install is in the state
    # one auto-named EPP ConfigMap and one HF token Secret: the interrupted run's were imported, not orphaned
    assert sum(n.startswith("configmap/crash-llama-epp-config-") for n in after) == 1
    assert sum(n.startswith("secret/crash-hf-token-") for n in after) == 1
    assert set(stack.preview(color="never").change_summary) == {"same"}


def test_an_object_deleted_behind_pulumis_back_comes_back_with_refresh_and_up(stack, kubectl: Kubectl):
    kubectl.run("delete", "service", "-n", NS, "crash-llama-epp")
    refreshed = stack.refresh(color="never")
    assert refreshed.summary.resource_changes.get("delete") == 1
    result = stack.up(color="never")
    assert result.summary.resource_changes.get("create") == 1
    kubectl.run("get", "service", "-n", NS, "crash-llama-epp")


ADMISSION_POLICY = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: llmd-e2e-no-rejected-node-selector}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  validations:
    - expression: >-
        !has(object.spec.template.spec.nodeSelector) ||
        !('llmd-e2e/rejected' in object.spec.template.spec.nodeSelector)
      message: "llmd-e2e admission policy refuses this node selector"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: llmd-e2e-no-rejected-node-selector}
spec:
  policyName: llmd-e2e-no-rejected-node-selector
  validationActions: [Deny]
"""


def test_an_object_the_api_server_rejects_fails_with_its_message_and_leaves_the_rest_consistent(
    stack, kubectl, tmp_path
):
    """The config is valid (preflight cannot know the cluster's own admission policies); the API server refuses."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(ADMISSION_POLICY)
    kubectl.run("apply", "-f", str(policy))
    try:
        before = objects(kubectl)
        stack.set_config('pools[0].decode.nodeSelector["llmd-e2e/rejected"]', auto.ConfigValue("x"), path=True)
        with pytest.raises(auto.CommandError) as e:
            stack.up(color="never")
        assert "llmd-e2e admission policy refuses this node selector" in str(e.value), str(e.value)[-3000:]
        assert objects(kubectl) == before
        stack.remove_config('pools[0].decode.nodeSelector["llmd-e2e/rejected"]', path=True)
    finally:
        kubectl.run("delete", "-f", str(policy), "--ignore-not-found")
    assert stack.up(color="never").summary.result == "succeeded"
    assert set(stack.preview(color="never").change_summary) == {"same"}
