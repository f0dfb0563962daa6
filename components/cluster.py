"""Getting a cluster: a Kubernetes provider for an existing cluster (bare metal, the local simulated cluster)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.config import ClusterConfig


@dataclass
class ExistingClusterArgs:
    cluster: ClusterConfig
    """kubeconfig (path or contents) and context; both optional (then the ambient kubeconfig is used)."""


class ExistingCluster(pulumi.ComponentResource):
    """An existing cluster, reached through a kubeconfig."""

    provider: k8s.Provider
    """The Kubernetes provider every in-cluster resource uses."""

    def __init__(self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:cluster:ExistingCluster", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=resolve_kubeconfig(args.cluster.kubeconfig),
            context=args.cluster.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def resolve_kubeconfig(kubeconfig: str | None) -> str | None:
    """A relative kubeconfig path is relative to the project (where Pulumi.yaml is), whatever the working directory;
    inline kubeconfig contents pass through."""
    if kubeconfig is None or "\n" in kubeconfig or Path(kubeconfig).is_absolute():
        return kubeconfig
    return str(PROJECT_ROOT / kubeconfig)
