"""One dependency model for every cluster kind (components/program.py, stack.Dependencies): every object waits for
the CRDs and the gateway's control plane, workers for the fabric, ScaledObjects for KEDA, and nothing waits for what
it does not run on."""

from __future__ import annotations

from tests.harness import Recorder, Registered, run_program

TOKEN = {"hfToken": "hf_not_a_real_token"}
IB = {
    "clusterPrep": {"enabled": True, "networkOperator": True},
    "monitoring": {"backend": "prometheus-operator", "queryUrl": "http://prometheus-operated.monitoring:9090"},
    "cluster": {"inventory": [{"name": "gpu", "count": 2, "gpusPerNode": 8, "accelerator": "h200-141gb"}]},
    "pools": [{"prefill": {"autoscaling": {"maxReplicas": 8}}}],
}


def one(rec: Recorder, typ: str, suffix: str) -> Registered:
    (found,) = [r for r in rec.of_type(typ) if r.name.endswith(suffix)]
    return found


def waits_for(rec: Recorder, part: Registered, component: Registered) -> bool:
    """`part` depends on the component or on something it owns (the engine expands a component dependency to its
    children)."""
    owned = [component, *(r for r in rec.resources if r.parent == component.urn)]
    return any(rec.depends_on(part, r) for r in owned)


def test_on_an_existing_cluster_each_part_waits_for_what_it_needs() -> None:
    rec = run_program(IB, secrets=TOKEN)
    crds = rec.one("llmd:crds:ClusterCrds", "crds")
    control_plane = rec.one("llmd:gateway:GatewayControlPlane", "gateway-control-plane")
    fabric = rec.one("llmd:rdma:InfinibandFabric", "infiniband")
    keda = rec.one("kubernetes:helm.sh/v4:Chart", "keda")
    prefill = one(rec, "kubernetes:apps/v1:Deployment", "prefill-deployment")
    epp = one(rec, "kubernetes:apps/v1:Deployment", "-epp")
    pool = rec.one("kubernetes:inference.networking.k8s.io/v1:InferencePool")
    scaled = rec.one("kubernetes:keda.sh/v1alpha1:ScaledObject")
    for part in (prefill, epp, pool, scaled):
        assert waits_for(rec, part, crds) and waits_for(rec, part, control_plane), part.name
    assert waits_for(rec, prefill, fabric), "workers need the RDMA device plugin"
    assert not waits_for(rec, epp, fabric) and not waits_for(rec, pool, fabric), "the EPP runs without the fabric"
    assert waits_for(rec, scaled, keda) and not waits_for(rec, prefill, keda)
    istiod = rec.one("kubernetes:helm.sh/v4:Chart", "istiod")
    assert waits_for(rec, istiod, crds), "the gateway controller watches the Gateway API CRDs from its start"


def test_the_route_waits_for_every_pool_and_worker_and_the_gateway_does_not() -> None:
    """A cutover's new backend is Ready before the route sends traffic to it; the Gateway (GKE: a load balancer that
    takes minutes) is created meanwhile."""
    rec = run_program({"clusterPrep": {"enabled": True}}, secrets=TOKEN)
    route = one(rec, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "-route")
    gateway = one(rec, "kubernetes:gateway.networking.k8s.io/v1:Gateway", "-gateway")
    workers = rec.of_type("kubernetes:apps/v1:Deployment")
    pool = rec.one("kubernetes:inference.networking.k8s.io/v1:InferencePool")
    assert rec.depends_on(route, pool)
    assert all(rec.depends_on(route, w) for w in workers), [w.name for w in workers if not rec.depends_on(route, w)]
    assert not any(rec.depends_on(gateway, w) for w in workers)
