"""The benchmark of one serving pool: ServiceAccount, Role and RoleBinding (patch the results ConfigMap only), the
results ConfigMap, the code ConfigMap and the inference-perf Job, which runs after the P/D gate (or, without the gate,
after the route and every worker). See components/specs/benchmark.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.config import PoolConfig, StackConfig
from components.resources import object_name, register
from components.specs import benchmark as specs
from components.specs import gateway as gw_specs
from components.specs.names import NameRef, PoolNames


@dataclass
class BenchmarkArgs:
    names: PoolNames
    pool: PoolConfig
    config: StackConfig
    namespace: pulumi.Input[str]
    hf_token_secret_name: NameRef
    after: list[pulumi.Resource] = field(default_factory=list)
    """The P/D gate (or the route and the workers): a benchmark of a stack that does not disaggregate measures
    nothing worth planning with."""
    gateway_address: pulumi.Output[str | None] | None = None
    """GKE: the Programmed Gateway's address."""


class Benchmark(pulumi.ComponentResource):
    job: pulumi.CustomResource

    def __init__(self, name: str, args: BenchmarkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:Benchmark", name, None, opts)
        n, pool, cfg, ns = args.names, args.pool, args.config, args.namespace
        child = pulumi.ResourceOptions(parent=self)
        account = register(f"{name}-sa", specs.service_account(n), ns, child)
        role = register(f"{name}-role", specs.role(n), ns, child)
        binding = register(
            f"{name}-rolebinding",
            specs.role_binding(n),
            ns,
            pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        self.results = register(
            f"{name}-results", specs.results_config_map(n), ns,
            # The Job writes the results; an `up` must not wipe them.
            pulumi.ResourceOptions(parent=self, ignore_changes=["data"]),
        )  # fmt: skip
        code = register(f"{name}-code", specs.code_config_map(n, pool, cfg), ns, child)
        address = args.gateway_address  # GKE: the Programmed Gateway's load balancer
        url = address.apply(gw_specs.external_url) if address is not None else None
        self.job = register(
            f"{name}-job",
            specs.job(n, pool, cfg, args.hf_token_secret_name, gateway_url=url),
            ns,
            pulumi.ResourceOptions(
                parent=self,
                # Its RBAC, results and code; then the P/D gate (or the route and the workers).
                depends_on=[account, binding, self.results, code, *args.after],
                replace_on_changes=["spec", "metadata.name"],
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.benchmark.wait_seconds + 120}s"),
            ),
        )
        self.register_outputs({"job": object_name(self.job), "results": object_name(self.results)})
