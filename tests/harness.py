"""Running the program under Pulumi mocks and looking at what it registered."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pulumi

PROJECT = "llm-d-pd"

GKE_CLUSTER: dict[str, Any] = {
    "kind": "gke",
    "gke": {"project": "my-project", "region": "us-central1", "zone": "us-central1-b", "gpuPool": {"reservation": "r"}},
}
"""`cluster` of a gke stack that passes preflight (tests and the benchmark)."""

BENCH_TOKEN = {"hfToken": "hf_bench_not_a_real_token"}
BENCH_STACKS: dict[str, tuple[dict[str, Any], dict[str, str] | None]] = {
    "ib": ({"clusterPrep": {"enabled": True, "networkOperator": True}}, BENCH_TOKEN),
    "local": ({"clusterPrep": {"enabled": True, "gatewayControlPlane": False}}, BENCH_TOKEN),
    "agentgateway": ({"gateway": {"provider": "agentgateway"}, "rdma": {"fabric": "none"}}, BENCH_TOKEN),
    "gke": ({"cluster": GKE_CLUSTER}, BENCH_TOKEN),
}
"""The stacks scripts/bench evaluates, whose resource identities tests/unit/test_urns.py pins."""


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    parent: str | None = None
    urn: str | None = None
    dependencies: set[str] = field(default_factory=set)
    """URNs this resource depends on (explicit depends_on, expanded to components' children, and inputs)."""
    ignore_changes: list[str] = field(default_factory=list)
    protect: bool = False
    retain_on_delete: bool = False

    @property
    def metadata(self) -> dict[str, Any]:
        return self.inputs.get("metadata") or {}


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = json.loads(json.dumps(args.inputs, default=str))
        meta = state.get("metadata")
        if isinstance(meta, dict) and "name" not in meta and args.typ.startswith("kubernetes:") and "/" in args.typ:
            meta["name"] = f"{args.name}-mock1234"  # Pulumi's auto-naming: resource name + random suffix
        self.resources.append(Registered(args.typ, args.name, state))
        return f"{args.name}-id", {**state, **computed_outputs(args.typ, state)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": "123456789012", "projectId": args.args.get("projectId")}, []
        return {}, []

    # --- queries --------------------------------------------------------------------------------------------------
    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str | None = None) -> Registered:
        found = [r for r in self.of_type(typ) if name is None or r.metadata.get("name") == name or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def kinds(self) -> set[str]:
        return {r.typ for r in self.resources}

    def depends_on(self, dependent: Registered, dependency: Registered) -> bool:
        """Whether `dependent` waits for `dependency`, directly or through other resources."""
        by_urn = {r.urn: r for r in self.resources}
        seen: set[str] = set()
        todo = list(dependent.dependencies)
        while todo:
            urn = todo.pop()
            if urn == dependency.urn:
                return True
            if urn in seen or urn not in by_urn:
                continue
            seen.add(urn)
            todo += by_urn[urn].dependencies
        return False

    def record_dependencies(self) -> None:
        """Wrap the mock monitor so each registration also records its URN and dependencies."""
        monitor = pulumi.runtime.settings.SETTINGS.monitor
        register = monitor.RegisterResource
        lock = threading.Lock()

        def recording(request: Any) -> Any:
            response = register(request)
            with lock:
                for r in reversed(self.resources):
                    if r.urn is None and r.typ == request.type and r.name == request.name:
                        r.urn, r.parent = response.urn, request.parent or None
                        r.dependencies = set(request.dependencies)
                        r.ignore_changes, r.protect = list(request.ignoreChanges), bool(request.protect)
                        r.retain_on_delete = bool(request.retainOnDelete)
                        break
            return response

        monitor.RegisterResource = recording


MOCK_GATEWAY_ADDRESS = "203.0.113.10"


def computed_outputs(typ: str, state: dict[str, Any]) -> dict[str, Any]:
    """Outputs a provider computes that the program passes on (as GCP would fill them in)."""
    if typ == "gcp:serviceaccount/account:Account":
        return {"email": f"{state['accountId']}@{state['project']}.iam.gserviceaccount.com"}
    if typ == "kubernetes:gateway.networking.k8s.io/v1:Gateway":
        # Programmed, as the provider's await (pulumi.com/waitFor) leaves it; GKE's load balancer address.
        return {"status": {"addresses": [{"type": "IPAddress", "value": MOCK_GATEWAY_ADDRESS}]}}
    if typ == "gcp:container/cluster:Cluster":
        endpoint = f"gke-0123456789abcdef.{state.get('location')}.gke.goog"
        return {"controlPlaneEndpointsConfig": {"dnsEndpointConfig": {"endpoint": endpoint}}, "endpoint": "192.0.2.1"}
    return {}


def config_map(config: dict[str, Any], secrets: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    values = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    secret_keys = []
    for k, v in (secrets or {}).items():
        values[f"{PROJECT}:{k}"] = v
        secret_keys.append(f"{PROJECT}:{k}")
    return values, secret_keys


def run_program(
    config: dict[str, Any],
    secrets: dict[str, str] | None = None,
    stack: str = "ib",
    plain: dict[str, str] | None = None,
    recorder: Recorder | None = None,
) -> Recorder:
    """Run components.program.main under mocks with this stack config; return what it registered.

    `secrets` are set as secret config; `plain` sets keys in plain text (to test that secrets are enforced).
    Pass `recorder` to see what was registered even when the program raises."""
    from components.program import main

    rec = recorder if recorder is not None else Recorder()
    pulumi.runtime.set_mocks(rec, project=PROJECT, stack=stack, preview=False)
    rec.record_dependencies()
    values, secret_keys = config_map(config, secrets)
    values.update({f"{PROJECT}:{k}": v for k, v in (plain or {}).items()})
    pulumi.runtime.set_all_config(values, secret_keys)

    @pulumi.runtime.test
    def _run() -> None:
        main()

    _run()
    return rec
