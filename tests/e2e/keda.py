"""The real KEDA operator and metrics adapter (kedacore/keda, built from its Go module by scripts/build-engine) run
as plain processes against the local control plane, with a Prometheus-compatible fixture to serve a metric value.

How they connect, as in a cluster but on 127.0.0.1:
- the HPA controller (kube-controller-manager) reads external metrics through the aggregated API
  external.metrics.k8s.io/v1beta1. Its APIService points at a Service of type ExternalName `localhost`, which the
  aggregator resolves to that host name (k8s.io/apiserver pkg/util/proxy ResolveCluster), so it reaches the adapter
  on this machine. kwokctl gives kube-apiserver the admin certificate as its proxy client certificate
  (kwok v0.8.0 pkg/kwokctl/components/kube_apiserver.go), which the adapter's delegated authentication accepts;
- the adapter asks the operator over mutual TLS gRPC (cmd/adapter/main.go `--metrics-service-address`, certificates
  ca.crt / tls.crt / tls.key in the adapter's `--cert-dir`; the operator's `--cert-dir` and
  `--metrics-service-bind-address` in cmd/operator/main.go, keda v2.20.2);
- the operator's Prometheus scaler queries the fixture's /api/v1/query.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NAMESPACE = "keda"
"""Where KEDA keeps its cluster objects (KEDA_CLUSTER_OBJECT_NAMESPACE), as the chart installs it."""
EXTERNAL_METRICS_API = "v1beta1.external.metrics.k8s.io"
ADAPTER_SERVICE = "keda-metrics-apiserver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_certificates(d: Path) -> None:
    """A CA and one certificate for both gRPC ends (server and client auth), valid for localhost."""
    d.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    ca_key, leaf_key = key(), key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmd-e2e-keda-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (d / "ca.crt").write_bytes(ca.public_bytes(pem))
    (d / "tls.crt").write_bytes(leaf.public_bytes(pem))
    (d / "tls.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


class PrometheusFixture:
    """Answers Prometheus' instant-query API (GET /api/v1/query) with one sample of `value`, whatever the query, and
    records the queries it was sent (the shape the KEDA prometheus scaler parses: a vector result)."""

    def __init__(self) -> None:
        self.value = 0.0
        self.queries: list[str] = []
        fixture = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/api/v1/query":
                    self.send_error(404)
                    return
                fixture.queries.append(urllib.parse.parse_qs(url.query).get("query", [""])[0])
                body = json.dumps(
                    {
                        "status": "success",
                        "data": {
                            "resultType": "vector",
                            "result": [{"metric": {}, "value": [time.time(), str(fixture.value)]}],
                        },
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def cluster_objects(adapter_port: int) -> list[dict[str, Any]]:
    """KEDA's namespace, and the external metrics APIService pointing at the adapter on this machine."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": ADAPTER_SERVICE, "namespace": NAMESPACE},
            "spec": {"type": "ExternalName", "externalName": "localhost"},
        },
        {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": EXTERNAL_METRICS_API},
            "spec": {
                "group": "external.metrics.k8s.io",
                "version": "v1beta1",
                "service": {"namespace": NAMESPACE, "name": ADAPTER_SERVICE, "port": adapter_port},
                # The adapter serves a self-signed certificate (no CA to pin in a test).
                "insecureSkipTLSVerify": True,
                "groupPriorityMinimum": 100,
                "versionPriority": 100,
            },
        },
    ]


@contextmanager
def running_keda(engine_bin: Path, kubectl: Any, kubeconfig: Path, crds_dir: Path, work: Path) -> Iterator[None]:
    """Apply KEDA's CRDs, start the operator and the adapter, wait until the external metrics API is available;
    stop both and remove the APIService afterwards (the CRDs stay, like the chart's)."""
    for b in ("keda-operator", "keda-adapter"):
        if not (engine_bin / b).exists():
            raise RuntimeError(f"{engine_bin / b} is missing: run scripts/build-engine")
    kubectl.run("apply", "--server-side", "-f", str(crds_dir))
    certs = work / "certs"
    write_certificates(certs)
    grpc_port, adapter_port, adapter_metrics = free_port(), free_port(), free_port()
    objects = work / "keda-objects.json"
    objects.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": cluster_objects(adapter_port)}))
    kubectl.run("apply", "--server-side", "-f", str(objects))
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "WATCH_NAMESPACE": "",
        "POD_NAMESPACE": NAMESPACE,
        "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE,
    }
    kc = str(kubeconfig)
    operator_log, adapter_log = work / "keda-operator.log", work / "keda-adapter.log"
    procs = [
        subprocess.Popen(
            [
                str(engine_bin / "keda-operator"),
                "--leader-elect=false",
                "--enable-prometheus-metrics=false",
                "--health-probe-bind-address=0",
                f"--metrics-service-bind-address=127.0.0.1:{grpc_port}",
                f"--cert-dir={certs}",
                "--zap-log-level=info",
            ],
            env=env,
            stdout=operator_log.open("wb"),
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                str(engine_bin / "keda-adapter"),
                f"--secure-port={adapter_port}",
                "--bind-address=127.0.0.1",
                f"--cert-dir={certs}",
                f"--port={adapter_metrics}",
                f"--metrics-service-address=localhost:{grpc_port}",
                f"--authentication-kubeconfig={kc}",
                f"--authorization-kubeconfig={kc}",
                f"--lister-kubeconfig={kc}",
                "--zap-log-level=info",
            ],
            env=env,
            stdout=adapter_log.open("wb"),
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        deadline = time.monotonic() + 120
        while True:
            for p, log in zip(procs, (operator_log, adapter_log), strict=True):
                if p.poll() is not None:
                    raise RuntimeError(f"{log.name} exited with {p.returncode}:\n{log.read_text()[-3000:]}")
            got = kubectl.run("get", "apiservice", EXTERNAL_METRICS_API, "-o", "json", check=False)
            if got.returncode == 0:
                conds = json.loads(got.stdout).get("status", {}).get("conditions", [])
                if any(c["type"] == "Available" and c["status"] == "True" for c in conds):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the external metrics API never became Available: {got.stdout[-2000:]}\n"
                    f"adapter log:\n{adapter_log.read_text()[-3000:]}"
                )
            time.sleep(2)
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        kubectl.run("delete", "apiservice", EXTERNAL_METRICS_API, "--ignore-not-found", check=False)
