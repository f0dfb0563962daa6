"""The top level: cluster preparation (singletons, owned by one stack per cluster) and the per-install serving
stack (namespace, HF token Secret, per pool prefill/decode workers and an InferencePool, one Gateway)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from components.benchmark import Benchmark, BenchmarkArgs
from components.charts import install_chart
from components.cluster import resolve_kubeconfig
from components.config import Fabric, StackConfig, pool_images
from components.crds import ClusterCrds, ClusterCrdsArgs
from components.gateway import GatewayControlPlane, GatewayControlPlaneArgs, InferenceGateway, InferenceGatewayArgs
from components.inference_pool import InferencePool, InferencePoolArgs
from components.model_cache import ModelCache, ModelCacheArgs
from components.model_service import ModelService, ModelServiceArgs
from components.pd_gate import PdGate, PdGateArgs
from components.rdma import (
    GkeDraDrivers,
    GkeDraDriversArgs,
    GkeMultiNetwork,
    GkeMultiNetworkArgs,
    InfinibandFabric,
    InfinibandFabricArgs,
)
from components.resources import object_name, register, register_all
from components.specs import (
    autoscaling,
    charts,
    monitoring,
    network_policy,
    outputs,
    security,
    verification,
    vllm_runtime,
    wiring,
)
from components.specs import benchmark as benchmark_specs
from components.specs import gateway as gw_specs
from components.specs import gke as gke_specs
from components.specs import model_cache as model_cache_specs
from components.specs import pd_gate as pd_gate_specs
from components.specs.crds import crd_bundles
from components.specs.names import InstallNames
from components.specs.rdma import namespace_pod_security_level, worker_networking
from components.specs.wiring import Role


class ClusterPreparation(pulumi.ComponentResource):
    """CRDs, the gateway control plane and the fabric's operators: once per cluster, fixed names."""

    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        opts: pulumi.ResourceOptions | None = None,
        system_ready: list[pulumi.Resource] | None = None,
    ):
        """`system_ready`: what must exist before charts with Deployments (GKE: the system node pool)."""
        super().__init__("llmd:cluster:ClusterPreparation", name, None, opts)
        prep = cfg.cluster_prep
        self.ready: list[pulumi.Resource] = []
        """Everything this component installs."""
        self.base: list[pulumi.Resource] = []
        """What every object of an install needs: the CRDs and the gateway's control plane."""
        self.fabric: list[pulumi.Resource] = []
        """What the workers need of the fabric (drivers, device plugins, networks)."""
        if prep.crds:
            self.ready.append(
                ClusterCrds(
                    "crds",
                    ClusterCrdsArgs(
                        crd_bundles(cfg.crds, cfg.gateway, prep),
                        resolve_kubeconfig(cfg.cluster.kubeconfig),
                        cfg.cluster.context,
                    ),
                    pulumi.ResourceOptions(parent=self),
                )
            )
        if prep.gateway_control_plane:
            self.ready.append(
                GatewayControlPlane(
                    "gateway-control-plane",
                    GatewayControlPlaneArgs(cfg.gateway, prep, after=list(self.ready)),
                    pulumi.ResourceOptions(parent=self),
                )
            )
        if cfg.rdma.fabric is Fabric.INFINIBAND and (prep.gpu_operator or prep.network_operator):
            self.fabric.append(
                InfinibandFabric(
                    "infiniband", InfinibandFabricArgs(cfg.rdma, prep), pulumi.ResourceOptions(parent=self)
                )
            )
        if cfg.rdma.fabric is Fabric.GKE_DRA and (prep.gpu_driver_installer or prep.nvidia_dra_driver):
            self.fabric.append(
                GkeDraDrivers(
                    "gke-dra", GkeDraDriversArgs(prep, list(system_ready or [])), pulumi.ResourceOptions(parent=self)
                )
            )
        if cfg.rdma.fabric is Fabric.GKE_MULTINETWORK:
            self.fabric.append(
                GkeMultiNetwork(
                    "gke-multinetwork",
                    GkeMultiNetworkArgs(gke_specs.network_objects(gke_specs.gke_names(cfg))),
                    pulumi.ResourceOptions(parent=self),
                )
            )
        self.base = list(self.ready)
        self.ready += self.fabric
        self.autoscaler: list[pulumi.Resource] = []
        """KEDA (its CRDs, operator and metrics adapter), when a pool of this stack autoscales or clusterPrep.keda."""
        if cfg.installs_keda:
            spec = charts.keda(prep)
            ns = register(spec.namespace, security.namespace(spec.namespace), None, pulumi.ResourceOptions(parent=self))
            self.autoscaler.append(
                install_chart(
                    spec,
                    object_name(ns),
                    # GKE: the operator and adapter run on the system pool.
                    pulumi.ResourceOptions(parent=self, depends_on=[ns, *(system_ready or [])]),
                )
            )
            self.ready += self.autoscaler
        self.register_outputs({})


