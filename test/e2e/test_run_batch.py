"""``python -m multiscore.run_batch`` as users run it (a real process): each line's body is the
online route's (compared with a real server on the same model), bad lines become error lines and
the run goes on, a run killed with SIGKILL midway resumes to exactly one answer per line (a torn
last line redone), and stdin/stdout work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

requests = pytest.importorskip("requests")

from hf_reference import assert_scores_close  # noqa: E402
from proc_utils import Server, descendants, wait_gone  # noqa: E402

QUERY = "what is the capital of the state"
DOCS = ["a big city", "the capital city of the state", "a dog", "music of the summer"]


def _line(custom_id, url, body, method="POST"):
    return json.dumps({"custom_id": custom_id, "method": method, "url": url, "body": body})


def _run_batch(model_path, *args, input_text=None, timeout=300):
    cmd = [sys.executable, "-m", "multiscore.run_batch", *args, "--model-path", str(model_path), "--device", "cpu",
           "--num-threads", "1"]
    return subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=timeout)


def _read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def model_path(tiny_model):
    return tiny_model("bert", "seqcls", num_labels=1)


def test_lines_get_the_online_routes_bodies_and_bad_lines_become_errors(model_path, tmp_path):
    good = {
        "score-sglang": ("/v1/score", {"query": QUERY, "items": DOCS}),
        "score-vllm": ("/score", {"text_1": QUERY, "text_2": DOCS}),
        "rerank": ("/rerank", {"query": QUERY, "documents": DOCS, "top_n": 2}),
        "rerank-v1": ("/v1/rerank", {"query": QUERY, "documents": DOCS}),
        "rerank-cohere": ("/v2/rerank", {"query": QUERY, "documents": DOCS}),
        "classify": ("/classify", {"input": DOCS}),
        "classify-sglang": ("/classify", {"text": DOCS}),  # a list of {embedding, meta_info}
        "predict-tei": ("/predict", {"inputs": [[QUERY, d] for d in DOCS]}),  # a list of lists
        "pooling": ("/pooling", {"input": DOCS[:2], "task": "classify"}),
    }
    lines = [_line(cid, url, body) for cid, (url, body) in good.items()]
    lines += ["{not json", json.dumps({"method": "POST", "url": "/rerank", "body": {}}),
              _line("bad-url", "/generate", {}), _line("bad-method", "/rerank", {}, method="GET"),
              _line("bad-body", "/rerank", {"query": QUERY, "documents": []})]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    proc = _run_batch(model_path, "-i", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert proc.returncode == 0, proc.stderr
    assert "run_batch: 14/14 lines (100%)" in proc.stderr and "14 lines run (0 already done), 5 with errors" in proc.stderr
    out = {o["custom_id"]: o for o in _read(tmp_path / "out.jsonl")}
    assert len(out) == 13  # the two lines without a custom_id share the key None
    server = Server(model_path)
    try:
        server.wait_ready()
        for cid, (url, body) in good.items():
            online = requests.post(server.url + url, json=body, timeout=30).json()
            got = out[cid]
            assert got["error"] is None and got["response"]["status_code"] == 200
            offline = got["response"]["body"]
            if isinstance(online, list):
                _assert_same_numbers(offline, online)
                continue
            assert offline.keys() == online.keys(), cid
            for key in ("scores", "results", "data"):
                if key in online:
                    _assert_same_numbers(offline[key], online[key])
    finally:
        server.stop()
    assert out["bad-url"]["response"] is None and "url must be one of" in out["bad-url"]["error"]["message"]
    assert "method must be POST" in out["bad-method"]["error"]["message"]
    assert out["bad-body"]["response"]["status_code"] == 400
    assert out["bad-body"]["error"] == {"code": 400, "message": "'documents' must not be empty"}
    anonymous = sorted(o["error"]["message"][:28] for o in _read(tmp_path / "out.jsonl") if o["custom_id"] is None)
    assert anonymous == ["line 10 is not valid JSON: E", "line 11 has no custom_id (a "]


def _assert_same_numbers(a, b):
    """Equal structure; floats equal to 1e-5 (ids and timestamps differ between runs, not here)."""
    if isinstance(a, float):
        assert abs(a - b) <= 1e-5
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same_numbers(x, y)
    elif isinstance(a, dict):
        for key in a.keys() - {"id", "created"}:
            _assert_same_numbers(a[key], b[key])
    else:
        assert a == b


def test_a_killed_run_resumes_to_one_answer_per_line(model_path, tmp_path):
    n = 600
    lines = [_line(f"r{i}", "/v1/score", {"query": QUERY, "items": [DOCS[i % 4], DOCS[(i + 1) % 4]] * 8}) for i in range(n)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "multiscore.run_batch", "-i", str(tmp_path / "in.jsonl"), "-o", str(out),
           "--model-path", str(model_path), "--device", "cpu", "--num-threads", "1", "--max-concurrency", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while (not out.exists() or out.read_text().count("\n") < 50) and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    family = descendants(proc.pid) | {proc.pid}
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not wait_gone(family)
    written = out.read_text()
    assert 50 <= written.count("\n") < n
    with out.open("a") as f:  # a line torn by the kill, had it come mid-write
        f.write('{"id": "batch_req_x", "custom_id": "r599", "response": {"status_')
    resumed = _run_batch(model_path, "-i", str(tmp_path / "in.jsonl"), "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    records = _read(out)  # every line parses: the torn one was cut
    assert sorted(r["custom_id"] for r in records) == sorted(f"r{i}" for i in range(n))
    assert all(r["error"] is None for r in records)
    by_id = {r["custom_id"]: r["response"]["body"]["scores"] for r in records}
    assert_scores_close(by_id["r0"], by_id["r4"], 1e-5)  # the same request before and after the kill (4 apart)
    assert_scores_close(by_id["r1"], by_id[f"r{n - 3}"], 1e-5)


def test_stdin_to_stdout_and_resume_needs_a_file(model_path):
    lines = "\n".join(_line(f"s{i}", "/rerank", {"query": QUERY, "documents": DOCS}) for i in range(3)) + "\n"
    proc = _run_batch(model_path, "-i", "-", "-o", "-", input_text=lines)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(r["custom_id"] for r in records) == ["s0", "s1", "s2"]
    assert all(len(r["response"]["body"]["results"]) == 4 for r in records)
    refused = _run_batch(model_path, "-i", "-", "-o", "-", "--resume", input_text=lines)
    assert refused.returncode == 2 and "--resume needs an output file" in refused.stderr
