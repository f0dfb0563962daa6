"""One role (prefill or decode) of one model pool: a ServiceAccount, a vLLM Deployment and, with gke-dra, the
ResourceClaimTemplate of its GPU-NIC pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.config import ImagesConfig, PoolConfig
from components.resources import object_name, register
from components.specs import workers
from components.specs.names import NameRef, PoolNames
from components.specs.rdma import PodNetworking
from components.specs.wiring import Role


@dataclass
class ModelServiceArgs:
    names: PoolNames
    pool: PoolConfig
    role: Role
    images: ImagesConfig
    networking: PodNetworking
    """What the fabric adds to the vLLM pod (RDMA resource, capabilities, UCX env)."""
    namespace: pulumi.Input[str]
    hf_token_secret_name: NameRef
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

    deployment: pulumi.CustomResource
    service_account: pulumi.CustomResource

    def __init__(self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:ModelService", name, None, opts)
        n, pool, role, ns = args.names, args.pool, args.role, args.namespace
        child = pulumi.ResourceOptions(parent=self)
        self.service_account = register(f"{name}-sa", workers.worker_service_account(n, pool, role), ns, child)
        ready: list[pulumi.Resource] = [self.service_account]
        if workers.needs_api_access(pool, role):  # the SSRF-protected sidecar watches its pool
            ready.append(register(f"{name}-role", workers.sidecar_role(n, pool), ns, child))
            ready.append(register(f"{name}-rolebinding", workers.sidecar_role_binding(n, pool), ns, child))
        if args.networking.gpus_by_claim:
            # gke-dra: the claim of this role's GPU-NIC pairs; each pod gets its own ResourceClaim from it.
            template = workers.gpu_nic_claim_template(n, pool, role)
            ready.append(register(f"{name}-claim-template", template, ns, child))
        deployment = workers.worker_deployment(
            n, pool, role, args.images, args.networking, args.hf_token_secret_name, skip_await=args.skip_await
        )
        timeout = f"{workers.role_config(pool, role).readiness_timeout_s}s"
        self.deployment = register(
            f"{name}-deployment",
            deployment,
            ns,
            pulumi.ResourceOptions(
                parent=self,
                # Its ServiceAccount, RBAC and claim template first; then what the caller names (GKE: the GPU pool
                # and the drivers; the model volume's populate Job).
                depends_on=[*ready, *args.depends_on],
                custom_timeouts=pulumi.CustomTimeouts(create=timeout, update=timeout),
                # An autoscaled role's replicas belong to the HPA KEDA manages: Pulumi creates the Deployment at
                # minReplicas and never sets the field again, so `up` does not undo a scale-up.
                ignore_changes=["spec.replicas"] if args.scaled_object is not None else None,
            ),
        )
        self.scaled_object: pulumi.Resource | None = None
        if args.scaled_object is not None:
            self.scaled_object = register(
                f"{name}-scaledobject",
                args.scaled_object,
                ns,
                # KEDA needs its target Deployment; on GKE the KEDA chart brings the CRD.
                pulumi.ResourceOptions(parent=self, depends_on=[self.deployment, *args.autoscaler_deps]),
            )
        self.register_outputs({"deployment": object_name(self.deployment)})
