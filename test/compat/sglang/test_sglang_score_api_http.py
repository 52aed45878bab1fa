"""Ports of SGLang's HTTP tests of ``POST /v1/score``.

Upstream files (sgl-project/sglang):
- test/registered/prefill_only/test_score_api.py @ 1f6332e12730330692edd18cc8c6ae26c82113c4
  (TestCausalLMScoringHTTP on Llama-3.2-1B-Instruct; TestCausalLMMISScoringHTTP with
  ``--disable-radix-cache --chunked-prefill-size -1 --multi-item-scoring-delimiter <|eot_id|>``)
- test/registered/unit/entrypoints/openai/test_serving_score.py @ 3afadaf57478e4a474e48e4329bd6da44a3d0995
  (the /v1/score handler's contracts: override payloads, usage fields, ValueError -> 400; upstream
  calls the handler with a mocked tokenizer manager, here the same bodies go to a real server)

Servers: ``causal_server`` / ``causal_mis_server`` (conftest.py), a tiny Llama (BOS tokenizer).
"""

from __future__ import annotations

import pytest
import requests
import torch

from sglang_reference import assert_close, first_token_id, hidden_size, reference, sequences, tokenizer, vocab_size


def post(server, payload):
    return requests.post(server.url + "/v1/score", json=payload, timeout=60)


# ---- prefill_only/test_score_api.py :: TestCausalLMScoringHTTP ------------------------------------


def test_response_envelope(causal_server):
    """Ports prefill_only/test_score_api.py::TestCausalLMScoringHTTP::test_response_envelope.

    200 with ``scores``, ``model`` and ``object == "scoring"``. Upstream assertions: 4."""
    resp = post(causal_server, {
        "query": "The capital of France is", "items": ["Paris", "Berlin"], "label_token_ids": [1, 2],
        "apply_softmax": True, "model": str(causal_server.model_path),
    })
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "scores" in body
    assert "model" in body
    assert body["object"] == "scoring"


def test_apply_softmax_false_by_default(causal_server):
    """Ports prefill_only/test_score_api.py::TestCausalLMScoringHTTP::test_apply_softmax_false_by_default.

    Without ``apply_softmax`` the scores are the labels' full-vocabulary probabilities, which do
    not sum to 1 (upstream: ``assertNotAlmostEqual(sum, 1.0, places=3)``); also equal to
    transformers' (the meaning of "raw probabilities"). Upstream assertions: 3."""
    path = causal_server.model_path
    resp = post(causal_server, {
        "query": "The capital of France is", "items": ["Paris"], "label_token_ids": [1, 2],
        "model": str(path),
    })
    assert resp.status_code == 200, resp.text
    scores = resp.json()["scores"]
    assert len(scores) == 1
    assert round(sum(scores[0]) - 1.0, 3) != 0
    assert_close(scores, reference(path, sequences(path, "The capital of France is", ["Paris"]), [1, 2]))


def test_apply_softmax_true_normalizes(causal_server):
    """Ports prefill_only/test_score_api.py::TestCausalLMScoringHTTP::test_apply_softmax_true_normalizes.

    Each row is a probability distribution over the labels. Upstream assertions: 3."""
    resp = post(causal_server, {
        "query": "The capital of France is", "items": ["Paris", "Berlin", "Rome"], "label_token_ids": [1, 2, 3],
        "apply_softmax": True, "model": str(causal_server.model_path),
    })
    assert resp.status_code == 200, resp.text
    for row in resp.json()["scores"]:
        assert sum(row) == pytest.approx(1.0, abs=1e-6)
        assert all(v >= 0.0 for v in row)


@pytest.mark.parametrize("payload", [
    {"query": "Q", "items": ["X"], "label_token_ids": "bad"},  # label_token_ids must be List[int]
    {"query": "Q", "items": 42, "label_token_ids": [1, 2]},  # items: str / List[str] / List[List[int]]
], ids=["label_token_ids_str", "items_int"])
def test_schema_rejection(causal_server, payload):
    """Ports prefill_only/test_score_api.py::TestCausalLMScoringHTTP::test_schema_rejection.

    Malformed payloads are rejected with a 4xx. Upstream assertions: 1 (per payload)."""
    resp = post(causal_server, {**payload, "model": str(causal_server.model_path)})
    assert resp.status_code >= 400, resp.text


