"""Where the cluster's CRDs come from: pinned upstream release files, or a local directory laid out as
`<dir>/gateway-api-<version>/`, `<dir>/inference-extension-<version>/`, `<dir>/istio-<version>/`,
`<dir>/agentgateway-<version>/` (one folder per bundle, CRD manifests inside)."""

from __future__ import annotations

from pathlib import Path

from components.config import ClusterPrepConfig, CrdsConfig, GatewayConfig, GatewayProvider


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
        if gw.provider is GatewayProvider.ISTIO and not prep.gateway_control_plane:
            bundles["istio"] = [
                "https://raw.githubusercontent.com/istio/istio/"
                f"{crds.istio_version}/manifests/charts/base/files/crd-all.gen.yaml"
            ]
        return bundles
    bundles = {
        "gateway-api": _dir_files(directory, f"gateway-api-{gw_ver}"),
        "inference-extension": _dir_files(directory, f"inference-extension-{ie_ver}"),
    }
    # Charts bring their own CRDs; without them (offline clusters, tests) the gateway's CRDs come from here.
    if not prep.gateway_control_plane:
        if gw.provider is GatewayProvider.ISTIO:
            bundles["istio"] = _dir_files(directory, f"istio-{crds.istio_version}")
        elif gw.provider in (GatewayProvider.AGENTGATEWAY, GatewayProvider.KGATEWAY):
            bundles["agentgateway"] = _dir_files(directory, f"agentgateway-{prep.charts.agentgateway}")
    return bundles
