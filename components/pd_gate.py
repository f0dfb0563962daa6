"""The P/D gate of one serving pool: its ServiceAccount and /metrics RBAC, the headless Services that name the worker
pods, its NetworkPolicy, and the Job (with its code in a ConfigMap) that `up` waits for. See components/specs/pd_gate.py
for what each object is and components/gate/pd_gate.py for what the Job checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.config import PoolConfig, StackConfig
from components.resources import object_name, prefixed, register, register_all
from components.specs import gateway as gw_specs
from components.specs import pd_gate as specs
from components.specs.names import PoolNames


@dataclass
class PdGateArgs:
    names: PoolNames
    pool: PoolConfig
    config: StackConfig
    namespace: pulumi.Input[str]
    gateway_name: str
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the Job runs after: the route (the gateway component) and every worker, so `up` fails on a bad P/D."""
    gateway_address: pulumi.Output[str | None] | None = None
    """GKE: the Programmed Gateway's address, which the gate sends its requests to (no in-cluster Service)."""


class PdGate(pulumi.ComponentResource):
    job: pulumi.CustomResource
    """Waited for by pulumi-kubernetes: a failed check fails `up`."""

    def __init__(self, name: str, args: PdGateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:PdGate", name, None, opts)
        n, pool, cfg, ns = args.names, args.pool, args.config, args.namespace
        child = pulumi.ResourceOptions(parent=self)

        account = register(f"{name}-sa", specs.service_account(n), ns, child)
        role = register(f"{name}-clusterrole", specs.cluster_role(n), None, child)
        binding = register(
            f"{name}-clusterrolebinding", specs.cluster_role_binding(n), None,
            pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )  # fmt: skip
        job_role = register(f"{name}-role", specs.job_role(n, pool, cfg), ns, child)
        job_binding = register(
            f"{name}-rolebinding",
            specs.job_role_binding(n),
            ns,
            pulumi.ResourceOptions(parent=self, depends_on=[job_role]),
        )
        services = register_all(specs.metrics_services(n), ns, child, prefixed(name))
        code = register(f"{name}-code", specs.config_map(n, pool, cfg), ns, child)
        ready: list[pulumi.Resource] = [account, binding, job_binding, code, *services]
        address = args.gateway_address  # GKE: the Programmed Gateway's load balancer
        url = address.apply(gw_specs.external_url) if address is not None else None
        if cfg.gateway.network_policies:
            cidr = address.apply(gw_specs.external_cidr) if address is not None else None
            ready.append(register(f"{name}-egress", specs.egress_policy(n, cfg, args.gateway_name, cidr), ns, child))
        self.job = register(
            f"{name}-job",
            specs.job(n, pool, cfg, gateway_url=url),
            ns,
            pulumi.ResourceOptions(
                parent=self,
                # Its RBAC, Services, code and policy; then the route and every worker, so `up` fails on a bad P/D.
                depends_on=[*ready, *args.after],
                # A Job's template is immutable: any change is a new run (its name carries the content hash).
                replace_on_changes=["spec", "metadata.name"],
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.verification.timeout_seconds + 120}s"),
            ),
        )
        proof = specs.proof_spec(n, pool, cfg)
        job_status, job_metadata = getattr(self.job, "status"), getattr(self.job, "metadata")  # noqa: B009
        self.proof: pulumi.Output[dict] = pulumi.Output.all(job_status, job_metadata).apply(
            lambda a: specs.proof_with_status(proof, a[0], a[1])
        )
        """The `pdProof.<pool>` export."""
        self.register_outputs({"job": object_name(self.job), "proof": self.proof})
