"""Cluster-preparation charts and custom resources: the gateway control plane and the InfiniBand operators.

Each chart is a `ChartSpec` the components hand to `helm.v4.Chart` unchanged; fixed names, no prefix (one per
cluster)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from components.config import ClusterPrepConfig, RdmaConfig
from components.specs import wiring
from components.specs.autoscaling import KEDA_NAMESPACE, KEDA_OPERATOR_SA

ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"
NVIDIA_REPO = "https://helm.ngc.nvidia.com/nvidia"
NIC_CLUSTER_POLICY_NAME = "nic-cluster-policy"
"""The Network Operator acts only on the NicClusterPolicy of this name."""


@dataclass(frozen=True)
class ChartSpec:
    name: str
    """Pulumi resource name and Helm release name."""
    chart: str
    version: str
    namespace: str
    repo: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


def istio_control_plane(prep: ClusterPrepConfig) -> list[ChartSpec]:
    """istio-base (its CRDs) before istiod, with the Gateway API Inference Extension turned on."""
    v = prep.charts.istio
    inference = {"ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true"}
    return [
        ChartSpec("istio-base", "base", v, "istio-system", ISTIO_REPO),
        ChartSpec(
            "istiod",
            "istiod",
            v,
            "istio-system",
            ISTIO_REPO,
            {"pilot": {"env": inference}, "meshConfig": {"defaultConfig": {"proxyMetadata": inference}}},
        ),
    ]


def agentgateway_control_plane(base: str, version: str) -> list[ChartSpec]:
    """agentgateway's CRD chart before its controller, with inference routing on (`base`: the OCI registry of the
    agentgateway or the kgateway-dev build)."""
    return [
        ChartSpec("agentgateway-crds", f"{base}/agentgateway-crds", version, "agentgateway-system"),
        ChartSpec(
            "agentgateway",
            f"{base}/agentgateway",
            version,
            "agentgateway-system",
            values={"inferenceExtension": {"enabled": True}},
        ),
    ]


def gpu_operator(prep: ClusterPrepConfig) -> ChartSpec:
    return ChartSpec(
        "gpu-operator",
        "gpu-operator",
        prep.charts.gpu_operator,
        "gpu-operator",
        NVIDIA_REPO,
        {
            # The Network Operator runs NFD; two NFD DaemonSets would fight.
            "nfd": {"enabled": not prep.network_operator},
            "driver": {"enabled": prep.gpu_operator_driver, "rdma": {"useHostMofed": True}},
        },
    )


def network_operator(prep: ClusterPrepConfig) -> ChartSpec:
    return ChartSpec(
        "network-operator",
        "network-operator",
        prep.charts.network_operator,
        "nvidia-network-operator",
        NVIDIA_REPO,
        {"nfd": {"enabled": True}, "sriovNetworkOperator": {"enabled": False}},
    )


def nic_cluster_policy(rdma: RdmaConfig, prep: ClusterPrepConfig) -> dict[str, Any]:
    """An RDMA shared device plugin that publishes `rdma.resource_name` (prefix/name) for every IB HCA."""
    prefix, name = rdma.resource_name.split("/", 1)
    plugin_config = {
        "configList": [
            {
                "resourcePrefix": prefix,
                "resourceName": name,
                "rdmaHcaMax": rdma.shared_device_plugin_shares,
                "selectors": {"vendors": ["15b3"], "linkTypes": ["infiniband"]},
            }
        ]
    }
    return {
        "apiVersion": wiring.NIC_CLUSTER_POLICY_API,
        "kind": "NicClusterPolicy",
        "metadata": {"name": NIC_CLUSTER_POLICY_NAME},
        "spec": {
            "rdmaSharedDevicePlugin": {
                "image": "k8s-rdma-shared-dev-plugin",
                "repository": "nvcr.io/nvidia/mellanox",
                "version": f"network-operator-v{prep.charts.network_operator.removeprefix('v')}",
                "config": json.dumps(plugin_config, indent=2),
            }
        },
    }


KEDA_REPO = "https://kedacore.github.io/charts"


def keda(prep: ClusterPrepConfig) -> ChartSpec:
    """KEDA's operator, metrics adapter, admission webhooks and CRDs (kedacore/charts keda/ at the pinned version:
    `crds.install` defaults to true there). On GKE the operator's ServiceAccount keda/keda-operator (the chart's
    `serviceAccount.operator.name`) is granted Managed Prometheus reads as a Workload Identity principal, so no
    `podIdentity.gcp` Google service account is needed (components/gke.py)."""
    return ChartSpec(
        "keda",
        "keda",
        prep.charts.keda,
        KEDA_NAMESPACE,
        KEDA_REPO,
        {"crds": {"install": True}, "serviceAccount": {"operator": {"create": True, "name": KEDA_OPERATOR_SA}}},
    )


NVIDIA_DRA_NAMESPACE = "nvidia-dra-driver-gpu"
GPU_DRIVER_INSTALLER_URL = (
    "https://raw.githubusercontent.com/GoogleCloudPlatform/container-engine-accelerators/{ref}/"
    "nvidia-driver-installer/cos/daemonset-preloaded.yaml"
)
"""GKE's COS NVIDIA driver installer (DaemonSet kube-system/nvidia-driver-installer), pinned to a commit."""


def gpu_driver_installer_url(prep: ClusterPrepConfig) -> str:
    return GPU_DRIVER_INSTALLER_URL.format(ref=prep.charts.gpu_driver_installer_ref)


def nvidia_dra_driver(prep: ClusterPrepConfig) -> ChartSpec:
    """The NVIDIA GPU DRA driver with its GKE values: the COS driver root, GPUs allocated through DRA (GKE's device
    plugin is off on the pool), no ComputeDomains (no IMEX on A3 Ultra / A4)."""
    return ChartSpec(
        "nvidia-dra-driver-gpu",
        "nvidia-dra-driver-gpu",
        prep.charts.nvidia_dra_driver,
        NVIDIA_DRA_NAMESPACE,
        NVIDIA_REPO,
        {
            "nvidiaDriverRoot": wiring.GKE_NVIDIA_HOST_DIR + "/",
            "gpuResourcesEnabledOverride": True,
            # helm.v4.Chart renders without the cluster's API list; name the DRA API instead of detecting it.
            "resourceApiVersion": wiring.DRA_API,
            "resources": {"computeDomains": {"enabled": False}},
            "kubeletPlugin": {
                # GKE admits system-node-critical only in kube-system.
                "priorityClassName": "",
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            },
        },
    )
