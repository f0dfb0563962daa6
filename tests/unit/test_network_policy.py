"""NetworkPolicies (ingress, and every role's egress) as expectation tables per gateway provider. The
simulated cluster does not enforce policies, so a small evaluator of the NetworkPolicy semantics we use (pod
selectors in the same namespace, IP blocks, TCP and UDP ports) answers "may this source reach that pod on this
port?"."""

from __future__ import annotations

import ipaddress

import pytest

from components.config import load_config
from components.specs import network_policy
from components.specs.names import InstallNames
from components.specs.wiring import Role

NAMES = InstallNames("ib", "llm-d-pd")
PN = NAMES.pool("llama")
GW = NAMES.gateway()
MODEL = "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"

SOURCES = {
    "gateway": {"labels": {network_policy.GATEWAY_POD_LABEL: GW}},
    "other-gateway": {"labels": {network_policy.GATEWAY_POD_LABEL: "someone-else"}},
    "epp": {"labels": PN.epp_labels()},
    "prefill": {"labels": PN.worker_labels(Role.PREFILL, MODEL)},
    "decode": {"labels": PN.worker_labels(Role.DECODE, MODEL)},
    "other-install-decode": {
        "labels": InstallNames("other", "llm-d-pd").pool("llama").worker_labels(Role.DECODE, MODEL)
    },
    "random-pod": {"labels": {"app": "debug"}},
    "gke-proxy": {"ip": "10.129.0.7"},
    "gke-health-check": {"ip": "35.191.3.4"},
    "internet": {"ip": "203.0.113.9"},
    "prometheus": {"labels": {"app": "prometheus"}, "namespace": "monitoring"},
}
TARGETS = {"prefill": PN.worker_labels(Role.PREFILL, MODEL), "decode": PN.worker_labels(Role.DECODE, MODEL),
           "epp": PN.epp_labels()}  # fmt: skip


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def _peer_admits(peer: dict, src: dict) -> bool:
    if "namespaceSelector" in peer:  # another namespace: only its name label is modelled
        return src.get("namespace") == peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    if "podSelector" in peer:  # a pod selector alone means the policy's own namespace
        return "labels" in src and "namespace" not in src and _selects(peer["podSelector"], src["labels"])
    if "ipBlock" in peer and "ip" in src:
        return ipaddress.ip_address(src["ip"]) in ipaddress.ip_network(peer["ipBlock"]["cidr"])
    return False


def allowed(policies: list[dict], source: str, target: str, port: int | str) -> bool:
    src, dst = SOURCES[source], TARGETS[target]
    applying = [
        p for p in policies if "Ingress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], dst)
    ]
    if not applying:
        return True  # no ingress policy selects the pod: everything is allowed
    for p in applying:
        for rule in p["spec"]["ingress"]:
            if "ports" in rule and not any(x["port"] == port for x in rule["ports"]):
                continue
            if any(_peer_admits(peer, src) for peer in rule["from"]):
                return True
    return False


def policies(provider: str, monitoring: str = "off", **rdma) -> list[dict]:
    gateway = {"provider": provider}
    if provider == "gke":
        gateway["proxySubnetCidr"] = "10.129.0.0/23"
    # Without SSRF protection (the llm-d-v0.6 default): test_with_ssrf_protection_* covers the API-server egress.
    raw = {"hfTokenSecretName": "hf", "gateway": gateway, "rdma": rdma, "monitoring": {"backend": monitoring},
           "pools": [{"name": "llama", "sidecar": {"ssrfProtection": False}}]}  # fmt: skip
    cfg = load_config(raw, "ib")
    return network_policy.pool_policies(PN, cfg.pools[0], cfg, GW)


