"""Render mode: `up` of the ib-render stack writes manifests with the real engine and provider, contacts no
cluster, renders no Secret, and writes exactly the objects the program registers, each schema- and CEL-valid."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pulumi_engine
import pytest
import yaml
from pulumi import automation as auto

from tests.e2e.conftest import ROOT
from tests.harness import run_program
from tests.unit.test_schemas import kubernetes_objects
from tests.validation import validate_object

pytestmark = pytest.mark.e2e


def test_render_stack_writes_valid_manifests_equal_to_what_the_program_registers(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.ib-render.yaml", project / "Pulumi.ib-render.yaml")
    (project / ".state").mkdir()
    out = tmp_path / "rendered"
    stack = pulumi_engine.open_stack(
        "ib-render", work_dir=project, extra_env={"PULUMI_BACKEND_URL": f"file://{project / '.state'}"}
    )
    stack.set_config("cluster.renderDirectory", auto.ConfigValue(str(out)), path=True)
    # No kubeconfig anywhere: render mode must not need a cluster.
    result = stack.up(color="never")
    assert result.summary.result == "succeeded"

    files = sorted(out.rglob("*.yaml"))
    rendered = [doc for f in files for doc in yaml.safe_load_all(f.read_text()) if doc]
    assert rendered, f"nothing rendered into {out}"
    assert not [o for o in rendered if o["kind"] == "Secret"]
    assert "hf_" not in "".join(f.read_text() for f in files)  # no token material
    assert all(o["metadata"].get("namespace") for o in rendered if o["kind"] not in ("Namespace", "ClusterRole",
                                                                                   "ClusterRoleBinding"))  # fmt: skip

    # The same config under mocks: the stack file's keys, with the same render directory.
    stack_config = yaml.safe_load((ROOT / "Pulumi.ib-render.yaml").read_text())["config"]
    config = {k.removeprefix("llm-d-pd:"): v for k, v in stack_config.items()}
    config["cluster"] = {**config["cluster"], "renderDirectory": str(out)}
    expected = kubernetes_objects(run_program(config, stack="ib-render").resources)

    def key(o: dict) -> tuple[str, str, str]:
        return o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]

    def auto_named(o: dict) -> bool:  # Pulumi's random suffix differs between runs
        return o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("ib-llama-epp-config-")

    def normal(v: object) -> object:  # references to the auto-named ConfigMap, suffix dropped
        return json.loads(re.sub(r"ib-llama-epp-config-[a-z0-9]+", "EPP-CONFIG", json.dumps(v, sort_keys=True)))

    assert {key(o) for o in rendered if not auto_named(o)} == {key(o) for o in expected if not auto_named(o)}
    by_key = {key(o): o for o in rendered}
    for o in expected:
        if auto_named(o):
            continue
        r = by_key[key(o)]
        assert normal(r.get("spec")) == normal(o.get("spec")), key(o)
        assert r["metadata"].get("labels") == o["metadata"].get("labels"), key(o)
    for o in rendered:
        validate_object(o)
    stack.destroy(color="never")
    stack.workspace.remove_stack("ib-render")
