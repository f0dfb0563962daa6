"""A third-party scanner (kube-score) over everything the program builds: no finding except the reasoned entries of
policy/kube-score-allowlist.yaml, and no stale entry there."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import GKE_CLUSTER, run_program
from tests.unit.test_schemas import kubernetes_objects

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = yaml.safe_load((ROOT / "policy/kube-score-allowlist.yaml").read_text())


def kube_score() -> str:
    path = os.environ.get("LLMD_KUBE_SCORE", "")
    if not Path(path).is_file():
        raise RuntimeError("set LLMD_KUBE_SCORE to a kube-score binary (`make test` builds one)")
    return path


def allowed(finding: dict) -> dict | None:
    for entry in ALLOWLIST:
        if (
            entry["check"] == finding["check"]
            and entry["comment"] in finding["comment"]
            and any(fnmatch.fnmatch(finding["object"], pattern) for pattern in entry["objects"])
        ):
            return entry
    return None


CONFIGS = {
    "istio": {"gateway": {"provider": "istio"}},
    "agentgateway": {"gateway": {"provider": "agentgateway"}},
    "gke-dra": {"cluster": GKE_CLUSTER},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_kube_score_finds_nothing_outside_the_reasoned_allowlist(tmp_path: Path, name: str):
    objects = kubernetes_objects(run_program(CONFIGS[name], secrets={"hfToken": "hf_x"}).resources)
    manifest = tmp_path / "all.yaml"
    manifest.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] != "Secret"]))
    out = subprocess.run(
        [kube_score(), "score", "--output-format", "json", str(manifest)], capture_output=True, text=True
    )
    findings = [
        {
            "object": obj["object_name"],
            "check": c["check"]["id"],
            "comment": f"({comment.get('path', '')}) {comment['summary']}",
        }
        for obj in json.loads(out.stdout)
        for c in obj["checks"]
        if not c["skipped"] and c["grade"] < 10
        for comment in (c.get("comments") or [{"summary": c["check"]["name"]}])
    ]
    assert len(findings) > 0  # the scanner ran and saw our objects
    unexplained = [f for f in findings if allowed(f) is None]
    assert unexplained == [], json.dumps(unexplained, indent=2)
    used = {id(allowed(f)) for f in findings}
    stale = [e["check"] for e in ALLOWLIST if id(e) not in used]
    assert stale == [], f"allow-list entries that match nothing any more: {stale}"