# (source, target, port, allowed) for a pod-based gateway (istio, agentgateway, kgateway) on InfiniBand.
POD_GATEWAY = [
    ("gateway", "decode", 8000, True),
    ("gateway", "prefill", 8000, True),
    ("gateway", "epp", 9002, True),
    ("gateway", "decode", 8200, False),  # decode's vLLM is reached only through its sidecar
    ("gateway", "prefill", 5600, False),
    ("other-gateway", "decode", 8000, False),
    ("other-gateway", "epp", 9002, False),
    ("epp", "prefill", 8000, True),  # metrics scraping on the pool port
    ("epp", "decode", 8000, True),
    ("decode", "prefill", 8000, True),  # the sidecar's prefill leg
    ("decode", "prefill", 5600, True),  # NIXL side channel
    ("prefill", "decode", 5600, True),
    ("decode", "prefill", 40000, False),  # no TCP data path when UCX has no tcp transport
    ("other-install-decode", "prefill", 8000, False),
    ("random-pod", "decode", 8000, False),
    ("random-pod", "epp", 9002, False),
    ("prefill", "epp", 9002, False),
    ("internet", "decode", 8000, False),
    ("gateway", "epp", 9003, False),  # only GKE health-checks the EPP's gRPC health port from outside
]

GKE = [
    ("gke-proxy", "decode", 8000, True),
    ("gke-proxy", "epp", 9002, True),
    ("gke-proxy", "epp", 9003, True),
    ("gke-health-check", "prefill", 8000, True),
    ("gke-health-check", "epp", 9002, True),
    ("gke-health-check", "epp", 9003, True),  # GKE health-checks the EPP over gRPC on its health port
    ("internet", "epp", 9003, False),
    ("random-pod", "epp", 9003, False),
    ("internet", "decode", 8000, False),
    ("internet", "epp", 9002, False),
    ("gateway", "decode", 8000, False),  # GKE has no gateway pods
    ("decode", "prefill", 8000, True),
    ("random-pod", "prefill", 8000, False),
]


@pytest.mark.parametrize("provider", ["istio", "agentgateway", "kgateway"])
@pytest.mark.parametrize(("source", "target", "port", "expected"), POD_GATEWAY)
def test_pod_gateway_providers(provider, source, target, port, expected):
    assert allowed(policies(provider), source, target, port) is expected


@pytest.mark.parametrize(("source", "target", "port", "expected"), GKE)
def test_gke_gateway(source, target, port, expected):
    assert allowed(policies("gke"), source, target, port) is expected


@pytest.mark.parametrize("rdma", [{"fabric": "none"}, {"ucxEnv": {"UCX_TLS": "rc,tcp,cuda_copy"}}])
def test_pool_pods_may_use_any_tcp_port_when_kv_can_move_over_tcp(rdma):
    p = policies("istio", **rdma)
    assert allowed(p, "decode", "prefill", 40000) and allowed(p, "prefill", "decode", 40000)
    assert not allowed(p, "random-pod", "prefill", 40000)


def test_scrapers_reach_the_metrics_ports_only_when_monitoring_is_on():
    on = policies("istio", monitoring="prometheus-operator")
    assert allowed(on, "prometheus", "decode", "vllm") and allowed(on, "prometheus", "epp", 9090)
    assert not allowed(on, "prometheus", "epp", 9002) and not allowed(on, "prometheus", "prefill", 5600)
    off = policies("istio")
    assert not allowed(off, "prometheus", "decode", "vllm") and not allowed(off, "prometheus", "epp", 9090)


# --- egress of decode workers -----------------------------------------------------------------------------------------
DESTINATIONS = {
    **SOURCES,
    "other-pool-prefill": {"labels": NAMES.pool("qwen").worker_labels(Role.PREFILL, MODEL)},
    "kube-dns": {"labels": {"k8s-app": "kube-dns"}, "namespace": "kube-system", "ip": "10.8.0.10"},
    "api-server": {"ip": "10.0.0.2"},
    "gke-node": {"ip": "10.0.0.5"},
    "gke-pod": {"ip": "10.4.1.2"},
    "hugging-face": {"ip": "18.244.202.60"},
}


