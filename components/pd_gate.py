"""The P/D gate of one serving pool: its ServiceAccount and /metrics RBAC, the headless Services that name the worker
pods, its NetworkPolicy, and the Job (with its code in a ConfigMap) that `up` waits for. See components/specs/pd_gate.py
for what each object is and components/gate/pd_gate.py for what the Job checks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.config import PoolConfig, StackConfig
from components.resources import in_namespace
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
    job: k8s.batch.v1.Job
    """Waited for by pulumi-kubernetes: a failed check fails `up`."""

    def __init__(self, name: str, args: PdGateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:PdGate", name, None, opts)
        n, pool, cfg, ns = args.names, args.pool, args.config, args.namespace
        child = pulumi.ResourceOptions(parent=self)

        sa = specs.service_account(n)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=in_namespace(sa["metadata"], ns),
            automount_service_account_token=sa["automountServiceAccountToken"],
            opts=child,
        )
        cr = specs.cluster_role(n)
        role = k8s.rbac.v1.ClusterRole(f"{name}-clusterrole", metadata=cr["metadata"], rules=cr["rules"], opts=child)
        crb = specs.cluster_role_binding(n)
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-clusterrolebinding",
            metadata=crb["metadata"],
            role_ref=crb["roleRef"],
            subjects=crb["subjects"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        jr = specs.job_role(n, pool, cfg)
        job_role = k8s.rbac.v1.Role(
            f"{name}-role", metadata=in_namespace(jr["metadata"], ns), rules=jr["rules"], opts=child
        )
        jrb = specs.job_role_binding(n)
        job_binding = k8s.rbac.v1.RoleBinding(
            f"{name}-rolebinding",
            metadata=in_namespace(jrb["metadata"], ns),
            role_ref=jrb["roleRef"],
            subjects=jrb["subjects"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[job_role]),
        )
        services = [
            k8s.core.v1.Service(
                f"{name}-{svc['metadata']['name']}",
                metadata=in_namespace(svc["metadata"], ns),
                spec=svc["spec"],
                opts=child,
            )
            for svc in specs.metrics_services(n)
        ]
        cm = specs.config_map(n, pool, cfg)
        code = k8s.core.v1.ConfigMap(
            f"{name}-code", metadata=in_namespace(cm["metadata"], ns), data=cm["data"], opts=child
        )
        ready: list[pulumi.Resource] = [account, binding, job_binding, code, *services]
        address = args.gateway_address
        if cfg.gateway.network_policies:
            policy = specs.egress_policy(n, cfg, args.gateway_name, None)
            policy_spec = (
                policy["spec"]
                if address is None
                else address.apply(lambda a: specs.egress_policy(n, cfg, args.gateway_name, a)["spec"])
            )
            ready.append(
                k8s.networking.v1.NetworkPolicy(
                    f"{name}-egress", metadata=in_namespace(policy["metadata"], ns), spec=policy_spec, opts=child
                )
            )
        job = specs.job(n, pool, cfg)
        job_spec = (
            job["spec"] if address is None else address.apply(lambda a: specs.with_gateway_address(job, a)["spec"])
        )
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata=in_namespace(job["metadata"], ns),
            spec=job_spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*ready, *args.after],
                # A Job's template is immutable: any change is a new run (its name carries the content hash).
                replace_on_changes=["spec", "metadata.name"],
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.verification.timeout_seconds + 120}s"),
            ),
        )
        proof = specs.proof_spec(n, pool, cfg)
        self.proof: pulumi.Output[dict] = pulumi.Output.all(self.job.status, self.job.metadata).apply(
            lambda a: specs.proof_with_status(proof, a[0], a[1])
        )
        """The `pdProof.<pool>` export."""
        self.register_outputs({"job": self.job.metadata["name"], "proof": self.proof})
