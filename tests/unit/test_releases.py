"""Release sets (components/releases.py): each set builds valid objects against its own CRDs, emits only flags its
components register at their tags, turns SSRF protection on exactly where the allow-list works, and the llm-d-v0.6
set still builds what the program built before release sets existed."""

from __future__ import annotations

import json

import pytest
import yaml

from components import preflight
from components.config import load_config
from components.releases import DEFAULT_RELEASE, LLM_D_V06, LLM_D_V09, RELEASES, ReleaseSet, release
from components.specs import epp
from tests.harness import run_program
from tests.release_snapshot import build_release_fields, dump, snapshot_path
from tests.unit.test_schemas import kubernetes_objects
from tests.validation import validate_object

TOKEN = {"hfToken": "hf_not_a_real_token"}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SETS = sorted(RELEASES)


def test_the_newest_set_is_the_default_and_the_old_one_stays_available():
    assert LLM_D_V09.name == DEFAULT_RELEASE and LLM_D_V06.name in RELEASES
    assert load_config({"hfTokenSecretName": "hf"}, "ib").release == LLM_D_V09.name


def test_the_v06_set_builds_exactly_what_the_program_built_before_release_sets():
    """Everything a release decides (images, command lines, EPP config, labels, RBAC, token mounting, custom
    resources, CRD bundles, charts), stack by stack, against the snapshot written from the program before this
    change: an existing stack that pins llm-d-v0.6 previews with no change from the release sets."""
    expected = snapshot_path(LLM_D_V06.name).read_text()
    actual = dump(build_release_fields(LLM_D_V06.name))
    assert actual == expected, "llm-d-v0.6 objects moved; see tests/release_snapshot.py before regenerating"


def crd_folders(rel: ReleaseSet) -> tuple[str, ...]:
    """The CRD bundles a stack of this set installs (and the gateway's, which no release changes)."""
    return (
        f"gateway-api-{rel.gateway_api_version}",
        f"inference-extension-{rel.inference_extension_version}",
        f"istio-{rel.istio_chart}",
        f"agentgateway-{rel.agentgateway_chart}",
    )


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("provider", ["istio", "agentgateway"])
def test_each_set_builds_objects_its_own_crds_accept(name, provider):
    rel = release(name)
    config = {"release": name, "gateway": {"provider": provider}, "clusterPrep": {"enabled": True}}
    objects = kubernetes_objects(run_program(config, secrets=TOKEN).resources)
    custom = [o for o in objects if "inference.networking" in o["apiVersion"]]
    assert {o["kind"] for o in custom} == {"InferencePool"}
    for obj in objects:
        validate_object(obj, crd_folders(rel))


def emitted_flags(args: list[str]) -> set[str]:
    return {a[2:].split("=", 1)[0] for a in args if a.startswith("--")}


SIDECAR_VARIANTS = [
    {},
    {"sidecar": {"ssrfProtection": True}},
    {"sidecar": {"ssrfProtection": False, "logLevel": "debug"}},
    {"scheduling": {"decider": "always"}},
]


def _flag_cases() -> list[tuple[str, dict]]:
    """Every set with every variant, except SSRF protection on the v0.6 set: preflight refuses that pairing
    (test_ssrf_protection_on_the_v06_set_is_refused), so it never emits args."""
    return [
        (name, v)
        for name in SETS
        for v in SIDECAR_VARIANTS
        if not (name == LLM_D_V06.name and v.get("sidecar", {}).get("ssrfProtection"))
    ]


def test_ssrf_protection_on_the_v06_set_is_refused():
    cfg = load_config({"hfTokenSecretName": "hf", "release": LLM_D_V06.name,
                       "pools": [{"name": "llama", "sidecar": {"ssrfProtection": True}}]}, "ib")  # fmt: skip
    assert any("sidecar.ssrfProtection" in e for e in preflight.run(cfg).errors)


