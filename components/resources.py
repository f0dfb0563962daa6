"""Registering spec dicts (from components.specs) as Pulumi resources."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def in_namespace(metadata: dict[str, Any], namespace: pulumi.Input[str]) -> dict[str, Any]:
    """The spec's metadata with the namespace taken from an Output, so the Namespace is created first."""
    return {**metadata, "namespace": namespace}


_TYPED_GROUPS = {
    "": "core",
    "apps": "apps",
    "batch": "batch",
    "policy": "policy",
    "rbac.authorization.k8s.io": "rbac",
    "networking.k8s.io": "networking",
    "storage.k8s.io": "storage",
}
"""API groups registered with pulumi-kubernetes' typed classes (whose type token for the core group is `core/v1`);
every other group, CRDs included, as a CustomResource (`kubernetes:<apiVersion>:<kind>`)."""


def kubernetes_class(api_version: str, kind: str) -> Callable[..., pulumi.CustomResource] | None:
    """The typed pulumi-kubernetes class of a built-in kind, or None for a custom resource."""
    group, _, version = api_version.rpartition("/")
    module = _TYPED_GROUPS.get(group)
    if module is None:
        return None
    cls = getattr(getattr(getattr(k8s, module, None), version, None), kind, None)
    return cls if isinstance(cls, type) and issubclass(cls, pulumi.CustomResource) else None


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def register(
    name: str, obj: dict[str, Any], namespace: pulumi.Input[str] | None, opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """One spec dict (apiVersion, kind, metadata, the kind's fields) as a Pulumi resource named `name`: a built-in
    kind as its typed class, anything else as a CustomResource. `namespace` (an Output when this stack creates it)
    replaces metadata.namespace, so the Namespace is created first. Values inside the dict may be Outputs."""
    cls = kubernetes_class(obj["apiVersion"], obj["kind"])
    if cls is None:
        return custom_resource(name, obj, namespace, opts)
    metadata = obj["metadata"] if namespace is None else in_namespace(obj["metadata"], namespace)
    fields = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    return cls(name, metadata=metadata, opts=opts, **fields)


def named_by_kind(prefix: str | None = None) -> Callable[[dict[str, Any]], str]:
    """Pulumi names `[<prefix>-]<kind>-<metadata.name>`, for a part whose objects of different kinds share names (a
    pool's monitors, GKE's network objects)."""
    lead = f"{prefix}-" if prefix else ""
    return lambda obj: f"{lead}{obj['kind'].lower()}-{obj['metadata']['name']}"


def prefixed(prefix: str) -> Callable[[dict[str, Any]], str]:
    """Pulumi names `<prefix>-<metadata.name>`."""
    return lambda obj: f"{prefix}-{obj['metadata']['name']}"


def metadata_name(obj: dict[str, Any]) -> str:
    """The object's own name as its Pulumi name (the install prefix is in it already)."""
    return obj["metadata"]["name"]


def register_all(
    objs: list[dict[str, Any]],
    namespace: pulumi.Input[str] | None,
    opts: pulumi.ResourceOptions,
    name: Callable[[dict[str, Any]], str] = metadata_name,
) -> list[pulumi.CustomResource]:
    """Every object of a part, each named by `name`."""
    return [register(name(obj), obj, namespace, opts) for obj in objs]


def object_name(res: pulumi.CustomResource) -> pulumi.Output[str]:
    """metadata.name of a registered Kubernetes object (auto-named ones get theirs from the provider)."""
    return getattr(res, "metadata")["name"]  # noqa: B009 (both typed classes and CustomResource carry it)


def custom_resource(
    name: str, obj: dict[str, Any], namespace: pulumi.Input[str] | None, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """A custom resource (apiVersion, kind, metadata, spec) from a spec dict."""
    unexpected = set(obj) - {"apiVersion", "kind", "metadata", "spec"}
    if unexpected:
        raise ValueError(f"{obj['kind']} spec has top-level fields CustomResource cannot carry: {unexpected}")
    metadata = obj["metadata"] if namespace is None else in_namespace(obj["metadata"], namespace)
    return k8s.apiextensions.CustomResource(
        name, api_version=obj["apiVersion"], kind=obj["kind"], metadata=metadata, spec=obj.get("spec"), opts=opts
    )


class ObservedCustomResource(k8s.apiextensions.CustomResource):
    """A CustomResource whose `status` (as the provider read it after its await) is an output, e.g. a Gateway's
    addresses once it is Programmed."""

    status: pulumi.Output[Any]
    metadata: pulumi.Output[Any]

    def __init__(
        self, name: str, obj: dict[str, Any], namespace: pulumi.Input[str] | None, opts: pulumi.ResourceOptions
    ):
        metadata = obj["metadata"] if namespace is None else in_namespace(obj["metadata"], namespace)
        props = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": metadata, "spec": obj.get("spec"),
                 "status": None}  # fmt: skip
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=k8s._utilities.get_version()))
        pulumi.CustomResource.__init__(self, f"kubernetes:{obj['apiVersion']}:{obj['kind']}", name, props, opts)