# ---- prefill_only/test_score_api.py :: TestCausalLMMISScoringHTTP ---------------------------------


def _mis_score(server, query, items, label_token_ids):
    """Upstream ``_score``: apply_softmax=True, asserts 200."""
    resp = post(server, {
        "query": query, "items": items, "label_token_ids": label_token_ids, "apply_softmax": True,
        "model": str(server.model_path),
    })
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_mis_one_probability_vector_per_item(causal_mis_server):
    """Ports prefill_only/test_score_api.py::TestCausalLMMISScoringHTTP::test_one_probability_vector_per_item.

    Upstream's label ids 9454 / 2753 are Llama-3's "Yes" / "No": here the tiny tokenizer's "yes" /
    "no". Added beyond upstream: each MIS score equals transformers on that item alone (≤ 1e-4).
    Upstream assertions: 5."""
    path = causal_mis_server.model_path
    items = ["Sacramento", "San Jose", "San Francisco"]
    label_token_ids = [first_token_id(path, "Yes"), first_token_id(path, "No")]
    scores = _mis_score(causal_mis_server, "Is each the capital?", items, label_token_ids)["scores"]
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)
        assert all(v >= 0.0 for v in row)
    expected = reference(path, sequences(path, "Is each the capital?", items), label_token_ids, apply_softmax=True)
    assert_close(scores, expected)


def test_mis_empty_items_returns_empty_scores(causal_mis_server):
    """Ports prefill_only/test_score_api.py::TestCausalLMMISScoringHTTP::test_empty_items_returns_empty_scores.

    Upstream assertions: 2."""
    result = _mis_score(causal_mis_server, "Test query", [], [1, 2])
    assert len(result["scores"]) == 0


@pytest.mark.parametrize("items", [
    ["Single item"], ["Item 1", "Item 2"], ["A", "B", "C", "D"], ["X", "Y", "Z", "W", "V", "U"],
], ids=lambda items: f"n{len(items)}")
def test_mis_varying_item_counts(causal_mis_server, items):
    """Ports prefill_only/test_score_api.py::TestCausalLMMISScoringHTTP::test_varying_item_counts.

    1, 2, 4 and 6 items: one softmax row of 5 labels per item. Upstream assertions: 4."""
    label_token_ids = [1, 2, 3, 4, 5]
    scores = _mis_score(causal_mis_server, "Rate each:", items, label_token_ids)["scores"]
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_mis_deterministic(causal_mis_server):
    """Ports prefill_only/test_score_api.py::TestCausalLMMISScoringHTTP::test_deterministic.

    Back-to-back identical requests return identical scores (places=6). Upstream assertions: 3."""
    items, label_token_ids = ["Option A", "Option B", "Option C"], [1, 2, 3]
    s1 = _mis_score(causal_mis_server, "Choose:", items, label_token_ids)["scores"]
    s2 = _mis_score(causal_mis_server, "Choose:", items, label_token_ids)["scores"]
    assert len(s1) == len(s2)
    for r1, r2 in zip(s1, s2):
        for v1, v2 in zip(r1, r2):
            assert round(v1 - v2, 6) == 0


# ---- unit/entrypoints/openai/test_serving_score.py (the handler's contracts, over HTTP) -----------

PLACEHOLDER = 0  # a valid vocabulary id standing for "an embedding goes here" (upstream: any id)


def _vectors(path, n, seed):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(hidden_size(path), generator=gen) * 0.5).tolist() for _ in range(n)]


