"""What a GKE stack waits for outside Pulumi's own graph, as pure policy over a client object (the real clients are in
components.gke_lifecycle; the tests pass fakes).

- destroy: after the cluster is deleted, the network endpoint groups (NEGs) GKE made for its Services and the
  gateway stay in the VPC for some minutes, and until they go the subnets and the VPC cannot be deleted ("already
  being used"; the provider does not retry). `drain_negs` deletes them and waits until none remain.
- create: GKE installs the Gateway API, Inference Extension, networking.gke.io and GMP CRDs itself some time after
  the cluster is RUNNING. `wait_for_crds` waits until each is Established, so the first custom resources do not race
  the install.

Both are bounded and end with an error that names what is left and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

GKE_NEG_PREFIX = "k8s1-"
"""GKE's NEG controller names every NEG `k8s1-<first 8 characters of the cluster UID>-<namespace>-<service>-<port>-
<hash>` (kubernetes/ingress-gce pkg/utils/namer/namer.go, Namer.NEG and negPrefix: prefix "k8s", naming schema "1")."""


@dataclass(frozen=True)
class Neg:
    name: str
    zone: str
    """Short zone name (us-central1-b)."""
    network: str
    """The network's URL or name."""


class NegBusy(Exception):
    """The NEG cannot be deleted yet (a backend service still uses it); try again later."""


class NegClient(Protocol):
    def list_negs(self, project: str) -> Iterable[Neg]: ...

    def delete_neg(self, project: str, zone: str, name: str) -> None:
        """Delete and wait for the operation; a NEG already gone is no error; NegBusy when it is still in use."""
        ...


@dataclass(frozen=True)
class WaitPolicy:
    timeout_s: float
    interval_s: float = 15.0


NEG_DRAIN = WaitPolicy(timeout_s=20 * 60)
"""GKE removes a deleted cluster's NEGs within minutes; 20 minutes leaves room for a slow backend-service cleanup."""
CRD_INSTALL = WaitPolicy(timeout_s=15 * 60, interval_s=10.0)
"""GKE installs its CRDs within minutes of the cluster reaching RUNNING."""


def network_name(network: str) -> str:
    return network.rstrip("/").rsplit("/", 1)[-1]


def owned_negs(negs: Iterable[Neg], network: str) -> list[Neg]:
    """The NEGs GKE made in this stack's VPC: only this stack's cluster runs on that VPC, so every `k8s1-` NEG in it
    is that cluster's. NEGs of other networks, and NEGs named otherwise (made by hand or by another tool), are never
    touched."""
    return sorted(
        (n for n in negs if n.name.startswith(GKE_NEG_PREFIX) and network_name(n.network) == network_name(network)),
        key=lambda n: (n.zone, n.name),
    )


class DrainTimeout(Exception):
    pass


@dataclass
class DrainResult:
    deleted: list[str] = field(default_factory=list)
    rounds: int = 0


def drain_negs(
    client: NegClient,
    project: str,
    network: str,
    policy: WaitPolicy = NEG_DRAIN,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DrainResult:
    """Delete GKE's NEGs in `network` until none remain. A NEG still in use is retried each round; any other error
    stops at once. After `policy.timeout_s` raise DrainTimeout naming the NEGs left and how to remove them."""
    deadline = clock() + policy.timeout_s
    result = DrainResult()
    while True:
        result.rounds += 1
        remaining = owned_negs(client.list_negs(project), network)
        if not remaining:
            return result
        busy: dict[str, str] = {}
        for neg in remaining:
            try:
                client.delete_neg(project, neg.zone, neg.name)
                result.deleted.append(neg.name)
            except NegBusy as e:
                busy[f"{neg.zone}/{neg.name}"] = str(e)
        if busy and clock() >= deadline:
            left = "; ".join(f"{k} ({v})" for k, v in sorted(busy.items()))
            raise DrainTimeout(
                f"network endpoint groups GKE made in VPC {network_name(network)} are still in use after "
                f"{policy.timeout_s:.0f}s: {left}. Delete what uses them (a load balancer's backend service), then "
                f"`gcloud compute network-endpoint-groups delete <name> --zone <zone> --project {project}` and run "
                "`pulumi destroy` again"
            )
        if busy:
            sleep(policy.interval_s)


# --- CRDs -----------------------------------------------------------------------------------------------------------
class CrdClient(Protocol):
    def established(self, name: str) -> bool | None:
        """True when the CRD's Established condition is True, False while it is not yet, None when it does not exist
        (or the API server cannot say yet)."""
        ...


class CrdTimeout(Exception):
    pass


def wait_for_crds(
    client: CrdClient,
    names: list[str],
    policy: WaitPolicy = CRD_INSTALL,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Poll until every CRD in `names` is Established; return the number of rounds. CrdTimeout names the ones still
    missing after `policy.timeout_s`."""
    deadline = clock() + policy.timeout_s
    rounds = 0
    pending = list(names)
    while True:
        rounds += 1
        pending = [n for n in pending if client.established(n) is not True]
        if not pending:
            return rounds
        if clock() >= deadline:
            raise CrdTimeout(
                f"after {policy.timeout_s:.0f}s GKE has not installed (Established) these CRDs: {', '.join(pending)}. "
                "Check the cluster's Gateway API config (CHANNEL_STANDARD) and managed Prometheus, "
                "`kubectl get crd <name>`, then run `pulumi up` again"
            )
        sleep(policy.interval_s)
