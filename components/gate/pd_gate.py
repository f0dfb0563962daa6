"""The P/D gate: proof that one pool really disaggregated requests and really moved their KV cache.

It sends long per-run-nonce prompts (long enough for the pool's decider) and, with the `selective` decider, one short
prompt through the gateway, and reads the metrics that say what happened before and after:

- the EPP's disaggregation decisions, `llm_d_inference_scheduler_disagg_decision_total{model_name, decision_type}`
  (llm-d/llm-d-inference-scheduler v0.7.0, pkg/metrics/metrics.go: Subsystem `llm_d_inference_scheduler`, Name
  `disagg_decision_total`, decision types `decode-only` and `prefill-decode`). The disagg-profile-handler records one
  per scheduled request once its stages are done (pkg/plugins/profile/disagg_profile_handler.go, Pick). The older
  `..._pd_decision_total` is recorded only by the deprecated pd-profile-handler, which this stack does not use. The
  EPP serves them on its metrics port behind token and subject access reviews (GAIE v1.4.0 cmd/epp/runner/runner.go,
  filters.WithAuthenticationAndAuthorization; plain HTTP: the metrics server is not given SecureServing);
- vLLM's NixlConnector metrics on every prefill and decode pod (vllm 0.17.1,
  vllm/distributed/kv_transfer/kv_connector/v1/nixl_connector.py, NixlPromMetrics): one `vllm:nixl_xfer_time_seconds`
  observation per successful transfer (its `_count`), `vllm:nixl_bytes_transferred` (its `_sum`: bytes),
  `vllm:nixl_num_failed_transfers` and `vllm:nixl_num_failed_notifications` (counters, `_total`), labelled
  `model_name` and `engine` (vllm/v1/metrics/loggers.py). Transfers are recorded by the side that reads the blocks:
  decode;
- the routing sidecar (llm-d-inference-scheduler v0.7.1, pkg/sidecar) exports no Prometheus metrics: its prefill leg
  shows only in trace spans, so the gate counts it through the EPP's decision and the KV transfer it causes.

It passes only when every long request got generated text, the EPP decided prefill-decode for each of them, the KV
transfers grew by at least one per long request with no failed transfer, and the short prompt stayed decode-only.

No Pulumi and nothing of this project is imported: the same file runs in the cluster (a Job, `python3 pd_gate.py
CONFIG.json`) and in the tests. Standard library plus `prometheus_client`'s text parser.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

# --- metric names at the pinned versions (see the module docstring for where each is defined) ----------------------
EPP_DECISIONS = "llm_d_inference_scheduler_disagg_decision_total"
DECISION_PD = "prefill-decode"
DECISION_DECODE_ONLY = "decode-only"
NIXL_TRANSFERS = "vllm:nixl_xfer_time_seconds_count"
NIXL_BYTES = "vllm:nixl_bytes_transferred_sum"
NIXL_FAILED_TRANSFERS = "vllm:nixl_num_failed_transfers_total"
NIXL_FAILED_NOTIFICATIONS = "vllm:nixl_num_failed_notifications_total"

CHARS_PER_TOKEN = 4
"""The EPP's estimate of a prompt's tokens: characters / 4 (prefix-based-pd-decider, EPP v0.7.0)."""

# --- outcomes: one exit code per cause, so the Job's failure condition names it -------------------------------------
PASS = 0
CAUSES: dict[str, tuple[int, str]] = {
    "unreachable": (
        3,
        "EPP health or the route: the gateway never answered, or a metrics endpoint did not (EPP down, route not "
        "programmed, a NetworkPolicy, or the gate's token not allowed to GET /metrics)",
    ),
    "request-failed": (
        4,
        "a long request got no generated text: the decode sidecar refused or could not run the prefill leg (403 "
        "from its allow-list, prefill pod unreachable), or vLLM failed; see the answers below",
    ),
    "no-pd-decisions": (
        5,
        "the decider: the EPP decided prefill-decode for fewer requests than were sent (no `deciders.prefill` in its "
        "profile handler, nonCachedTokens above the prompt, or the EPP was bypassed: FailOpen while it was unhealthy)",
    ),
    "no-kv-transfers": (
        6,
        "the connector: the EPP chose P/D but decode pulled no KV blocks (NixlConnector/--kv-transfer-config "
        "missing, or the sidecar not speaking nixlv2, so decode recomputed the prompt)",
    ),
    "failed-transfers": (
        7,
        "the fabric: NIXL transfers failed (RDMA device or UCX_TLS, the NIXL side-channel port blocked, or "
        "mismatched prefill/decode layouts)",
    ),
    "short-disaggregated": (
        8,
        "the decider: a prompt below nonCachedTokens was disaggregated (decider `always`, or a threshold of ~0)",
    ),
}
CONFIG_ERROR = 2


@dataclass
class GateConfig:
    pool: str
    gateway_url: str
    """Base URL of the gateway as the gate reaches it (in-cluster Service, or the Gateway's address)."""
    model: str
    long_prompt_chars: int
    """At least this many characters: the rule of specs.verification.disaggregated_prompt_chars."""
    epp_metrics_url: str
    prefill_metrics: list[str]
    """Metrics URLs of prefill vLLM, or `dns://<host>:<port>/metrics` to scrape every address the name resolves to."""
    decode_metrics: list[str]
    requests: int = 8
    short_prompt: str | None = "Hi."
    """Sent once, must stay decode-only; None when the decider is `always`."""
    path: str = "/v1/completions"
    headers: dict[str, str] = field(default_factory=dict)
    max_tokens: int = 16
    token_file: str | None = None
    """A ServiceAccount token for the EPP's /metrics (Authorization: Bearer)."""
    request_timeout: float = 300.0
    warmup_seconds: float = 600.0
    """How long to wait for the gateway and the metrics endpoints to answer before the measured requests."""
    settle_seconds: float = 30.0
    """How long to wait after the requests for the counters to catch up (vLLM publishes stats per engine step)."""
    poll_seconds: float = 5.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown gate config keys: {sorted(unknown)}")
        return cls(**data)


# --- metrics --------------------------------------------------------------------------------------------------------
def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a Prometheus text exposition, parsed by prometheus_client."""
    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.append((s.name, dict(s.labels), float(s.value)))
    return out


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when there are none)."""
    return sum(v for n, lab, v in samples(text) if n == name and all(lab.get(k) == w for k, w in labels.items()))


def has_metric(text: str, name: str) -> bool:
    return any(n == name for n, _, _ in samples(text))


@dataclass
class Snapshot:
    """Counters of one moment: the EPP's decisions and, per vLLM pod, its NIXL counters."""

    pd_decisions: float
    decode_only: float
    pods: dict[str, dict[str, float]]
    """Pod (its metrics URL) -> transfers, bytes, failed transfers, failed notifications."""
    nixl_exported: bool
    """Whether any decode pod exports the NIXL metrics at all (no NixlConnector: none)."""


def epp_counts(text: str, model: str) -> tuple[float, float]:
    return (
        total(text, EPP_DECISIONS, model_name=model, decision_type=DECISION_PD),
        total(text, EPP_DECISIONS, model_name=model, decision_type=DECISION_DECODE_ONLY),
    )


def nixl_counts(text: str, model: str) -> dict[str, float]:
    return {
        "transfers": total(text, NIXL_TRANSFERS, model_name=model),
        "bytes": total(text, NIXL_BYTES, model_name=model),
        "failed_transfers": total(text, NIXL_FAILED_TRANSFERS, model_name=model),
        "failed_notifications": total(text, NIXL_FAILED_NOTIFICATIONS, model_name=model),
    }


def increase(before: float, after: float) -> float:
    """A counter's increase; a pod that restarted in between starts again from zero (Prometheus' increase())."""
    return after - before if after >= before else after


def delta(a: Snapshot, b: Snapshot) -> dict[str, float]:
    out = {
        "pd_decisions": increase(a.pd_decisions, b.pd_decisions),
        "decode_only": increase(a.decode_only, b.decode_only),
        "transfers": 0.0,
        "bytes": 0.0,
        "failed_transfers": 0.0,
        "failed_notifications": 0.0,
    }
    for pod, after in b.pods.items():
        before = a.pods.get(pod, dict.fromkeys(after, 0.0))
        for k, v in after.items():
            out[k] += increase(before.get(k, 0.0), v)
    return out


# --- HTTP -----------------------------------------------------------------------------------------------------------
Fetch = Callable[[str, dict[str, str]], str]


def http_get(url: str, headers: dict[str, str], timeout: float = 30.0) -> str:
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def expand(url: str) -> list[str]:
    """`dns://host:port/path` -> one http URL per address the name resolves to (a headless Service's ready pods)."""
    if not url.startswith("dns://"):
        return [url]
    u = urllib.parse.urlsplit(url)
    port = u.port or 80
    addrs = sorted({str(a[4][0]) for a in socket.getaddrinfo(u.hostname, port, proto=socket.IPPROTO_TCP)})
    return [f"http://{f'[{a}]' if ':' in a else a}:{port}{u.path}" for a in addrs]


@dataclass
class Answer:
    status: int
    text: str
    ttft: float | None
    """Seconds from sending to the first streamed text."""
    error: str | None = None


def complete(cfg: GateConfig, prompt: str) -> Answer:
    """One streamed completion through the gateway: its status, generated text and time to first text."""
    body = json.dumps({"model": cfg.model, "prompt": prompt, "max_tokens": cfg.max_tokens, "stream": True}).encode()
    headers = {"Content-Type": "application/json", **cfg.headers}
    req = urllib.request.Request(cfg.gateway_url.rstrip("/") + cfg.path, data=body, headers=headers, method="POST")
    start = time.monotonic()
    text, ttft = "", None
    try:
        with urllib.request.urlopen(req, timeout=cfg.request_timeout) as r:
            for raw in r:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    return Answer(r.status, text, ttft, json.dumps(chunk["error"])[:300])
                piece = "".join(c.get("text") or "" for c in chunk.get("choices", []))
                if piece and ttft is None:
                    ttft = time.monotonic() - start
                text += piece
            return Answer(r.status, text, ttft)
    except urllib.error.HTTPError as e:
        return Answer(e.code, "", None, e.read().decode(errors="replace")[:300])
    except (OSError, ValueError) as e:
        return Answer(0, "", None, f"{type(e).__name__}: {e}"[:300])


# --- the run --------------------------------------------------------------------------------------------------------
def long_prompt(chars: int, nonce: str) -> str:
    """A fresh nonce first (no earlier prefix-cache entry can keep it decode-only), then filler to `chars`."""
    head = f"run-{nonce} "
    line = "Gate context line {i}: prefill computes this text once and decode reuses its KV cache. "
    parts, i = [head], 0
    while sum(map(len, parts)) < chars:
        parts.append(line.format(i=i))
        i += 1
    return "".join(parts) + "Answer in one short sentence: what is disaggregated serving?"


@dataclass
class Result:
    pool: str
    passed: bool
    cause: str | None
    """The first failed check (CAUSES key), None on a pass."""
    failures: list[str]
    """Every failed check with what was seen and its likely cause."""
    requests: int
    answered: int
    pd_decisions: float
    decode_only: float
    kv_transfers: float
    kv_bytes: float
    failed_transfers: float
    failed_notifications: float
    ttft_seconds: dict[str, float | None]
    short_prompt: dict[str, Any] | None
    errors: list[str]

    def exit_code(self) -> int:
        return PASS if self.passed else CAUSES[self.cause or "unreachable"][0]

    def summary(self) -> str:
        """One line for the termination message and the log: the verdict first."""
        if self.passed:
            return (
                f"pd-gate PASSED pool {self.pool}: {self.requests} requests, {self.pd_decisions:g} P/D decisions, "
                f"{self.kv_transfers:g} KV transfers ({self.kv_bytes:g} bytes), 0 failed"
            )
        return f"pd-gate FAILED pool {self.pool}: " + " | ".join(self.failures)


def snapshot(cfg: GateConfig, fetch: Fetch) -> Snapshot:
    auth: dict[str, str] = {}
    if cfg.token_file:
        with open(cfg.token_file) as f:
            auth = {"Authorization": f"Bearer {f.read().strip()}"}
    pd, d_only = epp_counts(fetch(cfg.epp_metrics_url, auth), cfg.model)
    pods: dict[str, dict[str, float]] = {}
    exported = False
    for role, urls in (("prefill", cfg.prefill_metrics), ("decode", cfg.decode_metrics)):
        for url in (u for spec in urls for u in expand(spec)):
            text = fetch(url, {})
            pods[f"{role} {url}"] = nixl_counts(text, cfg.model)
            exported = exported or (role == "decode" and has_metric(text, NIXL_TRANSFERS))
    return Snapshot(pd, d_only, pods, exported)


def wait_until_serving(cfg: GateConfig, fetch: Fetch, sleep: Callable[[float], None]) -> str | None:
    """Until the metrics endpoints and the gateway answer (the short prompt, or a long one with `always`): None, or
    the last error once `warmup_seconds` have passed."""
    deadline = time.monotonic() + cfg.warmup_seconds
    while True:
        try:
            snapshot(cfg, fetch)
            answer = complete(cfg, cfg.short_prompt or long_prompt(cfg.long_prompt_chars, uuid.uuid4().hex))
            if answer.status == 200 and answer.text:
                return None
            last = f"warm-up request: HTTP {answer.status} {answer.error or 'no text'}"
        except (OSError, ValueError) as e:
            last = f"metrics: {type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            return last
        sleep(cfg.poll_seconds)


def judge(
    cfg: GateConfig,
    answers: list[Answer],
    long_delta: dict[str, float],
    short_delta: dict[str, float] | None,
    nixl_exported: bool,
) -> Result:
    """The verdict from what was seen: pure, so each cause is tested on its own."""
    n = len(answers)
    failures: list[tuple[str, str]] = []
    bad = [a for a in answers if a.status != 200 or not a.text or a.error]
    if bad:
        seen = "; ".join(f"HTTP {a.status} {a.error or 'no text'}" for a in bad[:3])
        failures.append(("request-failed", f"{len(bad)}/{n} long requests got no generated text ({seen})"))
    if long_delta["pd_decisions"] < n:
        failures.append(("no-pd-decisions", f"EPP P/D decisions +{long_delta['pd_decisions']:g} for {n} long requests"))
    if long_delta["transfers"] < n:
        seen = f"KV transfers +{long_delta['transfers']:g} for {n} long requests"
        if not nixl_exported:
            seen += " (decode exports no vllm:nixl_* metrics: no NixlConnector)"
        failures.append(("no-kv-transfers", seen))
    failed = long_delta["failed_transfers"] + long_delta["failed_notifications"]
    if failed > 0:
        failures.append(
            (
                "failed-transfers",
                f"failed NIXL transfers +{long_delta['failed_transfers']:g}, "
                f"failed notifications +{long_delta['failed_notifications']:g}",
            )
        )
    short = None
    if short_delta is not None:
        short = {"pd_decisions": short_delta["pd_decisions"], "decode_only": short_delta["decode_only"]}
        if short_delta["pd_decisions"] > 0:
            failures.append(
                ("short-disaggregated", f"the short prompt got {short_delta['pd_decisions']:g} P/D decision(s)")
            )
    ttfts = sorted(a.ttft for a in answers if a.ttft is not None)
    return Result(
        pool=cfg.pool,
        passed=not failures,
        cause=failures[0][0] if failures else None,
        failures=[f"{k}: {seen}; likely cause: {CAUSES[k][1]}" for k, seen in failures],
        requests=n,
        answered=n - len(bad),
        pd_decisions=long_delta["pd_decisions"],
        decode_only=long_delta["decode_only"],
        kv_transfers=long_delta["transfers"],
        kv_bytes=long_delta["bytes"],
        failed_transfers=long_delta["failed_transfers"],
        failed_notifications=long_delta["failed_notifications"],
        ttft_seconds={
            "p50": round(ttfts[len(ttfts) // 2], 4) if ttfts else None,
            "max": round(ttfts[-1], 4) if ttfts else None,
        },
        short_prompt=short,
        errors=[a.error for a in answers if a.error][:5],
    )


def unreachable(cfg: GateConfig, error: str) -> Result:
    zero = dict.fromkeys(("pd_decisions", "decode_only", "transfers", "bytes", "failed_transfers",
                          "failed_notifications"), 0.0)  # fmt: skip
    r = judge(cfg, [], zero, None, True)
    r.passed, r.cause = False, "unreachable"
    r.failures = [f"unreachable: {error}; likely cause: {CAUSES['unreachable'][1]}"]
    return r


def wait_for_counters(
    cfg: GateConfig, fetch: Fetch, before: Snapshot, want: int, sleep: Callable[[float], None]
) -> Snapshot:
    """The snapshot after the requests, polled for up to `settle_seconds` until the EPP and the transfers caught up."""
    deadline = time.monotonic() + cfg.settle_seconds
    while True:
        after = snapshot(cfg, fetch)
        d = delta(before, after)
        if (d["pd_decisions"] >= want and d["transfers"] >= want) or time.monotonic() >= deadline:
            return after
        sleep(min(cfg.poll_seconds, 2.0))


def run(cfg: GateConfig, fetch: Fetch = http_get, sleep: Callable[[float], None] = time.sleep) -> Result:
    err = wait_until_serving(cfg, fetch, sleep)
    if err is not None:
        return unreachable(cfg, err)
    try:
        before = snapshot(cfg, fetch)
        nonce = uuid.uuid4().hex
        answers = [complete(cfg, long_prompt(cfg.long_prompt_chars, f"{nonce}-{i}")) for i in range(cfg.requests)]
        mid = wait_for_counters(cfg, fetch, before, cfg.requests, sleep)
        short_delta = None
        if cfg.short_prompt is not None:
            complete(cfg, cfg.short_prompt)
            short_delta = delta(mid, wait_for_counters(cfg, fetch, mid, 0, sleep))
    except (OSError, ValueError) as e:
        return unreachable(cfg, f"metrics: {type(e).__name__}: {e}")
    return judge(cfg, answers, delta(before, mid), short_delta, mid.nixl_exported)


def report(result: Result, termination_log: str | None) -> None:
    line = result.summary()
    payload = json.dumps(asdict(result), sort_keys=True)
    print(line, flush=True)
    print(payload, flush=True)
    if termination_log:
        # The kubelet keeps at most 4096 bytes of it; the verdict comes first so it is never the part cut off.
        try:
            with open(termination_log, "w") as f:
                f.write((line + "\n" + payload)[:4000])
        except OSError:
            pass


PROOF_ANNOTATION = "llm-d.ai/pd-proof"
"""The gate's figures, recorded on its own Job, where `pulumi up` reads them into the `pdProof` export."""


def proof_figures(result: Result) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "cause": result.cause,
        "requests": result.requests,
        "answered": result.answered,
        "pdDecisions": result.pd_decisions,
        "decodeOnly": result.decode_only,
        "kvTransfers": result.kv_transfers,
        "kvBytes": result.kv_bytes,
        "failedTransfers": result.failed_transfers,
        "ttftSeconds": result.ttft_seconds,
    }


def publish(result: Result, env: dict[str, str], token_file: str | None) -> str | None:
    """Annotate the gate's own Job with its figures (merge patch; the gate's Role allows get and patch on that one
    Job only). Best effort: the verdict stands without it. Returns why it did not publish, or None."""
    job, namespace = env.get("PD_GATE_JOB"), env.get("PD_GATE_NAMESPACE")
    if not (job and namespace and token_file):
        return "no job, namespace or token"
    api = env.get("PD_GATE_API_URL") or (
        f"https://{env.get('KUBERNETES_SERVICE_HOST', 'kubernetes.default.svc')}:"
        f"{env.get('KUBERNETES_SERVICE_PORT', '443')}"
    )
    body = {"metadata": {"annotations": {PROOF_ANNOTATION: json.dumps(proof_figures(result), sort_keys=True)}}}
    try:
        with open(token_file) as f:
            token = f.read().strip()
        req = urllib.request.Request(
            f"{api}/apis/batch/v1/namespaces/{namespace}/jobs/{job}",
            data=json.dumps(body).encode(),
            method="PATCH",
            headers={"Content-Type": "application/merge-patch+json", "Authorization": f"Bearer {token}"},
        )
        ca = os.path.join(os.path.dirname(token_file), "ca.crt")
        context = ssl.create_default_context(cafile=ca) if api.startswith("https") else None
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            r.read()
    except (OSError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: pd_gate.py CONFIG.json", file=sys.stderr)
        return CONFIG_ERROR
    try:
        with open(argv[1]) as f:
            cfg = GateConfig.from_json(json.load(f))
        if "PD_GATE_GATEWAY_URL" in os.environ:  # GKE: the Gateway's address, known only once it is Programmed
            cfg.gateway_url = os.environ["PD_GATE_GATEWAY_URL"]
    except (OSError, ValueError, TypeError) as e:
        print(f"pd-gate: bad config: {e}", file=sys.stderr)
        return CONFIG_ERROR
    result = run(cfg)
    report(result, os.environ.get("PD_GATE_TERMINATION_LOG", "/dev/termination-log"))
    why = publish(result, dict(os.environ), cfg.token_file)
    if why:
        print(f"pd-gate: figures not recorded on the Job ({why}); they are in this log", flush=True)
    return result.exit_code()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