@dataclass
class Dependencies:
    """What parts of the serving stack wait for, beyond the namespace and the objects they reference, the same for
    every cluster kind: each part waits only for what it runs on or needs."""

    base: list[pulumi.Resource] = field(default_factory=list)
    """Everything: the CRDs and the gateway's control plane that cluster preparation installs."""
    deployments: list[pulumi.Resource] = field(default_factory=list)
    """EPP and other CPU Deployments (GKE: the system pool)."""
    workers: list[pulumi.Resource] = field(default_factory=list)
    """vLLM workers: the GPU/RDMA fabric's drivers and operators (GKE: also the GPU pool)."""
    autoscaler: list[pulumi.Resource] = field(default_factory=list)
    """ScaledObjects and TriggerAuthentications: the KEDA chart, whose CRDs they are."""


@dataclass
class ServingStackArgs:
    config: StackConfig
    hf_token: pulumi.Output[str] | None
    """The secret token when this stack creates the Secret (config `hfToken`), else None."""
    skip_await: bool = False
    dependencies: Dependencies = field(default_factory=Dependencies)


class ServingStack(pulumi.ComponentResource):
    """Everything one install owns, named from its prefix and scoped by its install label."""

    namespace: pulumi.Output[str]
    hf_token_secret_name: pulumi.Output[str]
    pools: dict[str, InferencePool]
    workers: dict[tuple[str, Role], ModelService]
    gateway: InferenceGateway

    def __init__(self, name: str, args: ServingStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:ServingStack", name, None, opts)
        cfg = args.config
        names = InstallNames(cfg.prefix, cfg.namespace, cfg.release)
        child = pulumi.ResourceOptions(parent=self)

        net = worker_networking(cfg)
        if cfg.create_namespace:
            psa = security.namespace_labels(namespace_pod_security_level(cfg))
            labels = {wiring.LABEL_PART_OF: wiring.PART_OF, **psa}
            self.namespace = object_name(
                register(f"{name}-namespace", security.namespace(cfg.namespace, labels), None, child)
            )
        else:
            self.namespace = pulumi.Output.from_input(cfg.namespace)

        if args.hf_token is not None:
            secret = vllm_runtime.hf_token_secret(cfg.namespace, names.common_labels(), args.hf_token)
            self.hf_token_secret_name = object_name(
                register(names.hf_token_secret_base(), secret, self.namespace, child)
            )
        else:
            assert cfg.hf_token_secret_name is not None
            self.hf_token_secret_name = pulumi.Output.from_input(cfg.hf_token_secret_name)

        deps = args.dependencies
        self.model_caches = self._model_caches(cfg, names, deps)
        self.pools, self.workers = {}, {}
        for pool in cfg.pools:
            volume = model_cache_specs.model_volume(names, pool, cfg)
            weights = [self.model_caches[volume.name]] if volume is not None else []
            pn = names.pool(pool.name, pool.release)
            images = pool_images(cfg, pool)  # a pool pinned to another release set runs that set's images
            # GMP: what the pool's triggers authenticate with (GKE: after the KEDA chart, whose CRDs they are).
            register_all(
                autoscaling.pool_authentications(pn, pool, cfg), self.namespace,
                pulumi.ResourceOptions(parent=self, depends_on=deps.autoscaler),
            )  # fmt: skip
            for role in (Role.PREFILL, Role.DECODE):
                self.workers[(pool.name, role)] = ModelService(
                    pn.worker(role),
                    ModelServiceArgs(
                        pn,
                        pool,
                        role,
                        images,
                        net,
                        self.namespace,
                        self.hf_token_secret_name,
                        skip_await=args.skip_await,
                        # The fabric (GKE: and the GPU pool), and in cache mode volume the filled volume.
                        depends_on=[*deps.base, *deps.workers, *weights],
                        scaled_object=autoscaling.role_scaled_object(pn, pool, role, cfg),
                        autoscaler_deps=deps.autoscaler,
                    ),
                    child,
                )
            policies = network_policy.pool_policies(pn, pool, cfg, names.gateway())
            self.pools[pool.name] = InferencePool(
                pn.inference_pool,
                InferencePoolArgs(
                    pn, pool, images, gw_specs.pool_extras(pn, cfg.gateway), self.namespace, policies,
                    monitoring.monitors(pn, cfg.monitoring, cfg.monitoring_backend),
                    deployment_deps=deps.deployments,
                    after=deps.base,
                ),
                child,
            )  # fmt: skip
        # The route changes only once every pool and its workers are Ready: a cutover's new backend is serving.
        self.gateway = InferenceGateway(
            names.gateway(),
            InferenceGatewayArgs(
                names,
                cfg.gateway,
                cfg.pools,
                self.namespace,
                after=deps.base,
                backends=[*self.pools.values(), *self.workers.values()],
            ),
            child,
        )
        if cfg.verification.enabled:
            # After the route and every worker: pulumi-kubernetes then waits for the Job to complete.
            for pool in (p for p in cfg.pools if p.serve):
                job = verification.verification_job(names.pool(pool.name), pool, cfg)
                if cfg.gateway.network_policies:
                    pol = network_policy.verification_policy(names.pool(pool.name), names.gateway())
                    register_all([pol], self.namespace, child)
                register_all(
                    [job],
                    self.namespace,
                    pulumi.ResourceOptions(
                        parent=self,
                        depends_on=[self.gateway, *self.workers.values(), *deps.deployments],
                        delete_before_replace=True,
                        custom_timeouts=pulumi.CustomTimeouts(create=f"{cfg.verification.timeout_seconds + 60}s"),
                    ),
                )
        self.gates: dict[str, PdGate] = {}
        """The P/D gate per serving pool (verification.gate): its Job runs after the route and every worker."""
        if pd_gate_specs.gate_enabled(cfg):
            address = (
                self.gateway.gateway.status.apply(outputs.gateway_address)
                if not gw_specs.profile(cfg.gateway).in_cluster
                else None
            )
            for pool in (p for p in cfg.pools if p.serve):
                self.gates[pool.name] = PdGate(
                    f"{names.pool(pool.name).inference_pool}-pd-gate",
                    PdGateArgs(
                        names.pool(pool.name), pool, cfg, self.namespace, names.gateway(),
                        after=[self.gateway, *self.workers.values(), *deps.deployments],
                        gateway_address=address,
                    ),
                    child,
                )  # fmt: skip
        self.benchmark: Benchmark | None = None
        """benchmark.enabled: inference-perf against the gateway, after the P/D gate (components/benchmark.py)."""
        if cfg.benchmark.enabled:
            bench_pool = benchmark_specs.benchmark_pool(cfg)
            gate = self.gates.get(bench_pool.name)
            self.benchmark = Benchmark(
                f"{names.pool(bench_pool.name).inference_pool}-bench",
                BenchmarkArgs(
                    names.pool(bench_pool.name), bench_pool, cfg, self.namespace, self.hf_token_secret_name,
                    after=[gate] if gate else [self.gateway, *self.workers.values(), *deps.deployments],
                    gateway_address=(
                        self.gateway.gateway.status.apply(outputs.gateway_address)
                        if not gw_specs.profile(cfg.gateway).in_cluster
                        else None
                    ),
                ),
                child,
            )  # fmt: skip
        self.register_outputs({"namespace": self.namespace})

    def _model_caches(self, cfg: StackConfig, names: InstallNames, deps: Dependencies) -> dict[str, ModelCache]:
        """Cache mode volume: one ModelCache per model (components/model_cache.py), with the populate Jobs'
        ServiceAccount and NetworkPolicy and, on GKE, the Hyperdisk ML StorageClass. The Jobs wait for what their
        pods run on (GKE: the system pool), never for the GPU pool or its drivers."""
        volumes = model_cache_specs.model_volumes(cfg)
        if not volumes:
            return {}
        child = pulumi.ResourceOptions(parent=self)
        ns = self.namespace
        ready = [register(f"{names.prefix}-model-cache-sa", model_cache_specs.service_account(names), ns, child)]
        if model_cache_specs.stack_storage_class(cfg):
            ready.append(
                register(
                    f"{names.prefix}-model-cache-class",
                    model_cache_specs.storage_class(names),
                    None,
                    # Its parameters are immutable: a change is a new class (and new volumes).
                    pulumi.ResourceOptions(parent=self, delete_before_replace=True),
                )
            )
        if cfg.gateway.network_policies:
            pol = network_policy.model_cache_policy(names, cfg)
            ready.append(register(f"{names.prefix}-model-cache-egress", pol, ns, child))
        return {
            vol.name: ModelCache(
                vol.name,
                ModelCacheArgs(
                    names, vol, self.namespace, self.hf_token_secret_name, after=[*ready, *deps.deployments]
                ),
                child,
            )
            for vol in volumes
        }
