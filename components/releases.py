"""Release sets: one table, one row per supported llm-d release, holding everything that differs between releases.

A stack names its set with `release` (config). The specs read the set instead of constants: images, CRD versions,
the routing sidecar's and the EPP's flag spellings (and the full table of flags each accepts, which the tests hold
every emitted arg to), the EndpointPickerConfig API group and plugin set, label keys, and the defaults that depend
on what a release can do (SSRF protection only where the allow-list works, prefill retries only where they exist).

Every fact names where it was read (repository, path, tag). Nothing here is copied from upstream: flag names and
plugin types are the strings the sources register, listed so the program can check itself against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SidecarFlags:
    """The routing sidecar of one release: what it accepts and how this program spells what it needs."""

    accepted: frozenset[str]
    """Every long flag the sidecar binary registers (its own plus the zap logging flags)."""
    model_server_port: str
    """The flag naming the local vLLM port."""
    ssrf_allowlist_works: bool
    """Whether its SSRF allow-list can read an inference.networking.k8s.io/v1 pool's selector."""
    prefill_retries: bool
    """Whether it retries a failed prefill leg (and returns an error instead of silently decoding alone)."""


@dataclass(frozen=True)
class EppRelease:
    """The endpoint picker of one release."""

    accepted_flags: frozenset[str]
    config_api: str
    """apiVersion of the EndpointPickerConfig file."""
    feature_gates: tuple[str, ...]
    """featureGates the P/D config needs (an unknown gate is an error where parsing is strict)."""
    headers_handler: str | None
    """The plugin that sets x-prefiller-host-port, where it is separate from the profile handler."""
    prefix_producer: str | None
    """The data producer that prefix-cache-scorer reads (None: the scorer does its own matching)."""
    token_routing: bool
    """prefix-cache-affinity-filter (peakPrefillThroughput) + token-load-scorer + inflight-load-producer exist."""
    decider_prompt_tokens: bool
    """prefix-based-pd-decider has the promptTokens gate."""
    objective_groups: tuple[str, ...]
    """API groups whose InferenceObjectives and InferenceModelRewrites the EPP reads (its Role)."""
    cpu_request: str
    mode_label: tuple[str, str]
    """The label the upstream chart puts on the EPP pods (key, value)."""


@dataclass(frozen=True)
class ReleaseSet:
    name: str
    llm_d: str
    """The llm-d release whose guides this set follows."""
    vllm_image: str
    epp_image: str
    sidecar_image: str
    gateway_api_version: str
    inference_extension_version: str
    """The GAIE release whose CRDs (InferencePool) the stack installs; `<crds dir>/inference-extension-<v>/`."""
    istio_chart: str
    agentgateway_chart: str
    sidecar: SidecarFlags
    epp: EppRelease
    prefill_max_retries: int
    """Default of pools[].sidecar.prefillMaxRetries (0 where the sidecar has no retries)."""
    kv_load_failure_policy: str | None = None
    """vLLM kv_transfer_config.kv_load_failure_policy to set (None: leave vLLM's default)."""
    kv_lease_duration_s: int | None = None
    """NixlConnector kv_connector_extra_config.kv_lease_duration to set (None: leave vLLM's default)."""
    sources: dict[str, str] = field(default_factory=dict)
    """What each group of facts was read from."""


# Flags registered through controller-runtime's zap.Options.BindFlags, which both sidecars and EPPs bind.
_ZAP = frozenset({"zap-devel", "zap-encoder", "zap-log-level", "zap-stacktrace-level", "zap-time-encoding"})

# llm-d/llm-d-inference-scheduler v0.7.1, pkg/sidecar/proxy/options.go, Options.AddFlags (fs.*Var calls).
_SIDECAR_V071 = _ZAP | {
    "port", "vllm-port", "data-parallel-size", "kv-connector", "ec-connector", "secure-proxy", "cert-path",
    "enable-ssrf-protection", "enable-prefiller-sampling", "pool-group", "enable-tls", "tls-insecure-skip-verify",
    "inference-pool", "connector", "prefiller-use-tls", "decoder-use-tls", "prefiller-tls-insecure-skip-verify",
    "decoder-tls-insecure-skip-verify", "inference-pool-namespace", "inference-pool-name",
}  # fmt: skip

