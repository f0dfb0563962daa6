"""Cluster preparation: Gateway API, Inference Extension (and, without charts, the gateway's) CRDs.

CRDs are retained on delete: deleting a CRD deletes every object of that kind in every namespace, so destroying
one install must never take every Gateway, route and pool of the cluster with it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass
class ClusterCrdsArgs:
    bundles: dict[str, list[str]]
    """Bundle name -> manifest files or URLs (see components.specs.crds.crd_bundles)."""


class ClusterCrds(pulumi.ComponentResource):
    """One yaml.v2.ConfigGroup per CRD bundle, every CRD retained on delete."""

    groups: dict[str, k8s.yaml.v2.ConfigGroup]

    def __init__(self, name: str, args: ClusterCrdsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:crds:ClusterCrds", name, None, opts)
        self.groups = {
            bundle: k8s.yaml.v2.ConfigGroup(
                f"{name}-{bundle}",
                files=files,
                skip_await=True,
                # retainOnDelete is inherited by children, so every CRD the group expands to is retained.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            for bundle, files in args.bundles.items()
        }
        self.register_outputs({})