@pytest.mark.parametrize(("name", "variant"), _flag_cases(), ids=lambda v: json.dumps(v))
def test_every_emitted_sidecar_and_epp_flag_exists_at_the_sets_tags(name, variant):
    rel = release(name)
    rec = run_program({"release": name, "pools": [{"name": "llama", **variant}]}, secrets=TOKEN)
    decode = rec.one(DEPLOYMENT, "ib-llama-decode").inputs["spec"]["template"]["spec"]
    (sidecar,) = decode["initContainers"]
    assert sidecar["image"] == rel.sidecar_image
    assert emitted_flags(sidecar["args"]) <= rel.sidecar.accepted, emitted_flags(sidecar["args"]) - rel.sidecar.accepted
    assert f"{rel.sidecar.model_server_port}=8200" in sidecar["args"]
    (picker,) = rec.one(DEPLOYMENT, "ib-llama-epp").inputs["spec"]["template"]["spec"]["containers"]
    assert picker["image"] == rel.epp_image
    assert emitted_flags(picker["args"]) <= rel.epp.accepted_flags


def test_the_v010_sidecar_drops_what_llm_d_router_removed():
    removed = {"connector", "inference-pool-name", "inference-pool-namespace", "prefiller-use-tls", "decoder-use-tls"}
    assert not removed & LLM_D_V09.sidecar.accepted
    assert {"model-server-port", "prefill-max-retries"} <= LLM_D_V09.sidecar.accepted
    assert not {"model-server-port", "prefill-max-retries"} & LLM_D_V06.sidecar.accepted


