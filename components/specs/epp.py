"""The endpoint picker (EPP) of one pool: its P/D configuration, Deployment, Service and RBAC (EPP v0.7.0)."""

from __future__ import annotations

from typing import Any

import yaml

from components.config import Decider, PoolConfig
from components.releases import ReleaseSet, release
from components.specs import wiring
from components.specs.names import NameRef, PoolNames
from components.specs.security import pod_context, restricted
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


APPROX_PREFIX_PRODUCER = "approx-prefix-cache-producer"
INFLIGHT_LOAD_PRODUCER = "inflight-load-producer"
AFFINITY_FILTER = "prefix-cache-affinity-filter"
TOKEN_LOAD_SCORER = "token-load-scorer"
LRU_CAPACITY_PER_SERVER = 31250


def decider_plugin(pool: PoolConfig) -> dict[str, Any]:
    plugin: dict[str, Any] = {"type": DECIDERS[pool.scheduling.decider]}
    if pool.scheduling.decider is Decider.SELECTIVE:
        plugin["parameters"] = {"nonCachedTokens": pool.scheduling.non_cached_tokens}
        if release(pool.release).epp.decider_prompt_tokens:
            plugin["parameters"]["promptTokens"] = pool.scheduling.prompt_tokens or 0
    return plugin


def token_routing(pool: PoolConfig) -> bool:
    """Token-based P/D routing: where the release has it and the pool's peakPrefillThroughput is known."""
    return release(pool.release).epp.token_routing and pool.scheduling.peak_prefill_throughput is not None


def epp_config(pool: PoolConfig) -> dict[str, Any]:
    rel = release(pool.release)
    if rel.epp.prefix_producer is None:
        return _epp_config_v07(pool)
    return _epp_config_router(pool, rel)


def scheduling_profiles(extra_filters: list[str], load_scorer: str) -> list[dict[str, Any]]:
    """The `prefill` and `decode` profiles: the role's filter (and any extra filter), the picker, the prefix-cache
    scorer (weight 2) and a load scorer (weight 1), in that order (both releases)."""
    return [
        {
            "name": role.value,
            "plugins": [
                {"pluginRef": FILTERS[role]},
                *({"pluginRef": f} for f in extra_filters),
                {"pluginRef": PICKER},
                {"pluginRef": PREFIX_SCORER, "weight": 2},
                {"pluginRef": load_scorer, "weight": 1},
            ],
        }
        for role in (Role.PREFILL, Role.DECODE)
    ]


def _epp_config_router(pool: PoolConfig, rel: ReleaseSet) -> dict[str, Any]:
    """EndpointPickerConfig for llm-d-router (v0.10.0, strict parsing: every parameter below is a field its
    plugin declares). The prefix match comes from approx-prefix-cache-producer; disagg-profile-handler runs
    `decode`, asks the decider, runs `prefill` when it says so and sets x-prefiller-host-port itself.

    Token-based routing (`token_routing`): prefix-cache-affinity-filter keeps the endpoints that hold most of the
    prompt unless their estimated TTFT (in-flight tokens / peakPrefillThroughput) is too far behind, and
    token-load-scorer spreads by in-flight tokens (both read inflight-load-producer). Without a known
    peakPrefillThroughput: prefix-cache-scorer + queue-scorer, as llm-d-router v0.10.0
    deploy/config/pd-epp-config.yaml."""
    decider = decider_plugin(pool)
    tokens = token_routing(pool)
    load_scorer = TOKEN_LOAD_SCORER if tokens else QUEUE_SCORER
    plugins: list[dict[str, Any]] = [
        {"type": APPROX_PREFIX_PRODUCER, "parameters": {"lruCapacityPerServer": LRU_CAPACITY_PER_SERVER}},
    ]
    if tokens:
        plugins += [
            {"type": INFLIGHT_LOAD_PRODUCER},
            {"type": AFFINITY_FILTER, "parameters": {"peakPrefillThroughput": pool.scheduling.peak_prefill_throughput}},
        ]
    plugins += [
        {"type": PREFIX_SCORER},
        {"type": load_scorer},
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
    ]
    profiles = scheduling_profiles([AFFINITY_FILTER] if tokens else [], load_scorer)
    config: dict[str, Any] = {"apiVersion": rel.epp.config_api, "kind": "EndpointPickerConfig"}
    if rel.epp.feature_gates:
        config["featureGates"] = list(rel.epp.feature_gates)
    return {**config, "plugins": plugins, "schedulingProfiles": profiles}


def _epp_config_v07(pool: PoolConfig) -> dict[str, Any]:
    """EndpointPickerConfig for P/D. The profile handler runs `decode`, asks the decider, and runs `prefill` when
    it says so; the header handler then sets x-prefiller-host-port for the decode pod's sidecar.

    `disagg-profile-handler` has no default decider: without `deciders.prefill` it logs "P/D disaggregation
    disabled" and serves every request decode-only (llm-d-inference-scheduler v0.7.0,
    pkg/plugins/profile/disagg_profile_handler.go)."""
    decider = decider_plugin(pool)
    profiles = scheduling_profiles([], QUEUE_SCORER)
    return {
        "apiVersion": release(pool.release).epp.config_api,
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


def epp_deployment(names: PoolNames, image: str, config_map_name: NameRef) -> dict[str, Any]:
    """One replica at every release: the P/D plugins keep their prefix and in-flight state in memory."""
    rel = release(names.release)
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
                    "securityContext": pod_context(),
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
                                "requests": {"cpu": rel.epp.cpu_request, "memory": "8Gi", "ephemeral-storage": "64Mi"},
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
            *(
                {
                    "apiGroups": [group],
                    "resources": ["inferenceobjectives", "inferencemodelrewrites"],
                    "verbs": wiring.READ_VERBS,
                }
                for group in release(names.release).epp.objective_groups
            ),
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
