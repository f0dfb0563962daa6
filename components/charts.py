"""Installing a ChartSpec with helm.v4.Chart (templated by the provider, each object a Pulumi resource)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.specs.charts import ChartSpec


def install_chart(spec: ChartSpec, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> k8s.helm.v4.Chart:
    return k8s.helm.v4.Chart(
        spec.name,
        chart=spec.chart,
        version=spec.version,
        namespace=namespace,
        repository_opts=k8s.helm.v4.RepositoryOptsArgs(repo=spec.repo) if spec.repo else None,
        values=spec.values,
        opts=opts,
    )
