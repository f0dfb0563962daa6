"""RDMA fabric preparation, once per cluster.

InfiniBand (bare metal): NVIDIA GPU Operator and Network Operator with the NicClusterPolicy whose RDMA shared device
plugin publishes the resource the workers request; each part optional (managed IB clouds already advertise
`rdma/ib`). GKE: the GPU drivers for DRA, or the Network objects of classic multi-networking."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.charts import install_chart
from components.config import ClusterPrepConfig, RdmaConfig
from components.resources import named_by_kind, object_name, register
from components.specs import charts, security


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
            ns = register(spec.namespace, security.namespace(spec.namespace), None, pulumi.ResourceOptions(parent=self))
            chart = install_chart(spec, object_name(ns), pulumi.ResourceOptions(parent=self, depends_on=[ns]))
            if spec.name == "network-operator":
                network_chart = chart
        if network_chart is not None:
            # The chart no longer creates the NicClusterPolicy; it needs the chart's CRD first.
            register(
                f"{name}-nic-cluster-policy",
                charts.nic_cluster_policy(args.rdma, prep),
                None,
                pulumi.ResourceOptions(parent=self, depends_on=[network_chart]),
            )
        self.register_outputs({})


@dataclass
class GkeDraDriversArgs:
    cluster_prep: ClusterPrepConfig
    system_ready: list[pulumi.Resource]
    """The system node pool: the chart's controller needs a node to run on."""


class GkeDraDrivers(pulumi.ComponentResource):
    """gke-dra: what GKE does not install on a pool with its GPU driver turned off. The COS NVIDIA driver installer
    (DaemonSet, pinned manifest) and the NVIDIA GPU DRA driver, which publishes the `gpu.nvidia.com` DeviceClass and
    a ResourceSlice of each node's GPUs with their PCIe roots. GKE itself runs DRANET (`mrdma.google.com`)."""

    def __init__(self, name: str, args: GkeDraDriversArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:rdma:GkeDraDrivers", name, None, opts)
        prep = args.cluster_prep
        if prep.gpu_driver_installer:
            k8s.yaml.v2.ConfigFile(
                "nvidia-driver-installer",
                file=charts.gpu_driver_installer_url(prep),
                opts=pulumi.ResourceOptions(parent=self),
            )
        if prep.nvidia_dra_driver:
            spec = charts.nvidia_dra_driver(prep)
            ns = register(spec.namespace, security.namespace(spec.namespace), None, pulumi.ResourceOptions(parent=self))
            # Its controller needs a node to run on (the system pool).
            after = pulumi.ResourceOptions(parent=self, depends_on=[ns, *args.system_ready])
            install_chart(spec, object_name(ns), after)
        self.register_outputs({})


@dataclass
class GkeMultiNetworkArgs:
    objects: list[tuple[dict, dict]]
    """(GKENetworkParamSet, Network) pairs (components.specs.gke.network_objects)."""


class GkeMultiNetwork(pulumi.ComponentResource):
    """gke-multinetwork: the cluster's Network objects for the gVNIC and the 8 RoCE subnets. They are immutable, so
    a change replaces them (delete first: the names are fixed)."""

    def __init__(self, name: str, args: GkeMultiNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:rdma:GkeMultiNetwork", name, None, opts)
        immutable = pulumi.ResourceOptions(parent=self, replace_on_changes=["spec"], delete_before_replace=True)
        for params, network in args.objects:
            param_set = register(named_by_kind()(params), params, None, immutable)
            # A Network names its parameter set, which must exist first.
            after = pulumi.ResourceOptions.merge(immutable, pulumi.ResourceOptions(depends_on=[param_set]))
            register(named_by_kind()(network), network, None, after)
        self.register_outputs({})