def _egress_peer_admits(peer: dict, dst: dict) -> bool:
    if "podSelector" in peer:
        return "labels" in dst and "namespace" not in dst and _selects(peer["podSelector"], dst["labels"])
    if "ipBlock" in peer and "ip" in dst:
        ip = ipaddress.ip_address(dst["ip"])
        block = peer["ipBlock"]
        if ip.version != ipaddress.ip_network(block["cidr"]).version:
            return False
        excluded = any(ip in ipaddress.ip_network(e) for e in block.get("except", []))
        return ip in ipaddress.ip_network(block["cidr"]) and not excluded
    return False


def egress_allowed(pols: list[dict], source: str, dest: str, port: int, protocol: str = "TCP") -> bool:
    src, dst = TARGETS[source], DESTINATIONS[dest]
    applying = [p for p in pols if "Egress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], src)]
    if not applying:
        return True
    for p in applying:
        for rule in p["spec"]["egress"]:
            if "ports" in rule and not any(x["port"] == port and x["protocol"] == protocol for x in rule["ports"]):
                continue
            if "to" not in rule or any(_egress_peer_admits(peer, dst) for peer in rule["to"]):
                return True
    return False


# (source, destination, port, protocol, allowed) on InfiniBand (KV over RDMA: no TCP data path). Every role of the pool
# has an egress policy; the P/D gate's is tested in tests/unit/test_pd_gate.py.
EGRESS = [
    ("decode", "prefill", 8000, "TCP", True),  # the sidecar's prefill leg
    ("decode", "prefill", 5600, "TCP", True),  # NIXL side channel
    ("decode", "prefill", 40000, "TCP", False),
    ("decode", "other-pool-prefill", 8000, "TCP", False),  # a client's x-prefiller-host-port cannot leave the pool
    ("decode", "other-install-decode", 8000, "TCP", False),
    ("decode", "decode", 8000, "TCP", False),
    ("decode", "epp", 9002, "TCP", False),
    ("decode", "random-pod", 8000, "TCP", False),
    ("decode", "kube-dns", 53, "UDP", True),
    ("decode", "kube-dns", 53, "TCP", True),
    ("decode", "api-server", 6443, "TCP", False),  # no API access without SSRF protection
    ("decode", "hugging-face", 443, "TCP", True),  # model downloads
    ("decode", "hugging-face", 80, "TCP", False),
    ("decode", "internet", 22, "TCP", False),
    # prefill: the pool's pods on the NIXL side channel, DNS, downloads
    ("prefill", "decode", 5600, "TCP", True),
    ("prefill", "prefill", 5600, "TCP", True),
    ("prefill", "decode", 8000, "TCP", False),  # prefill never calls decode
    ("prefill", "decode", 40000, "TCP", False),  # no TCP data path when UCX has no tcp transport
    ("prefill", "other-pool-prefill", 5600, "TCP", False),
    ("prefill", "other-install-decode", 5600, "TCP", False),
    ("prefill", "epp", 9090, "TCP", False),
    ("prefill", "random-pod", 8000, "TCP", False),
    ("prefill", "kube-dns", 53, "UDP", True),
    ("prefill", "kube-dns", 53, "TCP", True),
    ("prefill", "api-server", 6443, "TCP", False),  # vLLM never calls the API server
    ("prefill", "hugging-face", 443, "TCP", True),
    ("prefill", "internet", 22, "TCP", False),
    # EPP: the API server, DNS, the pool's pods on the pool port (metrics); nothing outside
    ("epp", "api-server", 6443, "TCP", True),
    ("epp", "api-server", 443, "TCP", True),
    ("epp", "kube-dns", 53, "UDP", True),
    ("epp", "prefill", 8000, "TCP", True),
    ("epp", "decode", 8000, "TCP", True),
    ("epp", "decode", 8200, "TCP", False),  # decode's vLLM only through the sidecar
    ("epp", "prefill", 5600, "TCP", False),
    ("epp", "other-pool-prefill", 8000, "TCP", False),
    ("epp", "random-pod", 8000, "TCP", False),
    ("epp", "internet", 80, "TCP", False),
]


@pytest.mark.parametrize("provider", ["istio", "agentgateway", "kgateway", "gke"])
@pytest.mark.parametrize(("source", "dest", "port", "protocol", "expected"), EGRESS)
def test_egress(provider, source, dest, port, protocol, expected):
    assert egress_allowed(policies(provider), source, dest, port, protocol) is expected


def test_every_role_of_the_pool_has_an_egress_policy():
    for provider in ("istio", "gke"):
        pols = policies(provider)
        for target in TARGETS.values():
            assert any(
                "Egress" in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], target) for p in pols
            ), target


