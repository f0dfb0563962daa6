"""CRD bundles as one resource: identity by content hash, server-side apply with a fake client, retained on delete."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from components import crd_bundle
from components.crd_bundle import CrdBundleProvider, apply_bundle, content_hash

CRDS_DIR = Path(os.environ.get("LLMD_CRDS_DIR", ""))


def crd(name: str) -> str:
    return (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        f"metadata: {{name: {name}}}\n"
        "spec: {group: example.com, names: {kind: Thing, plural: things}, scope: Namespaced, versions: []}\n"
    )


class FakeClient:
    """Stands in for lightkube's Client: records applies; a CRD becomes Established after `lag` reads."""

    def __init__(self, lag: int = 1):
        self.applied: list[tuple[str, bool]] = []
        self.reads: dict[str, int] = {}
        self.lag = lag

    def apply(self, obj: Any, force: bool = False) -> None:
        self.applied.append((obj.metadata.name, force))

    def get(self, _kind: Any, name: str) -> Any:
        self.reads[name] = self.reads.get(name, 0) + 1
        status = "True" if self.reads[name] > self.lag else "False"

        class Obj:
            def to_dict(self) -> dict[str, Any]:
                return {"status": {"conditions": [{"type": "Established", "status": status}]}}

        return Obj()


@pytest.fixture
def bundle(tmp_path: Path) -> list[str]:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(crd("things.example.com") + "---\n" + crd("widgets.example.com"))
    b.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: not-a-crd}\n---\n" + crd("gadgets.example.com"))
    return [str(a), str(b)]


def test_every_crd_is_force_applied_and_waited_for_until_established(bundle, monkeypatch):
    monkeypatch.setattr(crd_bundle.time, "sleep", lambda _s: None)
    client = FakeClient(lag=2)
    names = apply_bundle({"sources": bundle}, client)
    assert names == ["things.example.com", "widgets.example.com", "gadgets.example.com"]  # the ConfigMap is not
    assert client.applied == [(n, True) for n in names]  # force: takes over fields another manager owned
    assert all(client.reads[n] == 3 for n in names)  # polled until Established


def test_a_crd_that_never_becomes_established_fails_naming_it(bundle, monkeypatch):
    monkeypatch.setattr(crd_bundle, "ESTABLISHED_TIMEOUT_S", 0)
    monkeypatch.setattr(crd_bundle.time, "sleep", lambda _s: None)
    with pytest.raises(RuntimeError, match=r"not Established after 0s: things\.example\.com"):
        apply_bundle({"sources": bundle}, FakeClient(lag=10**6))


def test_the_hash_follows_the_content_not_the_path(bundle, tmp_path):
    before = content_hash(bundle)
    assert content_hash(bundle) == before
    Path(bundle[1]).write_text(crd("gadgets.example.com").replace("Namespaced", "Cluster"))
    assert content_hash(bundle) != before
    # A pinned URL stands for its content: hashing it downloads nothing.
    url = "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml"
    assert content_hash([url]) != content_hash([url.replace("v1.5.1", "v1.5.2")])


@pytest.mark.parametrize(
    ("olds", "news", "changes"),
    [
        ({"bundle": "b", "sha256": "1"}, {"bundle": "b", "sha256": "1"}, False),  # the no-op preview
        ({"bundle": "b", "sha256": "1"}, {"bundle": "b", "sha256": "2"}, True),
        ({"bundle": "b", "sha256": "1", "kubeconfig": "x"}, {"bundle": "b", "sha256": "1", "kubeconfig": "y"}, False),
    ],
)
def test_a_bundle_changes_only_when_its_content_does(olds, news, changes):
    diff = CrdBundleProvider().diff("b", olds, news)
    assert diff.changes is changes and not diff.replaces


def test_delete_touches_nothing(bundle):
    assert CrdBundleProvider().delete("b", {"sources": bundle}) is None


def test_the_pinned_bundles_hold_only_crds_the_bundle_applies():
    """The shared manifests (byte for byte upstream) parse into CRDs with names, as apply_bundle reads them."""
    folder = CRDS_DIR / "gateway-api-v1.5.1"
    sources = sorted(str(p) for p in folder.glob("*.yaml") if "vap" not in p.name)
    docs = list(crd_bundle.crd_documents(sources))
    assert len(docs) == len(sources) and all(d["metadata"]["name"].endswith(".gateway.networking.k8s.io") for d in docs)