@pytest.mark.parametrize("name", SETS)
def test_ssrf_protection_is_on_by_default_exactly_where_the_allow_list_works(name):
    rel = release(name)
    rec = run_program({"release": name}, secrets=TOKEN)
    (sidecar,) = rec.one(DEPLOYMENT, "ib-llama-decode").inputs["spec"]["template"]["spec"]["initContainers"]
    assert ("--enable-ssrf-protection=true" in sidecar["args"]) is rel.sidecar.ssrf_allowlist_works
    # Watching the pool needs the Role; without SSRF protection the decode pod mounts no token.
    roles = {r.metadata["name"] for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")}
    assert ("ib-llama-decode" in roles) is rel.sidecar.ssrf_allowlist_works


def test_prefill_failures_are_retried_then_returned_from_llm_d_router_v010():
    args = sidecar_args({"release": LLM_D_V09.name})
    assert "--prefill-max-retries=2" in args
    assert "--prefill-max-retries=0" in sidecar_args(
        {"pools": [{"name": "llama", "sidecar": {"prefillMaxRetries": 0}}]}
    )
    assert not any("retries" in a for a in sidecar_args({"release": LLM_D_V06.name}))


def sidecar_args(raw: dict) -> list[str]:
    from components.specs import workers
    from components.specs.names import InstallNames

    cfg = load_config({"hfTokenSecretName": "hf", **raw}, "ib")
    names = InstallNames("ib", "ns", cfg.release).pool(cfg.pools[0].name)
    assert cfg.images.sidecar is not None
    return workers.routing_sidecar(cfg.images.sidecar, names, cfg.pools[0].sidecar)["args"]


# Plugin types and the parameters each declares, read from llm-d/llm-d-router v0.10.0 (cmd/epp/runner/runner.go
# registry; the json tags of each plugin's config struct under pkg/epp/framework/plugins/). Parsing is strict.
V010_PLUGINS: dict[str, set[str]] = {
    "approx-prefix-cache-producer": {"autoTune", "blockSizeTokens", "maxPrefixTokensToMatch", "lruCapacityPerServer"},
    "inflight-load-producer": {"addEstimatedOutputTokens", "outputRatio", "maxEstimatedOutputTokens"},
    "prefix-cache-affinity-filter": {
        "affinityThreshold",
        "explorationProbability",
        "maxTTFTPenaltyMs",
        "ttftSource",
        "peakPrefillThroughput",
    },
    "token-load-scorer": {"queueThresholdTokens"},
    "prefix-cache-scorer": {"prefixMatchInfoProducerName"},
    "queue-scorer": set(),
    "prefill-filter": set(),
    "decode-filter": set(),
    "max-score-picker": set(),
    "prefix-based-pd-decider": {"nonCachedTokens", "promptTokens"},
    "always-disagg-pd-decider": set(),
    "disagg-profile-handler": {"profiles", "deciders", "stageOrder"},
}


def v010_config(**scheduling) -> dict:
    raw = {"hfTokenSecretName": "hf", "pools": [{"name": "llama", "scheduling": scheduling}]}
    return epp.epp_config(load_config(raw, "ib").pools[0])


@pytest.mark.parametrize("scheduling", [{}, {"peakPrefillThroughput": 20000}, {"decider": "always"}])
def test_the_v010_epp_config_uses_only_registered_plugins_and_declared_parameters(scheduling):
    conf = v010_config(**scheduling)
    assert conf["apiVersion"] == "llm-d.ai/v1alpha1" and conf["kind"] == "EndpointPickerConfig"
    assert "featureGates" not in conf  # prepareDataPlugins is no registered gate at v0.10.0: a startup error
    types = [p["type"] for p in conf["plugins"]]
    assert "disagg-headers-handler" not in types  # deprecated: the profile handler sets the header
    for plugin in conf["plugins"]:
        assert set(plugin.get("parameters", {})) <= V010_PLUGINS[plugin["type"]], plugin
    for profile in conf["schedulingProfiles"]:
        assert {r["pluginRef"] for r in profile["plugins"]} <= set(types)
    handler = next(p for p in conf["plugins"] if p["type"] == "disagg-profile-handler")
    assert handler["parameters"]["deciders"]["prefill"] in types
    yaml.safe_load(yaml.safe_dump(conf))  # what the ConfigMap carries


def test_token_based_routing_needs_a_peak_prefill_throughput_and_says_so_without_one():
    conf = v010_config(peakPrefillThroughput=20000)
    types = [p["type"] for p in conf["plugins"]]
    assert {"prefix-cache-affinity-filter", "token-load-scorer", "inflight-load-producer"} <= set(types)
    affinity = next(p for p in conf["plugins"] if p["type"] == "prefix-cache-affinity-filter")
    assert affinity["parameters"] == {"peakPrefillThroughput": 20000}
    for profile in conf["schedulingProfiles"]:
        refs = [r["pluginRef"] for r in profile["plugins"]]
        assert refs[:2] == [f"{profile['name']}-filter", "prefix-cache-affinity-filter"]
    fallback = v010_config()
    assert "prefix-cache-affinity-filter" not in [p["type"] for p in fallback["plugins"]]
    assert "queue-scorer" in [p["type"] for p in fallback["plugins"]]
    r = preflight.run(load_config({"hfTokenSecretName": "hf"}, "ib"))
    assert any("peakPrefillThroughput" in w and "not by tokens" in w for w in r.warnings)


def test_peak_prefill_throughput_comes_from_the_catalog_where_upstream_measured_it():
    raw = {
        "hfTokenSecretName": "hf",
        "cluster": {"inventory": [{"name": "h100", "count": 1, "accelerator": "h100-80gb"}]},
        "pools": [{"name": "qwen", "model": {"id": "Qwen/Qwen3-32B", "maxModelLen": 16000},
                   "prefill": {"replicas": 1, "tensorParallelism": 2}, "decode": {"tensorParallelism": 2}}],
    }  # fmt: skip
    cfg = load_config(raw, "ib")
    assert cfg.pools[0].scheduling.peak_prefill_throughput == 15928
    assert epp.token_routing(cfg.pools[0])
    assert any("15928" in f and "prefixcacheaffinity" in f for f in preflight.run(cfg).facts)


def test_the_deciders_prompt_tokens_gate_exists_only_from_v010():
    decider = next(p for p in v010_config(promptTokens=512)["plugins"] if p["type"] == "prefix-based-pd-decider")
    assert decider["parameters"] == {"nonCachedTokens": 16, "promptTokens": 512}
    r = report({"release": LLM_D_V06.name, "pools": [{"name": "llama", "scheduling": {"promptTokens": 512}}]})
    assert any("pools[0].scheduling.promptTokens" in e for e in r.errors)


def report(raw: dict) -> preflight.Report:
    return preflight.run(load_config({"hfTokenSecretName": "hf", **raw}, "ib"))


@pytest.mark.parametrize(("key", "field"), [("prefillMaxRetries", "sidecar"), ("peakPrefillThroughput", "scheduling")])
def test_settings_the_old_set_has_no_use_for_are_refused(key, field):
    r = report({"release": LLM_D_V06.name, "pools": [{"name": "llama", field: {key: 1}}]})
    assert any(f"pools[0].{field}.{key}" in e and "upgrade" in e for e in r.errors)


def test_preflight_refuses_images_of_another_set_and_warns_on_explicit_overrides():
    mixed = report({"images": {"sidecar": LLM_D_V06.sidecar_image}})
    assert any("images.sidecar" in e and "mixing" in e for e in mixed.errors)
    custom = report({"images": {"vllm": "registry.local/llm-d-cuda:v0.9.0"}})
    assert custom.ok and any("images.vllm" in w and "explicitly" in w for w in custom.warnings)
    own = report({"release": LLM_D_V06.name, "images": {"vllm": LLM_D_V06.vllm_image}})
    assert own.ok and not any("images.vllm" in w for w in own.warnings)


@pytest.mark.parametrize("name", SETS)
def test_epp_mode_label_and_objective_groups_follow_the_set(name):
    rel = release(name)
    rec = run_program({"release": name}, secrets=TOKEN)
    dep = rec.one(DEPLOYMENT, "ib-llama-epp")
    key, value = rel.epp.mode_label
    assert dep.inputs["spec"]["template"]["metadata"]["labels"][key] == value
    (role,) = [r for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role") if r.name.endswith("epp-role")]
    groups = {g for rule in role.inputs["rules"] for g in rule["apiGroups"]}
    assert set(rel.epp.objective_groups) <= groups
    cpu = dep.inputs["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
    assert cpu == rel.epp.cpu_request and dep.inputs["spec"]["replicas"] == 1


def test_a_pool_pinned_to_the_old_set_is_untouched_when_the_stack_moves_to_the_new_one():
    """Cutover step 2: the stack's release moves to llm-d-v0.9 and a green pool comes up on it, while blue, pinned
    to llm-d-v0.6, keeps its images, flags, EPP config and labels: no pod of either set joins the other's EPP."""
    from tests.release_snapshot import release_fields

    small = {"prefill": {"replicas": 1}, "decode": {"tensorParallelism": 1}}
    before = run_program({"release": LLM_D_V06.name, "pools": [{"name": "blue", **small}]}, secrets=TOKEN)
    during = run_program(
        {
            "release": LLM_D_V09.name,
            "pools": [
                {"name": "blue", **small, "release": LLM_D_V06.name},
                {"name": "green", **small, "serve": False},
            ],
        },
        secrets=TOKEN,
    )

    def blue(rec) -> list:
        rows = [{"type": r.typ, "name": r.name, "inputs": r.inputs} for r in rec.resources if "-blue" in r.name]
        fields = [release_fields(row) for row in rows]
        return sorted((json.dumps(f, sort_keys=True) for f in fields if f), key=str)

    assert blue(during) == blue(before)
    (green,) = during.one(DEPLOYMENT, "ib-green-decode").inputs["spec"]["template"]["spec"]["initContainers"]
    assert green["image"] == LLM_D_V09.sidecar_image
    green_pool = during.one("kubernetes:inference.networking.k8s.io/v1:InferencePool", "ib-green")
    assert green_pool.inputs["spec"]["selector"]["matchLabels"]["llm-d.ai/pool"] == "green"
