"""Port of vLLM's tests/entrypoints/pooling/scoring/test_bi_encoder_online.py (at 21192869) against a
real launch_server.

Upstream serves BAAI/bge-base-en-v1.5 (BERT, CLS pooling, normalised; --max-model-len 100). Here: a
tiny random BertModel with the same sentence-transformers files (CLS pooling + Normalize),
--context-length 100. The reference is upstream's ``EncoderScoringHfRunner``: the cosine similarity
of the two sentence-transformers vectors. ``EMBEDDING_SIZE`` is the tiny model's hidden size (64).
"""

from __future__ import annotations

import pytest

from compat_helpers import ok, post

MODEL_NAME = "BAAI/bge-base-en-v1.5"
input_text = "This product was excellent and exceeded my expectations"
EMBEDDING_SIZE = 64  # upstream: 768

TEXTS_1 = ["What is the capital of France?", "What is the capital of Germany?"]
TEXTS_2 = ["The capital of France is Paris.", "The capital of Germany is Berlin."]


@pytest.fixture(scope="module")
def server(bi_encoder_server):
    return bi_encoder_server


@pytest.fixture(scope="module")
def hf_model(bi_encoder_ref):
    return bi_encoder_ref


def _score_and_compare(server, hf_model, body, text_pairs):
    score = ok(post(server, "score", {"model": MODEL_NAME, **body}), "score")
    assert score["id"] is not None
    assert score["data"] is not None
    assert len(score["data"]) == len(text_pairs)
    vllm_outputs = [d["score"] for d in score["data"]]
    hf_outputs = hf_model.predict(text_pairs)
    for i in range(len(vllm_outputs)):
        assert hf_outputs[i] == pytest.approx(vllm_outputs[i], rel=0.01)


def test_score_api_queries_str_1_documents_str_1(hf_model, server):
    """scoring/test_bi_encoder_online.py::test_score_api_queries_str_1_documents_str_1"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1[0], "documents": TEXTS_2[0]}, [[TEXTS_1[0], TEXTS_2[0]]])


def test_score_api_queries_str_1_documents_str_n(hf_model, server):
    """scoring/test_bi_encoder_online.py::test_score_api_queries_str_1_documents_str_n"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1[0], "documents": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[0], TEXTS_2[1]]])


def test_score_api_queries_str_n_documents_str_n(hf_model, server):
    """scoring/test_bi_encoder_online.py::test_score_api_queries_str_n_documents_str_n"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1, "documents": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_score_api_queries_vs_documents(hf_model, server):
    """scoring/test_bi_encoder_online.py::test_score_api_queries_vs_documents"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1, "documents": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_score_api_queries_vs_items(hf_model, server):
    """scoring/test_bi_encoder_online.py::test_score_api_queries_vs_items"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1, "items": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_score_api_text_1_vs_text_2(hf_model, server):
    """scoring/test_bi_encoder_online.py::test_score_api_text_1_vs_text_2"""
    _score_and_compare(server, hf_model, {"text_1": TEXTS_1, "text_2": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_score_api_data_1_vs_data_2(hf_model, server):
    """scoring/test_bi_encoder_online.py::test_score_api_data_1_vs_data_2"""
    _score_and_compare(server, hf_model, {"data_1": TEXTS_1, "data_2": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_rerank_api_texts(server, hf_model):
    """scoring/test_bi_encoder_online.py::test_rerank_api_texts. Upstream: Paris (index 1) outscores
    Brazil (index 0); here: each document's score is the reference cosine, so the order is its order."""
    query = "What is the capital of France?"
    documents = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
    rerank = ok(post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": documents}), "rerank")

    assert rerank["id"] is not None
    assert rerank["results"] is not None
    assert len(rerank["results"]) == 2
    expected = hf_model.predict([[query, d] for d in documents])
    paris_result = next(r for r in rerank["results"] if r["index"] == 1)
    brazil_result = next(r for r in rerank["results"] if r["index"] == 0)
    assert paris_result["relevance_score"] == pytest.approx(expected[1], rel=0.01)
    assert brazil_result["relevance_score"] == pytest.approx(expected[0], rel=0.01)
    assert (paris_result["relevance_score"] > brazil_result["relevance_score"]) == (expected[1] > expected[0])


def test_rerank_api_top_n(server, hf_model):
    """scoring/test_bi_encoder_online.py::test_rerank_api_top_n. Upstream: results[0].index == 1 (Paris);
    here: results[0] is the reference's best document."""
    query = "What is the capital of France?"
    documents = ["The capital of Brazil is Brasilia.", "The capital of France is Paris.", "Cross-encoder models are neat"]
    rerank = ok(post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": documents, "top_n": 2}),
                "rerank")
    assert rerank["id"] is not None
    assert rerank["results"] is not None
    assert len(rerank["results"]) == 2
    expected = hf_model.predict([[query, d] for d in documents])
    assert rerank["results"][0]["index"] == max(range(3), key=lambda i: expected[i])


def test_rerank_api_max_model_len(server):
    """scoring/test_bi_encoder_online.py::test_rerank_api_max_model_len"""
    query = "What is the capital of France?" * 100
    documents = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
    rerank_response = post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": documents})
    assert rerank_response.status_code == 400
    assert "Please reduce the length of the input prompt" in rerank_response.text


def test_score_api_max_model_len(server):
    """scoring/test_bi_encoder_online.py::test_score_api_max_model_len"""
    queries = "What is the capital of France?" * 20
    documents = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
    score_response = post(server, "score", {"model": MODEL_NAME, "queries": queries, "documents": documents})
    assert score_response.status_code == 400
    assert "Please reduce the length of the input prompt" in score_response.text

    score_response = post(server, "score", {"model": MODEL_NAME, "queries": queries, "documents": documents,
                                            "truncate_prompt_tokens": 101})
    assert score_response.status_code == 400
    assert "Please request a smaller truncation size." in score_response.text


def test_invocations(server):
    """scoring/test_bi_encoder_online.py::test_invocations"""
    request_args = {"model": MODEL_NAME, "query": "What is the capital of France?",
                    "documents": ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]}
    rerank_response = post(server, "rerank", request_args)
    assert rerank_response.status_code == 200, rerank_response.text
    invocation_response = post(server, "invocations", request_args)
    assert invocation_response.status_code == 200, invocation_response.text

    rerank_output = rerank_response.json()
    invocation_output = invocation_response.json()
    assert rerank_output.keys() == invocation_output.keys()
    for rerank_result, invocations_result in zip(rerank_output["results"], invocation_output["results"]):
        assert rerank_result.keys() == invocations_result.keys()
        assert rerank_result["relevance_score"] == pytest.approx(invocations_result["relevance_score"], rel=0.01)


def test_pooling_embed(server):
    """scoring/test_bi_encoder_online.py::test_pooling_embed"""
    response = post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                        "task": "embed"})
    poolings = ok(response, "pooling")
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == EMBEDDING_SIZE


@pytest.mark.parametrize("task", ["classify", "token_classify", "plugin"])
def test_pooling_not_supported(server, task):
    """scoring/test_bi_encoder_online.py::test_pooling_not_supported"""
    response = post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                        "task": task})
    assert response.json()["error"]["type"] == "BadRequestError"
    assert response.json()["error"]["message"].startswith(f"Unsupported task: {task!r}")