@pytest.mark.parametrize("rdma", [{"fabric": "none"}, {"ucxEnv": {"UCX_TLS": "rc,tcp,cuda_copy"}}])
def test_prefill_may_use_any_tcp_port_to_its_pool_when_kv_can_move_over_tcp(rdma):
    p = policies("istio", **rdma)
    assert egress_allowed(p, "prefill", "decode", 40000) and egress_allowed(p, "prefill", "prefill", 40000)
    assert not egress_allowed(p, "prefill", "random-pod", 40000)


# --- the Jobs ---------------------------------------------------------------------------------------------------------
def test_verification_job_reaches_dns_and_the_gateway_only():
    from components.specs.verification import verification_selector

    pol = network_policy.verification_policy(PN, GW)
    assert pol["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in pol["spec"]
    TARGETS["verify"] = verification_selector(PN)
    try:
        assert egress_allowed([pol], "verify", "gateway", 80)
        assert egress_allowed([pol], "verify", "kube-dns", 53, "UDP")
        for dest, port in (("decode", 8000), ("prefill", 8000), ("epp", 9002), ("hugging-face", 443),
                           ("other-gateway", 80), ("api-server", 6443)):  # fmt: skip
            assert not egress_allowed([pol], "verify", dest, port), dest
    finally:
        del TARGETS["verify"]


def test_the_stack_creates_the_verification_policy_with_the_job():
    from tests.harness import run_program

    rec = run_program({"verification": {"enabled": True}}, secrets={"hfToken": "hf_x"})
    names = [r.metadata.get("name") for r in rec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]
    assert "ib-llama-verify" in names
    off = run_program(
        {"verification": {"enabled": True}, "gateway": {"networkPolicies": False}}, secrets={"hfToken": "x"}
    )
    assert not off.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")


def gke_stack_policies(**gateway) -> list[dict]:
    from tests.harness import GKE_CLUSTER

    raw = {"hfTokenSecretName": "hf", "cluster": GKE_CLUSTER, "gateway": gateway,
           "pools": [{"name": "llama", "sidecar": {"ssrfProtection": False}}]}  # fmt: skip
    cfg = load_config(raw, "gke")
    return network_policy.pool_policies(PN, cfg.pools[0], cfg, GW)


def test_on_a_gke_cluster_it_creates_decode_pods_download_from_outside_its_ranges_only():
    p = gke_stack_policies()
    assert egress_allowed(p, "decode", "hugging-face", 443)
    for inside in ("gke-pod", "gke-node", "api-server"):
        assert not egress_allowed(p, "decode", inside, 443), inside


def test_download_cidrs_replace_the_default_destination():
    p = gke_stack_policies(downloadCidrs=["18.244.0.0/16"], downloadPorts=[443, 8443])
    assert egress_allowed(p, "decode", "hugging-face", 8443)
    assert not egress_allowed(p, "decode", "internet", 443)


def test_with_ssrf_protection_the_sidecar_may_reach_the_api_server():
    raw = {"hfTokenSecretName": "hf", "pools": [{"name": "llama", "sidecar": {"ssrfProtection": True}}]}
    cfg = load_config(raw, "ib")
    p = network_policy.pool_policies(PN, cfg.pools[0], cfg, GW)
    assert egress_allowed(p, "decode", "api-server", 6443) and egress_allowed(p, "decode", "api-server", 443)


def test_network_policies_off_means_none():
    cfg = load_config({"hfTokenSecretName": "hf", "gateway": {"networkPolicies": False}}, "ib")
    assert network_policy.pool_policies(PN, cfg.pools[0], cfg, GW) == []
