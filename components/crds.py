"""Cluster preparation: Gateway API, Inference Extension (and, without charts, the gateway's) CRDs.

Each bundle is one resource (components.crd_bundle.CrdBundle) whose change is detected from the content hash of its
pinned manifests, so a preview of an unchanged bundle costs one hash comparison, not a server-side dry run per CRD.
CRDs are retained on delete: deleting a CRD deletes every object of that kind in every namespace, so destroying
one install must never take every Gateway, route and pool of the cluster with it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.crd_bundle import CrdBundle


@dataclass
class ClusterCrdsArgs:
    bundles: dict[str, list[str]]
    """Bundle name -> manifest files or URLs (see components.specs.crds.crd_bundles)."""
    kubeconfig: str | None
    """The cluster's kubeconfig (path or contents; None: the ambient one), as the Kubernetes provider gets it."""
    context: str | None


class ClusterCrds(pulumi.ComponentResource):
    """One CrdBundle per bundle, retained on delete."""

    bundles: dict[str, CrdBundle]

    def __init__(self, name: str, args: ClusterCrdsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:crds:ClusterCrds", name, None, opts)
        self.bundles = {
            bundle: CrdBundle(
                f"{name}-{bundle}",
                files,
                args.kubeconfig,
                args.context,
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            for bundle, files in args.bundles.items()
        }
        self.register_outputs({b: r.crds for b, r in self.bundles.items()})
