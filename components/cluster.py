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
        if args.cluster.render_directory:
            # Render mode: the provider writes YAML and never contacts a cluster (it refuses kubeconfig/context).
            self.provider = k8s.Provider(
                f"{name}-k8s",
                render_yaml_to_directory=str(resolve_project_path(args.cluster.render_directory)),
                opts=pulumi.ResourceOptions(parent=self),
            )
        else:
            self.provider = k8s.Provider(
                f"{name}-k8s",
                kubeconfig=resolve_kubeconfig(args.cluster.kubeconfig),
                context=args.cluster.context,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def resolve_project_path(path: str) -> Path:
    """A relative path is relative to the project (where Pulumi.yaml is), whatever the working directory."""
    return Path(path) if Path(path).is_absolute() else PROJECT_ROOT / path


def resolve_kubeconfig(kubeconfig: str | None) -> str | None:
    """A kubeconfig path, resolved against the project; inline kubeconfig contents pass through."""
    if kubeconfig is None or "\n" in kubeconfig:
        return kubeconfig
    return str(resolve_project_path(kubeconfig))
