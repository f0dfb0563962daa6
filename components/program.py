"""The program: read and validate the config, run preflight, then build the stack and export what a person needs.

Nothing is registered until the config is valid and preflight passes: a bad config stops with every problem listed,
each naming its key, and leaves nothing half-deployed."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components import preflight
from components.cluster import ExistingCluster, ExistingClusterArgs
from components.config import PROJECT, ClusterKind, ConfigError, StackConfig, load_config
from components.specs import gateway as gateway_specs
from components.specs import outputs, verification
from components.stack import ClusterPreparation, Dependencies, ServingStack, ServingStackArgs

SECRET_KEYS = ("hfToken",)


def read_raw_config() -> dict[str, Any]:
    """The project's config keys (without the `llm-d-pd:` namespace), object values parsed from JSON. Secret
    values never leave pulumi.Config: a secret key is recorded as present (True); a secret set in plain text is an
    error."""
    every = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    plain_secrets = []
    problems = []
    for full_key, value in every.items():
        ns, _, key = full_key.partition(":")
        if ns != PROJECT:
            continue
        if key in SECRET_KEYS:
            if value == "":  # Pulumi.yaml's default: unset
                continue
            if not runtime_config.is_config_secret(full_key):
                plain_secrets.append(key)
            raw[key] = True
            continue
        if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                problems.append(
                    f"{full_key}: not valid JSON at line {e.lineno} column {e.colno} ({e.msg}); fix the value in "
                    f"Pulumi.<stack>.yaml, or set it with `pulumi config set --path` one field at a time"
                )
                continue
        raw[key] = value
    problems += [
        f"{PROJECT}:{k}: stored in plain text; remove it and run `pulumi config set --secret {k} <value>`"
        for k in plain_secrets
    ]
    if problems:
        raise ConfigError(problems)
    return raw


def validated_config() -> tuple[StackConfig, preflight.Report]:
    cfg = load_config(read_raw_config(), pulumi.get_stack())
    report = preflight.run(cfg)
    for fact in report.facts:
        pulumi.log.info(f"preflight: {fact}", ephemeral=True)  # shown while it runs, not again in the summary
    for warning in report.warnings:
        pulumi.log.warn(f"preflight: {warning}")
    if not report.ok:
        raise ConfigError(report.errors)
    return cfg, report


def main(skip_await: bool = False) -> None:
    try:
        cfg, report = validated_config()
    except ConfigError as e:
        raise pulumi.RunError(str(e)) from None
    hf_token = pulumi.Config().require_secret("hfToken") if cfg.hf_token else None

    system_ready: list[pulumi.Resource] = []
    gpu_ready: list[pulumi.Resource] = []
    if cfg.cluster.kind is ClusterKind.GKE and cfg.cluster.gke.provision:
        from components.gke import GkeCluster, GkeClusterArgs  # pulumi_gcp is imported only when it is used

        gke = GkeCluster("gke", GkeClusterArgs(cfg))
        provider = gke.provider
        system_ready, gpu_ready = [gke.system_pool], [gke.gpu_pool]
        pulumi.export("kubeconfig", gke.kubeconfig)
        pulumi.export("cluster", gke.cluster.name)
    else:
        provider = ExistingCluster("cluster", ExistingClusterArgs(cfg.cluster)).provider
    k8s_opts = pulumi.ResourceOptions(providers=[provider])
    base: list[pulumi.Resource] = []
    fabric: list[pulumi.Resource] = []
    autoscaler: list[pulumi.Resource] = []
    if cfg.cluster_prep.enabled:
        prep = ClusterPreparation("cluster-prep", cfg, k8s_opts, system_ready=system_ready)
        base, fabric, autoscaler = prep.base, prep.fabric, prep.autoscaler
    # Each part waits only for what it runs on: every object for the CRDs and the gateway's control plane, CPU
    # Deployments for the system pool (GKE), workers for the fabric (and the GPU pool), ScaledObjects for KEDA.
    deps = Dependencies(base=base, deployments=system_ready, workers=[*gpu_ready, *fabric], autoscaler=autoscaler)
    serving_opts = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=base))
    serving = ServingStack(
        cfg.prefix, ServingStackArgs(cfg, hf_token, skip_await=skip_await, dependencies=deps), serving_opts
    )

    access = outputs.gateway_access(cfg)
    pulumi.export("namespace", serving.namespace)
    pulumi.export("prefix", cfg.prefix)
    pulumi.export("gateway", serving.gateway.gateway.metadata["name"])
    pulumi.export("gatewayAccess", access["how"])
    if not gateway_specs.profile(cfg.gateway).in_cluster:  # a cloud load balancer: its address
        address = serving.gateway.gateway.status.apply(outputs.gateway_address)
        pulumi.export("gatewayAddress", address)
        pulumi.export("gatewayUrl", address.apply(lambda a: f"http://{a}" if a else None))
    else:
        pulumi.export("gatewayUrl", verification.gateway_url(cfg))  # in-cluster (scripts/verify-pd)
    pulumi.export("curl", {p.name: outputs.completion_curl(access["endpoint"], p) for p in cfg.pools if p.serve})
    pulumi.export("topology", outputs.topology(cfg))
    pulumi.export("kvTransport", outputs.kv_transport(cfg))
    pulumi.export("hfTokenSecret", serving.hf_token_secret_name)
    pulumi.export("preflight", {"facts": report.facts, "warnings": report.warnings})
    if serving.gates:
        # What each pool's gate required, where its measured figures are (the Job's log and termination message), and
        # the Job's own status once `up` waited for it.
        pulumi.export("pdProof", {name: gate.proof for name, gate in serving.gates.items()})
