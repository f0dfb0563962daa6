"""The GKE cluster as pure data: pulumi-gcp arguments (snake_case dicts, the SDK's input shape) for the networks,
the cluster and its node pools, the kubeconfig, and the in-cluster objects of classic multi-networking.

Names derive from the cluster name, so the same config always names the same cloud resources. Outputs of other
resources (network ids, the service account's email) are passed in as arguments.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

import yaml

from components import catalog
from components.config import (
    ControlPlaneAccess,
    Fabric,
    GkeCapacity,
    GkeConfig,
    MonitoringBackend,
    StackConfig,
)
from components.specs import gateway, wiring
from components.specs.gateway import GOOGLE_HEALTH_CHECK_RANGES
from components.specs.rdma import rdma_network

GVNIC_NETWORK = "gvnic-1"
"""The second gVNIC's Network object (gke-multinetwork)."""

NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/autoscaling.metricsWriter",
    "roles/artifactregistry.reader",
)
"""What GKE nodes need (Google's least-privilege node service account), nothing more."""

OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
"""Access is limited by the service account's roles, as Google recommends, not by scopes."""

DRA_NODE_LABELS = {
    "cloud.google.com/gke-networking-dra-driver": "true",  # GKE managed DRANET on this pool
    "gke-no-default-nvidia-gpu-device-plugin": "true",  # the DRA driver is the only GPU allocator
    "nvidia.com/gpu.present": "true",  # where the NVIDIA DRA kubelet plugin runs
    "cloud.google.com/gke-nvidia-gpu-dra-driver": "true",  # lets the autoscaler model DRA GPUs
}

CREATE_TIMEOUT = "60m"
"""A3 Ultra / A4 pools take long to come up (and to go away)."""

REQUIRED_SERVICES = (
    "compute.googleapis.com",  # networks, Cloud NAT, firewall rules, the nodes
    "container.googleapis.com",  # the cluster and its pools
    # The GKE Inference Gateway (InferencePool backends): Google's "Deploy GKE Inference Gateway" page lists the
    # Network Services API next to Compute Engine (cloud.google.com/kubernetes-engine/docs/how-to/
    # deploy-gke-inference-gateway, "Before you begin").
    "networkservices.googleapis.com",
    "iam.googleapis.com",  # the node service account
    "cloudresourcemanager.googleapis.com",  # its project IAM bindings
    "logging.googleapis.com",  # what the nodes' logWriter role writes to
    "monitoring.googleapis.com",  # node metrics and Managed Service for Prometheus (PodMonitoring)
)
"""APIs the stack enables in the project (gcp.projects.Service, never disabled on destroy: other things in the
project may use them). Enabling them needs Service Usage, which new projects have on."""

GPU_POOL_IGNORE_CHANGES = [
    # The API reports these with drift on A3 Ultra / A4 (GKE adds labels; local-SSD settings follow the machine
    # type), and a diff in either replaces the pool. Cluster Toolkit ignores the same fields:
    # GoogleCloudPlatform/cluster-toolkit modules/compute/gke-node-pool/main.tf, lifecycle.ignore_changes
    # (commit 1047080375afbb44da4b596be314634e7486af4a).
    "nodeConfig.labels",
    "nodeConfig.ephemeralStorageLocalSsdConfig",
    "nodeConfig.localNvmeSsdBlockConfig",
    "initialNodeCount",
]
"""Pulumi ignore_changes of the GPU pool. Consequence: a later change of pool labels or of
localSsdEphemeralStorage takes effect only when the pool is replaced deliberately (`pulumi up --replace`)."""

GPU_POOL_REPLACING_KEYS = {
    "rdma.fabric": "network config (accelerator network profile or additional networks) and GPU driver mode",
    "cluster.gke.gpuPool.capacity": "reservation / spot / flex-start provisioning",
    "cluster.gke.gpuPool.reservation": "reservation affinity",
    "cluster.gke.gpuPool.machineType": "machine type and accelerators",
    "cluster.gke.gpuPool.bootDiskSizeGb": "boot disk",
    "cluster.gke.clusterName (or prefix)": "node service account (named after the cluster)",
}
"""Config keys whose change replaces the GPU pool: the old pool's nodes are deleted (a reservation's capacity is
released, and may be taken by someone else) and every worker reloads its model on the new nodes."""


