"""Which objects an interrupted update had created, as `refresh --import-pending-creates` needs them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from pulumi_engine import pending_create_imports

U = "urn:pulumi:s::llm-d-pd::llmd:serving:ServingStack$"


def op(typ: str, name: str | None, namespace: str | None = None, kind: str = "creating") -> dict:
    meta = {k: v for k, v in {"name": name, "namespace": namespace}.items() if v}
    return {"type": kind, "resource": {"urn": f"{U}{typ}::{name}", "type": typ, "inputs": {"metadata": meta}}}


def test_namespaced_and_cluster_scoped_objects_get_their_provider_ids():
    deployment = {
        "pending_operations": [
            op("kubernetes:core/v1:ConfigMap", "ib-llama-epp-config-1a2b3c4d", "llm-d-pd"),
            op("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "llm-d-pd-ib-llama-epp"),
        ]
    }
    assert pending_create_imports(deployment) == [
        (f"{U}kubernetes:core/v1:ConfigMap::ib-llama-epp-config-1a2b3c4d", "llm-d-pd/ib-llama-epp-config-1a2b3c4d"),
        (f"{U}kubernetes:rbac.authorization.k8s.io/v1:ClusterRole::llm-d-pd-ib-llama-epp", "llm-d-pd-ib-llama-epp"),
    ]


def test_other_operations_and_objects_without_a_name_are_left_to_refresh():
    deployment = {
        "pending_operations": [
            op("kubernetes:apps/v1:Deployment", "ib-llama-decode", "llm-d-pd", kind="updating"),
            op("kubernetes:core/v1:Secret", None, "llm-d-pd"),
            op("gcp:container/cluster:Cluster", "gke"),
        ]
    }
    assert pending_create_imports(deployment) == []
    assert pending_create_imports({}) == []
