"""One role (prefill or decode) of one model pool: a ServiceAccount, a vLLM Deployment and, with gke-dra, the
ResourceClaimTemplate of its GPU-NIC pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config import ImagesConfig, PoolConfig
from components.resources import custom_resource, in_namespace
from components.specs import workers
from components.specs.names import PoolNames
from components.specs.rdma import PodNetworking
from components.specs.wiring import SKIP_AWAIT, Role


@dataclass
class ModelServiceArgs:
    names: PoolNames
    pool: PoolConfig
    role: Role
    images: ImagesConfig
    networking: PodNetworking
    """What the fabric adds to the vLLM pod (RDMA resource, capabilities, UCX env)."""
    namespace: pulumi.Input[str]
    hf_token_secret_name: pulumi.Input[str]
    """Name of the Secret holding HF_TOKEN (an Output when this stack creates it)."""
    skip_await: bool = False
    """Do not wait for the pods to become Ready (render mode, or when the caller waits elsewhere)."""
    depends_on: list[pulumi.Resource] = field(default_factory=list)
    """What the workers wait for besides their own objects (GKE: the GPU pool and the drivers)."""
    scaled_object: dict[str, Any] | None = None
    """The role's KEDA ScaledObject (components/specs/autoscaling.py) when it autoscales."""
    autoscaler_deps: list[pulumi.Resource] = field(default_factory=list)
    """What the ScaledObject waits for besides the Deployment (GKE: the KEDA chart)."""


class ModelService(pulumi.ComponentResource):
    """vLLM workers of one role. `pulumi up` waits for them up to the role's readiness timeout (the startup probe
    budget plus node bring-up), since a 70B cold start outlasts the provider's 10-minute default."""

    deployment: k8s.apps.v1.Deployment
    service_account: k8s.core.v1.ServiceAccount

    def __init__(self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:ModelService", name, None, opts)
        sa = workers.worker_service_account(args.names, args.pool, args.role)
        self.service_account = k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=in_namespace(sa["metadata"], args.namespace),
            automount_service_account_token=sa["automountServiceAccountToken"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        ready: list[pulumi.Resource] = [self.service_account]
        if workers.needs_api_access(args.pool, args.role):
            role = workers.sidecar_role(args.names, args.pool)
            binding = workers.sidecar_role_binding(args.names, args.pool)
            ready.append(
                k8s.rbac.v1.Role(
                    f"{name}-role",
                    metadata=in_namespace(role["metadata"], args.namespace),
                    rules=role["rules"],
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
            ready.append(
                k8s.rbac.v1.RoleBinding(
                    f"{name}-rolebinding",
                    metadata=in_namespace(binding["metadata"], args.namespace),
                    role_ref=binding["roleRef"],
                    subjects=binding["subjects"],
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        if args.networking.gpus_by_claim:
            # gke-dra: the claim of this role's GPU-NIC pairs; each pod gets its own ResourceClaim from it.
            template = workers.gpu_nic_claim_template(args.names, args.pool, args.role)
            ready.append(
                custom_resource(f"{name}-claim-template", template, args.namespace, pulumi.ResourceOptions(parent=self))
            )
        obj = pulumi.Output.from_input(args.hf_token_secret_name).apply(
            lambda secret: workers.worker_deployment(
                args.names, args.pool, args.role, args.images, args.networking, secret
            )
        )
        timeout = f"{workers.role_config(args.pool, args.role).readiness_timeout_s}s"
        metadata = obj.apply(lambda o: o["metadata"])
        if args.skip_await:
            metadata = metadata.apply(lambda m: {**m, "annotations": {SKIP_AWAIT: "true"}})
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=pulumi.Output.all(metadata, args.namespace).apply(lambda a: in_namespace(a[0], a[1])),
            spec=obj.apply(lambda o: o["spec"]),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*ready, *args.depends_on],
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
                # An autoscaled role's replicas belong to the HPA KEDA manages: Pulumi creates the Deployment at
                # minReplicas and never sets the field again, so `up` does not undo a scale-up.
                ignore_changes=["spec.replicas"] if args.scaled_object is not None else None,
            ),
        )
        self.scaled_object: pulumi.Resource | None = None
        if args.scaled_object is not None:
            self.scaled_object = custom_resource(
                f"{name}-scaledobject",
                args.scaled_object,
                args.namespace,
                pulumi.ResourceOptions(parent=self, depends_on=[self.deployment, *args.autoscaler_deps]),
            )
        self.register_outputs({})
