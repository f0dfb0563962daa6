"""The endpoint picker (EPP) of one pool: its P/D configuration, Deployment, Service and RBAC (EPP v0.7.0)."""

from __future__ import annotations

from typing import Any

import yaml

from components.config import Decider, PoolConfig
from components.specs import wiring
from components.specs.names import PoolNames
from components.specs.security import restricted
from components.specs.wiring import Role

EPP_CONFIG_FILE = "pd-config.yaml"
EPP_CONFIG_MOUNT = "/config"

PREFIX_SCORER = "prefix-cache-scorer"
QUEUE_SCORER = "queue-scorer"
PICKER = "max-score-picker"
HEADERS_HANDLER = "disagg-headers-handler"
PROFILE_HANDLER = "disagg-profile-handler"
FILTERS = {Role.PREFILL: "prefill-filter", Role.DECODE: "decode-filter"}
DECIDERS = {Decider.SELECTIVE: "prefix-based-pd-decider", Decider.ALWAYS: "always-disagg-pd-decider"}


def decider_plugin(pool: PoolConfig) -> dict[str, Any]:
    plugin: dict[str, Any] = {"type": DECIDERS[pool.scheduling.decider]}
    if pool.scheduling.decider is Decider.SELECTIVE:
        plugin["parameters"] = {"nonCachedTokens": pool.scheduling.non_cached_tokens}
    return plugin


def epp_config(pool: PoolConfig) -> dict[str, Any]:
    """EndpointPickerConfig for P/D. The profile handler runs `decode`, asks the decider, and runs `prefill` when
    it says so; the header handler then sets x-prefiller-host-port for the decode pod's sidecar.

    `disagg-profile-handler` has no default decider: without `deciders.prefill` it logs "P/D disaggregation
    disabled" and serves every request decode-only (llm-d-inference-scheduler v0.7.0,
    pkg/plugins/profile/disagg_profile_handler.go)."""
    decider = decider_plugin(pool)
    profiles = [
        {
            "name": role.value,
            "plugins": [
                {"pluginRef": FILTERS[role]},
                {"pluginRef": PICKER},
                {"pluginRef": PREFIX_SCORER, "weight": 2},
                {"pluginRef": QUEUE_SCORER, "weight": 1},
            ],
        }
        for role in (Role.PREFILL, Role.DECODE)
    ]
    return {
        "apiVersion": wiring.EPP_CONFIG_API,
        "kind": "EndpointPickerConfig",
        # The prefix decider reads prefix-match data that prefix-cache-scorer prepares.
        "featureGates": ["prepareDataPlugins"],
        "plugins": [
            {"type": HEADERS_HANDLER},
            {"type": PREFIX_SCORER, "parameters": {"maxPrefixBlocksToMatch": 256, "lruCapacityPerServer": 31250}},
            {"type": QUEUE_SCORER},
            {"type": FILTERS[Role.PREFILL]},
            {"type": FILTERS[Role.DECODE]},
            {"type": PICKER},
            decider,
            {
                "type": PROFILE_HANDLER,
                "parameters": {
                    "profiles": {Role.DECODE.value: Role.DECODE.value, Role.PREFILL.value: Role.PREFILL.value},
                    "deciders": {Role.PREFILL.value: decider["type"]},
                },
            },
        ],
        "schedulingProfiles": profiles,
    }


