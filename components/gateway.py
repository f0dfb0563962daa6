"""The gateway: its control plane (cluster preparation) and the per-install Gateway with its HTTPRoute."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.charts import install_chart
from components.config import ClusterPrepConfig, GatewayConfig, PoolConfig
from components.resources import ObservedCustomResource, object_name, register
from components.specs import gateway as gw_specs
from components.specs import security
from components.specs.names import InstallNames


@dataclass
class GatewayControlPlaneArgs:
    gateway: GatewayConfig
    cluster_prep: ClusterPrepConfig
    after: list[pulumi.Resource] = field(default_factory=list)
    """The Gateway API and Inference Extension CRDs, which the controller watches from its start."""


class GatewayControlPlane(pulumi.ComponentResource):
    """istiod or agentgateway, once per cluster, each chart in its own declared namespace."""

    charts: list[k8s.helm.v4.Chart]

    def __init__(self, name: str, args: GatewayControlPlaneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:gateway:GatewayControlPlane", name, None, opts)
        specs = gw_specs.profile(args.gateway).control_plane(args.cluster_prep)
        self.charts = []
        namespaces: dict[str, pulumi.CustomResource] = {}
        previous: list[pulumi.Resource] = []
        for spec in specs:
            if spec.namespace not in namespaces:  # helm.v4.Chart creates no namespace
                namespaces[spec.namespace] = register(
                    spec.namespace, security.namespace(spec.namespace), None, pulumi.ResourceOptions(parent=self)
                )
            ns = namespaces[spec.namespace]
            # CRD charts before the control plane that uses them; all after the cluster's CRDs.
            after = pulumi.ResourceOptions(parent=self, depends_on=[ns, *previous, *args.after])
            chart = install_chart(spec, object_name(ns), after)
            self.charts.append(chart)
            previous = [chart]
        self.register_outputs({"charts": [c.urn for c in self.charts]})


@dataclass
class InferenceGatewayArgs:
    names: InstallNames
    gateway: GatewayConfig
    pools: list[PoolConfig]
    namespace: pulumi.Input[str]
    """The install's namespace (an Output of the Namespace resource, so it exists first)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """What every object waits for: the Gateway API CRDs and the gateway's control plane (cluster preparation)."""
    backends: list[pulumi.Resource] = field(default_factory=list)
    """What the route waits for: the pools and their workers, so it changes only once a cutover's new backend is
    Ready. The Gateway does not (GKE's load balancer is provisioned meanwhile)."""


class InferenceGateway(pulumi.ComponentResource):
    """One Gateway (and its provider parameters) with one HTTPRoute rule per pool."""

    gateway: ObservedCustomResource
    header_strip: pulumi.CustomResource | None
    """Istio: the EnvoyFilter that drops a client's x-prefiller-host-port before the EPP runs."""
    route: pulumi.CustomResource

    def __init__(self, name: str, args: InferenceGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:gateway:InferenceGateway", name, None, opts)
        # A component's dependencies do not reach its children: each object names what it waits for.
        child = pulumi.ResourceOptions(parent=self, depends_on=args.after)
        ns = args.namespace
        params = gw_specs.gateway_parameters(args.names, args.gateway)
        # The Gateway names its provider's parameters object: it must exist first.
        deps = [register(f"{name}-params", params, ns, child)] if params is not None else []
        timeout = gw_specs.GATEWAY_PROGRAMMED_TIMEOUT if gw_specs.waits_for_programmed(args.gateway) else None
        self.gateway = ObservedCustomResource(
            f"{name}-gateway",
            gw_specs.gateway(args.names, args.gateway),
            ns,
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[*deps, *args.after],
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout) if timeout else None,
            ),
        )
        strip = gw_specs.client_prefiller_header_strip(args.names, args.gateway)
        self.header_strip = register(f"{name}-strip-prefiller-header", strip, ns, child) if strip else None
        self.route = register(
            f"{name}-route",
            gw_specs.http_route(args.names, args.pools, args.gateway),
            ns,
            # No traffic before a client's x-prefiller-host-port is stripped.
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[
                    self.gateway,
                    *([self.header_strip] if self.header_strip else []),
                    *args.after,
                    *args.backends,
                ],
            ),
        )
        self.register_outputs({"gateway": object_name(self.gateway), "route": object_name(self.route)})
