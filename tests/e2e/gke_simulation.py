"""Stand-ins for what GKE and the NVIDIA drivers publish on a real cluster, for the local-gke stack's test.

- The CRDs GKE manages: Gateway API, Inference Extension, GKE's gateway policies and networking, GMP PodMonitoring.
- DeviceClasses `gpu.nvidia.com` (as the NVIDIA DRA chart defines it) and `mrdma.google.com` (GKE DRANET).
- Per GPU node, `resource.k8s.io/v1` ResourceSlices: 8 GPUs and 8 RDMA NICs, each with
  `resource.kubernetes.io/pcieRoot`. The NICs are listed in the opposite order of their GPUs, so a claim without
  per-pair constraints would be handed mismatched pairs by the allocator.
- GKE's gateway controller: it marks Gateways of a `gke-l7-*` class Programmed with an address.

Nothing here is part of the product; the kube-scheduler's DRA allocator and the controller manager's ResourceClaim
controller that act on these objects are real.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.specs import wiring
from tests.e2e.conftest import Kubectl

NIC_DRIVER = "dra.net"
"""The driver name the simulated DRANET NICs are published under."""
GATEWAY_ADDRESS = "203.0.113.10"
CRD_FOLDERS = (
    "gateway-api-v1.5.1",
    "inference-extension-v1.4.0",
    "inference-extension-v1.6.0",  # the default release set's, applied after v1.4.0
    "gke-gateway-api-fc40d60",
    "gke-networking-api-34c617f",
    "prometheus-engine-v0.17.2",
)


def pcie_roots() -> list[str]:
    return [f"pci0000:{0x10 * (i + 1):02x}" for i in range(wiring.RDMA_NICS_PER_NODE)]


def device_classes() -> list[dict[str, Any]]:
    def cls(name: str, expression: str) -> dict[str, Any]:
        return {
            "apiVersion": wiring.DRA_API,
            "kind": "DeviceClass",
            "metadata": {"name": name},
            "spec": {"selectors": [{"cel": {"expression": expression}}]},
        }

    return [
        cls(
            wiring.GPU_DEVICE_CLASS,
            "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'",
        ),
        cls(wiring.RDMA_NIC_DEVICE_CLASS, f"device.driver == '{NIC_DRIVER}' && device.attributes['{NIC_DRIVER}'].rdma"),
    ]


def resource_slices(node: str) -> list[dict[str, Any]]:
    roots = pcie_roots()
    gpus = [
        {"name": f"gpu-{i}", "attributes": {"type": {"string": "gpu"}, wiring.PCIE_ROOT_ATTRIBUTE: {"string": r}}}
        for i, r in enumerate(roots)
    ]
    nics = [
        {"name": f"gpu{i}rdma0", "attributes": {"rdma": {"bool": True}, wiring.PCIE_ROOT_ATTRIBUTE: {"string": r}}}
        for i, r in reversed(list(enumerate(roots)))
    ]

    def slice_(driver: str, suffix: str, devices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": wiring.DRA_API,
            "kind": "ResourceSlice",
            "metadata": {"name": f"{node}-{suffix}"},
            "spec": {
                "driver": driver,
                "nodeName": node,
                "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                "devices": devices,
            },
        }

    return [slice_(wiring.GPU_DEVICE_CLASS, "gpus", gpus), slice_(NIC_DRIVER, "nics", nics)]


def device_roots(node: str) -> dict[tuple[str, str], str]:
    """(driver, device) -> PCIe root, as published."""
    return {
        (s["spec"]["driver"], d["name"]): d["attributes"][wiring.PCIE_ROOT_ATTRIBUTE]["string"]
        for s in resource_slices(node)
        for d in s["spec"]["devices"]
    }


def _apply(kubectl: Kubectl, objects: list[dict[str, Any]], tmp: Path) -> None:
    path = tmp / "gke-simulation.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(path))


def install(kubectl: Kubectl, nodes: list[str], tmp: Path) -> None:
    crds = Path(os.environ["LLMD_CRDS_DIR"])
    for folder in CRD_FOLDERS:
        for f in sorted((crds / folder).glob("*.yaml")):
            if "vap" not in f.name:
                kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(f))
    _apply(kubectl, device_classes() + [s for n in nodes for s in resource_slices(n)], tmp)


def uninstall(kubectl: Kubectl, nodes: list[str]) -> None:
    for n in nodes:
        for s in resource_slices(n):
            kubectl.run("delete", "resourceslice", s["metadata"]["name"], "--ignore-not-found", check=False)
    for c in device_classes():
        kubectl.run("delete", "deviceclass", c["metadata"]["name"], "--ignore-not-found", check=False)


class GatewayController(threading.Thread):
    """Marks every `gke-l7-*` Gateway of a namespace Accepted and Programmed, with an address, as GKE's controller
    does once the load balancer exists."""

    def __init__(self, kubectl: Kubectl, namespace: str):
        super().__init__(daemon=True)
        self.kubectl, self.namespace = kubectl, namespace
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1):
            out = self.kubectl.run("-n", self.namespace, "get", "gateways", "-o", "json", check=False)
            if out.returncode != 0:
                continue
            for gw in json.loads(out.stdout)["items"]:
                if gw["spec"]["gatewayClassName"].startswith("gke-l7-") and not self._programmed(gw):
                    self._program(gw)

    @staticmethod
    def _programmed(gw: dict[str, Any]) -> bool:
        gen = gw["metadata"]["generation"]
        return any(
            c["type"] == "Programmed" and c["status"] == "True" and c.get("observedGeneration") == gen
            for c in gw.get("status", {}).get("conditions", [])
        )

    def _program(self, gw: dict[str, Any]) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        gen = gw["metadata"]["generation"]
        conditions = [
            {"type": t, "status": "True", "reason": t, "message": "simulated GKE gateway controller",
             "observedGeneration": gen, "lastTransitionTime": now}
            for t in ("Accepted", "Programmed")
        ]  # fmt: skip
        status = {"status": {"conditions": conditions, "addresses": [{"type": "IPAddress", "value": GATEWAY_ADDRESS}]}}
        self.kubectl.run(
            "-n", self.namespace, "patch", "gateway", gw["metadata"]["name"], "--subresource=status",
            "--type=merge", "-p", json.dumps(status), check=False,
        )  # fmt: skip

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
