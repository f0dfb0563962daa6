"""Two small Pulumi dynamic resources that carry a GKE stack through what the providers do not wait for:

- `NegCleanup` sits between the VPC (its subnets and firewall rules) and the cluster: the cluster depends on it and
  it depends on the network, so `pulumi destroy` deletes it after the cluster and before the subnets and the VPC.
  Its delete removes the NEGs GKE left in the VPC (components.specs.gke_lifecycle.drain_negs) with
  google-cloud-compute, authenticated like pulumi-gcp with Application Default Credentials.
- `CrdsEstablished` sits between the cluster and the Kubernetes provider: its create waits until GKE has installed
  the CRDs the stack's custom resources need (wait_for_crds), reading them through the stack's kubeconfig
  (gke-gcloud-auth-plugin) with lightkube.

Why not pulumi-kubernetes for the wait: 4.25 retries a create whose kind the API server does not know yet only five
times, 1 s doubling to 16 s (pulumi/pulumi-kubernetes v4.25.0, provider/pkg/await/await.go with
provider/pkg/retry/retry.go): about half a minute, while GKE may take minutes. Reading a CRD with `.get` fails at
once when it is absent, and `pulumi.com/waitFor` applies only to objects Pulumi creates; GKE's CRDs are not ours to
own.

The providers run in Pulumi's dynamic-provider host, which imports this module from the project directory; client
libraries are imported there, on first use, not at program start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi.dynamic as dyn
import yaml

from components.specs import gke_lifecycle as policy


# --- real clients ---------------------------------------------------------------------------------------------------
class ComputeNegClient:
    """google-cloud-compute's NetworkEndpointGroupsClient behind NegClient."""

    def __init__(self) -> None:
        from google.cloud import compute_v1

        self._compute = compute_v1
        self._negs = compute_v1.NetworkEndpointGroupsClient()

    def list_negs(self, project: str) -> Iterator[policy.Neg]:
        request = self._compute.AggregatedListNetworkEndpointGroupsRequest(project=project)
        for _scope, scoped in self._negs.aggregated_list(request=request):
            for neg in scoped.network_endpoint_groups:
                if neg.zone:  # GKE's are zonal; regional (serverless, PSC) NEGs are not GKE's
                    yield policy.Neg(neg.name, neg.zone.rsplit("/", 1)[-1], neg.network)

    def delete_neg(self, project: str, zone: str, name: str) -> None:
        from google.api_core import exceptions

        try:
            self._negs.delete(project=project, zone=zone, network_endpoint_group=name).result(timeout=300)
        except exceptions.NotFound:
            return
        except (exceptions.BadRequest, exceptions.Conflict, exceptions.PreconditionFailed) as e:
            raise policy.NegBusy(str(e)) from e  # resourceInUseByAnotherResource: a backend service still uses it


class KubeCrdClient:
    """lightkube reading CustomResourceDefinitions, behind CrdClient."""

    def __init__(self, kubeconfig: str) -> None:
        from lightkube import Client, KubeConfig

        self._client = Client(KubeConfig.from_dict(yaml.safe_load(kubeconfig)), trust_env=False)

    def established(self, name: str) -> bool | None:
        import httpx2
        from lightkube import ApiError
        from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

        try:
            crd = self._client.get(CustomResourceDefinition, name)
        except ApiError as e:
            if e.status.code in (401, 403):
                raise  # the caller lacks access: waiting will not help
            return None  # 404 (not installed yet), or the new control plane is busy
        except httpx2.TransportError:
            return None  # the endpoint is not reachable yet
        conditions = (crd.status.conditions if crd.status else None) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)


# --- providers ------------------------------------------------------------------------------------------------------
class NegCleanupProvider(dyn.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(f"{props['project']}/{props['network']}", props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        wait = policy.WaitPolicy(timeout_s=float(props["timeout_seconds"]))
        policy.drain_negs(ComputeNegClient(), props["project"], props["network"], wait)


class NegCleanup(dyn.Resource, module="llmd", name="NegCleanup"):
    """Deletes, on destroy, the NEGs GKE made in `network` (by name) after the cluster is gone."""

    def __init__(
        self,
        name: str,
        project: str,
        network: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
        timeout_seconds: float = policy.NEG_DRAIN.timeout_s,
    ):
        props = {"project": project, "network": network, "timeout_seconds": timeout_seconds}
        super().__init__(NegCleanupProvider(), name, props, opts)


class CrdsEstablishedProvider(dyn.ResourceProvider):
    @staticmethod
    def _wait(props: dict[str, Any]) -> dict[str, Any]:
        wait = policy.WaitPolicy(timeout_s=float(props["timeout_seconds"]), interval_s=policy.CRD_INSTALL.interval_s)
        policy.wait_for_crds(KubeCrdClient(props["kubeconfig"]), list(props["crds"]), wait)
        # The kubeconfig is an input only: it names the endpoint (secret) and may change without a new wait.
        return {"crds": list(props["crds"]), "timeout_seconds": props["timeout_seconds"]}

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult("crds-established", self._wait(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        return dyn.DiffResult(changes=sorted(olds.get("crds") or []) != sorted(news["crds"]))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(self._wait(news))


class CrdsEstablished(dyn.Resource, module="llmd", name="CrdsEstablished"):
    """Created once every CRD in `crds` is Established on the cluster `kubeconfig` reaches."""

    def __init__(
        self,
        name: str,
        kubeconfig: pulumi.Input[str],
        crds: list[str],
        opts: pulumi.ResourceOptions | None = None,
        timeout_seconds: float = policy.CRD_INSTALL.timeout_s,
    ):
        props = {"kubeconfig": kubeconfig, "crds": crds, "timeout_seconds": timeout_seconds}
        super().__init__(CrdsEstablishedProvider(), name, props, opts)
