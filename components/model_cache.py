"""One model's volume (cache mode `volume`): the claim the populate Job fills, the Job, and on GKE the read-only-many
clone the workers mount. See components/specs/model_cache.py for what each object is."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.resources import object_name, register
from components.specs import model_cache as specs
from components.specs.names import InstallNames, NameRef


@dataclass
class ModelCacheArgs:
    names: InstallNames
    volume: specs.ModelVolume
    namespace: pulumi.Input[str]
    hf_token_secret_name: NameRef
    """The Secret with HF_TOKEN, mounted as a file into the Job (an Output when the stack creates it)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the Job needs besides its claim: its ServiceAccount, NetworkPolicy and StorageClass, and what its pod
    runs on (GKE: the system pool). Never the GPU pool or its drivers: the fill runs while they are created."""


class ModelCache(pulumi.ComponentResource):
    job: pulumi.CustomResource
    """Waited for by pulumi-kubernetes; the workers wait for this component, so for a filled volume."""
    claim: pulumi.CustomResource
    """The claim the workers mount."""

    def __init__(self, name: str, args: ModelCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:ModelCache", name, None, opts)
        n, vol, ns = args.names, args.volume, args.namespace

        def claim(obj: dict, resource_name: str, depends_on: list[pulumi.Resource]) -> pulumi.CustomResource:
            # A claim's spec is immutable once bound: a changed size or class is a new volume (and a new fill).
            immutable = pulumi.ResourceOptions(
                parent=self, depends_on=depends_on, replace_on_changes=["spec"], delete_before_replace=True
            )
            return register(resource_name, obj, ns, immutable)

        source = claim(specs.source_claim(n, vol), f"{name}-{'source' if vol.clone else 'claim'}", list(args.after))
        self.job = register(
            f"{name}-fill",
            specs.populate_job(n, vol, args.hf_token_secret_name),
            ns,
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[source, *args.after],
                # A Job's template is immutable; the same model keeps the same Job, so a second `up` runs nothing.
                replace_on_changes=["spec"],
                delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=f"{specs.POPULATE_TIMEOUT_S + 300}s"),
            ),
        )
        serving = specs.serving_claim(n, vol)
        # GKE: the clone is taken once the fill is complete.
        self.claim = claim(serving, f"{name}-claim", [self.job]) if serving is not None else source
        self.register_outputs({"claim": object_name(self.claim), "job": object_name(self.job)})
