"""Metrics scraping of one pool: vLLM on each role's `vllm` port, and the EPP's `/metrics`, which requires a bearer
token (the EPP authenticates scrapes with token and subject access reviews).

prometheus-operator: a PodMonitor per role and a ServiceMonitor for the EPP Service. gmp (GKE): a PodMonitoring per
role and one for the EPP. The EPP's scraper reads a service-account token Secret of the EPP's ServiceAccount, which
its ClusterRole allows to GET /metrics."""

from __future__ import annotations

from typing import Any

from components.config import MonitoringBackend, MonitoringConfig
from components.specs import wiring
from components.specs.names import PoolNames
from components.specs.wiring import Role

PROMETHEUS_OPERATOR_API = "monitoring.coreos.com/v1"
GMP_API = "monitoring.googleapis.com/v1"
TOKEN_KEY = "token"


def metrics_token_secret_name(names: PoolNames) -> str:
    return f"{names.epp}-metrics-token"


def metrics_token_secret(names: PoolNames) -> dict[str, Any]:
    """Filled by the token controller with a token of the EPP's ServiceAccount (no secret material here)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": metrics_token_secret_name(names),
            "namespace": names.install.namespace,
            "labels": names.epp_labels(),
            "annotations": {"kubernetes.io/service-account.name": names.epp},
        },
    }


def _meta(names: PoolNames, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": names.install.namespace, "labels": names.install.common_labels()}


def monitors(names: PoolNames, cfg: MonitoringConfig, backend: MonitoringBackend) -> list[dict[str, Any]]:
    interval = cfg.interval
    if backend is MonitoringBackend.OFF:
        return []
    if backend is MonitoringBackend.PROMETHEUS_OPERATOR:
        out: list[dict[str, Any]] = [
            {
                "apiVersion": PROMETHEUS_OPERATOR_API,
                "kind": "PodMonitor",
                "metadata": _meta(names, names.worker(role)),
                "spec": {
                    "selector": {"matchLabels": names.worker_selector(role)},
                    "podMetricsEndpoints": [{"port": wiring.VLLM_PORT_NAME, "path": "/metrics", "interval": interval}],
                },
            }
            for role in Role
        ]
        out.append(
            {
                "apiVersion": PROMETHEUS_OPERATOR_API,
                "kind": "ServiceMonitor",
                "metadata": _meta(names, names.epp),
                "spec": {
                    "selector": {"matchLabels": names.epp_selector()},
                    "endpoints": [
                        {
                            "port": "http-metrics",
                            "path": "/metrics",
                            "interval": interval,
                            "authorization": {
                                "credentials": {"name": metrics_token_secret_name(names), "key": TOKEN_KEY}
                            },
                        }
                    ],
                },
            }
        )
        return out
    out = [
        {
            "apiVersion": GMP_API,
            "kind": "PodMonitoring",
            "metadata": _meta(names, names.worker(role)),
            "spec": {
                "selector": {"matchLabels": names.worker_selector(role)},
                # GMP takes the port by number as well as by name; the number keeps its CRD's CEL rules exact.
                "endpoints": [{"port": wiring.vllm_port(role), "path": "/metrics", "interval": interval}],
            },
        }
        for role in Role
    ]
    out += gmp_secret_reader(names)
    out.append(
        {
            "apiVersion": GMP_API,
            "kind": "PodMonitoring",
            "metadata": _meta(names, names.epp),
            "spec": {
                "selector": {"matchLabels": names.epp_selector()},
                "endpoints": [
                    {
                        "port": wiring.EPP_METRICS_PORT,
                        "path": "/metrics",
                        "interval": interval,
                        "authorization": {
                            "type": "Bearer",
                            "credentials": {"secret": {"name": metrics_token_secret_name(names), "key": TOKEN_KEY}},
                        },
                    }
                ],
            },
        }
    )
    return out


GMP_COLLECTOR = ("gmp-system", "collector")
"""The managed collector's ServiceAccount, which must read the EPP's token Secret."""


def gmp_secret_reader(names: PoolNames) -> list[dict[str, Any]]:
    name = f"{names.epp}-metrics-reader"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(names, name),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": [metrics_token_secret_name(names)],
                    "verbs": wiring.READ_VERBS,
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(names, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "namespace": GMP_COLLECTOR[0], "name": GMP_COLLECTOR[1]}],
        },
    ]
