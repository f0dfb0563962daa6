"""A second third-party scanner (checkov) over everything the program builds for each stack: at most the reasoned
entries of policy/checkov-allowlist.yaml fail, and no entry there is stale. checkov lives in its own virtualenv
(`make checkov`; its pins conflict with pulumi's), found through LLMD_CHECKOV as kube-score through LLMD_KUBE_SCORE.

The stacks are scanned as deployed with `images.requireDigests: true` (every image pinned by digest): the stack files
ship release tags because only the operator can read the digests from the registry."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from components.config import load_config
from tests.harness import run_program
from tests.unit.test_project import stack_config
from tests.unit.test_schemas import kubernetes_objects

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = yaml.safe_load((ROOT / "policy/checkov-allowlist.yaml").read_text())
MAX_FAILED = 10
DIGEST = "@sha256:" + "0" * 64


def checkov() -> str:
    path = os.environ.get("LLMD_CHECKOV", "")
    if not Path(path).is_file():
        raise RuntimeError("set LLMD_CHECKOV to a checkov executable (`make checkov` installs one in .venv-checkov)")
    return path


def pinned(stack: str) -> dict:
    raw = {k: v for k, v in stack_config(stack).items() if k != "hfToken"}
    resolved = load_config({**raw, "hfToken": True}, stack).images  # the stack's release, tags as shipped
    images = {k: f"{getattr(resolved, k)}{DIGEST}" for k in ("vllm", "epp", "sidecar")}
    return {**raw, "images": {**images, "requireDigests": True}}


def allowed(finding: dict) -> dict | None:
    for entry in ALLOWLIST:
        if entry["check"] == finding["check"] and any(
            fnmatch.fnmatch(finding["resource"], pattern) for pattern in entry["resources"]
        ):
            return entry
    return None


def scan(tmp_path: Path, stack: str) -> list[dict]:
    objects = kubernetes_objects(run_program(pinned(stack), secrets={"hfToken": "hf_x"}, stack=stack).resources)
    manifest = tmp_path / f"{stack}.yaml"
    manifest.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] != "Secret"]))
    out = subprocess.run(
        [checkov(), "--quiet", "--compact", "--framework", "kubernetes", "--output", "json", "--file", str(manifest)],
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    report = json.loads(out.stdout)
    assert report["summary"]["passed"] > 100, out.stderr  # the scanner ran and saw our objects
    return [{"check": f["check_id"], "resource": f["resource"]} for f in report["results"]["failed_checks"]]


@pytest.mark.parametrize("stack", ["ib", "gke"])
def test_checkov_fails_only_reasoned_allowlist_entries(tmp_path: Path, stack: str):
    failed = scan(tmp_path, stack)
    unexplained = [f for f in failed if allowed(f) is None]
    assert unexplained == [], json.dumps(unexplained, indent=2)
    assert len(failed) <= MAX_FAILED, json.dumps(failed, indent=2)
    used = {id(allowed(f)) for f in failed}
    stale = [
        (e["check"], e["resources"]) for e in ALLOWLIST if e["stacks"] and stack in e["stacks"] and id(e) not in used
    ]
    assert stale == [], f"allow-list entries that match nothing any more on {stack}: {stale}"
