"""The README's first command: build a tiny model, serve it with MIS, score, stop.

    python scripts/demo.py

Starts ``python -m multiscore.launch_server`` as a real process, sends one multi-item
``/v1/score`` request over HTTP, prints the scores and shuts the server down.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_model import delimiter_id, make_tiny_model  # noqa: E402
from server_process import ServerProcess  # noqa: E402


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = make_tiny_model(os.path.join(tmp, "tiny-qwen3-cls"), arch="qwen3", head="seqcls", num_labels=2)
        server = ServerProcess(["--model-path", model, "--multi-item-scoring-delimiter", delimiter_id(model),
                                "--log-level", "warning"])
        print("$", " ".join(server.cmd))
        try:
            try:
                server.wait_ready()
            except (RuntimeError, TimeoutError) as e:
                raise SystemExit(str(e)) from None  # the reason and the log's tail, not a traceback
            print(server.output(), end="")  # its start-up lines ("serving ... on http://...")
            body = {"query": "what is the capital of california ?",
                    "items": ["sacramento", "los angeles", "san francisco"], "apply_softmax": True}
            print("POST /v1/score", json.dumps(body))
            answer = post(server.url + "/v1/score", body)
            print(json.dumps(answer, indent=2))
            print("(random tiny model: the scores are not meaningful, the plumbing is)")
        finally:
            print("server stopped, exit code", server.stop())


if __name__ == "__main__":
    main()
