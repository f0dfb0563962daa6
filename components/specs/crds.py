"""Where the cluster's CRDs come from: pinned upstream release files, or a local directory laid out as
`<dir>/gateway-api-<version>/`, `<dir>/inference-extension-<version>/`, `<dir>/istio-<version>/`,
`<dir>/agentgateway-<version>/` (one folder per bundle, CRD manifests inside)."""

from __future__ import annotations

from pathlib import Path

from components.config import ClusterPrepConfig, CrdsConfig, GatewayConfig
from components.specs.gateway import gateway_crds


def upstream_folders(crds: CrdsConfig, prep: ClusterPrepConfig) -> dict[str, list[str]]:
    """The pinned upstream files of every bundle, by the folder name a local directory uses for it (for
    `scripts/fetch-crds`, which fills such a directory for offline use and the schema tests)."""
    gw, ie = crds.gateway_api_version, crds.inference_extension_version
    gw_base = f"https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/{gw}/config/crd/standard"
    ie_base = f"https://raw.githubusercontent.com/kubernetes-sigs/gateway-api-inference-extension/{ie}/config/crd/bases"
    gw_kinds = ["gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants", "backendtlspolicies"]
    ie_kinds = [
        "inference.networking.k8s.io_inferencepools",
        "inference.networking.x-k8s.io_inferenceobjectives",
        "inference.networking.x-k8s.io_inferencepools",
        "inference.networking.x-k8s.io_inferencemodelrewrites",
    ]
    if ie == "v1.6.0":  # InferenceObjective and InferenceModelRewrite moved to llm-d-router (group llm-d.ai)
        ie_kinds = ["inference.networking.k8s.io_inferencepools", "inference.networking.x-k8s.io_inferencepoolimports"]
    agw = prep.charts.agentgateway
    return {
        f"gateway-api-{gw}": [f"{gw_base}/gateway.networking.k8s.io_{k}.yaml" for k in gw_kinds],
        f"inference-extension-{ie}": [f"{ie_base}/{k}.yaml" for k in ie_kinds],
        f"istio-{crds.istio_version}": [
            f"https://raw.githubusercontent.com/istio/istio/{crds.istio_version}/manifests/charts/base/files/crd-all.gen.yaml"
        ],
        f"agentgateway-{agw}": [
            f"https://raw.githubusercontent.com/agentgateway/agentgateway/{agw}/controller/install/helm/"
            "agentgateway-crds/templates/agentgateway.dev_agentgatewayparameters.yaml"
        ],
        "gke-gateway-api": [
            "https://raw.githubusercontent.com/GoogleCloudPlatform/gke-gateway-api/main/config/crd/"
            f"networking.gke.io_{k}.yaml"
            for k in ("gcpbackendpolicies", "healthcheckpolicies")
        ],
        "network-operator": [
            f"https://raw.githubusercontent.com/Mellanox/network-operator/v{prep.charts.network_operator}/"
            "config/crd/bases/mellanox.com_nicclusterpolicies.yaml"
        ],
    }


def _dir_files(directory: str, folder: str) -> list[str]:
    d = Path(directory) / folder
    files = sorted(str(p) for p in d.glob("*.yaml") if "vap" not in p.name)
    if not files:
        raise FileNotFoundError(f"no CRD manifests in {d}; check crds.directory (or LLMD_CRDS_DIR)")
    return files


def crd_bundles(crds: CrdsConfig, gw: GatewayConfig, prep: ClusterPrepConfig) -> dict[str, list[str]]:
    """Bundle name -> manifest files (paths or URLs), in the order they should be applied."""
    directory = crds.effective_directory()
    gw_ver, ie_ver = crds.gateway_api_version, crds.inference_extension_version
    if directory is None:
        bundles = {
            "gateway-api": [
                f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{gw_ver}/standard-install.yaml"
            ],
            "inference-extension": [
                "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/"
                f"{ie_ver}/manifests.yaml"
            ],
        }
        extra = gateway_crds(crds, prep, gw)
        if extra is not None and extra.url and not prep.gateway_control_plane:
            bundles[extra.bundle] = [extra.url]
        return bundles
    bundles = {
        "gateway-api": _dir_files(directory, f"gateway-api-{gw_ver}"),
        "inference-extension": _dir_files(directory, f"inference-extension-{ie_ver}"),
    }
    # Charts bring their own CRDs; without them (offline clusters, tests) the gateway's CRDs come from here.
    extra = gateway_crds(crds, prep, gw)
    if extra is not None and not prep.gateway_control_plane:
        bundles[extra.bundle] = _dir_files(directory, extra.folder)
    return bundles