def test_overrides_become_float32_vectors_with_none_items_preserved(causal_server):
    """Ports unit/entrypoints/openai/test_serving_score.py::TestEmbedOverrideConversion::
    test_overrides_become_float32_tensors_with_none_items_preserved.

    Upstream sends ``query_embed_overrides=[[1.0, 2.0]]`` and ``item_embed_overrides=[[[3.0, 4.0]],
    None]`` and checks that the handler turns them into float32 vectors with the ``None`` entry ("no
    override for this item") kept. Here the same nested JSON float lists go to a real server with
    placeholders in the token inputs: the query's vector replaces the query placeholder for every
    item, item 0's replaces its own placeholder, item 1 (``null``) is scored unchanged — each equal to
    transformers with those input embeddings replaced (≤ 1e-4). Upstream assertions: 4 (both
    vectors' values, the None entry, one entry per item; the float32 dtype is implied by fp32 parity)."""
    path = causal_server.model_path
    tok = tokenizer(path)
    query = tok("the capital of")["input_ids"]
    query = query[:1] + [PLACEHOLDER] + query[1:]  # <bos> P the capital of
    items = [tok("sacramento", add_special_tokens=False)["input_ids"] + [PLACEHOLDER],
             tok("los angeles", add_special_tokens=False)["input_ids"]]
    (q_vec,), (i_vec,) = _vectors(path, 1, 1), _vectors(path, 1, 2)
    labels = [first_token_id(path, "yes"), first_token_id(path, "no")]
    resp = post(causal_server, {
        "model": "m", "query": query, "items": items, "label_token_ids": labels,
        "embed_override_token_id": PLACEHOLDER,
        "query_embed_overrides": [q_vec], "item_embed_overrides": [[i_vec], None],
    })
    assert resp.status_code == 200, resp.text
    seqs = sequences(path, query, items)
    expected = reference(path, seqs, labels, overrides=[{1: q_vec, len(seqs[0]) - 1: i_vec}, {1: q_vec}])
    assert_close(resp.json()["scores"], expected)


def test_absent_overrides_stay_none(causal_server):
    """Ports unit/entrypoints/openai/test_serving_score.py::TestEmbedOverrideConversion::test_absent_overrides_stay_none.

    A request without overrides is scored with the feature off: the placeholder token keeps its own
    embedding (same as transformers on the plain ids). Upstream assertions: 2."""
    path = causal_server.model_path
    query = [2, PLACEHOLDER, 7, 8]
    items = [[9, PLACEHOLDER]]
    resp = post(causal_server, {"model": "m", "query": query, "items": items, "label_token_ids": [5]})
    assert resp.status_code == 200, resp.text
    assert_close(resp.json()["scores"], reference(path, sequences(path, query, items), [5]))


def test_scores_and_usage_fields(causal_server):
    """Ports unit/entrypoints/openai/test_serving_score.py::TestResponseSerialization::test_scores_and_usage_fields.

    ``scores``, ``model`` (the request's), ``usage.prompt_tokens == usage.total_tokens`` (the tokens
    scored: query + item), and ``pooled_hidden_states`` present and null when not requested.
    Upstream assertions: 5."""
    path = causal_server.model_path
    resp = post(causal_server, {"model": "m", "query": "the capital of", "items": ["sacramento"],
                                "label_token_ids": [5]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    (seq,) = sequences(path, "the capital of", ["sacramento"])
    assert_close(body["scores"], reference(path, [seq], [5]))
    assert body["model"] == "m"
    assert body["usage"]["prompt_tokens"] == len(seq)
    assert body["usage"]["total_tokens"] == len(seq)
    assert "pooled_hidden_states" in body and body["pooled_hidden_states"] is None


def test_value_error_becomes_400_error_response(causal_server):
    """Ports unit/entrypoints/openai/test_serving_score.py::TestErrorHandling::test_value_error_becomes_400_error_response.

    A user-input problem (here a label id outside the vocabulary, SGLang's ``Token ID ... is out of
    vocabulary`` ValueError) is a 400 whose ``message`` says what is wrong. Upstream assertions: 2."""
    bad = vocab_size(causal_server.model_path) + 1
    resp = post(causal_server, {"model": "m", "query": "q", "items": ["a"], "label_token_ids": [bad]})
    assert resp.status_code == 400, resp.text
    assert str(bad) in resp.json()["message"]


def test_error_body_is_sglang_flat_and_openai_nested(causal_server):
    """No upstream assertion (not counted): the issue's requirement that error bodies keep SGLang's
    flat ``{"object": "error", "message", "type", "code"}`` (SGLang's ErrorResponse, what
    test_value_error_becomes_400_error_response reads) and also carry vLLM/OpenAI's nested
    ``"error": {...}``."""
    bad = vocab_size(causal_server.model_path) + 1
    resp = post(causal_server, {"model": "m", "query": "q", "items": ["a"], "label_token_ids": [bad]})
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["object"] == "error"
    assert body["type"] == "BadRequestError"
    assert body["code"] == 400
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body.get("error"), dict), body
    assert body["error"]["message"] == body["message"]
    assert body["error"]["type"] == body["type"]
    assert body["error"]["code"] == 400
