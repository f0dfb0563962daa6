"""RDMA fabric preparation for bare-metal InfiniBand: NVIDIA GPU Operator and Network Operator with the
NicClusterPolicy whose RDMA shared device plugin publishes the resource the workers request. Each part optional
(managed IB clouds already advertise `rdma/ib`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.charts import install_chart
from components.config import ClusterPrepConfig, RdmaConfig
from components.resources import custom_resource
from components.specs import charts


@dataclass
class InfinibandFabricArgs:
    rdma: RdmaConfig
    cluster_prep: ClusterPrepConfig


class InfinibandFabric(pulumi.ComponentResource):
    def __init__(self, name: str, args: InfinibandFabricArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:rdma:InfinibandFabric", name, None, opts)
        prep = args.cluster_prep
        specs = []
        if prep.gpu_operator:
            specs.append(charts.gpu_operator(prep))
        network_chart = None
        if prep.network_operator:
            specs.append(charts.network_operator(prep))
        for spec in specs:
            ns = k8s.core.v1.Namespace(
                spec.namespace, metadata={"name": spec.namespace}, opts=pulumi.ResourceOptions(parent=self)
            )
            chart = install_chart(spec, ns.metadata["name"], pulumi.ResourceOptions(parent=self, depends_on=[ns]))
            if spec.name == "network-operator":
                network_chart = chart
        if network_chart is not None:
            # The chart no longer creates the NicClusterPolicy; it needs the chart's CRD first.
            custom_resource(
                f"{name}-nic-cluster-policy",
                charts.nic_cluster_policy(args.rdma, prep),
                None,
                pulumi.ResourceOptions(parent=self, depends_on=[network_chart]),
            )
        self.register_outputs({})
