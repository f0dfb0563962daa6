"""A stand-in for one pool's gateway and metrics endpoints, for the P/D gate's client (components/gate/pd_gate.py).

The metric texts are written from the pinned versions' metric definitions:
- the EPP's decision counter as llm-d-inference-scheduler v0.7.0 defines it (pkg/metrics/metrics.go: a CounterVec,
  Subsystem `llm_d_inference_scheduler`, Name `disagg_decision_total`, labels model_name and decision_type), in the
  text format Go's client_golang writes;
- vLLM 0.17.1's NixlConnector metrics (vllm/distributed/kv_transfer/kv_connector/v1/nixl_connector.py,
  NixlPromMetrics: histograms `vllm:nixl_xfer_time_seconds`, `vllm:nixl_bytes_transferred`, counters
  `vllm:nixl_num_failed_transfers`, `vllm:nixl_num_failed_notifications`, labels model_name and engine), rendered by
  prometheus_client itself as vLLM does.

Each scenario says what one long request (and the short one) does to those counters, so each failure cause of the
gate can be played. The server binds 127.0.0.1 only; the client's requests are few and each has a timeout.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

MODEL = "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"
TOKEN = "gate-token"
KV_BYTES_PER_TRANSFER = 5 * 2**20


@dataclass(frozen=True)
class Scenario:
    """What the stand-in stack does with a long (disaggregated) and a short request."""

    long_status: int = 200
    long_decision: str = "prefill-decode"
    long_transfers: int = 1
    long_failed_transfers: int = 0
    short_decision: str = "decode-only"
    nixl_exported: bool = True
    """False: decode vLLM runs without the NixlConnector, so it exports no vllm:nixl_* metric at all."""


SCENARIOS = {
    "pass": Scenario(),
    "no-pd-decisions": Scenario(long_decision="decode-only", long_transfers=0),
    "no-kv-transfers": Scenario(long_transfers=0),
    "no-connector": Scenario(long_transfers=0, nixl_exported=False),
    "failed-transfers": Scenario(long_failed_transfers=1),
    "request-failed": Scenario(long_status=403),
    "short-disaggregated": Scenario(short_decision="prefill-decode"),
}
"""Scenario -> the gate's cause it must produce (`pass`: none; `no-connector` is a no-kv-transfers)."""


def epp_text(decisions: dict[str, int]) -> str:
    """The EPP's /metrics as client_golang writes a CounterVec (only the label sets recorded so far appear)."""
    lines = [
        "# HELP llm_d_inference_scheduler_disagg_decision_total "
        "[ALPHA] Total number of disaggregation routing decisions made",
        "# TYPE llm_d_inference_scheduler_disagg_decision_total counter",
    ]
    for decision, n in sorted(decisions.items()):
        lines.append(
            f'llm_d_inference_scheduler_disagg_decision_total{{decision_type="{decision}",model_name="{MODEL}"}} {n}'
        )
    lines += [
        "# HELP inference_pool_ready_pods [ALPHA] The number of ready pods in the inference server pool.",
        "# TYPE inference_pool_ready_pods gauge",
        'inference_pool_ready_pods{name="e2e-llama"} 5',
    ]
    return "\n".join(lines) + "\n"


@dataclass
class VllmPod:
    """One vLLM pod's NixlConnector metrics, defined as vLLM 0.17.1 defines them."""

    exported: bool = True
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = ["model_name", "engine"]
        self.xfer_time = Histogram("vllm:nixl_xfer_time_seconds", "Histogram of transfer duration for NIXL KV Cache "
                                   "transfers.", labels, registry=self.registry)  # fmt: skip
        self.bytes = Histogram("vllm:nixl_bytes_transferred", "Histogram of bytes transferred per NIXL KV Cache "
                               "transfers.", labels, buckets=[2 ** (10 + i) for i in range(1, 25, 2)],
                               registry=self.registry)  # fmt: skip
        self.failed = Counter("vllm:nixl_num_failed_transfers", "Number of failed NIXL KV Cache transfers.", labels,
                              registry=self.registry)  # fmt: skip
        self.failed_notif = Counter("vllm:nixl_num_failed_notifications", "Number of failed NIXL KV Cache "
                                    "notifications.", labels, registry=self.registry)  # fmt: skip
        for m in (self.xfer_time, self.bytes, self.failed, self.failed_notif):
            m.labels(MODEL, "0")  # vLLM creates each engine's child up front (make_per_engine): exported at 0

    def transfer(self, n: int = 1, failed: int = 0) -> None:
        for _ in range(n):
            self.xfer_time.labels(MODEL, "0").observe(0.004)
            self.bytes.labels(MODEL, "0").observe(KV_BYTES_PER_TRANSFER)
        if failed:
            self.failed.labels(MODEL, "0").inc(failed)

    def text(self) -> str:
        if not self.exported:
            return "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
        return generate_latest(self.registry).decode()


class StandIn:
    """Gateway (POST .../v1/completions, streamed) and metrics endpoints (GET /epp, /prefill, /decode)."""

    def __init__(self, scenario: Scenario, long_chars: int):
        self.scenario = scenario
        self.long_chars = long_chars
        self.decisions: dict[str, int] = {}
        self.prefill = VllmPod(exported=scenario.nixl_exported)
        self.decode = VllmPod(exported=scenario.nixl_exported)
        self.completions: list[str] = []
        self.unauthorized_metrics = 0
        self.lock = threading.Lock()

    def decide(self, prompt: str) -> tuple[int, str]:
        s = self.scenario
        long = len(prompt) >= self.long_chars
        with self.lock:
            self.completions.append(prompt)
            if long and s.long_status != 200:
                # The EPP decided P/D; the decode sidecar then refused the prefill leg.
                self.decisions["prefill-decode"] = self.decisions.get("prefill-decode", 0) + 1
                return s.long_status, ""
            decision = s.long_decision if long else s.short_decision
            self.decisions[decision] = self.decisions.get(decision, 0) + 1
            if decision == "prefill-decode":
                transfers = s.long_transfers if long else 1
                self.decode.transfer(transfers, s.long_failed_transfers if long else 0)
        return 200, " Disaggregated serving splits prefill and decode."


def handler(stand_in: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "text/plain; version=0.0.4") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/epp/metrics":
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    stand_in.unauthorized_metrics += 1
                    return self._send(401, b"Unauthorized")
                return self._send(200, epp_text(stand_in.decisions).encode())
            pods = {"/prefill/metrics": stand_in.prefill, "/decode/metrics": stand_in.decode}
            if self.path in pods:
                return self._send(200, pods[self.path].text().encode())
            self._send(404, b"not found")

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, text = stand_in.decide(body["prompt"])
            if status != 200:
                return self._send(status, b'{"error": "prefill leg refused"}', "application/json")
            chunks = [text[: len(text) // 2], text[len(text) // 2 :]]
            events = b"".join(
                b"data: " + json.dumps({"object": "text_completion", "choices": [{"text": c}]}).encode() + b"\n\n"
                for c in chunks
            )
            self._send(200, events + b"data: [DONE]\n\n", "text/event-stream")

    return Handler


@contextmanager
def serve(scenario: Scenario, long_chars: int) -> Iterator[tuple[str, StandIn]]:
    """The stand-in on 127.0.0.1 (an ephemeral port): its base URL and state."""
    stand_in = StandIn(scenario, long_chars)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(stand_in))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", stand_in
    finally:
        server.shutdown()
        server.server_close()
