"""The pure spec builders: the wiring that makes P/D work, pinned field by field."""

from __future__ import annotations

import json

import pytest
import yaml

from components.config import Decider, GatewayProvider, load_config
from components.specs import epp, gateway, wiring, workers
from components.specs.names import InstallNames
from components.specs.rdma import pod_networking
from components.specs.wiring import Role

CFG = load_config({"hfTokenSecretName": "hf", "release": "llm-d-v0.6"}, "ib")
"""The llm-d-v0.6 set: these tests pin its sidecar v0.7.1 / EPP v0.7.0 wiring (tests/unit/test_releases.py pins the
newest set's)."""
POOL = CFG.pools[0]
NAMES = InstallNames("ib", "llm-d-pd", CFG.release)
PN = NAMES.pool("llama")
NET = pod_networking(CFG.rdma)


def deployment(role: Role, cfg=CFG, names=PN) -> dict:
    return workers.worker_deployment(names, cfg.pools[0], role, cfg.images, pod_networking(cfg.rdma), "hf-secret")


def container(dep: dict, name: str) -> dict:
    spec = dep["spec"]["template"]["spec"]
    (c,) = [c for c in spec["containers"] + spec.get("initContainers", []) if c["name"] == name]
    return c


def arg_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_kv_transfer_config_is_one_raw_json_item_for_nixl_kv_both():
    for role in Role:
        args = container(deployment(role), "vllm")["args"]
        item = arg_after(args, "--kv-transfer-config")
        assert json.loads(item) == {"kv_connector": "NixlConnector", "kv_role": "kv_both"}
        assert not item.startswith("'")