@dataclass(frozen=True)
class GkeNames:
    cluster: str

    @property
    def network(self) -> str:
        return f"{self.cluster}-net"

    @property
    def subnet(self) -> str:
        return f"{self.cluster}-subnet"

    @property
    def proxy_subnet(self) -> str:
        return f"{self.cluster}-proxy-only"

    @property
    def router(self) -> str:
        return f"{self.cluster}-router"

    @property
    def nat(self) -> str:
        return f"{self.cluster}-nat"

    @property
    def firewall(self) -> str:
        return f"{self.cluster}-internal"

    @property
    def health_check_firewall(self) -> str:
        return f"{self.cluster}-health-checks"

    @property
    def service_account(self) -> str:
        """account_id: 6 to 30 characters."""
        return f"{self.cluster[:24].rstrip('-')}-nodes"

    @property
    def gvnic_network(self) -> str:
        return f"{self.cluster}-gvnic-net"

    @property
    def gvnic_subnet(self) -> str:
        return f"{self.cluster}-gvnic-sub"

    @property
    def gvnic_firewall(self) -> str:
        return f"{self.cluster}-gvnic-internal"

    @property
    def rdma_network(self) -> str:
        return f"{self.cluster}-rdma-net"

    def rdma_subnet(self, i: int) -> str:
        return f"{self.cluster}-rdma-sub-{i}"

    def api(self, service: str) -> str:
        return f"{self.cluster}-api-{service.split('.', 1)[0]}"

    @property
    def neg_cleanup(self) -> str:
        return f"{self.cluster}-negs"

    @property
    def crds_ready(self) -> str:
        return f"{self.cluster}-crds-established"


SYSTEM_POOL = "system"
GPU_POOL = "gpu"


def gke_names(cfg: StackConfig) -> GkeNames:
    return GkeNames(cfg.cluster.gke.cluster_name or cfg.prefix)


@dataclass(frozen=True)
class GkeTarget:
    """Where the cluster goes, once: preflight has required each of cluster.gke.project, region and zone."""

    project: str
    region: str
    zone: str


def target(gke: GkeConfig) -> GkeTarget:
    if gke.project is None or gke.region is None or gke.zone is None:
        raise ValueError("cluster.gke.project, region and zone are required (preflight names the missing one)")
    return GkeTarget(gke.project, gke.region, gke.zone)


# --- networks -------------------------------------------------------------------------------------------------------
ALL_PROTOCOLS = ("tcp", "udp", "icmp")


def _subnet(gke: GkeConfig, name: str, network: Any, cidr: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "project": target(gke).project,
        "region": target(gke).region,
        "network": network,
        "ip_cidr_range": cidr,
        **extra,
    }


def _ingress_firewall(
    gke: GkeConfig, name: str, network: Any, sources: list[str], protocols: tuple[str, ...] = ALL_PROTOCOLS
) -> dict[str, Any]:
    return {
        "name": name,
        "project": target(gke).project,
        "network": network,
        "direction": "INGRESS",
        "source_ranges": sources,
        "allows": [{"protocol": p} for p in protocols],
    }


def primary_network(gke: GkeConfig, n: GkeNames) -> dict[str, Any]:
    return {
        "name": n.network,
        "project": target(gke).project,
        "auto_create_subnetworks": False,
        "routing_mode": "REGIONAL",
        "mtu": gke.network.mtu,
    }


def primary_subnet(gke: GkeConfig, n: GkeNames, network: Any) -> dict[str, Any]:
    return _subnet(
        gke,
        n.subnet,
        network,
        gke.network.subnet_cidr,
        secondary_ip_ranges=[
            {"range_name": "pods", "ip_cidr_range": gke.network.pods_cidr},
            {"range_name": "services", "ip_cidr_range": gke.network.services_cidr},
        ],
        private_ip_google_access=True,
    )


def proxy_only_subnet(gke: GkeConfig, n: GkeNames, network: Any) -> dict[str, Any]:
    """The regional managed proxies of the GKE gateway run in this subnet."""
    return _subnet(
        gke, n.proxy_subnet, network, gke.network.proxy_subnet_cidr, purpose="REGIONAL_MANAGED_PROXY", role="ACTIVE"
    )


def router(gke: GkeConfig, n: GkeNames, network: Any) -> dict[str, Any]:
    return {"name": n.router, "project": target(gke).project, "region": target(gke).region, "network": network}