# llm-d/llm-d-router v0.10.0, pkg/sidecar/proxy/options.go, Options.AddFlags: --model-server-port added
# (--vllm-port kept, MarkDeprecated), --connector, the per-role TLS booleans and --inference-pool-name/-namespace
# gone; --prefill-max-retries/--prefill-retry-backoff added (PR #1206). The moriio-* flags are refused at this
# tag unless a build switch is on, so they are left out.
_SIDECAR_V0100 = _ZAP | {
    "port", "model-server-port", "vllm-port", "data-parallel-size", "kv-connector", "ec-connector",
    "mooncake-bootstrap-port", "p2p-connector-port", "enable-p2p-pull", "secure-proxy", "cert-path",
    "enable-ssrf-protection", "enable-prefiller-sampling", "pool-group", "decode-chunk-size", "tracing",
    "metrics-port", "enable-tls", "tls-insecure-skip-verify", "inference-pool", "max-idle-conns-per-host",
    "prefill-max-retries", "prefill-retry-backoff", "configuration", "configuration-file",
}  # fmt: skip

# The EPP flags this program passes, as both EPPs register them: GAIE v1.4.0 pkg/epp/server/options.go (the
# llm-d-inference-scheduler v0.7.0 image runs GAIE's runner) and llm-d/llm-d-router v0.10.0
# pkg/epp/server/options.go AddFlags plus pkg/common/observability/logging/options.go (`v`, zap flags).
_EPP_COMMON = _ZAP | {
    "pool-name", "pool-namespace", "pool-group", "config-file", "config-text", "v", "tracing", "grpc-port",
    "grpc-health-port", "metrics-port", "secure-serving", "cert-path", "enable-pprof", "metrics-endpoint-auth",
    "refresh-metrics-interval", "metrics-staleness-threshold", "ha-enable-leader-election", "health-checking",
}  # fmt: skip
_EPP_V0100 = _EPP_COMMON | {
    "allow-experimental-plugins", "drain-timeout", "endpoint-selector", "endpoint-target-ports",
    "grpc-max-recv-msg-size", "grpc-max-send-msg-size", "enable-grpc-stream-metrics", "tls-min-version",
    "tls-cipher-suites", "emit-endpoint-scores", "enable-cert-reload",
}  # fmt: skip

LLM_D_V06 = ReleaseSet(
    name="llm-d-v0.6",
    llm_d="v0.6",
    vllm_image="ghcr.io/llm-d/llm-d-cuda:v0.6.0",
    epp_image="ghcr.io/llm-d/llm-d-inference-scheduler:v0.7.0",
    sidecar_image="ghcr.io/llm-d/llm-d-routing-sidecar:v0.7.1",
    gateway_api_version="v1.5.1",
    inference_extension_version="v1.4.0",
    istio_chart="1.29.1",
    agentgateway_chart="v1.0.0",
    sidecar=SidecarFlags(
        accepted=frozenset(_SIDECAR_V071),
        model_server_port="--vllm-port",
        ssrf_allowlist_works=False,
        prefill_retries=False,
    ),
    epp=EppRelease(
        accepted_flags=frozenset(_EPP_COMMON),
        config_api="inference.networking.x-k8s.io/v1alpha1",
        feature_gates=("prepareDataPlugins",),
        headers_handler="disagg-headers-handler",
        prefix_producer=None,
        token_routing=False,
        decider_prompt_tokens=False,
        objective_groups=("inference.networking.x-k8s.io",),
        cpu_request="4",
        mode_label=("inference.networking.k8s.io/igw-mode", "inferencepool"),
    ),
    prefill_max_retries=0,
    sources={
        "images, charts, CRDs": "llm-d/llm-d guides/pd-disaggregation (helmfile, ms-pd and gaie-pd values) at "
        "f90b04f (2026-04-30), the last Helm version of the guide (reference/upstream-latest-2026-04.md)",
        "sidecar": "llm-d/llm-d-inference-scheduler v0.7.1 pkg/sidecar/proxy/{options.go,allowlist.go}",
        "epp": "llm-d/llm-d-inference-scheduler v0.7.0 pkg/plugins/register.go; "
        "kubernetes-sigs/gateway-api-inference-extension v1.4.0 pkg/epp/server/options.go, config/charts",
    },
)