def test_decode_pods_route_through_sidecar_on_8000_to_vllm_on_8200():
    dep = deployment(Role.DECODE)
    sidecar = container(dep, "routing-proxy")
    vllm = container(dep, "vllm")
    assert sidecar["restartPolicy"] == "Always"  # native sidecar
    assert "--port=8000" in sidecar["args"] and "--vllm-port=8200" in sidecar["args"]
    # Flag names of routing sidecar v0.7.1 (cmd/pd-sidecar); --connector / --inference-pool-name are deprecated there.
    assert "--kv-connector=nixlv2" in sidecar["args"]
    assert f"--inference-pool=llm-d-pd/{PN.inference_pool}" in sidecar["args"]
    assert not any(a.startswith(("--connector=", "--inference-pool-name=")) for a in sidecar["args"])
    # Off by default: up to v0.8.x the allow-list cannot read a v1 pool and answers every P/D request with 403.
    assert not any("ssrf" in a for a in sidecar["args"])
    assert [p["containerPort"] for p in sidecar["ports"]] == [8000]
    assert arg_after(vllm["args"], "--port") == "8200"
    assert {"name": "vllm", "containerPort": 8200, "protocol": "TCP"} in vllm["ports"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["name"] == "vllm"  # GKE mounts RDMA into the first


def test_prefill_pods_serve_the_pool_port_themselves_and_have_no_sidecar():
    dep = deployment(Role.PREFILL)
    assert "initContainers" not in dep["spec"]["template"]["spec"]
    vllm = container(dep, "vllm")
    assert arg_after(vllm["args"], "--port") == str(wiring.POOL_TARGET_PORT) == "8000"
    assert "--tensor-parallel-size" not in vllm["args"]  # TP=1


def test_tensor_parallelism_sets_the_flag_and_the_gpu_request():
    vllm = container(deployment(Role.DECODE), "vllm")
    assert arg_after(vllm["args"], "--tensor-parallel-size") == "4"
    assert vllm["resources"]["requests"]["nvidia.com/gpu"] == "4" == vllm["resources"]["limits"]["nvidia.com/gpu"]
    assert container(deployment(Role.PREFILL), "vllm")["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_prefill_and_decode_share_model_block_size_and_served_name():
    pre, dec = (container(deployment(r), "vllm")["args"] for r in (Role.PREFILL, Role.DECODE))
    for flag in ("--block-size", "--served-model-name", "--max-model-len"):
        assert arg_after(pre, flag) == arg_after(dec, flag)
    assert pre[0] == dec[0] == POOL.model.id


def test_nixl_side_channel_uses_the_pod_ip_and_a_declared_port():
    vllm = container(deployment(Role.PREFILL), "vllm")
    env = {e["name"]: e for e in vllm["env"]}
    assert env["VLLM_NIXL_SIDE_CHANNEL_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["VLLM_NIXL_SIDE_CHANNEL_PORT"]["value"] == "5600"
    assert {"name": "nixl", "containerPort": 5600, "protocol": "TCP"} in vllm["ports"]


def test_hf_token_comes_only_from_the_secret_as_a_file():
    dep = deployment(Role.DECODE)
    vllm = container(dep, "vllm")
    env = {e["name"]: e for e in vllm["env"]}
    assert "HF_TOKEN" not in env  # not in the environment, which child processes inherit
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["hf-token"]["secret"] == {
        "secretName": "hf-secret",
        "items": [{"key": "HF_TOKEN", "path": "token"}],
        "defaultMode": 0o440,
    }
    mount = next(m for m in vllm["volumeMounts"] if m["name"] == "hf-token")
    assert mount["readOnly"] and env["HF_TOKEN_PATH"]["value"] == f"{mount['mountPath']}/token"


def test_infiniband_pods_request_the_configured_resource_ipc_lock_and_ucx_without_tcp():
    cfg = load_config({"hfTokenSecretName": "hf", "rdma": {"resourceName": "rdma/roce_gdr"}}, "ib")
    for role in Role:
        vllm = container(deployment(role, cfg), "vllm")
        assert vllm["resources"]["requests"]["rdma/roce_gdr"] == "1" == vllm["resources"]["limits"]["rdma/roce_gdr"]
        assert "rdma/ib" not in vllm["resources"]["requests"]
        assert vllm["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]
        ucx = {e["name"]: e.get("value") for e in vllm["env"]}["UCX_TLS"]
        assert "tcp" not in ucx.split(",") and "rc" in ucx.split(",")


def test_fabric_none_adds_no_rdma_resource_or_capability():
    cfg = load_config({"hfTokenSecretName": "hf", "rdma": {"fabric": "none"}}, "ib")
    vllm = container(deployment(Role.DECODE, cfg), "vllm")
    assert set(vllm["resources"]["requests"]) == {"cpu", "memory", "nvidia.com/gpu"}
    assert "add" not in vllm["securityContext"]["capabilities"]


def test_workers_roll_without_surge_so_a_full_node_can_update():
    assert deployment(Role.DECODE)["spec"]["strategy"] == {"type": "Recreate"}
    cfg = load_config(
        {"hfTokenSecretName": "hf", "pools": [{"name": "llama", "decode": {"strategy": "RollingUpdate"}}]}, "ib"
    )
    assert deployment(Role.DECODE, cfg)["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }


def test_probes_match_the_latest_guide_and_the_startup_budget():
    vllm = container(deployment(Role.PREFILL), "vllm")
    sp = vllm["startupProbe"]
    assert sp["httpGet"] == {"path": "/v1/models", "port": "vllm"}
    assert (sp["initialDelaySeconds"], sp["periodSeconds"], sp["failureThreshold"]) == (15, 30, 60)
    assert vllm["livenessProbe"]["httpGet"]["path"] == "/health"
    assert vllm["readinessProbe"]["httpGet"]["path"] == "/v1/models"


# --- selectors ------------------------------------------------------------------------------------------------------
def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_each_pool_selects_its_two_roles_and_nothing_else():
    other_install = InstallNames("other", "llm-d-pd").pool("llama")
    other_pool = NAMES.pool("qwen")
    pool_sel = epp.inference_pool(PN)["spec"]["selector"]["matchLabels"]
    model = POOL.model.id
    for role in Role:
        assert matches(pool_sel, PN.worker_labels(role, model))
        assert not matches(pool_sel, other_install.worker_labels(role, model))
        assert not matches(pool_sel, other_pool.worker_labels(role, model))
        dep = deployment(role)
        assert matches(dep["spec"]["selector"]["matchLabels"], dep["spec"]["template"]["metadata"]["labels"])
        other_role = Role.DECODE if role is Role.PREFILL else Role.PREFILL
        assert not matches(dep["spec"]["selector"]["matchLabels"], PN.worker_labels(other_role, model))
    assert not matches(pool_sel, PN.epp_labels())


def test_role_labels_are_the_strict_split_values_the_epp_filters_know():
    for role in Role:
        assert PN.worker_labels(role, POOL.model.id)[wiring.LABEL_ROLE] in ("prefill", "decode")


def test_two_prefixes_give_disjoint_names_and_selectors():
    a, b = InstallNames("alpha", "shared").pool("llama"), InstallNames("beta", "shared").pool("llama")
    names_a = {a.inference_pool, a.epp, a.epp_cluster_role, a.worker(Role.PREFILL), a.worker(Role.DECODE)}
    names_b = {b.inference_pool, b.epp, b.epp_cluster_role, b.worker(Role.PREFILL), b.worker(Role.DECODE)}
    assert names_a.isdisjoint(names_b)
    for role in Role:
        assert not matches(a.selector(), b.worker_labels(role, "x/y"))
        assert not matches(a.epp_selector(), b.epp_labels())


def test_epp_cluster_role_name_includes_the_namespace():
    assert InstallNames("ib", "ns1").pool("p").epp_cluster_role != InstallNames("ib", "ns2").pool("p").epp_cluster_role


# --- EPP ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("decider", list(Decider))
def test_every_plugin_reference_names_a_declared_plugin(decider):
    cfg = load_config(
        {"hfTokenSecretName": "hf", "pools": [{"name": "p", "scheduling": {"decider": decider.value}}]}, "ib"
    )
    conf = epp.epp_config(cfg.pools[0])
    declared = {p.get("name", p["type"]) for p in conf["plugins"]}
    (handler,) = [p for p in conf["plugins"] if p["type"] == "disagg-profile-handler"]
    deciders = handler["parameters"]["deciders"]
    assert set(deciders) == {"prefill"}  # without it P/D is silently off
    assert all(d in declared for d in deciders.values())
    assert deciders["prefill"] == epp.DECIDERS[decider]
    profiles = {p["name"] for p in conf["schedulingProfiles"]}
    assert set(handler["parameters"]["profiles"].values()) <= profiles == {"prefill", "decode"}
    for prof in conf["schedulingProfiles"]:
        assert all(ref["pluginRef"] in declared for ref in prof["plugins"])
    assert "deciderPluginName" not in handler["parameters"]  # deprecated flat alias cannot mix with the nested form


def test_selective_decider_carries_the_threshold_and_each_profile_its_own_filter():
    conf = epp.epp_config(POOL)
    (decider,) = [p for p in conf["plugins"] if p["type"] == "prefix-based-pd-decider"]
    assert decider["parameters"] == {"nonCachedTokens": 16}
    filters = {p["name"]: p["plugins"][0]["pluginRef"] for p in conf["schedulingProfiles"]}
    assert filters == {"prefill": "prefill-filter", "decode": "decode-filter"}
    assert "prepareDataPlugins" in conf["featureGates"]


def test_epp_config_map_holds_the_file_the_epp_reads():
    cm = epp.epp_config_map(PN, POOL)
    assert "name" not in cm["metadata"]  # auto-named so a change rolls the EPP
    dep = epp.epp_deployment(PN, CFG.images.epp, "cm-123")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    path = arg_after(args, "--config-file")
    mount = dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert path == f"{mount['mountPath']}/{next(iter(cm['data']))}"
    assert dep["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == "cm-123"
    assert yaml.safe_load(cm["data"]["pd-config.yaml"])["kind"] == "EndpointPickerConfig"


def test_endpoint_picker_ref_names_the_epp_service_which_selects_the_epp_pods_which_watch_that_pool():
    pool = epp.inference_pool(PN)
    svc = epp.epp_service(PN)
    dep = epp.epp_deployment(PN, CFG.images.epp, "cm")
    ref = pool["spec"]["endpointPickerRef"]
    assert ref["name"] == svc["metadata"]["name"] and ref["kind"] == "Service"
    assert ref["port"]["number"] in [p["port"] for p in svc["spec"]["ports"]]
    assert matches(svc["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert arg_after(args, "--pool-name") == pool["metadata"]["name"]
    assert arg_after(args, "--pool-namespace") == pool["metadata"]["namespace"]
    assert pool["spec"]["targetPorts"] == [{"number": 8000}]
    assert ref["failureMode"] == "FailOpen"


def test_epp_rbac_binds_its_service_account():
    sa = epp.epp_service_account(PN)["metadata"]["name"]
    for binding in (epp.epp_role_binding(PN), epp.epp_cluster_role_binding(PN)):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": "llm-d-pd"}]
    assert epp.epp_cluster_role_binding(PN)["roleRef"]["name"] == epp.epp_cluster_role(PN)["metadata"]["name"]
    verbs = {r["resources"][0]: r["verbs"] for r in epp.epp_role(PN)["rules"]}
    assert verbs["inferencepools"] == ["get", "list", "watch"] and verbs["pods"] == ["get", "list", "watch"]


# --- gateway --------------------------------------------------------------------------------------------------------
def test_destination_rule_host_is_the_epp_service_fqdn():
    dr = gateway.destination_rule(PN)
    svc = epp.epp_service(PN)["metadata"]
    assert dr["spec"]["host"] == f"{svc['name']}.{svc['namespace']}.svc.cluster.local"
    assert dr["spec"]["trafficPolicy"]["tls"] == {"mode": "SIMPLE", "insecureSkipVerify": True}


def test_route_attaches_to_the_gateway_and_targets_every_pool_on_the_pool_port():
    cfg = load_config(
        {
            "hfTokenSecretName": "hf",
            "pools": [{"name": "llama"}, {"name": "qwen", "route": {"headers": {"x-model": "q"}}}],
        },
        "ib",
    )
    route = gateway.http_route(NAMES, cfg.pools, cfg.gateway)
    gw = gateway.gateway(NAMES, cfg.gateway)
    assert route["spec"]["parentRefs"][0]["name"] == gw["metadata"]["name"]
    backends = [r["backendRefs"][0] for r in route["spec"]["rules"]]
    assert [b["name"] for b in backends] == [NAMES.pool("llama").inference_pool, NAMES.pool("qwen").inference_pool]
    assert all(b["kind"] == "InferencePool" and b["group"] == "inference.networking.k8s.io" for b in backends)
    assert all(b["port"] == 8000 for b in backends)
    assert route["spec"]["rules"][1]["matches"][0]["headers"] == [{"type": "Exact", "name": "x-model", "value": "q"}]
    assert all(r["timeouts"] == {"request": "0s", "backendRequest": "0s"} for r in route["spec"]["rules"])


@pytest.mark.parametrize(
    ("provider", "klass", "params_kind"),
    [
        ("istio", "istio", "ConfigMap"),
        ("agentgateway", "agentgateway", "AgentgatewayParameters"),
        ("kgateway", "agentgateway", "AgentgatewayParameters"),
        ("gke", "gke-l7-regional-external-managed", None),
    ],
)
def test_each_gateway_provider_gets_its_class_and_parameters(provider, klass, params_kind):
    cfg = load_config({"hfTokenSecretName": "hf", "gateway": {"provider": provider}}, "ib")
    gw = gateway.gateway(NAMES, cfg.gateway)
    params = gateway.gateway_parameters(NAMES, cfg.gateway)
    assert gw["spec"]["gatewayClassName"] == klass
    if params_kind is None:
        assert params is None and "infrastructure" not in gw["spec"]
    else:
        ref = gw["spec"]["infrastructure"]["parametersRef"]
        assert (ref["kind"], ref["name"]) == (params["kind"], params["metadata"]["name"]) == (params_kind, ref["name"])
    if provider == "istio":
        assert gw["metadata"]["labels"]["istio.io/enable-inference-extproc"] == "true"


def test_gke_route_has_no_port_or_timeouts_and_health_check_uses_a_fixed_port():
    cfg = load_config({"hfTokenSecretName": "hf", "gateway": {"provider": GatewayProvider.GKE.value}}, "ib")
    rule = gateway.http_route(NAMES, cfg.pools, cfg.gateway)["spec"]["rules"][0]
    assert "port" not in rule["backendRefs"][0] and "timeouts" not in rule
    hc = gateway.gke_health_check_policy(PN)["spec"]["default"]["config"]["httpHealthCheck"]
    assert hc == {"portSpecification": "USE_FIXED_PORT", "port": 8000, "requestPath": "/health"}


def test_ssrf_protected_sidecar_only_forwards_within_its_pool_and_can_watch_it():
    cfg = load_config(
        {"hfTokenSecretName": "hf", "pools": [{"name": "llama", "sidecar": {"ssrfProtection": True}}]}, "ib"
    )
    pool = cfg.pools[0]
    dep = deployment(Role.DECODE, cfg)
    sidecar = container(dep, "routing-proxy")
    assert "--enable-ssrf-protection=true" in sidecar["args"]
    assert f"--inference-pool=llm-d-pd/{PN.inference_pool}" in sidecar["args"]
    role = workers.sidecar_role(PN, pool)
    binding = workers.sidecar_role_binding(PN, pool)
    sa = workers.worker_service_account(PN, pool, Role.DECODE)
    assert {tuple(r["resources"]) for r in role["rules"]} == {("inferencepools",), ("pods",)}
    assert all(r["verbs"] == ["get", "list", "watch"] for r in role["rules"])
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert (
        binding["subjects"][0]["name"]
        == sa["metadata"]["name"]
        == dep["spec"]["template"]["spec"]["serviceAccountName"]
    )
    assert sa["automountServiceAccountToken"] is True  # the sidecar needs its token
    assert workers.worker_service_account(PN, pool, Role.PREFILL)["automountServiceAccountToken"] is False


def test_without_ssrf_protection_the_decode_pod_gets_no_token_and_no_role():
    pool = POOL  # the default
    sidecar = container(deployment(Role.DECODE), "routing-proxy")
    assert not any("ssrf" in a for a in sidecar["args"]) and "env" not in sidecar
    assert not workers.needs_api_access(pool, Role.DECODE)
    assert workers.worker_service_account(PN, pool, Role.DECODE)["automountServiceAccountToken"] is False


def test_a_pool_with_serve_false_is_up_but_gets_no_route_rule():
    cfg = load_config({"hfTokenSecretName": "hf", "pools": [{"name": "blue"}, {"name": "green", "serve": False}]}, "ib")
    route = gateway.http_route(NAMES, cfg.pools, cfg.gateway)
    assert [r["backendRefs"][0]["name"] for r in route["spec"]["rules"]] == ["ib-blue"]


def test_cutover_configs_are_checked():
    from components.config import ConfigError

    with pytest.raises(ConfigError, match="serve: false on the one not taking traffic"):
        load_config({"hfTokenSecretName": "hf", "pools": [{"name": "blue"}, {"name": "green"}]}, "ib")
    with pytest.raises(ConfigError, match="no pool has serve: true"):
        load_config({"hfTokenSecretName": "hf", "pools": [{"name": "blue", "serve": False}]}, "ib")


# --- a client's x-prefiller-host-port never reaches the sidecar ----------------------------------------------------
def _strip_filters(rule: dict) -> list[dict]:
    return [
        f for f in rule.get("filters", [])
        if f["type"] == "RequestHeaderModifier" and wiring.PREFILLER_HEADER in f["requestHeaderModifier"]["remove"]
    ]  # fmt: skip


@pytest.mark.parametrize("provider", ["agentgateway", "kgateway"])
def test_agentgateway_strips_the_clients_prefiller_header_in_the_route_rule(provider):
    """Rule-level: agentgateway applies it before it calls the EPP (a backendRef-level filter would run after)."""
    cfg = load_config({"hfTokenSecretName": "hf", "gateway": {"provider": provider}}, "ib")
    route = gateway.http_route(NAMES, cfg.pools, cfg.gateway)
    for rule in route["spec"]["rules"]:
        assert len(_strip_filters(rule)) == 1
        assert all("filters" not in b for b in rule["backendRefs"])
    assert gateway.client_prefiller_header_strip(NAMES, cfg.gateway) is None


def test_istio_strips_the_clients_prefiller_header_before_every_http_filter_and_not_in_the_route():
    """An HTTPRoute filter becomes Envoy route config, applied after ext_proc: it would drop the EPP's value too."""
    cfg = load_config({"hfTokenSecretName": "hf"}, "ib")
    for rule in gateway.http_route(NAMES, cfg.pools, cfg.gateway)["spec"]["rules"]:
        assert _strip_filters(rule) == []
    ef = gateway.client_prefiller_header_strip(NAMES, cfg.gateway)
    assert ef["apiVersion"] == "networking.istio.io/v1alpha3" and ef["kind"] == "EnvoyFilter"
    # It attaches to this install's Gateway (in the Gateway's namespace: Istio never matches across namespaces).
    assert ef["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": NAMES.gateway()}
    ]
    assert ef["metadata"]["namespace"] == NAMES.namespace and "workloadSelector" not in ef["spec"]
    (patch,) = ef["spec"]["configPatches"]
    assert patch["applyTo"] == "HTTP_FILTER" and patch["match"]["context"] == "GATEWAY"
    assert patch["patch"]["operation"] == "INSERT_FIRST"  # ahead of the inference ext_proc filter
    mutation = patch["patch"]["value"]["typed_config"]
    assert mutation["@type"].endswith("envoy.extensions.filters.http.header_mutation.v3.HeaderMutation")
    assert mutation["mutations"]["request_mutations"] == [{"remove": "x-prefiller-host-port"}]


def test_gke_has_no_header_strip_and_relies_on_the_decode_egress_policy():
    cfg = load_config({"hfTokenSecretName": "hf", "gateway": {"provider": "gke"}}, "ib")
    assert gateway.client_prefiller_header_strip(NAMES, cfg.gateway) is None
    for rule in gateway.http_route(NAMES, cfg.pools, cfg.gateway)["spec"]["rules"]:
        assert _strip_filters(rule) == []


def test_a_run_name_changes_with_every_part_and_only_with_them():
    from components.specs.names import content_named

    base = content_named("ib-llama-pd-gate", "code", {"requests": 8}, {"image": "a"})
    assert base == content_named("ib-llama-pd-gate", "code", {"requests": 8}, {"image": "a"})
    assert base.startswith("ib-llama-pd-gate-") and len(base) == len("ib-llama-pd-gate-") + 8
    for changed in (("code2", {"requests": 8}, {"image": "a"}), ("code", {"requests": 9}, {"image": "a"}),
                    ("code", {"requests": 8}, {"image": "b"})):  # fmt: skip
        assert content_named("ib-llama-pd-gate", *changed) != base
