"""The gke stack under Pulumi mocks: from an empty project (networks, cluster, pools) to the served model, in both
RDMA modes. What GKE itself would do with these arguments is not testable here; the arguments are."""

from __future__ import annotations

import ipaddress
import json

import pulumi
import pytest

from components.specs import gke as gke_specs
from components.specs import gke_lifecycle as lifecycle
from tests.harness import Recorder, Registered, run_program

TOKEN = {"hfToken": "hf_not_a_real_token"}
GKE = {"project": "my-project", "region": "us-central1", "zone": "us-central1-b", "gpuPool": {"reservation": "res-a3u"}}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NODE_POOL = "gcp:container/nodePool:NodePool"
CLAIM_TEMPLATE = "kubernetes:resource.k8s.io/v1:ResourceClaimTemplate"
WHOLE_NODE_PODS = {
    "pools": [{"name": "llama", "prefill": {"replicas": 1, "tensorParallelism": 8}, "decode": {"tensorParallelism": 8}}]
}


def gke_stack(fabric: str | None = None, **overrides) -> dict:
    cfg: dict = {"cluster": {"kind": "gke", "gke": {**GKE, **overrides}}}
    if fabric:
        cfg["rdma"] = {"fabric": fabric}
    return cfg


@pytest.fixture(scope="module")
def dra() -> Recorder:
    return run_program(gke_stack(), secrets=TOKEN, stack="gke")


@pytest.fixture(scope="module")
def multinetwork() -> Recorder:
    return run_program(
        {**gke_stack("gke-multinetwork", gpuPool={"reservation": "r", "nodeCount": 2}), **WHOLE_NODE_PODS},
        secrets=TOKEN,
        stack="gke",
    )


def pod_spec(dep: Registered) -> dict:
    return dep.inputs["spec"]["template"]["spec"]


def vllm(dep: Registered) -> dict:
    (c,) = [c for c in pod_spec(dep)["containers"] if c["name"] == "vllm"]
    return c


def pools(rec: Recorder) -> dict[str, Registered]:
    return {r.inputs["name"]: r for r in rec.of_type(NODE_POOL)}


# --- networks -------------------------------------------------------------------------------------------------------
def test_dra_creates_the_primary_vpc_with_pod_and_service_ranges_proxy_subnet_nat_and_firewall(dra):
    net = dra.one("gcp:compute/network:Network")
    assert net.inputs["name"] == "gke-net" and net.inputs["autoCreateSubnetworks"] is False
    subnets = {s.inputs["name"]: s.inputs for s in dra.of_type("gcp:compute/subnetwork:Subnetwork")}
    assert set(subnets) == {"gke-subnet", "gke-proxy-only"}  # GKE creates the RDMA networks itself (profile auto)
    ranges = {r["rangeName"]: r["ipCidrRange"] for r in subnets["gke-subnet"]["secondaryIpRanges"]}
    assert ranges == {"pods": "10.4.0.0/14", "services": "10.8.0.0/20"}
    assert subnets["gke-proxy-only"]["purpose"] == "REGIONAL_MANAGED_PROXY"
    assert subnets["gke-proxy-only"]["role"] == "ACTIVE"
    nat = dra.one("gcp:compute/routerNat:RouterNat")
    assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "ALL_SUBNETWORKS_ALL_IP_RANGES"
    fws = {f.inputs["name"]: f.inputs for f in dra.of_type("gcp:compute/firewall:Firewall")}
    assert set(fws) == {"gke-internal", "gke-health-checks"}
    assert all("0.0.0.0/0" not in f["sourceRanges"] for f in fws.values())
    assert "10.129.0.0/23" in fws["gke-internal"]["sourceRanges"]  # the gateway's proxies reach the pods
    assert fws["gke-health-checks"]["sourceRanges"] == ["35.191.0.0/16", "130.211.0.0/22"]
    assert fws["gke-health-checks"]["allows"] == [{"protocol": "tcp"}]


def test_the_program_talks_to_gcp_through_one_explicit_provider(dra):
    provider = dra.one("pulumi:providers:gcp")
    assert provider.inputs["project"] == "my-project" and provider.inputs["region"] == "us-central1"