def epp_config_map(names: PoolNames, pool: PoolConfig) -> dict[str, Any]:
    """Auto-named by the component (no metadata.name here), so a change rolls the EPP."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": names.install.namespace, "labels": names.epp_labels()},
        "data": {EPP_CONFIG_FILE: yaml.safe_dump(epp_config(pool), sort_keys=False)},
    }


def epp_service_account(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": names.epp, "namespace": names.install.namespace, "labels": names.epp_labels()},
    }


def epp_deployment(names: PoolNames, image: str, config_map_name: str) -> dict[str, Any]:
    grpc_probe = {"grpc": {"port": wiring.EPP_HEALTH_PORT, "service": "inference-extension"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": names.epp, "namespace": names.install.namespace, "labels": names.epp_labels()},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": names.epp_selector()},
            "template": {
                "metadata": {"labels": names.epp_labels()},
                "spec": {
                    "serviceAccountName": names.epp,
                    "terminationGracePeriodSeconds": 130,
                    "containers": [
                        {
                            "name": wiring.EPP_CONTAINER,
                            "image": image,
                            "args": [
                                "--pool-name",
                                names.inference_pool,
                                "--pool-namespace",
                                names.install.namespace,
                                "--pool-group",
                                wiring.INFERENCE_POOL_GROUP,
                                "--config-file",
                                f"{EPP_CONFIG_MOUNT}/{EPP_CONFIG_FILE}",
                                "--zap-encoder",
                                "json",
                                "--v",
                                "1",
                                "--tracing=false",
                            ],
                            "env": [
                                {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            ],
                            "ports": [
                                {"name": "grpc", "containerPort": wiring.EPP_GRPC_PORT, "protocol": "TCP"},
                                {"name": "grpc-health", "containerPort": wiring.EPP_HEALTH_PORT, "protocol": "TCP"},
                                {"name": "metrics", "containerPort": wiring.EPP_METRICS_PORT, "protocol": "TCP"},
                            ],
                            "livenessProbe": {**grpc_probe, "initialDelaySeconds": 5, "periodSeconds": 10},
                            "readinessProbe": {**grpc_probe, "periodSeconds": 2},
                            # No CPU limit, as upstream: a throttled picker delays every request.
                            "resources": {
                                "requests": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "64Mi"},
                                "limits": {"memory": "16Gi", "ephemeral-storage": "256Mi"},
                            },
                            "volumeMounts": [{"name": "epp-config", "mountPath": EPP_CONFIG_MOUNT}],
                            "securityContext": restricted(),
                        }
                    ],
                    "volumes": [{"name": "epp-config", "configMap": {"name": config_map_name}}],
                },
            },
        },
    }


def epp_service(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": names.epp, "namespace": names.install.namespace, "labels": names.epp_labels()},
        "spec": {
            "type": "ClusterIP",
            "selector": names.epp_selector(),
            "ports": [
                {"name": "grpc-ext-proc", "port": wiring.EPP_GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                {"name": "http-metrics", "port": wiring.EPP_METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    }


def epp_role(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": names.epp, "namespace": names.install.namespace, "labels": names.epp_labels()},
        "rules": [
            {"apiGroups": [wiring.INFERENCE_POOL_GROUP], "resources": ["inferencepools"], "verbs": wiring.READ_VERBS},
            {
                "apiGroups": ["inference.networking.x-k8s.io"],
                "resources": ["inferenceobjectives", "inferencemodelrewrites"],
                "verbs": wiring.READ_VERBS,
            },
            {"apiGroups": [""], "resources": ["pods"], "verbs": wiring.READ_VERBS},
        ],
    }


def epp_cluster_role(names: PoolNames) -> dict[str, Any]:
    """Token and subject access reviews protect the EPP's /metrics endpoint."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": names.epp_cluster_role, "labels": names.epp_labels()},
        "rules": [
            {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
            {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
            {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
        ],
    }


def _subjects(names: PoolNames) -> list[dict[str, Any]]:
    return [{"kind": "ServiceAccount", "name": names.epp, "namespace": names.install.namespace}]


def epp_role_binding(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": names.epp, "namespace": names.install.namespace, "labels": names.epp_labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": names.epp},
        "subjects": _subjects(names),
    }


def epp_cluster_role_binding(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": names.epp_cluster_role, "labels": names.epp_labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": names.epp_cluster_role},
        "subjects": _subjects(names),
    }


def inference_pool(names: PoolNames) -> dict[str, Any]:
    return {
        "apiVersion": wiring.INFERENCE_POOL_API,
        "kind": "InferencePool",
        "metadata": {
            "name": names.inference_pool,
            "namespace": names.install.namespace,
            "labels": names.install.common_labels(),
        },
        "spec": {
            "targetPorts": [{"number": wiring.POOL_TARGET_PORT}],
            "selector": {"matchLabels": names.selector()},
            "endpointPickerRef": {
                "group": "",
                "kind": "Service",
                "name": names.epp,
                "port": {"number": wiring.EPP_GRPC_PORT},
                # The CRD defaults to FailClose; FailOpen keeps serving (decode-only) while the EPP restarts.
                "failureMode": "FailOpen",
            },
        },
    }
