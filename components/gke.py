"""A GKE cluster from an empty project: VPC with pod and service ranges, proxy-only subnet, Cloud NAT, firewall, a
least-privilege node service account, the cluster, a CPU system pool and a GPU pool, and a Kubernetes provider.

gke-multinetwork adds the gVNIC VPC and the RoCE VPC with its 8 subnets, attached to the GPU pool; gke-dra lets GKE
create those networks itself (accelerator network profile `auto`)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.config import Fabric, StackConfig
from components.gke_lifecycle import CrdsEstablished, NegCleanup
from components.specs import autoscaling, wiring
from components.specs import gke as specs


@dataclass
class GkeClusterArgs:
    config: StackConfig


class GkeCluster(pulumi.ComponentResource):
    provider: k8s.Provider
    """Reaches the new cluster with the operator's gcloud identity (gke-gcloud-auth-plugin)."""
    kubeconfig: pulumi.Output[str]
    """Secret: it names the cluster's endpoint."""
    cluster: gcp.container.Cluster
    system_pool: gcp.container.NodePool
    gpu_pool: gcp.container.NodePool

    def __init__(self, name: str, args: GkeClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:cluster:GkeCluster", name, None, opts)
        cfg = args.config
        gke = cfg.cluster.gke
        n = specs.gke_names(cfg)
        gcp_provider = gcp.Provider(
            f"{name}-gcp", project=gke.project, region=gke.region, zone=gke.zone,
            opts=pulumi.ResourceOptions(parent=self),
        )  # fmt: skip

        # The APIs first: every other GCP resource waits for them. Left enabled on destroy (other things in the
        # project may use them).
        self.services = [
            gcp.projects.Service(
                n.api(s), **specs.project_service(gke, s),
                opts=pulumi.ResourceOptions(parent=self, provider=gcp_provider),
            )
            for s in specs.REQUIRED_SERVICES
        ]  # fmt: skip

        def child(*deps: pulumi.Resource, **kw) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=gcp_provider, depends_on=[*self.services, *deps], **kw)

        network = gcp.compute.Network(n.network, **specs.primary_network(gke, n), opts=child())
        subnet = gcp.compute.Subnetwork(n.subnet, **specs.primary_subnet(gke, n, network.id), opts=child())
        proxy_subnet = gcp.compute.Subnetwork(
            n.proxy_subnet, **specs.proxy_only_subnet(gke, n, network.id), opts=child()
        )
        router = gcp.compute.Router(n.router, **specs.router(gke, n, network.id), opts=child())
        nat = gcp.compute.RouterNat(n.nat, **specs.nat(gke, n, router.name), opts=child())
        firewalls = [
            gcp.compute.Firewall(n.firewall, **specs.internal_firewall(gke, n, network.id), opts=child()),
            gcp.compute.Firewall(
                n.health_check_firewall, **specs.health_check_firewall(gke, n, network.id), opts=child()
            ),
        ]
        # Between the network and the cluster: destroy deletes it after the cluster (the gateway's load balancer,
        # which uses the proxy-only subnet, goes with the Gateway before that) and before the subnets and the VPC,
        # and its delete removes the NEGs GKE leaves behind in the VPC.
        self.neg_cleanup = NegCleanup(
            n.neg_cleanup,
            specs.target(cfg.cluster.gke).project,
            network.name,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[subnet, proxy_subnet, *firewalls, *self.services]),
        )

        extra_networks = None
        network_deps: list[pulumi.Resource] = []
        if cfg.rdma.fabric is Fabric.GKE_MULTINETWORK:
            gvnic = gcp.compute.Network(n.gvnic_network, **specs.gvnic_network(gke, n), opts=child())
            gvnic_sub = gcp.compute.Subnetwork(n.gvnic_subnet, **specs.gvnic_subnet(gke, n, gvnic.id), opts=child())
            gcp.compute.Firewall(n.gvnic_firewall, **specs.gvnic_firewall(gke, n, gvnic.id), opts=child())
            rdma = gcp.compute.Network(n.rdma_network, **specs.rdma_network_args(gke, n), opts=child())
            rdma_subs = [
                gcp.compute.Subnetwork(n.rdma_subnet(i), **specs.rdma_subnet(gke, n, i, rdma.id), opts=child())
                for i in range(wiring.RDMA_NICS_PER_NODE)
            ]
            extra_networks = specs.additional_node_networks(
                (gvnic.name, gvnic_sub.name), [(rdma.name, s.name) for s in rdma_subs]
            )
            network_deps = [gvnic_sub, *rdma_subs]

        sa = gcp.serviceaccount.Account(n.service_account, **specs.node_service_account(gke, n), opts=child())
        grants = [
            gcp.projects.IAMMember(
                f"{n.service_account}-{role.rsplit('/', 1)[1]}",
                project=gke.project,
                role=role,
                member=sa.email.apply(lambda e: f"serviceAccount:{e}"),
                opts=child(),
            )
            for role in specs.NODE_ROLES
        ]

        long = pulumi.CustomTimeouts(create=specs.CREATE_TIMEOUT, update=specs.CREATE_TIMEOUT,
                                     delete=specs.CREATE_TIMEOUT)  # fmt: skip
        self.cluster = gcp.container.Cluster(
            n.cluster,
            **specs.cluster(cfg, n, network.id, subnet.id, sa.email),
            # The default pool's node_config only matters for the moment it exists.
            opts=child(
                nat, *grants, proxy_subnet, *firewalls, self.neg_cleanup,
                custom_timeouts=long, ignore_changes=["nodeConfig", "initialNodeCount"],
            ),
        )  # fmt: skip
        self.system_pool = gcp.container.NodePool(
            f"{n.cluster}-{specs.SYSTEM_POOL}",
            **specs.system_pool(cfg, self.cluster.id, sa.email),
            opts=child(custom_timeouts=long),
        )
        self.gpu_pool = gcp.container.NodePool(
            f"{n.cluster}-{specs.GPU_POOL}",
            **specs.gpu_pool(cfg, self.cluster.id, sa.email, extra_networks),
            # protect: a reserved pool that is replaced gives up its reservation (docs/gke.md: What replaces the GPU
            # pool).
            opts=child(
                *network_deps, custom_timeouts=long, ignore_changes=specs.GPU_POOL_IGNORE_CHANGES,
                protect=gke.gpu_pool.protect,
            ),
        )  # fmt: skip

        if cfg.installs_keda and autoscaling.uses_gcp_identity(cfg):
            # The autoscaler reads Managed Prometheus as the KEDA operator's Kubernetes identity (Workload Identity
            # Federation for GKE: an IAM principal of the cluster's workload pool, no Google service account).
            number = gcp.organizations.get_project_output(
                project_id=gke.project, opts=pulumi.InvokeOptions(provider=gcp_provider)
            ).number
            gcp.projects.IAMMember(
                f"{n.cluster}-keda-monitoring-viewer",
                project=specs.target(cfg.cluster.gke).project,
                role=autoscaling.GMP_READER_ROLE,
                member=number.apply(
                    lambda num: autoscaling.keda_workload_identity_member(specs.target(cfg.cluster.gke).project, num)
                ),
                opts=child(self.cluster),
            )

        dns_endpoint = self.cluster.control_plane_endpoints_config.apply(
            lambda c: c.dns_endpoint_config.endpoint if c and c.dns_endpoint_config else None
        )
        ca = self.cluster.master_auth.apply(lambda m: m.cluster_ca_certificate if m else None)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(dns_endpoint, self.cluster.endpoint, ca).apply(
                lambda a: specs.cluster_kubeconfig(gke, n, a[0], a[1], a[2])
            )
        )
        # Every in-cluster object goes through this provider, so none is created before GKE's CRDs are Established.
        self.crds_ready = CrdsEstablished(
            n.crds_ready,
            self.kubeconfig,
            specs.awaited_crds(cfg),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]),
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.cluster, self.crds_ready]),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})
