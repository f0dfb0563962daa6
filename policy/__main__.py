"""Mandatory P/D invariants for llm-d-pd stacks. Config (optional): {"rdmaResource": "rdma/ib"}."""

from __future__ import annotations

import sys
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
POOL = "kubernetes:inference.networking.k8s.io/v1:InferencePool"
CLAIM_TEMPLATE = "kubernetes:resource.k8s.io/v1:ResourceClaimTemplate"


def on(types: tuple[str, ...], check):
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in types:
            for message in check(args.props, args):
                report(message, None)

    return validate


def rdma(props, args: ResourceValidationArgs):
    return checks.rdma_resource_present(props, (args.get_config() or {}).get("rdmaResource"))


def across(target: str, others: str, check):
    """A stack check: `check(props, [props of every `others` resource])` for each resource of type `target`."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        related = [r.props for r in args.resources if r.resource_type == others]
        for r in args.resources:
            if r.resource_type == target:
                for message in check(r.props, related):
                    report(message, None)

    return validate


def policy(name: str, description: str, validate, config_schema=None) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=validate,
        config_schema=config_schema,
    )


PolicyPack(
    name="llm-d-pd",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        policy("gpus-match-tensor-parallelism", "Worker GPU requests equal --tensor-parallel-size.",
               on((DEPLOYMENT,), lambda p, _: checks.gpus_match_tensor_parallelism(p))),
        policy("sidecar-ports-agree", "The decode sidecar's ports agree with vLLM's and the pool's.",
               on((DEPLOYMENT,), lambda p, _: checks.sidecar_ports_agree(p))),
        policy("images-pinned", "Every image is pinned to a tag (not latest) or a digest.",
               on((DEPLOYMENT,), lambda p, _: checks.images_pinned(p))),
        policy("hf-token-from-secret", "HF_TOKEN is never a plain env value.",
               on((DEPLOYMENT,), lambda p, _: checks.no_plain_hf_token(p))),
        policy("epp-decider-declared", "The EPP profile handler names a declared decider.",
               on(("kubernetes:core/v1:ConfigMap",), lambda p, _: checks.epp_decider_declared(p))),
        policy("rdma-resource-present", "Workers request the fabric's RDMA resource.",
               on((DEPLOYMENT,), rdma),
               config_schema=PolicyConfigSchema(properties={"rdmaResource": {"type": "string"}})),
        policy("no-backend-load-balancer", "No LoadBalancer Service except the gateway's.",
               on(("kubernetes:core/v1:Service",), lambda p, _: checks.service_not_load_balancer(p))),
        policy("cluster-scoped-names-per-install", "Cluster-scoped objects of an install carry its prefix.",
               on(("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
                   "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"),
                  lambda p, _: checks.cluster_scoped_name_is_per_install(p))),
        StackValidationPolicy(
            name="pool-selects-its-workers",
            description="Each InferencePool selects its prefill and decode workers and nothing else.",
            enforcement_level=EnforcementLevel.MANDATORY,
            validate=across(POOL, DEPLOYMENT, checks.pool_selects_its_two_roles),
        ),
        StackValidationPolicy(
            name="gpu-nic-pairs",
            description="DRA workers claim one GPU and one RDMA NIC per rank, each pair on one PCIe root.",
            enforcement_level=EnforcementLevel.MANDATORY,
            validate=across(DEPLOYMENT, CLAIM_TEMPLATE, checks.gpu_nic_claims_pair_each_gpu),
        ),
    ],
)  # fmt: skip