def nat(gke: GkeConfig, n: GkeNames, router_name: Any) -> dict[str, Any]:
    """Private nodes reach ghcr.io and Hugging Face through Cloud NAT."""
    return {
        "name": n.nat,
        "project": target(gke).project,
        "region": target(gke).region,
        "router": router_name,
        "nat_ip_allocate_option": "AUTO_ONLY",
        "source_subnetwork_ip_ranges_to_nat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
        "log_config": {"enable": True, "filter": "ERRORS_ONLY"},
    }


def internal_firewall(gke: GkeConfig, n: GkeNames, network: Any) -> dict[str, Any]:
    """Nodes, pods and the gateway's proxies talk to each other; nothing from outside."""
    net = gke.network
    sources = [net.subnet_cidr, net.pods_cidr, net.services_cidr, net.proxy_subnet_cidr]
    return _ingress_firewall(gke, n.firewall, network, sources)


def health_check_firewall(gke: GkeConfig, n: GkeNames, network: Any) -> dict[str, Any]:
    """Google's health checkers probe the gateway's backends (the pods) directly."""
    return _ingress_firewall(gke, n.health_check_firewall, network, list(GOOGLE_HEALTH_CHECK_RANGES), ("tcp",))


def gvnic_network(gke: GkeConfig, n: GkeNames) -> dict[str, Any]:
    return {**primary_network(gke, n), "name": n.gvnic_network}


def gvnic_subnet(gke: GkeConfig, n: GkeNames, network: Any) -> dict[str, Any]:
    return _subnet(gke, n.gvnic_subnet, network, gke.network.gvnic_cidr)


def gvnic_firewall(gke: GkeConfig, n: GkeNames, network: Any) -> dict[str, Any]:
    return _ingress_firewall(gke, n.gvnic_firewall, network, [gke.network.gvnic_cidr])


def rdma_network_args(gke: GkeConfig, n: GkeNames) -> dict[str, Any]:
    """The RoCE VPC: its network profile makes it RDMA-capable (create-only). RoCE VPCs take no firewall rules."""
    t = target(gke)
    project, zone = t.project, t.zone
    return {
        **primary_network(gke, n),
        "name": n.rdma_network,
        "network_profile": f"projects/{project}/global/networkProfiles/{zone}-vpc-roce",
    }


RDMA_SUBNET_PREFIX = 21
"""Each RoCE subnet is a /21 (2048 addresses: one per node on that rail); rdmaCidr must hold eight of them."""


def rdma_subnet_ranges(gke: GkeConfig) -> list[str]:
    """The 8 RoCE subnets (one per NIC, a rail each): the first eight /21 blocks of rdmaCidr (preflight requires a
    /18 or larger, so there are eight)."""
    block = ipaddress.IPv4Network(gke.network.rdma_cidr)
    subnets = block.subnets(new_prefix=RDMA_SUBNET_PREFIX)
    return [str(s) for _, s in zip(range(wiring.RDMA_NICS_PER_NODE), subnets, strict=False)]


def rdma_subnet(gke: GkeConfig, n: GkeNames, i: int, network: Any) -> dict[str, Any]:
    return _subnet(gke, n.rdma_subnet(i), network, rdma_subnet_ranges(gke)[i])


def additional_node_networks(gvnic: tuple[Any, Any], rdma: list[tuple[Any, Any]]) -> list[dict[str, Any]]:
    """gke-multinetwork: (network, subnetwork) names in node interface order: the gVNIC becomes eth1, the RoCE
    subnets eth2..eth9 (the order the pods' interface annotations assume)."""
    return [{"network": net, "subnetwork": sub} for net, sub in [gvnic, *rdma]]


# --- project APIs ---------------------------------------------------------------------------------------------------
def project_service(gke: GkeConfig, service: str) -> dict[str, Any]:
    return {
        "project": target(gke).project,
        "service": service,
        "disable_on_destroy": False,
        "disable_dependent_services": False,
    }


# --- service account ------------------------------------------------------------------------------------------------
def node_service_account(gke: GkeConfig, n: GkeNames) -> dict[str, Any]:
    return {
        "account_id": n.service_account,
        "project": target(gke).project,
        "display_name": f"GKE nodes of {n.cluster}",
    }


# --- cluster --------------------------------------------------------------------------------------------------------
def _shielded() -> dict[str, Any]:
    return {"enable_secure_boot": True, "enable_integrity_monitoring": True}


