"""A real `python -m multiscore.launch_server` process over real HTTP (DESIGN.md §2, §3).

One MIS server on a tiny Llama CausalLM (its tokenizer adds <bos>, so special tokens are
exercised) is shared by the module; the SIGTERM and bad-path tests start their own.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

requests = pytest.importorskip("requests")

from hf_reference import assert_scores_close, hf_scores, hf_tokenize, load_tokenizer  # noqa: E402
from make_tiny_model import delimiter_id  # noqa: E402
from multiscore.layers.linear import onednn_packing_problem  # noqa: E402
from proc_utils import Server, descendants, free_port, multiscore_tmp_dirs, wait_gone  # noqa: E402

ATOL = 1e-4
STARTUP_DEADLINE_S = 120
QUERY = "What is the capital of California ?"
ITEMS = ["Sacramento", "Los Angeles", "San Francisco", "the city on the river", ""]
LABELS = [5, 9, 42]



@pytest.fixture(scope="module")
def model_path(tiny_model):
    return tiny_model("llama", "causal")


@pytest.fixture(scope="module")
def server(model_path, tmp_path_factory):
    tmpdir = str(tmp_path_factory.mktemp("server-tmp"))  # private: other processes' dirs don't count
    srv = Server(model_path, "--multi-item-scoring-delimiter", str(delimiter_id(model_path)), env={"TMPDIR": tmpdir})
    srv.wait_ready()
    assert multiscore_tmp_dirs(tmpdir), "the ipc socket dir should be in the server's TMPDIR"
    yield srv
    children = descendants(srv.proc.pid)
    srv.stop()
    assert not wait_gone(children), "processes left behind after SIGTERM"
    assert not multiscore_tmp_dirs(tmpdir), "ipc socket dir left behind after shutdown"


def vocab_size(model_path) -> int:
    import json

    return json.loads((model_path / "config.json").read_text())["vocab_size"]


def assert_bad_request(resp) -> None:
    assert resp.status_code == 400, f"{resp.status_code}: {resp.text}"
    body = resp.json()
    assert body["object"] == "error"
    assert body["type"] == "BadRequestError"
    assert body["code"] == 400
    assert isinstance(body["message"], str) and body["message"]


# ---- the envelope and the scores ----------------------------------------------------------------


def test_health(server):
    assert requests.get(server.url + "/health", timeout=5).status_code == 200


def test_score_envelope_and_parity(server, model_path):
    resp = server.score(query=QUERY, items=ITEMS, label_token_ids=LABELS)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "scoring"
    assert "model" in body and isinstance(body["model"], str)
    usage = body["usage"]
    assert usage["completion_tokens"] == 0
    assert isinstance(usage["prompt_tokens"], int) and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"]
    query_ids, items_ids = hf_tokenize(model_path, QUERY, ITEMS)
    assert query_ids[0] == load_tokenizer(str(model_path)).bos_token_id  # llama adds <bos>
    assert_scores_close(body["scores"], hf_scores(model_path, query_ids, items_ids, LABELS), ATOL)


def test_score_tokens_softmax(server, model_path):
    query_ids, items_ids = [11, 12, 13, 14], [[20, 21], [22], [23, 24, 25]]
    resp = server.score(query=query_ids, items=items_ids, label_token_ids=LABELS, apply_softmax=True, model="default")
    assert resp.status_code == 200, resp.text
    expected = hf_scores(model_path, query_ids, items_ids, LABELS, apply_softmax=True)
    assert_scores_close(resp.json()["scores"], expected, ATOL)


def test_vllm_generative_scores_on_a_causal_lm(server, model_path):
    """vLLM's /v1/score body on a CausalLM with label_token_ids (its generative scores): each pair's
    score is the first label's probability, softmaxed over the labels (or not), from one MIS pass."""
    documents = ITEMS[:4]
    query_ids, items_ids = hf_tokenize(model_path, QUERY, documents)
    body = {"model": "m", "queries": QUERY, "documents": documents, "label_token_ids": LABELS}
    resp = requests.post(server.url + "/v1/score", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert [d["index"] for d in data] == [0, 1, 2, 3] and all(d["object"] == "score" for d in data)
    softmaxed = hf_scores(model_path, query_ids, items_ids, LABELS, apply_softmax=True)
    assert_scores_close([[d["score"]] for d in data], [[row[0]] for row in softmaxed], ATOL)
    raw = requests.post(server.url + "/score", json={**body, "apply_softmax": False}, timeout=60).json()["data"]
    assert_scores_close([[d["score"]] for d in raw], [[row[0]] for row in hf_scores(model_path, query_ids, items_ids, LABELS)], ATOL)
    pairs = requests.post(server.url + "/score", json={**body, "queries": [QUERY, "another query"], "documents": documents[:2]},
                          timeout=60).json()["data"]
    assert pairs[0]["score"] == pytest.approx(data[0]["score"], abs=ATOL)  # N:N: pair 0 is the same pair
    missing = requests.post(server.url + "/v1/score", json={"queries": QUERY, "documents": documents}, timeout=60)
    assert missing.status_code == 400 and "'label_token_ids'" in missing.json()["error"]["message"]
    empty = requests.post(server.url + "/v1/score", json={**body, "label_token_ids": []}, timeout=60)
    assert empty.status_code == 400 and "'label_token_ids' is required" in empty.json()["error"]["message"]
    out_of_range = requests.post(server.url + "/v1/score", json={**body, "label_token_ids": [10**9]}, timeout=60)
    assert out_of_range.status_code == 400 and "label_token_ids" in out_of_range.json()["error"]["message"]


def test_vllm_generative_scores_route(server, model_path):
    """vLLM's /v1/generative-scores: SGLang's /v1/score semantics in vLLM's envelope, token_probs by label id."""
    query_ids, items_ids = hf_tokenize(model_path, QUERY, ITEMS[:3])
    body = {"model": "m", "query": QUERY, "items": ITEMS[:3], "label_token_ids": LABELS}
    resp = requests.post(server.url + "/v1/generative-scores", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["object"] == "generative_score" and out["id"].startswith("generative-score-") and out["model"] == "m"
    assert [r["index"] for r in out["results"]] == [0, 1, 2] and out["usage"]["prompt_tokens"] > 0
    got = [[r["token_probs"][str(t)] for t in LABELS] for r in out["results"]]
    assert_scores_close(got, hf_scores(model_path, query_ids, items_ids, LABELS, apply_softmax=True), ATOL)
    raw = requests.post(server.url + "/v1/generative-scores", json={**body, "apply_softmax": False}, timeout=60).json()
    got = [[r["token_probs"][str(t)] for t in LABELS] for r in raw["results"]]
    assert_scores_close(got, hf_scores(model_path, query_ids, items_ids, LABELS), ATOL)
    bare = requests.post(server.url + "/v1/generative-scores", json={**body, "add_special_tokens": False}, timeout=60).json()
    got = [[r["token_probs"][str(t)] for t in LABELS] for r in bare["results"]]
    assert_scores_close(got, hf_scores(model_path, query_ids[1:], items_ids, LABELS, apply_softmax=True), ATOL)  # no <bos>
    sampled = requests.post(server.url + "/v1/generative-scores", json={**body, "temperature": 0.7}, timeout=60)
    assert sampled.status_code == 400 and "temperature=0.7" in sampled.json()["error"]["message"]


def test_empty_items_and_string_item(server):
    resp = server.score(query=QUERY, items=[], label_token_ids=LABELS)
    assert resp.status_code == 200, resp.text
    assert resp.json()["scores"] == []
    one = server.score(query=QUERY, items="Sacramento", label_token_ids=LABELS)
    listed = server.score(query=QUERY, items=["Sacramento"], label_token_ids=LABELS)
    assert one.status_code == 200 and listed.status_code == 200
    assert len(one.json()["scores"]) == 1
    assert_scores_close(one.json()["scores"], listed.json()["scores"], 1e-6)


def _scheduler_stats(server) -> dict:
    return requests.get(server.url + "/get_server_info", timeout=5).json()["scheduler"]


def test_prefix_cache_reuses_a_query_and_flushes(server, model_path):
    """A repeated query is read from the cache (all but its last token), the scores do not move,
    /metrics shows the cache, and POST /flush_cache empties it."""
    assert requests.get(server.url + "/get_server_info", timeout=5).json()["prefix_cache"].startswith("on: ")
    query = "the old man and the sea of the city"  # a query no other test sends
    query_tokens = len(load_tokenizer(str(model_path))(query)["input_ids"])
    first = server.score(query=query, items=ITEMS, label_token_ids=LABELS)
    before = _scheduler_stats(server)
    second = server.score(query=query, items=ITEMS, label_token_ids=LABELS)
    after = _scheduler_stats(server)
    assert first.status_code == second.status_code == 200
    assert_scores_close(second.json()["scores"], first.json()["scores"], 1e-5)
    assert after["prefix_cache_hit_tokens"] - before["prefix_cache_hit_tokens"] == query_tokens - 1
    assert after["prefix_cache_tokens"] >= query_tokens and after["prefix_cache_bytes"] > 0
    metrics = requests.get(server.url + "/metrics", timeout=5).text
    assert "multiscore_scheduler_prefix_cache_hit_tokens_total" in metrics and "multiscore_prefix_cache_bytes" in metrics
    assert requests.post(server.url + "/flush_cache", timeout=10).status_code == 200
    assert _scheduler_stats(server)["prefix_cache_tokens"] == 0
    third = server.score(query=query, items=ITEMS, label_token_ids=LABELS)
    assert_scores_close(third.json()["scores"], first.json()["scores"], 1e-5)


def test_models_and_model_info(server):
    for route in ("/v1/models", "/get_model_info"):
        resp = requests.get(server.url + route, timeout=5)
        assert resp.status_code == 200, f"{route}: {resp.status_code} {resp.text}"
        assert isinstance(resp.json(), dict)


def test_model_info_and_server_info_values(server, model_path):
    info = requests.get(server.url + "/get_model_info", timeout=5).json()
    assert info["architecture"].endswith("ForCausalLM") and info["is_causal_lm"] is True
    assert info["vocab_size"] == vocab_size(model_path) and info["attention_backend"] == "torch"
    before = requests.get(server.url + "/get_server_info", timeout=5).json()["scheduler"]
    resp = server.score(query=QUERY, items=["Sacramento", "Los Angeles"], label_token_ids=LABELS)
    assert resp.status_code == 200, resp.text
    after = requests.get(server.url + "/get_server_info", timeout=5).json()
    stats = after["scheduler"]
    assert stats["forward_passes"] == before["forward_passes"] + 1  # one MIS pass for both items
    assert stats["forward_tokens"] - before["forward_tokens"] == resp.json()["usage"]["prompt_tokens"]
    assert stats["finished_requests"] == before["finished_requests"] + 1
    assert stats["forward_seconds"] > before["forward_seconds"]  # the pass's wall time was counted
    assert after["tokens_per_forward_pass"] > 0 and "api_key" not in after["server_args"]
    assert after["dtype"] == "float32" and after["dtype_reason"] == "a 32-bit checkpoint on CPU"
    assert after["compiled"] is False and after["compile_reason"] == "auto: float32 gains nothing from the fused ops"
    packing_problem = onednn_packing_problem(torch.device("cpu"), torch.float32)  # AVX2 CPUs keep F.linear
    if packing_problem is None:
        assert after["linear_kernel"].startswith("oneDNN packed weights (")
    else:
        assert after["linear_kernel"] == f"torch F.linear ({packing_problem})"
    assert after["cpu_memory"].startswith("freed memory kept for reuse (glibc mallopt")
    assert after["event_loop"] == "uvloop.Loop"  # --loop auto: uvloop, a dependency (httptools parses HTTP)
    model_frozen, server_frozen = _frozen_objects(server)
    assert model_frozen > 10_000 and server_frozen > 10_000


def _frozen_objects(server) -> tuple[int, int]:
    """/get_server_info's gc_freeze -> (objects frozen in the model process at start-up, in the server now)."""
    state = requests.get(server.url + "/get_server_info", timeout=5).json()["gc_freeze"]
    frozen = re.fullmatch(r"on: (\d+) start-up objects frozen in the model process, (\d+) in this process", state)
    assert frozen, state
    return int(frozen[1]), int(frozen[2])


def test_sglang_and_vllm_service_routes(server, model_path):
    """/ping (vLLM, SageMaker), /version, SGLang's /health_generate (a real pass), and SGLang's current
    /model_info and /server_info beside the get_ names it deprecates."""
    import multiscore

    for method in ("GET", "POST"):
        assert requests.request(method, server.url + "/ping", timeout=10).status_code == 200
    assert requests.get(server.url + "/version", timeout=5).json() == {"version": multiscore.__version__}
    before = _scheduler_stats(server)["forward_passes"]
    assert requests.get(server.url + "/health_generate", timeout=30).status_code == 200
    assert _scheduler_stats(server)["forward_passes"] == before + 1
    info = requests.get(server.url + "/model_info", timeout=5).json()
    assert info == requests.get(server.url + "/get_model_info", timeout=5).json()
    config = json.loads((pathlib.Path(model_path) / "config.json").read_text())
    assert info["model_type"] == config["model_type"] and info["architectures"] == config["architectures"]
    assert info["tokenizer_path"] == str(model_path) and info["weight_version"] == "default"
    assert info["is_generation"] is False and info["preferred_sampling_params"] is None
    assert info["has_image_understanding"] is False and info["has_audio_understanding"] is False
    assert requests.get(server.url + "/server_info", timeout=5).json().keys() == \
        requests.get(server.url + "/get_server_info", timeout=5).json().keys()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_freeze_gc_route_as_sglang_and_the_server_keeps_serving(server, method):
    """SGLang's /freeze_gc (called after a warm-up): a plain-text 200; the server freezes what it has
    allocated since start-up, and scores as before."""
    _, before = _frozen_objects(server)
    resp = requests.request(method, server.url + "/freeze_gc", timeout=30)
    assert resp.status_code == 200 and resp.text == "Garbage collection frozen.\n"
    assert _frozen_objects(server)[1] > before
    scored = server.score(query=QUERY, items=["Sacramento"], label_token_ids=LABELS)
    assert scored.status_code == 200 and len(scored.json()["scores"]) == 1


# ---- bad inputs: 400 with the error body, and the server keeps serving --------------------------


def bad_requests(model_path):
    v = vocab_size(model_path)
    return {
        "missing_query": {"items": ["a"], "label_token_ids": LABELS},
        "missing_items": {"query": QUERY, "label_token_ids": LABELS},
        "items_int": {"query": QUERY, "items": 5, "label_token_ids": LABELS},
        "items_mixed": {"query": QUERY, "items": [1, "a"], "label_token_ids": LABELS},
        "query_wrong_type": {"query": {"a": 1}, "items": ["a"], "label_token_ids": LABELS},
        "no_label_ids": {"query": QUERY, "items": ["Sacramento"]},
        "null_label_ids": {"query": QUERY, "items": ["Sacramento"], "label_token_ids": None},
        "negative_label": {"query": QUERY, "items": ["Sacramento"], "label_token_ids": [5, -1]},
        "label_ge_vocab": {"query": QUERY, "items": ["Sacramento"], "label_token_ids": [v]},
        "query_token_oov": {"query": [11, v], "items": [[12]], "label_token_ids": LABELS},
        "item_token_oov": {"query": [11], "items": [[12], [v + 3]], "label_token_ids": LABELS},
        "item_token_negative": {"query": [11], "items": [[-2]], "label_token_ids": LABELS},
        "text_query_token_items": {"query": QUERY, "items": [[12, 13]], "label_token_ids": LABELS},
        "token_query_text_items": {"query": [11, 12], "items": ["Sacramento"], "label_token_ids": LABELS},
        "label_ids_wrong_type": {"query": QUERY, "items": ["Sacramento"], "label_token_ids": "abc"},
        "nested_token_items": {"query": [11], "items": [[[12]]], "label_token_ids": LABELS},
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing_query", "missing_items", "items_int", "items_mixed", "query_wrong_type", "no_label_ids",
        "null_label_ids", "negative_label", "label_ge_vocab", "query_token_oov", "item_token_oov",
        "item_token_negative", "text_query_token_items", "token_query_text_items", "label_ids_wrong_type",
        "nested_token_items",
    ],
)
def test_bad_input_is_400_and_server_keeps_serving(server, model_path, case):
    assert_bad_request(server.score(**bad_requests(model_path)[case]))
    good = server.score(query=QUERY, items=["Sacramento"], label_token_ids=LABELS)
    assert good.status_code == 200, good.text


@pytest.mark.parametrize("payload", ["{not json", "", "[1, 2", "null", "[]", '"a string"'])
def test_malformed_json_is_400(server, payload):
    resp = requests.post(
        server.url + "/v1/score", data=payload, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert_bad_request(resp)
    good = server.score(query=QUERY, items=["Sacramento"], label_token_ids=LABELS)
    assert good.status_code == 200, good.text


# ---- concurrency ------------------------------------------------------------------------------


def test_32_concurrent_requests_equal_sequential(server):
    rng = random.Random(0)
    bodies = []
    for i in range(32):
        n = rng.randint(1, 12)
        items = [[rng.randrange(5, 200) for _ in range(rng.randint(0 if i % 5 == 0 else 1, 7))] for _ in range(n)]
        query = [rng.randrange(5, 200) for _ in range(rng.randint(3, 15))]
        bodies.append({"query": query, "items": items, "label_token_ids": LABELS, "apply_softmax": i % 2 == 0})
    sequential = []
    for body in bodies:
        resp = server.score(**body)
        assert resp.status_code == 200, resp.text
        sequential.append(resp.json()["scores"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        responses = list(pool.map(lambda b: server.score(**b), bodies))
    for i, resp in enumerate(responses):
        assert resp.status_code == 200, resp.text
        assert_scores_close(resp.json()["scores"], sequential[i], 1e-5)


# ---- process life cycle -----------------------------------------------------------------------


def test_bad_model_path_exits_nonzero_with_message(tmp_path):
    missing = tmp_path / "no-such-model"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    cmd = [sys.executable, "-m", "multiscore.launch_server", "--model-path", str(missing)]
    cmd += ["--port", str(free_port()), "--device", "cpu"]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={**os.environ, "TMPDIR": str(tmpdir)})
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert elapsed < 30, f"took {elapsed:.1f}s to fail"
    assert str(missing) in proc.stderr, f"stderr does not name the path:\n{proc.stderr[-2000:]}"
    assert not multiscore_tmp_dirs(str(tmpdir))
    # The model process starts before the path is checked; it must not outlive the failed start.
    leftover = subprocess.run(["pgrep", "-f", str(missing)], capture_output=True, text=True).stdout.split()
    assert not leftover, f"model processes left running: {leftover}"


def test_sigterm_exits_and_leaves_nothing(tiny_model, tmp_path):
    path = tiny_model("qwen3", "seqcls")
    srv = Server(path, env={"TMPDIR": str(tmp_path)})
    srv.wait_ready()
    resp = srv.score(query=QUERY, items=["Sacramento", "Los Angeles"])
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["scores"]) == 2
    children = descendants(srv.proc.pid)
    assert children, "the scheduler should run in a child process"
    srv.proc.send_signal(signal.SIGTERM)
    try:
        srv.proc.wait(30)
    except subprocess.TimeoutExpired:
        srv.stop()
        raise AssertionError("launch_server did not exit within 30s of SIGTERM")
    left = wait_gone(children)
    assert not left, f"processes left behind after SIGTERM: {left}"
    assert not multiscore_tmp_dirs(str(tmp_path)), "ipc socket dir left behind"
