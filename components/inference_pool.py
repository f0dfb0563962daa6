"""One model pool's InferencePool with its endpoint picker (EPP): config, Deployment, Service, RBAC, and the
gateway provider's extras (Istio DestinationRule, GKE health-check and backend policies)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.config import ImagesConfig, PoolConfig
from components.resources import named_by_kind, object_name, register, register_all
from components.specs import epp as epp_specs
from components.specs import monitoring
from components.specs.names import PoolNames


@dataclass
class InferencePoolArgs:
    names: PoolNames
    pool: PoolConfig
    images: ImagesConfig
    gateway_extras: list[tuple[str, dict]]
    """The gateway provider's objects for this pool (components.specs.gateway.pool_extras)."""
    namespace: pulumi.Input[str]
    network_policies: list[dict] = field(default_factory=list)
    """Ingress NetworkPolicies of this pool (components.specs.network_policy), empty when turned off."""
    monitors: list[dict] = field(default_factory=list)
    """Scrape objects of this pool (components.specs.monitoring), empty when monitoring is off."""
    deployment_deps: list[pulumi.Resource] = field(default_factory=list)
    """What the EPP Deployment waits for besides its config (GKE: the system pool)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """What every object waits for: the CRDs (InferencePool, the provider's, the monitors') and the gateway's
    control plane, when cluster preparation installs them."""


class InferencePool(pulumi.ComponentResource):
    """The InferencePool (selecting this pool's prefill and decode pods) and the EPP that picks among them."""

    pool: pulumi.CustomResource
    epp_service: pulumi.CustomResource
    epp_deployment: pulumi.CustomResource
    epp_config: pulumi.CustomResource
    """Auto-named: a config change creates a new ConfigMap and rolls the EPP."""

    def __init__(self, name: str, args: InferencePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:InferencePool", name, None, opts)
        n, ns = args.names, args.namespace
        # A component's dependencies do not reach its children: each object names what it waits for.
        child = pulumi.ResourceOptions(parent=self, depends_on=args.after)

        service_account = register(f"{name}-epp-sa", epp_specs.epp_service_account(n), ns, child)
        register(f"{name}-epp-role", epp_specs.epp_role(n), ns, child)
        register(f"{name}-epp-rolebinding", epp_specs.epp_role_binding(n), ns, child)
        cluster_role = register(f"{name}-epp-clusterrole", epp_specs.epp_cluster_role(n), None, child)
        register(
            f"{name}-epp-clusterrolebinding",
            epp_specs.epp_cluster_role_binding(n),
            None,
            pulumi.ResourceOptions(parent=self, depends_on=[cluster_role]),
        )
        self.epp_config = register(n.epp_config_base, epp_specs.epp_config_map(n, args.pool), ns, child)
        self.epp_deployment = register(
            f"{name}-epp",
            epp_specs.epp_deployment(n, args.images.epp, object_name(self.epp_config)),
            ns,
            # GKE: the system pool, where it runs.
            pulumi.ResourceOptions(parent=self, depends_on=[service_account, *args.deployment_deps, *args.after]),
        )
        self.epp_service = register(f"{name}-epp-service", epp_specs.epp_service(n), ns, child)
        # The pool names the EPP Service as its endpoint picker.
        after_service = pulumi.ResourceOptions(parent=self, depends_on=[self.epp_service, *args.after])
        self.pool = register(f"{name}-pool", epp_specs.inference_pool(n), ns, after_service)
        # The gateway provider's extras for this pool (Istio's DestinationRule, GKE's policies on the pool).
        after_pool = pulumi.ResourceOptions(parent=self, depends_on=[self.pool, *args.after])
        for what, obj in args.gateway_extras:
            register(f"{name}-{what}", obj, ns, after_pool)
        if args.monitors:
            # The token controller fills it only once the ServiceAccount exists.
            token = monitoring.metrics_token_secret(n)
            register(
                f"{name}-epp-metrics-token",
                token,
                ns,
                pulumi.ResourceOptions(parent=self, depends_on=[service_account, *args.after]),
            )
        register_all(args.monitors, ns, child, named_by_kind(name))
        register_all(args.network_policies, ns, child)
        self.register_outputs(
            {
                "pool": object_name(self.pool),
                "epp": object_name(self.epp_deployment),
                "eppConfig": object_name(self.epp_config),
            }
        )
