"""A CRD bundle as one resource whose identity is the content hash of its pinned manifests.

A preview of an unchanged bundle compares two hashes instead of dry-running every CRD through the API server (the
27 CRDs of the local stack's three bundles cost about 20 s of every no-op preview as yaml.v2.ConfigGroup children).
`create` and `update` server-side apply every CRD of the bundle (field manager `llm-d-pd`, taking over fields an
earlier manager such as pulumi-kubernetes owned) and wait until each is Established. `delete` leaves them in the
cluster: deleting a CRD deletes every object of its kind in every namespace.

This module imports no pulumi_kubernetes: it is what the dynamic-provider host loads for every diff.
"""

from __future__ import annotations

import hashlib
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pulumi.dynamic as dyn
import yaml

FIELD_MANAGER = "llm-d-pd"
ESTABLISHED_TIMEOUT_S = 120


def read_manifest(source: str) -> bytes:
    """A manifest file's bytes, from a local path or a pinned URL."""
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=60) as r:
            return r.read()
    return Path(source).read_bytes()


def content_hash(sources: list[str]) -> str:
    """sha256 over the bundle: each local file's bytes; a URL (pinned to a release tag) stands for its content, so
    a preview downloads nothing."""
    h = hashlib.sha256()
    for s in sources:
        h.update(s.encode() if s.startswith(("https://", "http://")) else Path(s).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def crd_documents(sources: list[str]) -> Iterator[dict[str, Any]]:
    """Every CustomResourceDefinition of the bundle's manifests (other kinds are not the bundle's business)."""
    for s in sources:
        for doc in yaml.safe_load_all(read_manifest(s)):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                yield doc


def established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _client(kubeconfig: str | None, context: str | None) -> Any:
    from lightkube import Client, KubeConfig

    if kubeconfig is None:
        config = KubeConfig.from_env()
    elif "\n" in kubeconfig:
        config = KubeConfig.from_dict(yaml.safe_load(kubeconfig))
    else:
        config = KubeConfig.from_file(kubeconfig)
    return Client(config=config.get(context_name=context), field_manager=FIELD_MANAGER)


def apply_bundle(props: dict[str, Any], client: Any = None) -> list[str]:
    """Server-side apply every CRD of the bundle, then wait until each is Established. Returns their names."""
    from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

    client = client or _client(props.get("kubeconfig"), props.get("context"))
    names = []
    for doc in crd_documents(props["sources"]):
        obj = CustomResourceDefinition.from_dict(doc)
        client.apply(obj, force=True)
        names.append(doc["metadata"]["name"])
    deadline = time.monotonic() + ESTABLISHED_TIMEOUT_S
    pending = list(names)
    while pending:
        pending = [n for n in pending if not established(client.get(CustomResourceDefinition, n).to_dict())]
        if not pending:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"CRDs not Established after {ESTABLISHED_TIMEOUT_S}s: {', '.join(pending)}")
        time.sleep(1)
    return names


def _outputs(props: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {"bundle": props["bundle"], "sha256": props["sha256"], "sources": props["sources"], "crds": names,
            "kubeconfig": props.get("kubeconfig"), "context": props.get("context")}  # fmt: skip


class CrdBundleProvider(dyn.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(id_=props["bundle"], outs=_outputs(props, apply_bundle(props)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [k for k in ("sha256", "bundle") if olds.get(k) != news.get(k)]
        return dyn.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(outs=_outputs(news, apply_bundle(news)))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """Retained: the CRDs (and every object of their kinds) stay in the cluster."""


class CrdBundle(dyn.Resource):
    """One bundle of CRDs (Gateway API, Inference Extension, a gateway's own), applied as a unit."""

    crds: pulumi.Output[list[str]]
    sha256: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        sources: list[str],
        kubeconfig: str | None,
        context: str | None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "bundle": name,
            "sources": sources,
            "sha256": content_hash(sources),
            # A path (the local cluster's, an operator's) or contents: contents are a secret.
            "kubeconfig": pulumi.Output.secret(kubeconfig) if kubeconfig and "\n" in kubeconfig else kubeconfig,
            "context": context,
            "crds": None,
        }
        super().__init__(CrdBundleProvider(), name, props, opts)