LLM_D_V09 = ReleaseSet(
    name="llm-d-v0.9",
    llm_d="v0.9",
    # llm-d's own CUDA build of the v0.9 release: NIXL over RoCE/InfiniBand needs the llm-d image variants
    # (llm-d/llm-d guides/recipes/modelserver/components/images/README.md, "Known gap - NVSHMEM on RoCE").
    vllm_image="ghcr.io/llm-d/llm-d-cuda:v0.9.0",
    epp_image="ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0",
    sidecar_image="ghcr.io/llm-d/llm-d-router-disagg-sidecar:v0.10.0",
    gateway_api_version="v1.5.1",
    inference_extension_version="v1.6.0",
    istio_chart="1.29.1",
    agentgateway_chart="v1.0.0",
    sidecar=SidecarFlags(
        accepted=frozenset(_SIDECAR_V0100),
        model_server_port="--model-server-port",
        ssrf_allowlist_works=True,
        prefill_retries=True,
    ),
    epp=EppRelease(
        accepted_flags=frozenset(_EPP_V0100),
        config_api="llm-d.ai/v1alpha1",
        # prepareDataPlugins is no registered gate at v0.10.0 (pkg/epp/config/loader/validation.go refuses it).
        feature_gates=(),
        # disagg-headers-handler is deprecated since v0.9.0: disagg-profile-handler sets the header itself
        # (cmd/epp/runner/runner.go, RegisterDeprecated).
        headers_handler=None,
        prefix_producer="approx-prefix-cache-producer",
        token_routing=True,
        decider_prompt_tokens=True,
        # config/charts/llm-d-router-gateway/templates/rbac.yaml: both groups (the EPP reads llm-d.ai when both
        # are installed, RELEASE-NOTES.md PR #1449).
        objective_groups=("inference.networking.x-k8s.io", "llm-d.ai"),
        cpu_request="8",  # config/charts/routerlib/values.yaml epp.resources.requests
        mode_label=("llm-d.ai/igw-mode", "llm-d-router-gateway"),  # config/charts/routerlib/templates/_helpers.tpl
    ),
    prefill_max_retries=2,
    sources={
        "images": "llm-d/llm-d v0.9.0 guides/env.sh (ROUTER_EPP_VERSION v0.10.0, image "
        "ghcr.io/llm-d/llm-d-router-endpoint-picker); llm-d/llm-d-router v0.10.0 Makefile (EPP_IMAGE_NAME, "
        "SIDECAR_IMAGE_NAME); llm-d-cuda v0.9.0: the llm-d image of llm-d v0.9 (its release post: default vLLM "
        "v0.26.0; the image's own vLLM version was not read at its tag)",
        "CRDs": "kubernetes-sigs/gateway-api-inference-extension v1.6.0 config/crd/bases (InferencePool v1; "
        "InferenceObjective moved to llm-d-router v0.10.0 config/crd/bases, group llm-d.ai); Gateway API v1.5.1 "
        "(llm-d/llm-d v0.9.0 guides/env.sh GATEWAY_API_VERSION). llm-d v0.9.0's env.sh names GAIE v1.5.0; this "
        "set takes v1.6.0, whose v1 InferencePool the same objects validate against",
        "sidecar": "llm-d/llm-d-router v0.10.0 pkg/sidecar/proxy/{options.go,allowlist.go (poolSelector reads "
        "spec.selector.matchLabels, PR #1696)}",
        "epp": "llm-d/llm-d-router v0.10.0 apix/config/v1alpha1/zz_generated.register.go (group llm-d.ai), "
        "cmd/epp/runner/runner.go (plugin registry), pkg/epp/framework/plugins/{scheduling/filter/"
        "prefixcacheaffinity,scheduling/scorer/tokenload,requestcontrol/dataproducer/{approximateprefix,"
        "inflightload},scheduling/profilehandler/disagg} (parameters), deploy/config/pd-epp-config.yaml",
    },
)

RELEASES: dict[str, ReleaseSet] = {r.name: r for r in (LLM_D_V06, LLM_D_V09)}
DEFAULT_RELEASE = LLM_D_V09.name
"""New stacks get the newest set; existing stacks pin `release: llm-d-v0.6` until they upgrade."""


def release(name: str | None) -> ReleaseSet:
    return RELEASES[name or DEFAULT_RELEASE]


def image_release(image: str) -> ReleaseSet | None:
    """The set an image reference belongs to, if it is one of a set's images."""
    image = image.partition("@")[0]  # repository:tag@sha256:... pins a set's image by digest
    for r in RELEASES.values():
        if image in (r.vllm_image, r.epp_image, r.sidecar_image):
            return r
    return None