def cluster(cfg: StackConfig, n: GkeNames, network: Any, subnet: Any, sa_email: Any) -> dict[str, Any]:
    gke = cfg.cluster.gke
    dns = gke.control_plane_access is ControlPlaneAccess.DNS
    args: dict[str, Any] = {
        "name": n.cluster,
        "project": target(gke).project,
        "location": target(gke).region,
        "network": network,
        "subnetwork": subnet,
        "networking_mode": "VPC_NATIVE",
        "ip_allocation_policy": {"cluster_secondary_range_name": "pods", "services_secondary_range_name": "services"},
        # Dataplane V2 is creation-only; managed DRANET and multi-networking both need it.
        "datapath_provider": "ADVANCED_DATAPATH",
        "release_channel": {"channel": gke.release_channel},
        "workload_identity_config": {"workload_pool": f"{gke.project}.svc.id.goog"},
        "gateway_api_config": {"channel": "CHANNEL_STANDARD"},
        "addons_config": {"http_load_balancing": {"disabled": False}},
        "private_cluster_config": {"enable_private_nodes": True},
        "control_plane_endpoints_config": {
            "dns_endpoint_config": {"allow_external_traffic": dns},
            "ip_endpoints_config": {"enabled": True},
        },
        # dns: the IP endpoint admits no outside address (an empty allow-list); access is through the DNS endpoint.
        "master_authorized_networks_config": {
            "cidr_blocks": [
                {"cidr_block": c, "display_name": f"authorized-{i}"} for i, c in enumerate(gke.authorized_networks)
            ]
            if not dns
            else [],
            "gcp_public_cidrs_access_enabled": False,
        },
        "enable_shielded_nodes": True,
        "remove_default_node_pool": True,
        "initial_node_count": 1,
        # The default pool exists for a moment; it too must not run as the Compute Engine default account.
        "node_config": {
            "service_account": sa_email,
            "oauth_scopes": OAUTH_SCOPES,
            "shielded_instance_config": _shielded(),
        },
        "deletion_protection": gke.deletion_protection,
        "resource_labels": {"app": wiring.PART_OF, "llm-d-install": cfg.prefix},
    }
    if gke.min_version:  # a floor; unset, the channel picks (a pinned minor fails once the channel drops it)
        args["min_master_version"] = gke.min_version
    if cfg.monitoring_backend is MonitoringBackend.GMP:  # the PodMonitorings need managed collection on
        args["monitoring_config"] = {"managed_prometheus": {"enabled": True}}
    if cfg.rdma.fabric is Fabric.GKE_MULTINETWORK:
        args["enable_multi_networking"] = True
    return args


def _node_config_common(sa_email: Any) -> dict[str, Any]:
    return {
        "image_type": "COS_CONTAINERD",
        "service_account": sa_email,
        "oauth_scopes": OAUTH_SCOPES,
        "workload_metadata_config": {"mode": "GKE_METADATA"},
        "shielded_instance_config": _shielded(),
    }


def system_pool(cfg: StackConfig, cluster_id: Any, sa_email: Any) -> dict[str, Any]:
    gke = cfg.cluster.gke
    return {
        "name": SYSTEM_POOL,
        "project": target(gke).project,
        "cluster": cluster_id,
        "location": target(gke).region,
        "node_locations": [target(gke).zone],
        "node_count": gke.system_pool.node_count,
        "management": {"auto_repair": True, "auto_upgrade": True},
        "node_config": {
            **_node_config_common(sa_email),
            "machine_type": gke.system_pool.machine_type,
            "disk_type": "pd-balanced",
            "disk_size_gb": gke.system_pool.disk_size_gb,
            "labels": {wiring.LABEL_PART_OF: wiring.PART_OF, "llm-d.ai/node-role": SYSTEM_POOL},
        },
    }


