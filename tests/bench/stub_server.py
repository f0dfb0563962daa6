"""A tiny OpenAI-compatible completions server on 127.0.0.1 for the benchmark harness's tests: it answers
/v1/completions (streamed or not) with `max_tokens` words after a fixed time to first token and a fixed gap per
token, and /v1/models. It measures the harness (inference-perf, the Job's runner, scripts/bench-report), not a model.

    python tests/bench/stub_server.py [--port 0] [--ttft-ms 20] [--itl-ms 2]   # prints the port it bound
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "stub-model"


def make_handler(ttft_s: float, itl_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _json(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if not self.path.endswith("/v1/completions"):
                self._json(404, {"error": "not found"})
                return
            n = int(body.get("max_tokens") or 16)
            prompt_tokens = len(str(body.get("prompt", "")).split())
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
            time.sleep(ttft_s)
            if not body.get("stream"):
                time.sleep(itl_s * max(0, n - 1))
                text = " ".join(f"w{i % 100}" for i in range(n))
                self._json(200, {"id": "cmpl-stub", "object": "text_completion", "model": MODEL,
                                 "choices": [{"index": 0, "text": text, "finish_reason": "length"}],
                                 "usage": usage})  # fmt: skip
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def chunk(payload: str) -> None:
                data = f"data: {payload}\n\n".encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            for i in range(n):
                if i:
                    time.sleep(itl_s)
                choice = {"index": 0, "text": f" w{i % 100}", "finish_reason": "length" if i == n - 1 else None}
                chunk(json.dumps({"id": "cmpl-stub", "object": "text_completion", "model": MODEL, "choices": [choice]}))
            chunk(json.dumps({"id": "cmpl-stub", "object": "text_completion", "model": MODEL, "choices": [],
                              "usage": usage}))  # fmt: skip
            chunk("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def start(port: int = 0, ttft_ms: float = 20, itl_ms: float = 2) -> ThreadingHTTPServer:
    """A running server on 127.0.0.1 (a daemon thread); stop it with .shutdown()."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(ttft_ms / 1000, itl_ms / 1000))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ttft-ms", type=float, default=20)
    ap.add_argument("--itl-ms", type=float, default=2)
    a = ap.parse_args()
    srv = start(a.port, a.ttft_ms, a.itl_ms)
    print(srv.server_address[1], flush=True)
    threading.Event().wait()
