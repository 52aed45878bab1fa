"""A cross-encoder's relevance scores follow the activation its config.json names, as
sentence-transformers' ``CrossEncoder.predict`` and vLLM's /score and rerank do: raw logits for
cross-encoder/ms-marco-MiniLM-L-6-v2 (``sbert_ce_default_activation_function``: Identity), Tanh
where ``sentence_transformers.activation_fn`` says so. /classify and TEI's /rerank keep the
classifier's rule (sigmoid of one logit), as vLLM and TEI do. Reference: sentence-transformers on
the same tiny checkpoint."""

from __future__ import annotations

import math

import pytest
import requests

from multiscore import Engine
from proc_utils import Server

ATOL = 1e-4
QUERY = "what is the capital of california"
DOCS = ["sacramento is the capital of california", "the dog and the cat", "a big city", "yes"]
LEGACY_IDENTITY = {"sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity"}
V4_TANH = {"sentence_transformers": {"activation_fn": "torch.nn.modules.activation.Tanh", "version": "5.1.0"}}


def cross_encoder_predict(model_dir) -> list[float]:
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(model_dir), device="cpu")
    return [float(x) for x in model.predict([[QUERY, d] for d in DOCS])]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.fixture(scope="module")
def identity_server(tiny_model):
    model_dir = tiny_model("bert", "seqcls", num_labels=1, **LEGACY_IDENTITY)
    server = Server(model_dir, "--num-threads", "1")
    try:
        server.wait_ready()
        yield server, model_dir
    finally:
        server.stop()


def test_identity_cross_encoder_scores_are_raw_logits_on_vllm_routes(identity_server):
    server, model_dir = identity_server
    expected = cross_encoder_predict(model_dir)
    assert all(abs(sigmoid(x) - x) > 0.1 for x in expected)  # the test tells logits from their sigmoid
    r = requests.post(server.url + "/score", json={"text_1": QUERY, "text_2": DOCS}, timeout=60)
    assert r.status_code == 200, r.text
    assert [d["score"] for d in r.json()["data"]] == pytest.approx(expected, abs=ATOL)
    r = requests.post(server.url + "/v1/rerank", json={"query": QUERY, "documents": DOCS}, timeout=60)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == sorted(range(len(DOCS)), key=lambda i: -expected[i])
    for x in results:
        assert x["relevance_score"] == pytest.approx(expected[x["index"]], abs=ATOL)


def test_identity_cross_encoder_keeps_the_classifier_rule_on_classify_and_tei(identity_server):
    server, model_dir = identity_server
    logits = cross_encoder_predict(model_dir)  # Identity: the logits themselves
    r = requests.post(server.url + "/rerank", json={"query": QUERY, "texts": DOCS}, timeout=60)  # TEI's body
    assert r.status_code == 200, r.text
    for x in r.json():
        assert x["score"] == pytest.approx(sigmoid(logits[x["index"]]), abs=ATOL)
    r = requests.post(server.url + "/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}, timeout=60)
    assert {x["index"]: x["score"] for x in r.json()} == pytest.approx(dict(enumerate(logits)), abs=ATOL)


def test_tanh_cross_encoder_rerank_through_the_engine(tiny_model):
    model_dir = tiny_model("bert", "seqcls", num_labels=1, **V4_TANH)
    expected = cross_encoder_predict(model_dir)
    with Engine(str(model_dir), num_threads=1) as engine:
        results = engine.rerank(QUERY, DOCS)
        raw = engine.rerank(QUERY, DOCS, use_activation=False)
    assert all(abs(x - sigmoid(math.atanh(x))) > 0.1 for x in expected)  # tanh is told from the default sigmoid
    for r in results:
        assert r.relevance_score == pytest.approx(expected[r.index], abs=ATOL)
    for r in raw:  # use_activation false: the logits, whose tanh is the score
        assert math.tanh(r.relevance_score) == pytest.approx(expected[r.index], abs=ATOL)
