"""The P/D gate: its client against a stand-in gateway and metrics endpoints (one run per failure cause), its parsing
of the pinned versions' metric texts, and its Job, RBAC and NetworkPolicy rows under Pulumi mocks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import load_config
from components.gate import pd_gate
from components.releases import release
from components.specs import gateway as gw_specs
from components.specs import pd_gate as specs
from components.specs.names import InstallNames
from components.specs.verification import disaggregated_prompt_chars
from tests import pd_gate_fixtures as fx
from tests.harness import GKE_CLUSTER, MOCK_GATEWAY_ADDRESS, run_program

ROOT = Path(__file__).resolve().parents[2]
JOB = "kubernetes:batch/v1:Job"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
LONG_CHARS = 4 * (16 + 64)


def gate_config(base: str, tmp_path: Path, requests: int = 3, short: str | None = specs.SHORT_PROMPT) -> dict:
    token = tmp_path / "token"
    token.write_text(fx.TOKEN + "\n")
    return {
        "pool": "llama",
        "gateway_url": base,
        "model": fx.MODEL,
        "requests": requests,
        "long_prompt_chars": LONG_CHARS,
        "short_prompt": short,
        "epp_metrics_url": f"{base}/epp/metrics",
        "token_file": str(token),
        "prefill_metrics": [f"{base}/prefill/metrics"],
        "decode_metrics": [f"{base}/decode/metrics"],
        "request_timeout": 5.0,
        "warmup_seconds": 2.0,
        "settle_seconds": 0.3,
        "poll_seconds": 0.05,
    }


def run_gate(scenario: fx.Scenario, tmp_path: Path, **kw) -> tuple[pd_gate.Result, fx.StandIn]:
    with fx.serve(scenario, LONG_CHARS) as (base, stand_in):
        result = pd_gate.run(pd_gate.GateConfig.from_json(gate_config(base, tmp_path, **kw)))
    return result, stand_in


# --- the client against the stand-in: a pass, and one failing run per cause ----------------------------------------
def test_a_disaggregated_run_passes_with_its_figures(tmp_path: Path):
    result, stand_in = run_gate(fx.SCENARIOS["pass"], tmp_path)
    assert result.passed and result.exit_code() == 0, result.failures
    assert (result.requests, result.answered, result.pd_decisions, result.kv_transfers) == (3, 3, 3, 3)
    assert result.kv_bytes == 3 * fx.KV_BYTES_PER_TRANSFER and result.failed_transfers == 0
    assert result.short_prompt == {"pd_decisions": 0, "decode_only": 1}
    assert result.ttft_seconds["p50"] is not None and result.ttft_seconds["max"] >= result.ttft_seconds["p50"]
    # Warm-up, 3 long prompts each with its own nonce, then the short one; the EPP's metrics were read with a token.
    long_prompts = [p for p in stand_in.completions if len(p) >= LONG_CHARS]
    assert len(long_prompts) == 3 and len({p.split(" ", 1)[0] for p in long_prompts}) == 3
    assert stand_in.completions[-1] == specs.SHORT_PROMPT and stand_in.unauthorized_metrics == 0
    assert result.summary().startswith("pd-gate PASSED pool llama: 3 requests, 3 P/D decisions, 3 KV transfers")


@pytest.mark.parametrize(
    ("scenario", "cause", "says"),
    [
        ("no-pd-decisions", "no-pd-decisions", "EPP P/D decisions +0 for 3 long requests"),
        ("no-kv-transfers", "no-kv-transfers", "KV transfers +0 for 3 long requests"),
        ("no-connector", "no-kv-transfers", "no NixlConnector"),
        ("failed-transfers", "failed-transfers", "failed NIXL transfers +3"),
        ("request-failed", "request-failed", "3/3 long requests got no generated text (HTTP 403"),
        ("short-disaggregated", "short-disaggregated", "the short prompt got 1 P/D decision"),
    ],
)
def test_each_broken_cause_fails_the_gate_and_names_it(tmp_path: Path, scenario: str, cause: str, says: str):
    result, _ = run_gate(fx.SCENARIOS[scenario], tmp_path)
    assert not result.passed and result.cause == cause
    assert result.exit_code() == pd_gate.CAUSES[cause][0] != 0
    message = result.summary()
    assert message.startswith("pd-gate FAILED pool llama: ") and says in message, message
    assert f"likely cause: {pd_gate.CAUSES[cause][1]}" in message


def test_without_a_token_the_epp_metrics_are_unreachable_and_the_gate_says_so(tmp_path: Path):
    with fx.serve(fx.SCENARIOS["pass"], LONG_CHARS) as (base, stand_in):
        cfg = gate_config(base, tmp_path)
        cfg["token_file"] = None
        result = pd_gate.run(pd_gate.GateConfig.from_json(cfg))
    assert result.cause == "unreachable" and "HTTP Error 401" in result.summary()
    assert stand_in.unauthorized_metrics > 0 and not [p for p in stand_in.completions if len(p) >= LONG_CHARS]


def test_with_the_always_decider_no_short_prompt_is_sent(tmp_path: Path):
    result, stand_in = run_gate(fx.SCENARIOS["pass"], tmp_path, short=None)
    assert result.passed and result.short_prompt is None
    assert all(len(p) >= LONG_CHARS for p in stand_in.completions)


def test_the_job_entry_point_writes_the_verdict_and_exits_with_the_causes_code(tmp_path: Path):
    """The file the Job runs, run as a script (its own process, as in the pod)."""
    for scenario, code in (("pass", 0), ("failed-transfers", pd_gate.CAUSES["failed-transfers"][0])):
        with fx.serve(fx.SCENARIOS[scenario], LONG_CHARS) as (base, _):
            config = tmp_path / f"{scenario}.json"
            config.write_text(json.dumps(gate_config(base, tmp_path)))
            term = tmp_path / f"{scenario}.termination"
            proc = subprocess.run(
                [sys.executable, str(ROOT / "components/gate/pd_gate.py"), str(config)],
                capture_output=True, text=True, timeout=60,
                env={"PD_GATE_TERMINATION_LOG": str(term), "PATH": "/usr/bin:/bin"},
            )  # fmt: skip
        assert proc.returncode == code, proc.stderr
        verdict, payload = term.read_text().split("\n", 1)
        assert verdict.startswith("pd-gate PASSED" if code == 0 else "pd-gate FAILED")
        assert json.loads(payload)["passed"] is (code == 0) and verdict in proc.stdout


# --- parsing the pinned versions' texts ------------------------------------------------------------------------------
def test_counters_are_read_by_name_and_labels_from_both_exposition_styles():
    epp = fx.epp_text({"prefill-decode": 7, "decode-only": 2})
    assert pd_gate.epp_counts(epp, fx.MODEL) == (7, 2)
    assert pd_gate.epp_counts(epp, "another-model") == (0, 0)
    pod = fx.VllmPod()
    pod.transfer(4, failed=1)
    counts = pd_gate.nixl_counts(pod.text(), fx.MODEL)
    assert counts == {"transfers": 4, "bytes": 4 * fx.KV_BYTES_PER_TRANSFER, "failed_transfers": 1,
                      "failed_notifications": 0}  # fmt: skip


@pytest.mark.parametrize(("before", "after", "increase"), [(0, 5, 5), (5, 5, 0), (9, 3, 3), (2.5, 4, 1.5)])
def test_a_counter_that_restarted_counts_from_zero(before: float, after: float, increase: float):
    assert pd_gate.increase(before, after) == increase


def test_a_pod_that_appeared_between_snapshots_counts_in_full():
    a = pd_gate.Snapshot(1, 0, {"decode x": {"transfers": 2, "bytes": 10, "failed_transfers": 0,
                                               "failed_notifications": 0}}, True)  # fmt: skip
    b = pd_gate.Snapshot(4, 1, {**a.pods, "decode y": {"transfers": 3, "bytes": 30, "failed_transfers": 0,
                                                        "failed_notifications": 0}}, True)  # fmt: skip
    assert pd_gate.delta(a, b) == {"pd_decisions": 3, "decode_only": 1, "transfers": 3, "bytes": 30,
                                   "failed_transfers": 0, "failed_notifications": 0}  # fmt: skip


@pytest.mark.parametrize("chars", [1, 80, 320, 4 * 20064])
def test_long_prompts_reach_the_decider_threshold_and_start_with_their_nonce(chars: int):
    prompt = pd_gate.long_prompt(chars, "abc")
    assert len(prompt) >= chars and prompt.startswith("run-abc ")


def test_the_gate_module_imports_nothing_of_pulumi_or_this_project():
    source = (ROOT / "components/gate/pd_gate.py").read_text()
    assert "import pulumi" not in source and "from components" not in source and "import components" not in source


# --- the program under mocks -----------------------------------------------------------------------------------------
def gates(rec):
    return [j for j in rec.of_type(JOB) if j.metadata["name"].startswith("ib-") and "-pd-gate-" in j.metadata["name"]]


def test_a_real_stack_has_one_gate_job_per_serving_pool_after_the_route_and_workers():
    pools = [{"name": "blue", "serve": False}, {"name": "green", "route": {"pathPrefix": "/g"}}]
    rec = run_program({"pools": pools}, secrets={"hfToken": "hf_x"})
    (job,) = gates(rec)
    assert job.metadata["name"].startswith("ib-green-pd-gate-")
    route = rec.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    assert rec.depends_on(job, route)
    for role in ("prefill", "decode"):
        for pool in ("blue", "green"):
            assert rec.depends_on(job, rec.one("kubernetes:apps/v1:Deployment", f"ib-{pool}-{role}"))
    spec = job.inputs["spec"]
    assert spec["backoffLimit"] == 0 and spec["podFailurePolicy"]["rules"][0]["action"] == "FailJob"
    pod = spec["template"]["spec"]
    assert pod["containers"][0]["image"] == release(None).vllm_image  # images.vllm, the default release's
    assert pod["serviceAccountName"] == "ib-green-pd-gate" and pod["automountServiceAccountToken"] is False
    cm = rec.one("kubernetes:core/v1:ConfigMap", job.metadata["name"])
    assert cm.inputs["data"]["pd_gate.py"] == (ROOT / "components/gate/pd_gate.py").read_text()
    config = json.loads(cm.inputs["data"]["config.json"])
    assert config["gateway_url"] == "http://ib-inference-gateway-istio.llm-d-pd.svc.cluster.local:80"
    assert config["path"] == "/g/v1/completions" and config["requests"] == 8
    assert config["epp_metrics_url"] == "http://ib-green-epp.llm-d-pd.svc.cluster.local:9090/metrics"
    assert config["decode_metrics"] == ["dns://ib-green-decode-metrics.llm-d-pd.svc.cluster.local:8200/metrics"]
    assert config["short_prompt"] == "Hi."


def test_the_gates_prompt_follows_the_verification_jobs_rule():
    cfg = load_config({"hfTokenSecretName": "hf", "pools": [{"name": "llama", "scheduling": {"nonCachedTokens": 900}}]},
                      "ib")  # fmt: skip
    names = InstallNames("ib", cfg.namespace).pool("llama")
    config = specs.gate_config(names, cfg.pools[0], cfg)
    assert config["long_prompt_chars"] == disaggregated_prompt_chars(cfg.pools[0])
    assert len(specs.SHORT_PROMPT) // pd_gate.CHARS_PER_TOKEN < 1  # below every selective threshold


def test_the_gate_has_least_privilege_rbac():
    rec = run_program({}, secrets={"hfToken": "hf_x"})
    (role,) = [r for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole") if "pd-gate" in r.name]
    assert role.inputs["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    assert role.metadata["name"] == "llm-d-pd-ib-llama-pd-gate"
    (binding,) = [r for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
                  if "pd-gate" in r.name]  # fmt: skip
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "ib-llama-pd-gate",
                                           "namespace": "llm-d-pd"}]  # fmt: skip
    sa = rec.one("kubernetes:core/v1:ServiceAccount", "ib-llama-pd-gate")
    assert sa.inputs["automountServiceAccountToken"] is False
    # Its one namespaced right: get and patch its own Job, by name, to record its figures there.
    (own,) = [r for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role") if "pd-gate" in r.name]
    job = next(r for r in rec.of_type("kubernetes:batch/v1:Job") if "pd-gate" in r.name)
    assert own.inputs["rules"] == [{"apiGroups": ["batch"], "resources": ["jobs"],
                                    "resourceNames": [job.metadata["name"]], "verbs": ["get", "patch"]}]  # fmt: skip
    (own_binding,) = [r for r in rec.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
                      if "pd-gate" in r.name]  # fmt: skip
    assert own_binding.inputs["roleRef"]["name"] == own.metadata["name"]
    assert own_binding.inputs["subjects"][0]["name"] == "ib-llama-pd-gate"
    assert rec.depends_on(job, own_binding)
    env = {e["name"]: e for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PD_GATE_JOB"]["value"] == job.metadata["name"]


def test_the_gates_network_policy_rows_reach_only_the_gateway_and_the_metrics_ports():
    rec = run_program({}, secrets={"hfToken": "hf_x"})
    gate = {"llm-d.ai/install": "ib", "llm-d.ai/pool": "llama", "app.kubernetes.io/component": "pd-gate"}
    egress = rec.one(POLICY, "ib-llama-pd-gate")
    assert egress.inputs["spec"]["podSelector"] == {"matchLabels": gate}
    assert egress.inputs["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in egress.inputs["spec"]
    reach = {
        (json.dumps(rule.get("to"), sort_keys=True), tuple(p["port"] for p in rule["ports"]))
        for rule in egress.inputs["spec"]["egress"]
    }
    assert reach == {
        ("null", (53, 53)),
        ("null", (443, 6443)),  # the API server: its Role lets it patch its own Job, nothing else
        (json.dumps([{"podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name":
                                                      "ib-inference-gateway"}}}]), (80,)),
        (json.dumps([{"podSelector": {"matchLabels": {"inferencepool": "ib-llama-epp", "llm-d.ai/install": "ib"}}}],
                    sort_keys=True), (9090,)),
        (json.dumps([{"podSelector": {"matchLabels": {"llm-d.ai/inference-serving": "true", "llm-d.ai/install": "ib",
                                                      "llm-d.ai/pool": "llama", "llm-d.ai/role": "prefill"}}}],
                    sort_keys=True), (8000,)),
        (json.dumps([{"podSelector": {"matchLabels": {"llm-d.ai/inference-serving": "true", "llm-d.ai/install": "ib",
                                                      "llm-d.ai/pool": "llama", "llm-d.ai/role": "decode"}}}],
                    sort_keys=True), (8200,)),
    }  # fmt: skip
    admitted = {"from": [{"podSelector": {"matchLabels": gate}}], "ports": [{"protocol": "TCP", "port": "vllm"}]}
    assert admitted in rec.one(POLICY, "ib-llama-workers").inputs["spec"]["ingress"]
    assert {"from": admitted["from"], "ports": [{"protocol": "TCP", "port": 9090}]} in rec.one(
        POLICY, "ib-llama-epp"
    ).inputs["spec"]["ingress"]


@pytest.mark.parametrize(
    ("config", "stack", "expected"),
    [
        ({}, "ib", 1),
        ({"verification": {"gate": False}}, "ib", 0),
        ({"cluster": {"renderDirectory": "render/ib"}, "hfTokenSecretName": "hf"}, "ib-render", 0),
        ({"cluster": {"renderDirectory": "render/ib"}, "hfTokenSecretName": "hf", "verification": {"gate": True}},
         "ib-render", 1),
    ],
)  # fmt: skip
def test_the_gate_is_on_by_default_off_when_set_and_for_render_stacks(config: dict, stack: str, expected: int):
    secrets = {} if "hfTokenSecretName" in config else {"hfToken": "hf_x"}
    rec = run_program(config, secrets=secrets, stack=stack)
    assert len([j for j in rec.of_type(JOB) if "-pd-gate-" in j.metadata["name"]]) == expected
    if not expected:
        assert not [r for r in rec.resources if "pd-gate" in r.name]


def test_the_local_demo_turns_the_gate_off_explicitly():
    import yaml

    for stack in ("local", "local-gke"):
        raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert raw["llm-d-pd:verification"]["gate"] is False, stack


@pytest.mark.parametrize(
    "change",
    [{"gateRequests": 4}, {"gateImage": "ghcr.io/llm-d/llm-d-cuda:v0.6.1"}, {"timeoutSeconds": 900}],
)
def test_a_changed_gate_config_is_a_new_run(change: dict):
    before = gates(run_program({}, secrets={"hfToken": "hf_x"}))[0]
    after = gates(run_program({"verification": change}, secrets={"hfToken": "hf_x"}))[0]
    assert before.name == after.name  # the same Pulumi resource, replaced: its name carries the content hash
    assert before.metadata["name"] != after.metadata["name"]
    same = gates(run_program({}, secrets={"hfToken": "hf_x"}))[0]
    assert same.metadata["name"] == before.metadata["name"]  # an unchanged gate is not rerun


def test_pd_proof_is_exported_per_serving_pool(monkeypatch: pytest.MonkeyPatch):
    import pulumi

    exported: dict = {}
    monkeypatch.setattr(
        pulumi, "export", lambda k, v: pulumi.Output.from_input(v).apply(lambda x: exported.__setitem__(k, x))
    )
    pools = [{"name": "blue", "serve": False}, {"name": "green"}]
    rec = run_program({"pools": pools}, secrets={"hfToken": "hf_x"})
    proof = exported["pdProof"]
    assert set(proof) == {"green"}
    green = proof["green"]
    assert green["job"] == gates(rec)[0].metadata["name"]
    assert green["requests"] == 8 and green["requires"] == {
        "generatedText": 8, "pdDecisions": 8, "kvTransfers": 8, "failedTransfers": 0, "shortPromptDecodeOnly": True
    }  # fmt: skip
    assert green["figures"] == f"kubectl -n llm-d-pd logs job/{green['job']}"
    assert green["exitCodes"] == {cause: code for cause, (code, _) in pd_gate.CAUSES.items()}
    assert "succeeded" in green
    exported.clear()
    run_program({"verification": {"gate": False}}, secrets={"hfToken": "hf_x"})
    assert "pdProof" not in exported and "topology" in exported


def test_on_gke_the_gate_sends_to_the_gateways_address():
    cluster = {**GKE_CLUSTER, "gke": {**GKE_CLUSTER["gke"], "project": "pd-gate-test"}}
    cfg = load_config({"hfTokenSecretName": "hf", "cluster": cluster}, "gke")
    names = InstallNames("gke", cfg.namespace).pool("llama")
    job = specs.job(names, cfg.pools[0], cfg, gateway_url=gw_specs.external_url("203.0.113.7"))
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[specs.GATEWAY_URL_ENV] == "http://203.0.113.7:80"
    assert job["metadata"]["name"] == specs.job(names, cfg.pools[0], cfg)["metadata"]["name"], "same run"
    policy = specs.egress_policy(names, cfg, "gke-inference-gateway", gw_specs.external_cidr("203.0.113.7"))
    assert {"to": [{"ipBlock": {"cidr": "203.0.113.7/32"}}], "ports": [{"protocol": "TCP", "port": 80}]} in policy[
        "spec"
    ]["egress"]


def test_on_gke_the_registered_gate_reads_the_programmed_gateways_address() -> None:
    """The address is an Output of the Gateway's status: only that value waits for it, not the whole spec."""
    rec = run_program({"cluster": GKE_CLUSTER}, secrets={"hfToken": "hf_x"}, stack="gke")
    (job,) = [r for r in rec.of_type("kubernetes:batch/v1:Job") if r.name.endswith("-pd-gate-job")]
    env = {e["name"]: e.get("value") for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[specs.GATEWAY_URL_ENV] == f"http://{MOCK_GATEWAY_ADDRESS}:80"
    (policy,) = [
        r for r in rec.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.name.endswith("-pd-gate-egress")
    ]
    assert {"ipBlock": {"cidr": f"{MOCK_GATEWAY_ADDRESS}/32"}} in [
        peer for rule in policy.inputs["spec"]["egress"] for peer in rule.get("to", [])
    ]
    with pytest.raises(ValueError, match="reports no address"):
        gw_specs.external_url(None)


@pytest.mark.parametrize(
    ("status", "succeeded", "completed"),
    [
        (None, 0, None),
        ({"succeeded": 1, "completionTime": "2026-01-01T00:00:00Z"}, 1, "2026-01-01T00:00:00Z"),
        (type("JobStatus", (), {"succeeded": 1, "completion_time": "t"})(), 1, "t"),  # the provider's typed output
    ],
)
def test_the_proof_carries_the_jobs_status(status, succeeded: int, completed: str | None):
    proof = specs.proof_with_status({"job": "j"}, status)
    assert proof == {"job": "j", "succeeded": succeeded, "completionTime": completed, "measured": None}


def test_the_proof_carries_the_figures_the_gate_recorded_on_its_job():
    figures = {"passed": True, "requests": 8, "pdDecisions": 8.0, "kvTransfers": 8.0, "kvBytes": 1.5e9,
               "ttftSeconds": {"p50": 0.4, "max": 0.9}}  # fmt: skip
    annotated = {"annotations": {pd_gate.PROOF_ANNOTATION: json.dumps(figures)}}
    assert specs.proof_with_status({"job": "j"}, {"succeeded": 1}, annotated)["measured"] == figures
    typed = type("ObjectMeta", (), {"annotations": {pd_gate.PROOF_ANNOTATION: json.dumps(figures)}})()
    assert specs.proof_with_status({"job": "j"}, None, typed)["measured"] == figures
    assert (
        specs.proof_with_status({"job": "j"}, None, {"annotations": {pd_gate.PROOF_ANNOTATION: "{"}})["measured"]
        is None
    )  # a damaged annotation is no figures, not a failed `up`


def test_the_gate_records_its_figures_on_its_own_job(tmp_path):
    """publish(): a merge patch of one annotation on the gate's Job, with its token, to the API server (a stand-in
    on 127.0.0.1 here); without a token or job name it says why and the verdict stands."""
    import http.server
    import threading

    seen: list[tuple[str, str, dict, str]] = []

    class Api(http.server.BaseHTTPRequestHandler):
        def do_PATCH(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            seen.append((self.path, self.headers["Content-Type"], json.loads(body), self.headers["Authorization"]))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.handle_request, daemon=True).start()
    token = tmp_path / "token"
    token.write_text("tok\n")
    result = pd_gate.Result(
        pool="llama", passed=True, cause=None, failures=[], requests=8, answered=8, pd_decisions=8, decode_only=1,
        kv_transfers=8, kv_bytes=1.5e9, failed_transfers=0, failed_notifications=0,
        ttft_seconds={"p50": 0.4, "max": 0.9}, short_prompt=None, errors=[],
    )  # fmt: skip
    env = {"PD_GATE_JOB": "ib-llama-pd-gate-1234abcd", "PD_GATE_NAMESPACE": "llm-d-pd",
           "PD_GATE_API_URL": f"http://127.0.0.1:{server.server_address[1]}"}  # fmt: skip
    assert pd_gate.publish(result, env, str(token)) is None
    server.server_close()
    ((path, content_type, body, auth),) = seen
    assert path == "/apis/batch/v1/namespaces/llm-d-pd/jobs/ib-llama-pd-gate-1234abcd"
    assert content_type == "application/merge-patch+json" and auth == "Bearer tok"
    figures = json.loads(body["metadata"]["annotations"][pd_gate.PROOF_ANNOTATION])
    assert figures["pdDecisions"] == 8 and figures["kvTransfers"] == 8 and figures["ttftSeconds"]["p50"] == 0.4
    assert specs.measured(body["metadata"]) == figures  # what the program reads back into pdProof
    assert pd_gate.publish(result, {}, str(token)) == "no job, namespace or token"
