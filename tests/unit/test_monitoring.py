"""Metrics scraping: each role's vLLM and the EPP, per backend, selecting exactly what they should."""

from __future__ import annotations

import pytest

from components.config import MonitoringBackend, load_config
from components.specs import epp, monitoring, workers
from components.specs.names import InstallNames
from components.specs.rdma import pod_networking
from components.specs.wiring import Role
from tests.harness import run_program

NAMES = InstallNames("ib", "llm-d-pd")
PN = NAMES.pool("llama")


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


def cfg(backend: str | None = None, kind: str = "existing"):
    raw = {"hfTokenSecretName": "hf", "cluster": {"kind": kind}}
    if backend:
        raw["monitoring"] = {"backend": backend}
    return load_config(raw, "ib")


def test_default_backend_is_gmp_on_gke_and_off_elsewhere():
    assert cfg().monitoring_backend is MonitoringBackend.OFF
    assert cfg(kind="gke").monitoring_backend is MonitoringBackend.GMP
    assert monitoring.monitors(PN, cfg().monitoring, MonitoringBackend.OFF) == []


@pytest.mark.parametrize("backend", ["prometheus-operator", "gmp"])
def test_each_role_is_scraped_on_its_vllm_port_and_only_that_role(backend):
    c = cfg(backend)
    objs = monitoring.monitors(PN, c.monitoring, c.monitoring_backend)
    pool = c.pools[0]
    for role in Role:
        (mon,) = [o for o in objs if o["metadata"]["name"] == PN.worker(role)]
        dep = workers.worker_deployment(PN, pool, role, c.images, pod_networking(c.rdma), "hf")
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert matches(mon["spec"]["selector"], labels)
        other = Role.DECODE if role is Role.PREFILL else Role.PREFILL
        assert not matches(mon["spec"]["selector"], PN.worker_labels(other, pool.model.id))
        endpoints = mon["spec"].get("podMetricsEndpoints") or mon["spec"]["endpoints"]
        vllm_ports = dep["spec"]["template"]["spec"]["containers"][0]["ports"]
        (vllm_port,) = [p for p in vllm_ports if p["name"] == "vllm"]
        assert endpoints[0]["port"] in ("vllm", vllm_port["containerPort"])  # decode: vLLM on 8200, not the sidecar


@pytest.mark.parametrize("backend", ["prometheus-operator", "gmp"])
def test_the_epp_is_scraped_with_its_service_account_token(backend):
    c = cfg(backend)
    objs = monitoring.monitors(PN, c.monitoring, c.monitoring_backend)
    (mon,) = [o for o in objs if o["metadata"]["name"] == PN.epp and o["kind"] != "Role"]
    secret = monitoring.metrics_token_secret(PN)
    assert (
        secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
        == epp.epp_service_account(PN)["metadata"]["name"]
    )
    endpoint = mon["spec"]["endpoints"][0]
    creds = endpoint["authorization"]["credentials"]
    assert (creds.get("secret") or creds)["name"] == secret["metadata"]["name"]
    if backend == "prometheus-operator":  # selects the EPP Service, whose port is named http-metrics
        svc = epp.epp_service(PN)
        assert matches(mon["spec"]["selector"], svc["metadata"]["labels"])
        assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    else:  # selects the EPP pods, on their metrics port
        dep = epp.epp_deployment(PN, c.images.epp, "cm")
        assert matches(mon["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
        ports = {p["name"]: p["containerPort"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert endpoint["port"] == ports["metrics"]
        role = next(o for o in objs if o["kind"] == "Role")
        assert role["rules"][0]["resourceNames"] == [secret["metadata"]["name"]]


def test_program_registers_monitors_and_the_token_secret_only_when_on():
    on = run_program({"monitoring": {"backend": "prometheus-operator"}}, secrets={"hfToken": "hf_x"})
    assert len(on.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor")) == 2
    assert len(on.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")) == 1
    tokens = [
        r
        for r in on.of_type("kubernetes:core/v1:Secret")
        if r.inputs.get("type") == "kubernetes.io/service-account-token"
    ]
    assert len(tokens) == 1
    off = run_program({}, secrets={"hfToken": "hf_x"})
    assert not [r for r in off.resources if "monitoring" in r.typ]