# --- cluster --------------------------------------------------------------------------------------------------------
def test_cluster_is_standard_dataplane_v2_vpc_native_private_with_dns_endpoint(dra):
    c = dra.one("gcp:container/cluster:Cluster").inputs
    assert c["name"] == "gke" and c["location"] == "us-central1"
    assert c["datapathProvider"] == "ADVANCED_DATAPATH"
    assert c["networkingMode"] == "VPC_NATIVE"
    assert c["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    assert c["workloadIdentityConfig"] == {"workloadPool": "my-project.svc.id.goog"}
    assert c["gatewayApiConfig"] == {"channel": "CHANNEL_STANDARD"}
    assert c["addonsConfig"]["httpLoadBalancing"] == {"disabled": False}
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is True
    # The IP endpoint admits no outside address: operators and CI use the IAM-authorized DNS endpoint.
    assert c["masterAuthorizedNetworksConfig"]["cidrBlocks"] == []
    assert c["masterAuthorizedNetworksConfig"]["gcpPublicCidrsAccessEnabled"] is False
    assert c["enableShieldedNodes"] is True
    assert c["removeDefaultNodePool"] is True
    assert c["deletionProtection"] is False  # so `pulumi destroy` works
    # No minimum by default: a pinned minor fails cluster creation once the channel drops it.
    assert c["releaseChannel"] == {"channel": "RAPID"} and "minMasterVersion" not in c
    assert c["monitoringConfig"] == {"managedPrometheus": {"enabled": True}}  # the PodMonitorings need it
    assert "enableMultiNetworking" not in c  # DRANET and Device-type multi-networking must not share a cluster


def test_authorized_networks_mode_opens_the_ip_endpoint_to_the_listed_cidrs_only():
    rec = run_program(
        gke_stack(controlPlaneAccess="authorized-networks", authorizedNetworks=["203.0.113.0/24"]),
        secrets=TOKEN,
        stack="gke",
    )
    c = rec.one("gcp:container/cluster:Cluster").inputs
    assert c["masterAuthorizedNetworksConfig"]["cidrBlocks"] == [
        {"cidrBlock": "203.0.113.0/24", "displayName": "authorized-0"}
    ]
    assert c["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is False


def test_nodes_run_as_a_dedicated_least_privilege_service_account(dra):
    sa = dra.one("gcp:serviceaccount/account:Account")
    assert sa.inputs["accountId"] == "gke-nodes"
    email = "gke-nodes@my-project.iam.gserviceaccount.com"
    members = dra.of_type("gcp:projects/iAMMember:IAMMember")
    assert {m.inputs["member"] for m in members} == {f"serviceAccount:{email}"}
    roles = {m.inputs["role"] for m in members}
    assert roles == set(gke_specs.NODE_ROLES)
    assert not any("admin" in r or r.endswith((".editor", "/editor", "/owner")) for r in roles)
    for pool in pools(dra).values():
        nc = pool.inputs["nodeConfig"]
        assert nc["serviceAccount"] == email
        assert nc["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
        assert nc["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}


# --- node pools -----------------------------------------------------------------------------------------------------
def test_dra_gpu_pool_is_single_zone_a3_ultra_with_driver_off_dra_labels_and_auto_network_profile(dra):
    ps = pools(dra)
    assert set(ps) == {"system", "gpu"}
    gpu = ps["gpu"].inputs
    nc = gpu["nodeConfig"]
    assert gpu["nodeLocations"] == ["us-central1-b"] and gpu["nodeCount"] == 1
    assert nc["machineType"] == "a3-ultragpu-8g" and nc["imageType"] == "COS_CONTAINERD"
    (acc,) = nc["guestAccelerators"]
    assert acc["type"] == "nvidia-h200-141gb" and acc["count"] == 8
    assert acc["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "INSTALLATION_DISABLED"}
    assert gpu["networkConfig"] == {"acceleratorNetworkProfile": "auto"}
    for label in gke_specs.DRA_NODE_LABELS:
        assert nc["labels"][label] == "true"
    assert nc["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert nc["bootDisk"]["diskType"] == "hyperdisk-balanced"
    assert nc["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": 32}
    assert nc["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["projects/my-project/reservations/res-a3u"],
    }
    assert gpu["upgradeSettings"] == {"maxSurge": 0, "maxUnavailable": 1}
    system = ps["system"].inputs
    assert system["nodeLocations"] == ["us-central1-b"]
    assert "guestAccelerators" not in system["nodeConfig"] and "taints" not in system["nodeConfig"]


@pytest.mark.parametrize(
    ("gpu_pool", "expect"),
    [
        ({"capacity": "spot"}, {"spot": True}),
        ({"capacity": "flex-start", "nodeCount": 2}, {"flexStart": True}),
        ({"machineType": "a4-highgpu-8g", "reservation": "r"}, {"machineType": "a4-highgpu-8g"}),
    ],
)
def test_capacity_and_machine_options(gpu_pool, expect):
    rec = run_program(gke_stack(gpuPool=gpu_pool), secrets=TOKEN, stack="gke")
    gpu = pools(rec)["gpu"].inputs
    for k, v in expect.items():
        assert gpu["nodeConfig"][k] == v
    if gpu_pool.get("capacity") == "spot":
        assert gpu["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
        assert gpu["nodeCount"] == 1
    if gpu_pool.get("capacity") == "flex-start":
        assert "nodeCount" not in gpu and gpu["initialNodeCount"] == 0
        assert gpu["autoscaling"]["totalMaxNodeCount"] == 2
    if gpu_pool.get("machineType") == "a4-highgpu-8g":
        assert gpu["nodeConfig"]["guestAccelerators"][0]["type"] == "nvidia-b200"


# --- DRA: drivers, claims, workers ----------------------------------------------------------------------------------
def test_dra_installs_the_pinned_cos_driver_installer_and_the_dra_driver_with_gke_values(dra):
    installer = dra.one("kubernetes:yaml/v2:ConfigFile")
    url = installer.inputs["file"]
    commit = url.split("/container-engine-accelerators/")[1].split("/")[0]
    assert len(commit) == 40 and url.endswith("nvidia-driver-installer/cos/daemonset-preloaded.yaml")
    chart = dra.one("kubernetes:helm.sh/v4:Chart")
    assert chart.inputs["chart"] == "nvidia-dra-driver-gpu"
    values = chart.inputs["values"]
    assert values["nvidiaDriverRoot"] == "/home/kubernetes/bin/nvidia/"
    assert values["gpuResourcesEnabledOverride"] is True
    assert values["resourceApiVersion"] == "resource.k8s.io/v1"
    assert values["kubeletPlugin"]["priorityClassName"] == ""
    # GKE manages the Gateway API and Inference Extension CRDs: the gke stack installs none.
    assert not [r for r in dra.of_type("pulumi-python:dynamic:Resource") if r.name.startswith("crds-")]


def test_prefill_claims_one_gpu_nic_pair_and_decode_four_each_pair_on_its_own_pcie_root(dra):
    templates = {t.metadata["name"]: t.inputs["spec"]["spec"]["devices"] for t in dra.of_type(CLAIM_TEMPLATE)}
    assert set(templates) == {"gke-llama-prefill-gpu-nic", "gke-llama-decode-gpu-nic"}
    for name, pairs in (("gke-llama-prefill-gpu-nic", 1), ("gke-llama-decode-gpu-nic", 4)):
        devices = templates[name]
        classes = [r["exactly"]["deviceClassName"] for r in devices["requests"]]
        assert classes.count("gpu.nvidia.com") == pairs and classes.count("mrdma.google.com") == pairs
        assert all(r["exactly"]["count"] == 1 for r in devices["requests"])
        # One constraint per pair: a single constraint over all requests would demand one PCIe root for all.
        assert [c["requests"] for c in devices["constraints"]] == [[f"gpu-{i}", f"nic-{i}"] for i in range(pairs)]
        assert {c["matchAttribute"] for c in devices["constraints"]} == {"resource.kubernetes.io/pcieRoot"}


def test_dra_workers_take_gpus_from_their_claim_request_no_gpu_resource_and_tolerate_the_gpu_taint(dra):
    for role in ("prefill", "decode"):
        dep = dra.one(DEPLOYMENT, f"gke-llama-{role}")
        spec = pod_spec(dep)
        assert spec["resourceClaims"] == [{"name": "gpu-nic", "resourceClaimTemplateName": f"gke-llama-{role}-gpu-nic"}]
        res = vllm(dep)["resources"]
        assert res["claims"] == [{"name": "gpu-nic"}]
        assert "nvidia.com/gpu" not in res["limits"] and "nvidia.com/gpu" not in res["requests"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        env = {e["name"]: e.get("value") for e in vllm(dep)["env"]}
        assert env["UCX_IB_ROCE_REACHABILITY_MODE"] == "all"
        assert env["NCCL_TUNER_PLUGIN"] == "none" and env["NCCL_NET_PLUGIN"] == ""
        assert "tcp" not in env["UCX_TLS"].split(",")  # a broken fabric fails instead of falling back to TCP
        assert vllm(dep)["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]


@pytest.mark.parametrize("fixture", ["dra", "multinetwork"])
def test_no_gke_pod_requests_the_infiniband_resource(fixture, request):
    rec: Recorder = request.getfixturevalue(fixture)
    assert "rdma/ib" not in json.dumps([r.inputs for r in rec.resources])


# --- gateway --------------------------------------------------------------------------------------------------------
def test_gke_gateway_waits_for_programmed_and_the_route_and_policies_fit_gke(dra):
    gw = dra.one("kubernetes:gateway.networking.k8s.io/v1:Gateway")
    assert gw.inputs["spec"]["gatewayClassName"] == "gke-l7-regional-external-managed"
    assert gw.metadata["annotations"]["pulumi.com/waitFor"] == "condition=Programmed"
    rule = dra.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute").inputs["spec"]["rules"][0]
    assert "port" not in rule["backendRefs"][0] and "timeouts" not in rule
    hc = dra.one("kubernetes:networking.gke.io/v1:HealthCheckPolicy").inputs["spec"]
    assert hc["default"]["config"]["httpHealthCheck"]["portSpecification"] == "USE_FIXED_PORT"
    bp = dra.one("kubernetes:networking.gke.io/v1:GCPBackendPolicy").inputs["spec"]
    assert bp["targetRef"]["kind"] == "InferencePool" and bp["default"]["timeoutSec"] >= 300


def test_internal_gateway_class_is_rilb():
    rec = run_program({**gke_stack(), "gateway": {"provider": "gke", "className": "gke-l7-rilb"}}, TOKEN, "gke")
    gw = rec.one("kubernetes:gateway.networking.k8s.io/v1:Gateway")
    assert gw.inputs["spec"]["gatewayClassName"] == "gke-l7-rilb"


# --- dependencies ---------------------------------------------------------------------------------------------------
def test_each_part_waits_for_what_it_runs_on_and_nothing_more(dra):
    ps = pools(dra)
    system, gpu = ps["system"], ps["gpu"]
    chart = dra.one("kubernetes:helm.sh/v4:Chart")
    installer = dra.one("kubernetes:yaml/v2:ConfigFile")
    cluster = dra.one("gcp:container/cluster:Cluster")
    assert dra.depends_on(dra.one("pulumi:providers:kubernetes"), cluster)
    for role in ("prefill", "decode"):
        worker = dra.one(DEPLOYMENT, f"gke-llama-{role}")
        for needed in (gpu, chart, installer, dra.one(CLAIM_TEMPLATE, f"gke-llama-{role}-gpu-nic")):
            assert dra.depends_on(worker, needed), needed.name
    epp = dra.one(DEPLOYMENT, "gke-llama-epp")
    assert dra.depends_on(epp, system) and not dra.depends_on(epp, gpu) and not dra.depends_on(epp, chart)
    assert dra.depends_on(chart, system) and not dra.depends_on(chart, gpu)
    cluster_only = [
        dra.one("kubernetes:core/v1:Namespace", "llm-d-pd"),
        dra.one("kubernetes:core/v1:Secret", "gke-hf-token"),
        dra.one("kubernetes:core/v1:ConfigMap", "gke-llama-epp-config"),
        dra.one("kubernetes:inference.networking.k8s.io/v1:InferencePool"),
        dra.one("kubernetes:networking.gke.io/v1:HealthCheckPolicy"),
        *dra.of_type(CLAIM_TEMPLATE),
    ]
    for obj in cluster_only:
        for pool in (system, gpu):
            assert not dra.depends_on(obj, pool), (obj.name, pool.name)
        assert not dra.depends_on(obj, chart), obj.name


# --- classic multi-networking ---------------------------------------------------------------------------------------
def test_multinetwork_creates_the_roce_vpc_with_its_zone_profile_8_subnets_and_the_gvnic_vpc(multinetwork):
    nets = {n.inputs["name"]: n.inputs for n in multinetwork.of_type("gcp:compute/network:Network")}
    assert set(nets) == {"gke-net", "gke-gvnic-net", "gke-rdma-net"}
    profile = "projects/my-project/global/networkProfiles/us-central1-b-vpc-roce"
    assert nets["gke-rdma-net"]["networkProfile"] == profile and nets["gke-rdma-net"]["mtu"] == 8896
    subs = {s.inputs["name"]: s.inputs for s in multinetwork.of_type("gcp:compute/subnetwork:Subnetwork")}
    rdma = [subs[f"gke-rdma-sub-{i}"]["ipCidrRange"] for i in range(8)]
    assert all(ipaddress.IPv4Network(r).prefixlen == 21 for r in rdma) and len(set(rdma)) == 8
    # RoCE VPCs take no VPC firewall rules.
    fws = multinetwork.of_type("gcp:compute/firewall:Firewall")
    assert {f.inputs["name"] for f in fws} == {"gke-internal", "gke-health-checks", "gke-gvnic-internal"}
    assert multinetwork.one("gcp:container/cluster:Cluster").inputs["enableMultiNetworking"] is True


def test_multinetwork_pool_attaches_gvnic_then_the_8_roce_subnets_and_keeps_gke_driver(multinetwork):
    gpu = pools(multinetwork)["gpu"].inputs
    extra = gpu["networkConfig"]["additionalNodeNetworkConfigs"]
    assert len(extra) == 9
    assert "acceleratorNetworkProfile" not in gpu["networkConfig"]
    acc = gpu["nodeConfig"]["guestAccelerators"][0]
    assert acc["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert "cloud.google.com/gke-networking-dra-driver" not in gpu["nodeConfig"]["labels"]


def test_multinetwork_network_objects_and_pod_annotations(multinetwork):
    params = {p.metadata["name"]: p.inputs["spec"] for p in multinetwork.of_type(
        "kubernetes:networking.gke.io/v1:GKENetworkParamSet")}  # fmt: skip
    assert params["gvnic-1"] == {"vpc": "gke-gvnic-net", "vpcSubnet": "gke-gvnic-sub", "deviceMode": "NetDevice"}
    for i in range(8):
        assert params[f"rdma-{i}"] == {"vpc": "gke-rdma-net", "vpcSubnet": f"gke-rdma-sub-{i}", "deviceMode": "RDMA"}
    networks = multinetwork.of_type("kubernetes:networking.gke.io/v1:Network")
    assert len(networks) == 9 and all(n.inputs["spec"]["type"] == "Device" for n in networks)
    for role in ("prefill", "decode"):
        dep = multinetwork.one(DEPLOYMENT, f"gke-llama-{role}")
        ann = dep.inputs["spec"]["template"]["metadata"]["annotations"]
        assert ann["networking.gke.io/default-interface"] == "eth0"
        interfaces = json.loads(ann["networking.gke.io/interfaces"])
        assert interfaces[0] == {"interfaceName": "eth0", "network": "default"}
        assert interfaces[1:] == [{"interfaceName": f"eth{i + 2}", "network": f"rdma-{i}"} for i in range(8)]
        assert vllm(dep)["resources"]["limits"]["nvidia.com/gpu"] == "8"  # the whole node
        assert pod_spec(dep)["containers"][0]["name"] == "vllm"  # RDMA devices go to the first container only
        assert "resourceClaims" not in pod_spec(dep)
    assert not multinetwork.of_type(CLAIM_TEMPLATE)


def test_multinetwork_with_the_seed_topology_is_refused_before_anything_is_registered():
    rec = Recorder()
    with pytest.raises(pulumi.RunError, match="only one pod per node can use RDMA"):
        run_program(gke_stack("gke-multinetwork"), secrets=TOKEN, stack="gke", recorder=rec)
    assert rec.resources == []


def test_fabric_none_is_explicit_and_warns_in_the_outputs():
    from components.config import load_config
    from components.specs import outputs

    cfg = load_config({**gke_stack("none"), "hfTokenSecretName": "hf"}, "gke")
    assert outputs.kv_transport(cfg).startswith("WARNING: tcp")
    rec = run_program(gke_stack("none"), secrets=TOKEN, stack="gke")
    assert not rec.of_type(CLAIM_TEMPLATE) and not rec.of_type("kubernetes:helm.sh/v4:Chart")
    dep = rec.one(DEPLOYMENT, "gke-llama-decode")
    assert vllm(dep)["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_existing_gke_cluster_deploys_only_the_in_cluster_part():
    rec = run_program(
        {"cluster": {"kind": "gke", "kubeconfig": "/dev/null", "gke": {"provision": False}}}, TOKEN, "gke"
    )
    assert not [r for r in rec.resources if r.typ.startswith("gcp:")]
    assert len(rec.of_type(CLAIM_TEMPLATE)) == 2


@pytest.mark.parametrize(
    ("access", "server", "ca"),
    [("dns", "https://gke-abc.us-central1.gke.goog", None), ("authorized-networks", "https://192.0.2.1", "Q0E=")],
)
def test_kubeconfig_reaches_the_chosen_endpoint_with_the_gcloud_plugin_and_stores_no_credential(access, server, ca):
    import yaml

    from components.config import load_config

    cfg = load_config({**gke_stack(controlPlaneAccess=access), "hfTokenSecretName": "hf"}, "gke")
    text = gke_specs.cluster_kubeconfig(
        cfg.cluster.gke, gke_specs.gke_names(cfg), "gke-abc.us-central1.gke.goog", "192.0.2.1", "Q0E="
    )
    kc = yaml.safe_load(text)
    user = kc["users"][0]["user"]
    assert user["exec"]["command"] == "gke-gcloud-auth-plugin" and set(user) == {"exec"}
    cluster = kc["clusters"][0]["cluster"]
    assert cluster["server"] == server
    assert cluster.get("certificate-authority-data") == ca


def test_the_kubeconfig_output_is_a_secret():
    from components.config import load_config
    from components.gke import GkeCluster, GkeClusterArgs

    pulumi.runtime.set_mocks(Recorder(), project="llm-d-pd", stack="gke", preview=False)
    cfg = load_config({**gke_stack(), "hfTokenSecretName": "hf"}, "gke")
    seen: list[bool] = []

    @pulumi.runtime.test
    def check():
        kubeconfig = GkeCluster("gke", GkeClusterArgs(cfg)).kubeconfig

        async def is_secret() -> bool:
            return await kubeconfig._is_secret

        return pulumi.Output.all(is_secret(), kubeconfig).apply(seen.extend)

    check()
    secret, kubeconfig = seen
    assert secret is True
    import yaml

    # The DNS endpoint GKE reports (the mock fills it in as GKE would), reached with the gcloud plugin.
    cluster = yaml.safe_load(kubeconfig)["clusters"][0]["cluster"]
    assert cluster == {"server": "https://gke-0123456789abcdef.us-central1.gke.goog"}


def test_shared_model_cache_mounts_one_node_directory_into_every_worker():
    rec = run_program(gke_stack(gpuPool={"reservation": "r", "sharedModelCache": True}), TOKEN, "gke")
    for role in ("prefill", "decode"):
        volumes = {v["name"]: v for v in pod_spec(rec.one(DEPLOYMENT, f"gke-llama-{role}"))["volumes"]}
        assert volumes["model-cache"] == {
            "name": "model-cache",
            "hostPath": {"path": "/var/cache/huggingface", "type": "DirectoryOrCreate"},
        }


# --- from an empty project: APIs, ordering for up and destroy -------------------------------------------------------
SERVICE = "gcp:projects/service:Service"
NEG_CLEANUP = "pulumi-python:dynamic/llmd:NegCleanup"
CRDS_ESTABLISHED = "pulumi-python:dynamic/llmd:CrdsEstablished"
VERIFIED_INSTALLER = "992db81257553607f1477945f1b3219632991829"


@pytest.mark.parametrize("fixture", ["dra", "multinetwork"])
def test_the_stack_enables_the_apis_it_needs_and_never_disables_them(fixture, request):
    rec: Recorder = request.getfixturevalue(fixture)
    services = {s.inputs["service"]: s for s in rec.of_type(SERVICE)}
    assert {"container.googleapis.com", "compute.googleapis.com", "networkservices.googleapis.com"} <= set(services)
    assert set(services) == set(gke_specs.REQUIRED_SERVICES)
    for s in services.values():
        assert s.inputs["disableOnDestroy"] is False and s.inputs["project"] == "my-project"
    cluster = rec.one("gcp:container/cluster:Cluster")
    for s in services.values():
        assert rec.depends_on(cluster, s), s.name
    # Every other GCP resource waits for the APIs too (a network needs compute, the service account iam).
    for r in rec.resources:
        if r.typ.startswith("gcp:") and r.typ != SERVICE:
            assert rec.depends_on(r, services["compute.googleapis.com"]), r.name


@pytest.mark.parametrize("fixture", ["dra", "multinetwork"])
def test_the_cluster_depends_on_the_proxy_subnet_firewalls_and_neg_cleanup_so_destroy_removes_it_first(
    fixture, request
):
    rec: Recorder = request.getfixturevalue(fixture)
    cluster = rec.one("gcp:container/cluster:Cluster")
    proxy = rec.one("gcp:compute/subnetwork:Subnetwork", "gke-proxy-only")
    cleanup = rec.one(NEG_CLEANUP)
    assert rec.depends_on(cluster, proxy)
    for fw in rec.of_type("gcp:compute/firewall:Firewall"):
        if fw.inputs["name"] in ("gke-internal", "gke-health-checks"):
            assert rec.depends_on(cluster, fw), fw.name
    # cluster -> NEG cleanup -> network, subnets, firewall rules: destroy runs the cleanup after the cluster is
    # gone and before any of them.
    assert rec.depends_on(cluster, cleanup)
    needed = [
        rec.one("gcp:compute/network:Network", "gke-net"),
        rec.one("gcp:compute/subnetwork:Subnetwork", "gke-subnet"),
        proxy,
        rec.one("gcp:compute/firewall:Firewall", "gke-internal"),
        rec.one("gcp:compute/firewall:Firewall", "gke-health-checks"),
    ]
    for n in needed:
        assert rec.depends_on(cleanup, n), n.name
    assert cleanup.inputs["network"] == "gke-net" and cleanup.inputs["project"] == "my-project"
    # The Kubernetes provider (so every in-cluster object, the Gateway included) depends on the cluster.
    assert rec.depends_on(rec.one("pulumi:providers:kubernetes"), cluster)


class FakeNegs:
    """A project's NEGs; `busy` NEGs refuse deletion that many times (a backend service still uses them)."""

    def __init__(self, negs, busy=None, fail=None):
        self.negs = list(negs)
        self.busy = dict(busy or {})
        self.fail = fail
        self.deleted: list[str] = []

    def list_negs(self, project):
        assert project == "my-project"
        return list(self.negs)

    def delete_neg(self, project, zone, name):
        if self.fail:
            raise self.fail
        if self.busy.get(name):
            self.busy[name] -= 1
            raise lifecycle.NegBusy("resourceInUseByAnotherResource")
        self.negs = [n for n in self.negs if not (n.name == name and n.zone == zone)]
        self.deleted.append(name)


NET = "https://www.googleapis.com/compute/v1/projects/my-project/global/networks/gke-net"
OTHER_NET = "https://www.googleapis.com/compute/v1/projects/my-project/global/networks/other"


def neg(name, network=NET, zone="us-central1-b"):
    return lifecycle.Neg(name, zone, network)


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self):
        return self.now

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s


@pytest.mark.parametrize(
    ("negs", "busy", "deleted", "sleeps"),
    [
        ([], {}, [], 0),  # nothing left: done at once
        # Only GKE's (k8s1-) NEGs of this VPC go; another VPC's and hand-made ones stay.
        ([neg("k8s1-abcd1234-llm-d-pd-epp-9002-0f0f0f0f"), neg("k8s1-abcd1234-x", OTHER_NET), neg("mine")], {},
         ["k8s1-abcd1234-llm-d-pd-epp-9002-0f0f0f0f"], 0),
        ([neg("k8s1-a", zone="us-central1-a"), neg("k8s1-b")], {}, ["k8s1-a", "k8s1-b"], 0),
        # Still used by a backend service twice: retried after a pause each time, then deleted.
        ([neg("k8s1-a")], {"k8s1-a": 2}, ["k8s1-a"], 2),
    ],
)  # fmt: skip
def test_drain_negs_deletes_gkes_negs_in_the_stacks_vpc_until_none_remain(negs, busy, deleted, sleeps):
    client, clock = FakeNegs(negs, busy), Clock()
    result = lifecycle.drain_negs(client, "my-project", "gke-net", lifecycle.NEG_DRAIN, clock.sleep, clock)
    assert result.deleted == client.deleted == deleted
    assert len(clock.sleeps) == sleeps
    assert [n.name for n in client.negs] == [n.name for n in negs if n.name not in deleted]


def test_drain_negs_gives_up_after_its_timeout_naming_what_is_left_and_the_fix():
    client, clock = FakeNegs([neg("k8s1-a")], {"k8s1-a": 10**6}), Clock()
    wait = lifecycle.WaitPolicy(timeout_s=60, interval_s=15)
    with pytest.raises(lifecycle.DrainTimeout, match=r"us-central1-b/k8s1-a.*gcloud compute network-endpoint-groups"):
        lifecycle.drain_negs(client, "my-project", "gke-net", wait, clock.sleep, clock)
    assert clock.now == 60  # bounded: 4 pauses of 15 s


def test_drain_negs_stops_at_once_on_an_error_waiting_cannot_fix():
    client, clock = FakeNegs([neg("k8s1-a")], fail=PermissionError("403")), Clock()
    with pytest.raises(PermissionError):
        lifecycle.drain_negs(client, "my-project", "gke-net", lifecycle.NEG_DRAIN, clock.sleep, clock)
    assert clock.sleeps == []


def test_neg_cleanup_does_nothing_on_create_and_drains_with_the_compute_client_on_delete(monkeypatch):
    from components import gke_lifecycle

    client = FakeNegs([neg("k8s1-a"), neg("k8s1-b", OTHER_NET)])
    monkeypatch.setattr(gke_lifecycle, "ComputeNegClient", lambda: client)
    provider = gke_lifecycle.NegCleanupProvider()
    props = {"project": "my-project", "network": "gke-net", "timeout_seconds": 60.0}
    created = provider.create(props)
    assert created.id == "my-project/gke-net" and client.deleted == []
    provider.delete(created.id, props)
    assert client.deleted == ["k8s1-a"]


# --- custom resources wait for GKE's CRDs ---------------------------------------------------------------------------
BUILTIN_GROUPS = {"core", "apps", "batch", "rbac.authorization.k8s.io", "networking.k8s.io", "resource.k8s.io",
                  "storage.k8s.io", "helm.sh", "yaml"}  # fmt: skip


@pytest.mark.parametrize("fixture", ["dra", "multinetwork"])
def test_the_kubernetes_provider_waits_until_every_crd_the_stack_uses_is_established(fixture, request):
    rec: Recorder = request.getfixturevalue(fixture)
    wait = rec.one(CRDS_ESTABLISHED)
    assert rec.depends_on(wait, rec.one("gcp:container/cluster:Cluster"))
    assert rec.depends_on(rec.one("pulumi:providers:kubernetes"), wait)
    used = {
        (r.typ.split(":")[1].rsplit("/", 1)[0], r.typ.split(":")[2])
        for r in rec.resources
        if r.typ.startswith("kubernetes:") and r.typ.split(":")[1].rsplit("/", 1)[0] not in BUILTIN_GROUPS
    }
    assert used and {gke_specs.GKE_MANAGED_CRDS[k] for k in used} == set(wait.inputs["crds"])
    assert wait.inputs["kubeconfig"]  # the stack's kubeconfig (a secret), read with gke-gcloud-auth-plugin


class FakeCrds:
    def __init__(self, appear_after: dict[str, int]):
        self.appear_after, self.calls = appear_after, {}

    def established(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1
        after = self.appear_after.get(name)
        if after is None:
            return None
        return None if self.calls[name] <= after else True


def test_wait_for_crds_polls_until_each_is_established_then_times_out_naming_the_missing():
    clock = Clock()
    rounds = lifecycle.wait_for_crds(FakeCrds({"a": 0, "b": 3}), ["a", "b"], lifecycle.CRD_INSTALL, clock.sleep, clock)
    assert rounds == 4 and clock.now == 3 * lifecycle.CRD_INSTALL.interval_s
    clock = Clock()
    with pytest.raises(lifecycle.CrdTimeout, match=r"CRDs: b\b"):
        lifecycle.wait_for_crds(FakeCrds({"a": 0}), ["a", "b"], lifecycle.WaitPolicy(60, 10), clock.sleep, clock)
    assert clock.now == 60


def test_crds_established_keeps_the_kubeconfig_out_of_its_outputs_and_rewaits_only_for_new_crds(monkeypatch):
    from components import gke_lifecycle

    fake = FakeCrds({"a": 1})
    monkeypatch.setattr(gke_lifecycle, "KubeCrdClient", lambda kubeconfig: fake)
    monkeypatch.setattr(lifecycle.time, "sleep", lambda s: None)
    provider = gke_lifecycle.CrdsEstablishedProvider()
    props = {"kubeconfig": "apiVersion: v1", "crds": ["a"], "timeout_seconds": 60.0}
    created = provider.create(props)
    assert created.outs == {"crds": ["a"], "timeout_seconds": 60.0} and fake.calls == {"a": 2}
    assert provider.diff(created.id, created.outs, {**props, "kubeconfig": "changed"}).changes is False
    assert provider.diff(created.id, created.outs, {**props, "crds": ["a", "b"]}).changes is True


# --- the GPU pool: capacity, drift, replacement ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reservation", "value"),
    [
        ("res-a3u", "projects/my-project/reservations/res-a3u"),
        ("res-a3u/reservationBlocks/block-1", "projects/my-project/reservations/res-a3u/reservationBlocks/block-1"),
        ("projects/owner-project/reservations/shared", "projects/owner-project/reservations/shared"),
        (
            "projects/owner-project/reservations/shared/reservationBlocks/b",
            "projects/owner-project/reservations/shared/reservationBlocks/b",
        ),
    ],
)
def test_a_reservation_is_sent_as_its_full_path(reservation, value):
    rec = run_program(gke_stack(gpuPool={"reservation": reservation}), TOKEN, "gke")
    affinity = pools(rec)["gpu"].inputs["nodeConfig"]["reservationAffinity"]
    assert affinity == {
        "consumeReservationType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": [value],
    }


@pytest.mark.parametrize("fixture", ["dra", "multinetwork"])
def test_the_gpu_pool_ignores_fields_the_api_reports_with_drift_and_is_unprotected_by_default(fixture, request):
    rec: Recorder = request.getfixturevalue(fixture)
    ps = pools(rec)
    assert ps["gpu"].ignore_changes == [
        "nodeConfig.labels",
        "nodeConfig.ephemeralStorageLocalSsdConfig",
        "nodeConfig.localNvmeSsdBlockConfig",
        "initialNodeCount",
    ]
    assert ps["gpu"].protect is False and ps["system"].protect is False


def test_gpu_pool_protect_sets_pulumi_protect_and_silences_the_replacement_warning():
    from components import preflight
    from components.config import load_config

    rec = run_program(gke_stack(gpuPool={"reservation": "r", "protect": True}), TOKEN, "gke")
    assert pools(rec)["gpu"].protect is True
    for protect, warned in ((False, True), (True, False)):
        cfg = load_config({**gke_stack(gpuPool={"reservation": "r", "protect": protect}), "hfTokenSecretName": "h"},
                          "gke")  # fmt: skip
        warnings = [w for w in preflight.run(cfg).warnings if "gpuPool.protect" in w]
        assert bool(warnings) is warned
        if warned:
            for key in ("rdma.fabric", "gpuPool.capacity", "gpuPool.reservation", "clusterName"):
                assert key in warnings[0]


def test_a_min_version_is_sent_only_when_configured():
    rec = run_program(gke_stack(minVersion="1.35"), TOKEN, "gke")
    assert rec.one("gcp:container/cluster:Cluster").inputs["minMasterVersion"] == "1.35"


# --- the driver installer ------------------------------------------------------------------------------------------
def test_the_driver_installer_is_the_verified_commit_whose_manifest_is_a_served_apps_v1_daemonset(dra):
    from components import catalog, preflight

    url = dra.one("kubernetes:yaml/v2:ConfigFile").inputs["file"]
    assert f"/container-engine-accelerators/{VERIFIED_INSTALLER}/" in url
    kinds = catalog.GPU_DRIVER_INSTALLER_KINDS[VERIFIED_INSTALLER]
    assert kinds == (("apps/v1", "DaemonSet"),)
    assert preflight.removed_apis(kinds, catalog.NEWEST_KUBERNETES) == []


@pytest.mark.parametrize(
    ("kinds", "version", "removed"),
    [
        ((("extensions/v1beta1", "DaemonSet"),), "1.15", []),
        ((("extensions/v1beta1", "DaemonSet"),), "1.16", [("extensions/v1beta1", "DaemonSet", "1.16")]),
        ((("apps/v1", "DaemonSet"), ("policy/v1beta1", "PodDisruptionBudget")), "1.35.0-gke.1",
         [("policy/v1beta1", "PodDisruptionBudget", "1.25")]),
        ((("apps/v1", "DaemonSet"),), "1.36", []),
    ],
)  # fmt: skip
def test_removed_apis_by_release(kinds, version, removed):
    from components import preflight

    assert preflight.removed_apis(kinds, version) == removed


@pytest.mark.parametrize(
    ("ref", "errors", "warnings"),
    [
        (VERIFIED_INSTALLER, [], []),
        ("feb27ef33e5fdf1b8ec7dafbf4cf527ee400278a", ["extensions/v1beta1 DaemonSet", "stopped serving in 1.16"], []),
        ("0" * 40, [], ["not in the catalog"]),
    ],
)
def test_preflight_refuses_a_driver_installer_the_cluster_no_longer_serves(ref, errors, warnings):
    from components import preflight
    from components.config import load_config

    raw = {**gke_stack(), "hfTokenSecretName": "h", "clusterPrep": {"charts": {"gpuDriverInstallerRef": ref}}}
    report = preflight.run(load_config(raw, "gke"))
    key = "llm-d-pd:clusterPrep.charts.gpuDriverInstallerRef"
    found_errors = [e for e in report.errors if e.startswith(key)]
    found_warnings = [w for w in report.warnings if w.startswith(key)]
    assert bool(found_errors) is bool(errors) and bool(found_warnings) is bool(warnings)
    for text in errors:
        assert text in found_errors[0]
    for text in warnings:
        assert text in found_warnings[0]


@pytest.mark.parametrize(
    ("gke", "key", "text"),
    [
        ({"gpuPool": {"reservation": "Bad Name"}}, "gpuPool.reservation", "is not a reservation"),
        ({"gpuPool": {"reservation": "projects/p/reservations/"}}, "gpuPool.reservation", "is not a reservation"),
    ],
)
def test_a_malformed_reservation_is_refused(gke, key, text):
    from components import preflight
    from components.config import ConfigError, load_config

    try:
        errors = preflight.run(load_config({**gke_stack(**gke), "hfTokenSecretName": "h"}, "gke")).errors
    except ConfigError as e:
        errors = e.problems
    assert any(e.startswith(f"llm-d-pd:cluster.gke.{key}") and text in e for e in errors), errors


def test_preflight_warns_when_gke_dra_takes_a_slower_channels_default_version():
    from components import preflight
    from components.config import load_config

    for channel, warned in (("RAPID", False), ("REGULAR", True)):
        cfg = load_config({**gke_stack(releaseChannel=channel), "hfTokenSecretName": "h"}, "gke")
        warnings = [w for w in preflight.run(cfg).warnings if w.startswith("llm-d-pd:cluster.gke.minVersion")]
        assert bool(warnings) is warned
