"""A real server with --quantization w8a8_int8 (SGLang's name): it reports the int8 layers,
concurrent requests batched together get their sequential answers (per-token scales: a batch-mate
never moves a score; a per-tensor scale would), MIS agrees with single-item scoring and with
transformers in fp32 to int8's error."""

from __future__ import annotations

import concurrent.futures
import random

import pytest

requests = pytest.importorskip("requests")

import torch  # noqa: E402

from hf_reference import hf_scores  # noqa: E402
from multiscore.layers.int8_linear import int8_problem  # noqa: E402
from proc_utils import Server  # noqa: E402

INT8_PROBLEM = int8_problem(torch.device("cpu"), torch.float32)
pytestmark = pytest.mark.skipif(INT8_PROBLEM is not None, reason=f"int8 refused here: {INT8_PROBLEM}")

LABELS = [5, 9, 42]


@pytest.fixture(scope="module")
def model_path(tiny_model):
    return tiny_model("qwen3", "causal")


@pytest.fixture(scope="module")
def server(model_path):
    srv = Server(model_path, "--quantization", "w8a8_int8", "--dtype", "float32", "--enable-mis")
    srv.wait_ready()
    yield srv
    srv.stop()


def score(server, query, items):
    resp = server.score(query=query, items=items, label_token_ids=LABELS)
    assert resp.status_code == 200, resp.text
    return resp.json()["scores"]


def max_diff(a, b):
    return max(abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))


def test_the_server_reports_int8_layers(server):
    info = requests.get(server.url + "/get_server_info", timeout=5).json()
    assert info["server_args"]["quantization"] == "int8"
    assert info["linear_kernel"].startswith("oneDNN int8: per-channel weights, per-token activations")


def test_mis_and_single_item_stay_within_int8_error_of_transformers(server, model_path):
    query, items = [11, 12, 13, 14, 15, 16], [[21, 22], [23], [24, 25, 26], [27]]
    mis = score(server, query, items)
    singles = [score(server, query, [item])[0] for item in items]
    reference = hf_scores(model_path, query, items, LABELS)
    span = max(max(row) for row in reference) - min(min(row) for row in reference)
    assert max_diff(mis, singles) <= 0.02 * span  # float rounding, amplified by int8 codes at most this
    assert 0 < max_diff(mis, reference) <= 0.1 * span  # int8's error, and it did run in int8


def test_concurrent_requests_get_their_sequential_answers(server):
    rng = random.Random(5)
    jobs = [([rng.randrange(5, 150) for _ in range(rng.randrange(3, 12))],
             [[rng.randrange(5, 150) for _ in range(rng.randrange(1, 6))] for _ in range(rng.choice([1, 2, 5]))])
            for _ in range(24)]
    sequential = [score(server, q, items) for q, items in jobs]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        concurrent_answers = list(pool.map(lambda job: score(server, *job), jobs))
    for got, expected in zip(concurrent_answers, sequential):
        assert max_diff(got, expected) <= 1e-4  # another request's scores would be off by ~the span
