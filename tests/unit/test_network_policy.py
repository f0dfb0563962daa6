"""Ingress NetworkPolicies as an expectation table per gateway provider. The simulated cluster does not enforce
policies, so a small evaluator of the NetworkPolicy semantics we use (pod selectors in the same namespace, IP
blocks, TCP ports) answers "may this source reach this pod on this port?"."""

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
    applying = [p for p in policies if _selects(p["spec"]["podSelector"], dst)]
    if not applying:
        return True  # no policy selects the pod: everything is allowed
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
    raw = {"hfTokenSecretName": "hf", "gateway": gateway, "rdma": rdma, "monitoring": {"backend": monitoring}}
    cfg = load_config(raw, "ib")
    return [network_policy.worker_policy(PN, cfg, GW), network_policy.epp_policy(PN, cfg, GW)]


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
]

GKE = [
    ("gke-proxy", "decode", 8000, True),
    ("gke-proxy", "epp", 9002, True),
    ("gke-health-check", "prefill", 8000, True),
    ("gke-health-check", "epp", 9002, True),
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