def gpu_pool(
    cfg: StackConfig, cluster_id: Any, sa_email: Any, extra_networks: list[Any] | None = None
) -> dict[str, Any]:
    """The 8-GPU pool, single zone. gke-dra: GKE creates the RDMA networks (accelerator network profile auto) and
    GKE's GPU driver and device plugin are off (the in-cluster driver installer and DRA driver take over).
    gke-multinetwork: the gVNIC and 8 RoCE networks are attached as additional node networks."""
    gke = cfg.cluster.gke
    pool = gke.gpu_pool
    machine = catalog.GKE_GPU_MACHINES[pool.machine_type]
    dra = cfg.rdma.fabric is Fabric.GKE_DRA
    labels = {wiring.LABEL_PART_OF: wiring.PART_OF, "llm-d.ai/node-role": GPU_POOL}
    if dra:
        labels |= {**DRA_NODE_LABELS, "goog-gke-accelerator-type": machine.gke_accelerator}
    node_config: dict[str, Any] = {
        **_node_config_common(sa_email),
        "machine_type": pool.machine_type,
        "boot_disk": {"disk_type": "hyperdisk-balanced", "size_gb": pool.boot_disk_size_gb},
        "guest_accelerators": [
            {
                "type": machine.gke_accelerator,
                "count": 8,
                "gpu_driver_installation_config": {"gpu_driver_version": "INSTALLATION_DISABLED" if dra else "LATEST"},
            }
        ],
        "gvnic": {"enabled": True},
        "labels": labels,
        "taints": [
            {"key": wiring.GKE_GPU_TAINT["key"], "value": wiring.GKE_GPU_TAINT["value"], "effect": "NO_SCHEDULE"}
        ],
    }
    if pool.local_ssd_ephemeral_storage:
        node_config["ephemeral_storage_local_ssd_config"] = {"local_ssd_count": machine.local_ssds}
    args: dict[str, Any] = {
        "name": GPU_POOL,
        "project": target(gke).project,
        "cluster": cluster_id,
        "location": target(gke).region,
        "node_locations": [target(gke).zone],
        # A full GPU node has no room for a surge node (nor does a reservation): replace one at a time.
        "upgrade_settings": {"max_surge": 0, "max_unavailable": 1},
        "management": {"auto_repair": True, "auto_upgrade": True},
    }
    # Cluster Toolkit (modules/compute/gke-node-pool/main.tf at 1047080375afbb44da4b596be314634e7486af4a): spot and
    # flex-start need reservation affinity NO_RESERVATION; flex-start takes no static node count.
    if pool.capacity is GkeCapacity.RESERVATION:
        assert pool.reservation is not None, "preflight requires gpuPool.reservation with capacity: reservation"
        node_config["reservation_affinity"] = {
            "consume_reservation_type": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": [reservation_value(target(gke).project, pool.reservation)],
        }
        args["node_count"] = pool.node_count
    elif pool.capacity is GkeCapacity.SPOT:
        node_config["spot"] = True
        node_config["reservation_affinity"] = {"consume_reservation_type": "NO_RESERVATION"}
        args["node_count"] = pool.node_count
    else:  # flex-start: the pool starts empty and the autoscaler grows it to node_count when capacity is found
        node_config["flex_start"] = True
        node_config["reservation_affinity"] = {"consume_reservation_type": "NO_RESERVATION"}
        # No node_count: with autoscaling it is the autoscaler's, and a refresh would size the pool back to it.
        args["initial_node_count"] = 0
        args["autoscaling"] = {"total_min_node_count": 0, "total_max_node_count": pool.node_count,
                               "location_policy": "ANY"}  # fmt: skip
        args["management"] = {"auto_repair": False, "auto_upgrade": True}
    args["node_config"] = node_config
    if dra:
        args["network_config"] = {"accelerator_network_profile": "auto"}
    elif extra_networks is not None:
        args["network_config"] = {"additional_node_network_configs": extra_networks}
    return args


RESERVATION_PATH = re.compile(r"^projects/[^/]+/reservations/[^/]+(/reservationBlocks/[^/]+)?$")


def reservation_value(project: str, reservation: str) -> str:
    """The value GKE matches a specific reservation by: projects/<p>/reservations/<r>[/reservationBlocks/<b>] (a
    bare name works only for a reservation of the pool's own project; Cluster Toolkit's reservation_definitions.tf
    always sends the full path). A bare name or name/reservationBlocks/block is in the stack's project."""
    if reservation.startswith("projects/"):
        return reservation
    return f"projects/{project}/reservations/{reservation}"


