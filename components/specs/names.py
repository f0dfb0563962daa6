"""Names and labels of one install, derived from its prefix (the seed's RELEASE_NAME_POSTFIX).

Every per-install object name and selector comes from here, so two installs with different prefixes never share a
name or select each other's pods.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from components.releases import release
from components.specs import wiring
from components.specs.wiring import Role
from components.vocabulary import (  # noqa: F401 (re-exported: the naming rules live in the ground module)
    DNS_1035_LABEL_RE,
    DNS_1123_LABEL_RE,
    MAX_POOL_NAME_LEN,
    MAX_PREFIX_LEN,
    sanitize_prefix,
)

DNS_1035_LABEL = DNS_1035_LABEL_RE
DNS_1123_LABEL = DNS_1123_LABEL_RE


NameRef: TypeAlias = Any
"""A name in a spec that a component may know only as a Pulumi Output (an auto-named Secret or ConfigMap): specs
place it as a plain value and never look inside, so no spec is built inside `Output.apply`."""


def content_named(base: str, *parts: Any) -> str:
    """A Job's name that changes with everything it runs (its code, its config, its pod spec): Jobs are immutable,
    so a changed run is a new Job. The P/D gate and the benchmark name their runs this way."""
    blob = json.dumps(list(parts), sort_keys=True)
    return f"{base}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def model_slug(model_id: str) -> str:
    """A label value for a Hugging Face id: `RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic` ->
    `llama-3.3-70b-instruct-fp8-dynamic` (label values allow dots; at most 63 characters)."""
    s = re.sub(r"[^a-z0-9.-]+", "-", model_id.split("/")[-1].lower()).strip("-.")
    return s[:63].rstrip("-.") or "model"


@dataclass(frozen=True)
class InstallNames:
    """Names of one install (prefix) in one namespace."""

    prefix: str
    namespace: str
    release: str | None = None
    """The release set (components/releases.py); None: the default one."""

    def install_labels(self) -> dict[str, str]:
        return {wiring.LABEL_INSTALL: self.prefix}

    def common_labels(self) -> dict[str, str]:
        return {
            wiring.LABEL_PART_OF: wiring.PART_OF,
            wiring.LABEL_MANAGED_BY: wiring.MANAGED_BY,
            **self.install_labels(),
        }

    def gateway(self) -> str:
        return f"{self.prefix}-inference-gateway"

    def http_route(self) -> str:
        return f"{self.prefix}-route"

    def hf_token_secret_base(self) -> str:
        """Base of the auto-named HF token Secret (Pulumi appends a random suffix)."""
        return f"{self.prefix}-hf-token"

    def pool(self, pool: str, release: str | None = None) -> PoolNames:
        """`release`: the pool's own set when it is pinned to one (a cutover); default the install's."""
        return PoolNames(self, pool, release or self.release)


@dataclass(frozen=True)
class PoolNames:
    """Names and selectors of one model pool of an install."""

    install: InstallNames
    pool: str
    release: str | None = None
    """The release set of this pool's EPP and workers."""

    @property
    def inference_pool(self) -> str:
        return f"{self.install.prefix}-{self.pool}"

    @property
    def epp(self) -> str:
        """EPP Deployment, Service, ServiceAccount and Role (a DNS-1035 Service name)."""
        return f"{self.inference_pool}-epp"

    @property
    def epp_cluster_role(self) -> str:
        """Cluster-scoped, so it carries the namespace too: the seed's name collided across namespaces."""
        return f"{self.install.namespace}-{self.inference_pool}-epp"

    @property
    def epp_config_base(self) -> str:
        return f"{self.epp}-config"

    @property
    def epp_service_fqdn(self) -> str:
        return f"{self.epp}.{self.install.namespace}.svc.cluster.local"

    def claim_template(self, role: Role) -> str:
        """gke-dra: the ResourceClaimTemplate of one role's GPU-NIC pairs."""
        return f"{self.worker(role)}-gpu-nic"

    def worker(self, role: Role) -> str:
        """Deployment and ServiceAccount of one role."""
        return f"{self.inference_pool}-{role.value}"

    def selector(self) -> dict[str, str]:
        """The InferencePool's selector: this pool's workers of this install, both roles, nothing else."""
        return {
            wiring.LABEL_INFERENCE_SERVING: "true",
            **self.install.install_labels(),
            wiring.LABEL_POOL: self.pool,
        }

    def worker_selector(self, role: Role) -> dict[str, str]:
        return {**self.selector(), wiring.LABEL_ROLE: role.value}

    def worker_labels(self, role: Role, model_id: str) -> dict[str, str]:
        return {
            **self.install.common_labels(),
            **self.worker_selector(role),
            wiring.LABEL_MODEL: model_slug(model_id),
            wiring.LABEL_COMPONENT: role.value,
        }

    def epp_selector(self) -> dict[str, str]:
        return {**self.install.install_labels(), "inferencepool": self.epp}

    def epp_labels(self) -> dict[str, str]:
        return {
            **self.install.common_labels(),
            **self.epp_selector(),
            wiring.LABEL_NAME: self.epp,
            wiring.LABEL_COMPONENT: "endpoint-picker",
            # The mode label each release's upstream chart puts on the EPP (GAIE's key before llm-d-router).
            **dict([release(self.release).epp.mode_label]),
        }
