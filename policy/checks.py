"""Pure P/D invariant checks over Kubernetes resource properties, as Pulumi sends them to a policy pack.

Each function takes properties (camelCase Kubernetes fields) and returns violation messages; the policy pack in
__main__.py wires them to pulumi-policy. Kept free of pulumi imports so plain tests can pin them."""

from __future__ import annotations

from typing import Any

import yaml

ROLE = "llm-d.ai/role"
INSTALL = "llm-d.ai/install"
GPU = "nvidia.com/gpu"
Props = dict[str, Any]


def _pod_spec(dep: Props) -> Props:
    return ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}


def _containers(dep: Props) -> list[Props]:
    spec = _pod_spec(dep)
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])


def _arg(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _vllm(dep: Props) -> Props | None:
    return next((c for c in _pod_spec(dep).get("containers") or [] if c.get("name") == "vllm"), None)


def _role(dep: Props) -> str | None:
    return (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels", {}).get(ROLE)


def gpus_match_tensor_parallelism(dep: Props) -> list[str]:
    vllm = _vllm(dep)
    if vllm is None:
        return []
    tp = int(_arg(vllm.get("args") or [], "--tensor-parallel-size") or 1)
    res = vllm.get("resources") or {}
    out = []
    for kind in ("requests", "limits"):
        gpus = (res.get(kind) or {}).get(GPU)
        if gpus is not None and int(gpus) != tp:
            out.append(f"vllm {kind} {gpus} {GPU} but --tensor-parallel-size is {tp}")
    if not any((res.get(k) or {}).get(GPU) for k in ("requests", "limits")) and not _pod_spec(dep).get(
        "resourceClaims"
    ):
        out.append(f"vllm requests no {GPU} and claims no devices")
    return out


def sidecar_ports_agree(dep: Props, pool_target_port: int = 8000) -> list[str]:
    if _role(dep) != "decode":
        return []
    vllm = _vllm(dep)
    sidecar = next((c for c in _pod_spec(dep).get("initContainers") or [] if c.get("name") == "routing-proxy"), None)
    if vllm is None or sidecar is None:
        return ["decode pod has no vllm container or no routing-proxy sidecar"]
    out = []
    vllm_port = _arg(vllm.get("args") or [], "--port")
    s_args = sidecar.get("args") or []
    # --model-server-port from llm-d-router v0.10.0 on, --vllm-port before (components/releases.py).
    flag = "--model-server-port" if _arg(s_args, "--model-server-port") is not None else "--vllm-port"
    if _arg(s_args, flag) != vllm_port:
        out.append(f"sidecar {flag} {_arg(s_args, flag)} != vllm --port {vllm_port}")
    if _arg(s_args, "--port") != str(pool_target_port):
        out.append(f"sidecar --port {_arg(s_args, '--port')} != pool target port {pool_target_port}")
    return out


def images_pinned(dep: Props) -> list[str]:
    out = []
    for c in _containers(dep):
        image = c.get("image") or ""
        last = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and (":" not in last or last.endswith(":latest")):
            out.append(f"container {c.get('name')} image {image!r} is not pinned to a tag or digest")
    return out


def no_plain_hf_token(dep: Props) -> list[str]:
    return [
        f"container {c.get('name')} sets HF_TOKEN as a plain value; reference a Secret"
        for c in _containers(dep)
        for e in c.get("env") or []
        if e.get("name") == "HF_TOKEN" and "value" in e
    ]


def rdma_resource_present(dep: Props, resource: str | None) -> list[str]:
    vllm = _vllm(dep)
    if vllm is None or not resource or _role(dep) is None:
        return []
    req = ((vllm.get("resources") or {}).get("requests") or {}).get(resource)
    return [] if req else [f"vllm requests no {resource}: KV cache would move over TCP"]


def epp_decider_declared(config_map: Props) -> list[str]:
    text = (config_map.get("data") or {}).get("pd-config.yaml")
    if text is None:
        return []
    conf = yaml.safe_load(text) or {}
    declared = {p.get("name", p.get("type")) for p in conf.get("plugins") or []}
    handlers = [
        p for p in conf.get("plugins") or [] if p.get("type") in ("disagg-profile-handler", "pd-profile-handler")
    ]
    if not handlers:
        return ["EPP config has no P/D profile handler"]
    out = []
    for h in handlers:
        deciders = (h.get("parameters") or {}).get("deciders") or {}
        prefill = deciders.get("prefill") or (h.get("parameters") or {}).get("deciderPluginName")
        if not prefill:
            out.append("profile handler names no prefill decider: P/D is silently off")
        elif prefill not in declared:
            out.append(f"profile handler's decider {prefill!r} is not a declared plugin")
    return out


def service_not_load_balancer(svc: Props) -> list[str]:
    if (svc.get("spec") or {}).get("type") == "LoadBalancer":
        return ["only the gateway's Service may be a LoadBalancer; this one exposes a backend directly"]
    return []


def cluster_scoped_name_is_per_install(obj: Props) -> list[str]:
    meta = obj.get("metadata") or {}
    install = (meta.get("labels") or {}).get(INSTALL)
    name = meta.get("name") or ""
    if install and install not in name:
        return [f"cluster-scoped {name!r} of install {install!r} does not carry the install prefix"]
    return []


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def pool_selects_its_two_roles(pool: Props, deployments: list[Props]) -> list[str]:
    """The pool's selector picks the prefill and decode Deployments of its install, and nothing else."""
    selector = ((pool.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    name = (pool.get("metadata") or {}).get("name")
    roles = []
    for dep in deployments:
        labels = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if _matches(selector, labels):
            role = labels.get(ROLE)
            if role not in ("prefill", "decode"):
                return [f"InferencePool {name} selects {(dep.get('metadata') or {}).get('name')}, not a worker"]
            roles.append(role)
    if sorted(set(roles)) != ["decode", "prefill"]:
        return [f"InferencePool {name} selects roles {sorted(set(roles))}; it must select prefill and decode"]
    return []


GPU_CLASS = "gpu.nvidia.com"
NIC_CLASS = "mrdma.google.com"
PCIE_ROOT = "resource.kubernetes.io/pcieRoot"


def gpu_nic_claims_pair_each_gpu(dep: Props, templates: list[Props]) -> list[str]:
    """A worker that takes its GPUs through DRA claims one GPU and one RDMA NIC per tensor-parallel rank, and each
    GPU-NIC pair is constrained to one PCIe root on its own (one constraint over all of them cannot be met)."""
    vllm = _vllm(dep)
    claims = _pod_spec(dep).get("resourceClaims") or []
    if vllm is None or _role(dep) is None or not claims:
        return []
    tp = int(_arg(vllm.get("args") or [], "--tensor-parallel-size") or 1)
    ns = (dep.get("metadata") or {}).get("namespace")
    by_name = {
        (t.get("metadata") or {}).get("name"): t
        for t in templates
        if ns is None or (t.get("metadata") or {}).get("namespace") in (None, ns)
    }
    out: list[str] = []
    gpus = nics = 0
    for claim in claims:
        name = claim.get("resourceClaimTemplateName")
        template = by_name.get(name)
        if template is None:
            out.append(f"claim {claim.get('name')!r} names ResourceClaimTemplate {name!r}, which the stack lacks")
            continue
        devices = (((template.get("spec") or {}).get("spec") or {}).get("devices")) or {}
        classes = {r.get("name"): (r.get("exactly") or {}) for r in devices.get("requests") or []}
        gpus += sum(int(r.get("count", 1)) for r in classes.values() if r.get("deviceClassName") == GPU_CLASS)
        nics += sum(int(r.get("count", 1)) for r in classes.values() if r.get("deviceClassName") == NIC_CLASS)
        paired: set[str] = set()
        for c in devices.get("constraints") or []:
            reqs = c.get("requests") or list(classes)
            kinds = sorted(classes.get(r, {}).get("deviceClassName", "") for r in reqs)
            single = all(int(classes.get(r, {}).get("count", 1)) == 1 for r in reqs)
            if c.get("matchAttribute") == PCIE_ROOT and kinds == sorted([GPU_CLASS, NIC_CLASS]) and single:
                paired.update(reqs)
        unpaired = sorted(
            r for r, spec in classes.items() if spec.get("deviceClassName") == GPU_CLASS and r not in paired
        )
        if unpaired:
            out.append(f"{name}: GPU requests {unpaired} are not each paired with one NIC on the same PCIe root")
    if gpus != tp or nics != tp:
        out.append(
            f"claims {gpus} GPUs and {nics} RDMA NICs but --tensor-parallel-size is {tp}; claim one pair per GPU"
        )
    return out