# --- custom resources on a new cluster ------------------------------------------------------------------------------
GKE_MANAGED_CRDS: dict[tuple[str, str], str] = {
    ("gateway.networking.k8s.io", "Gateway"): "gateways.gateway.networking.k8s.io",
    ("gateway.networking.k8s.io", "HTTPRoute"): "httproutes.gateway.networking.k8s.io",
    ("inference.networking.k8s.io", "InferencePool"): "inferencepools.inference.networking.k8s.io",
    ("networking.gke.io", "HealthCheckPolicy"): "healthcheckpolicies.networking.gke.io",
    ("networking.gke.io", "GCPBackendPolicy"): "gcpbackendpolicies.networking.gke.io",
    ("networking.gke.io", "GKENetworkParamSet"): "gkenetworkparamsets.networking.gke.io",
    ("networking.gke.io", "Network"): "networks.networking.gke.io",
    ("monitoring.googleapis.com", "PodMonitoring"): "podmonitorings.monitoring.googleapis.com",
}
"""(group, kind) of the custom resources the gke stack creates whose CRDs GKE installs itself, some time after the
cluster reports RUNNING (Gateway API and Inference Extension with the Gateway API config, networking.gke.io, and
GMP's with managed collection), -> the CRD's name."""


def awaited_crds(cfg: StackConfig) -> list[str]:
    """The CRDs this config's custom resources need, in a fixed order."""
    kinds = [("inference.networking.k8s.io", "InferencePool")]
    kinds += list(gateway.profile(cfg.gateway).cluster_managed_kinds)
    if cfg.rdma.fabric is Fabric.GKE_MULTINETWORK:
        kinds += [("networking.gke.io", "GKENetworkParamSet"), ("networking.gke.io", "Network")]
    if cfg.monitoring_backend is MonitoringBackend.GMP:
        kinds.append(("monitoring.googleapis.com", "PodMonitoring"))
    return sorted(GKE_MANAGED_CRDS[k] for k in kinds)


# --- reaching the cluster -------------------------------------------------------------------------------------------
def cluster_kubeconfig(
    gke: GkeConfig, n: GkeNames, dns_endpoint: str | None, ip_endpoint: str | None, ca_data: str | None
) -> str:
    """dns access: the DNS endpoint (publicly trusted certificate, no CA); authorized-networks: the IP endpoint with
    the cluster's CA."""
    if gke.control_plane_access is ControlPlaneAccess.DNS:
        return kubeconfig(n.cluster, f"https://{dns_endpoint}", None)
    return kubeconfig(n.cluster, f"https://{ip_endpoint}", ca_data)


def kubeconfig(cluster_name: str, server: str, ca_data: str | None) -> str:
    """A kubeconfig that authenticates with `gke-gcloud-auth-plugin` (the operator's or CI's gcloud identity): no
    credential is stored. The DNS endpoint presents a publicly trusted certificate, so it carries no CA."""
    cluster_entry: dict[str, Any] = {"server": server}
    if ca_data:
        cluster_entry["certificate-authority-data"] = ca_data
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": cluster_entry}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "gke-gcloud-auth-plugin",
                            "installHint": "Install gke-gcloud-auth-plugin: gcloud components install "
                            "gke-gcloud-auth-plugin",
                            "provideClusterInfo": True,
                            "interactiveMode": "IfAvailable",
                        }
                    },
                }
            ],
        },
        sort_keys=False,
    )


# --- classic multi-networking: in-cluster objects -------------------------------------------------------------------
def network_objects(n: GkeNames) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(GKENetworkParamSet, the Network that names it) for the second gVNIC and each RoCE subnet (cluster-scoped,
    immutable)."""
    objs: list[dict[str, Any]] = []
    entries = [(GVNIC_NETWORK, n.gvnic_network, n.gvnic_subnet, "NetDevice")] + [
        (rdma_network(i), n.rdma_network, n.rdma_subnet(i), "RDMA") for i in range(wiring.RDMA_NICS_PER_NODE)
    ]
    for name, vpc, subnet, mode in entries:
        labels = {wiring.LABEL_PART_OF: wiring.PART_OF}
        objs.append(
            {
                "apiVersion": wiring.GKE_NETWORKING_API,
                "kind": "GKENetworkParamSet",
                "metadata": {"name": name, "labels": labels},
                "spec": {"vpc": vpc, "vpcSubnet": subnet, "deviceMode": mode},
            }
        )
        objs.append(
            {
                "apiVersion": wiring.GKE_NETWORKING_API,
                "kind": "Network",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "type": "Device",
                    "parametersRef": {"group": "networking.gke.io", "kind": "GKENetworkParamSet", "name": name},
                },
            }
        )
    return list(zip(objs[::2], objs[1::2], strict=True))
