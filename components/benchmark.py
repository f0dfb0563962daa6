"""The benchmark of one serving pool: ServiceAccount, Role and RoleBinding (patch the results ConfigMap only), the
results ConfigMap, the code ConfigMap and the inference-perf Job, which runs after the P/D gate (or, without the gate,
after the route and every worker). See components/specs/benchmark.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.config import PoolConfig, StackConfig
from components.resources import in_namespace
from components.specs import benchmark as specs
from components.specs.names import PoolNames


@dataclass
class BenchmarkArgs:
    names: PoolNames
    pool: PoolConfig
    config: StackConfig
    namespace: pulumi.Input[str]
    hf_token_secret_name: pulumi.Input[str]
    after: list[pulumi.Resource] = field(default_factory=list)
    """The P/D gate (or the route and the workers): a benchmark of a stack that does not disaggregate measures
    nothing worth planning with."""
    gateway_address: pulumi.Output[str | None] | None = None
    """GKE: the Programmed Gateway's address."""


class Benchmark(pulumi.ComponentResource):
    job: k8s.batch.v1.Job

    def __init__(self, name: str, args: BenchmarkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:Benchmark", name, None, opts)
        n, pool, cfg, ns = args.names, args.pool, args.config, args.namespace
        child = pulumi.ResourceOptions(parent=self)
        sa = specs.service_account(n)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=in_namespace(sa["metadata"], ns),
            automount_service_account_token=sa["automountServiceAccountToken"], opts=child,
        )  # fmt: skip
        role_obj = specs.role(n)
        role = k8s.rbac.v1.Role(f"{name}-role", metadata=in_namespace(role_obj["metadata"], ns),
                                rules=role_obj["rules"], opts=child)  # fmt: skip
        rb = specs.role_binding(n)
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-rolebinding", metadata=in_namespace(rb["metadata"], ns), role_ref=rb["roleRef"],
            subjects=rb["subjects"], opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )  # fmt: skip
        rcm = specs.results_config_map(n)
        self.results = k8s.core.v1.ConfigMap(
            f"{name}-results", metadata=in_namespace(rcm["metadata"], ns), data=rcm["data"],
            # The Job writes the results; an `up` must not wipe them.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["data"]),
        )  # fmt: skip
        cm = specs.code_config_map(n, pool, cfg)
        code = k8s.core.v1.ConfigMap(f"{name}-code", metadata=in_namespace(cm["metadata"], ns), data=cm["data"],
                                     opts=child)  # fmt: skip
        job = specs.job(n, pool, cfg, args.hf_token_secret_name)
        address = args.gateway_address
        job_spec = (
            job["spec"] if address is None else address.apply(lambda a: specs.with_gateway_address(job, a)["spec"])
        )
        self.job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata=in_namespace(job["metadata"], ns),
            spec=job_spec,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[account, binding, self.results, code, *args.after],
                replace_on_changes=["spec", "metadata.name"],
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.benchmark.wait_seconds + 120}s"),
            ),
        )
        self.register_outputs({"job": self.job.metadata["name"], "results": self.results.metadata["name"]})
