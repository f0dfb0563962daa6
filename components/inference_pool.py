"""One model pool's InferencePool with its endpoint picker (EPP): config, Deployment, Service, RBAC, and the
gateway provider's extras (Istio DestinationRule, GKE health-check and backend policies)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.config import GatewayProvider, ImagesConfig, PoolConfig
from components.resources import custom_resource, in_namespace
from components.specs import epp as epp_specs
from components.specs import gateway as gw_specs
from components.specs import monitoring
from components.specs.names import PoolNames


@dataclass
class InferencePoolArgs:
    names: PoolNames
    pool: PoolConfig
    images: ImagesConfig
    provider: GatewayProvider
    namespace: pulumi.Input[str]
    network_policies: list[dict] = field(default_factory=list)
    """Ingress NetworkPolicies of this pool (components.specs.network_policy), empty when turned off."""
    monitors: list[dict] = field(default_factory=list)
    """Scrape objects of this pool (components.specs.monitoring), empty when monitoring is off."""
    deployment_deps: list[pulumi.Resource] = field(default_factory=list)
    """What the EPP Deployment waits for besides its config (GKE: the system pool)."""


class InferencePool(pulumi.ComponentResource):
    """The InferencePool (selecting this pool's prefill and decode pods) and the EPP that picks among them."""

    pool: k8s.apiextensions.CustomResource
    epp_service: k8s.core.v1.Service
    epp_deployment: k8s.apps.v1.Deployment
    epp_config: k8s.core.v1.ConfigMap
    """Auto-named: a config change creates a new ConfigMap and rolls the EPP."""

    def __init__(self, name: str, args: InferencePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:InferencePool", name, None, opts)
        n, ns = args.names, args.namespace
        child = pulumi.ResourceOptions(parent=self)

        sa = epp_specs.epp_service_account(n)
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-epp-sa", metadata=in_namespace(sa["metadata"], ns), opts=child
        )
        role = epp_specs.epp_role(n)
        k8s.rbac.v1.Role(
            f"{name}-epp-role", metadata=in_namespace(role["metadata"], ns), rules=role["rules"], opts=child
        )
        rb = epp_specs.epp_role_binding(n)
        k8s.rbac.v1.RoleBinding(
            f"{name}-epp-rolebinding",
            metadata=in_namespace(rb["metadata"], ns),
            role_ref=rb["roleRef"],
            subjects=rb["subjects"],
            opts=child,
        )
        cr = epp_specs.epp_cluster_role(n)
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-epp-clusterrole", metadata=cr["metadata"], rules=cr["rules"], opts=child
        )
        crb = epp_specs.epp_cluster_role_binding(n)
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-epp-clusterrolebinding",
            metadata=crb["metadata"],
            role_ref=crb["roleRef"],
            subjects=crb["subjects"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_role]),
        )

        cm = epp_specs.epp_config_map(n, args.pool)
        self.epp_config = k8s.core.v1.ConfigMap(
            n.epp_config_base, metadata=in_namespace(cm["metadata"], ns), data=cm["data"], opts=child
        )
        dep = self.epp_config.metadata["name"].apply(
            lambda cm_name: epp_specs.epp_deployment(n, args.images.epp, cm_name)
        )
        self.epp_deployment = k8s.apps.v1.Deployment(
            f"{name}-epp",
            metadata=pulumi.Output.all(dep, ns).apply(lambda a: in_namespace(a[0]["metadata"], a[1])),
            spec=dep.apply(lambda d: d["spec"]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[service_account, *args.deployment_deps]),
        )
        svc = epp_specs.epp_service(n)
        self.epp_service = k8s.core.v1.Service(
            f"{name}-epp-service", metadata=in_namespace(svc["metadata"], ns), spec=svc["spec"], opts=child
        )
        self.pool = custom_resource(
            f"{name}-pool",
            epp_specs.inference_pool(n),
            ns,
            pulumi.ResourceOptions(parent=self, depends_on=[self.epp_service]),
        )
        if args.provider is GatewayProvider.ISTIO:
            custom_resource(f"{name}-epp-destinationrule", gw_specs.destination_rule(n), ns, child)
        elif args.provider is GatewayProvider.GKE:
            custom_resource(
                f"{name}-healthcheckpolicy",
                gw_specs.gke_health_check_policy(n),
                ns,
                pulumi.ResourceOptions(parent=self, depends_on=[self.pool]),
            )
            custom_resource(
                f"{name}-backendpolicy",
                gw_specs.gke_backend_policy(n),
                ns,
                pulumi.ResourceOptions(parent=self, depends_on=[self.pool]),
            )
        if args.monitors:
            token = monitoring.metrics_token_secret(n)
            k8s.core.v1.Secret(
                f"{name}-epp-metrics-token",
                metadata=in_namespace(token["metadata"], ns),
                type=token["type"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[service_account]),
            )
        for obj in args.monitors:
            res_name = f"{name}-{obj['kind'].lower()}-{obj['metadata']['name']}"
            if obj["kind"] == "Role":
                k8s.rbac.v1.Role(res_name, metadata=in_namespace(obj["metadata"], ns), rules=obj["rules"], opts=child)
            elif obj["kind"] == "RoleBinding":
                k8s.rbac.v1.RoleBinding(res_name, metadata=in_namespace(obj["metadata"], ns), role_ref=obj["roleRef"],
                                        subjects=obj["subjects"], opts=child)  # fmt: skip
            else:
                custom_resource(res_name, obj, ns, child)
        for policy in args.network_policies:
            k8s.networking.v1.NetworkPolicy(
                policy["metadata"]["name"],
                metadata=in_namespace(policy["metadata"], ns),
                spec=policy["spec"],
                opts=child,
            )
        self.register_outputs({})
