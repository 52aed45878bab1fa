"""The README's first command: build a tiny model, serve it with MIS, score, stop.

    python scripts/demo.py

Starts ``python -m multiscore.launch_server`` as a real process, sends one multi-item
``/v1/score`` request over HTTP, prints the scores and shuts the server down.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_model import delimiter_id, make_tiny_model  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("server did not become healthy in time")


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = make_tiny_model(os.path.join(tmp, "tiny-qwen3-cls"), arch="qwen3", head="seqcls", num_labels=2)
        delim = delimiter_id(model)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "multiscore.launch_server", "--model-path", str(model), "--port", str(port),
               "--multi-item-scoring-delimiter", str(delim), "--log-level", "warning"]
        print("$", " ".join(cmd))
        server = subprocess.Popen(cmd)
        try:
            wait_healthy(url, server)
            body = {"query": "what is the capital of california ?",
                    "items": ["sacramento", "los angeles", "san francisco"], "apply_softmax": True}
            print("POST /v1/score", json.dumps(body))
            answer = post(url + "/v1/score", body)
            print(json.dumps(answer, indent=2))
            print("(random tiny model: the scores are not meaningful, the plumbing is)")
        finally:
            server.send_signal(signal.SIGTERM)
            print("server stopped, exit code", server.wait(30))


if __name__ == "__main__":
    main()
