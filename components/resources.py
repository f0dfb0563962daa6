"""Registering spec dicts (from components.specs) as Pulumi resources."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def in_namespace(metadata: dict[str, Any], namespace: pulumi.Input[str]) -> dict[str, Any]:
    """The spec's metadata with the namespace taken from an Output, so the Namespace is created first."""
    return {**metadata, "namespace": namespace}


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
