"""The gateway: its control plane (cluster preparation) and the per-install Gateway with its HTTPRoute."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.charts import install_chart
from components.config import ClusterPrepConfig, GatewayConfig, PoolConfig
from components.resources import ObservedCustomResource, custom_resource, in_namespace
from components.specs import gateway as gw_specs
from components.specs import wiring
from components.specs.charts import gateway_control_plane
from components.specs.names import InstallNames


@dataclass
class GatewayControlPlaneArgs:
    gateway: GatewayConfig
    cluster_prep: ClusterPrepConfig


class GatewayControlPlane(pulumi.ComponentResource):
    """istiod or agentgateway, once per cluster, each chart in its own declared namespace."""

    charts: list[k8s.helm.v4.Chart]

    def __init__(self, name: str, args: GatewayControlPlaneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:gateway:GatewayControlPlane", name, None, opts)
        specs = gateway_control_plane(args.gateway.provider, args.cluster_prep)
        self.charts = []
        namespaces: dict[str, k8s.core.v1.Namespace] = {}
        previous: list[pulumi.Resource] = []
        for spec in specs:
            if spec.namespace not in namespaces:  # helm.v4.Chart creates no namespace
                namespaces[spec.namespace] = k8s.core.v1.Namespace(
                    spec.namespace, metadata={"name": spec.namespace}, opts=pulumi.ResourceOptions(parent=self)
                )
            ns = namespaces[spec.namespace]
            chart = install_chart(
                spec, ns.metadata["name"], pulumi.ResourceOptions(parent=self, depends_on=[ns, *previous])
            )
            self.charts.append(chart)
            previous = [chart]  # CRD charts before the control plane that uses them
        self.register_outputs({})


@dataclass
class InferenceGatewayArgs:
    names: InstallNames
    gateway: GatewayConfig
    pools: list[PoolConfig]
    namespace: pulumi.Input[str]
    """The install's namespace (an Output of the Namespace resource, so it exists first)."""


class InferenceGateway(pulumi.ComponentResource):
    """One Gateway (and its provider parameters) with one HTTPRoute rule per pool."""

    gateway: ObservedCustomResource
    header_strip: k8s.apiextensions.CustomResource | None
    """Istio: the EnvoyFilter that drops a client's x-prefiller-host-port before the EPP runs."""
    route: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: InferenceGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:gateway:InferenceGateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        params = gw_specs.gateway_parameters(args.names, args.gateway)
        deps: list[pulumi.Resource] = []
        if params is not None:
            if params["kind"] == "ConfigMap":
                param_res: pulumi.Resource = k8s.core.v1.ConfigMap(
                    f"{name}-params",
                    metadata=in_namespace(params["metadata"], args.namespace),
                    data=params["data"],
                    opts=child,
                )
            else:
                param_res = custom_resource(f"{name}-params", params, args.namespace, child)
            deps.append(param_res)
        spec = gw_specs.gateway(args.names, args.gateway)
        waits = wiring.WAIT_FOR in spec["metadata"].get("annotations", {})
        self.gateway = ObservedCustomResource(
            f"{name}-gateway",
            spec,
            args.namespace,
            pulumi.ResourceOptions(
                parent=self,
                depends_on=deps,
                # A cloud load balancer (GKE) takes minutes to be Programmed.
                custom_timeouts=pulumi.CustomTimeouts(create="20m", update="20m") if waits else None,
            ),
        )
        strip = gw_specs.client_prefiller_header_strip(args.names, args.gateway)
        self.header_strip = (
            custom_resource(f"{name}-strip-prefiller-header", strip, args.namespace, child) if strip else None
        )
        self.route = custom_resource(
            f"{name}-route",
            gw_specs.http_route(args.names, args.pools, args.gateway),
            args.namespace,
            # No traffic before a client's x-prefiller-host-port is stripped.
            pulumi.ResourceOptions(
                parent=self, depends_on=[self.gateway, *([self.header_strip] if self.header_strip else [])]
            ),
        )
        self.register_outputs({})
