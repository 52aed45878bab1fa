"""Port of vLLM's tests/entrypoints/pooling/scoring/test_cross_encoder_online.py (at 29fda794) and of
what tests/entrypoints/pooling/score/test_online_rerank.py (11e16f46), scoring/test_protocol.py
(5366e9de) and scoring/test_utils.py (0c752bfb) add to it, against a real launch_server.

Upstream serves BAAI/bge-reranker-base (an XLM-R cross-encoder, --max-model-len 100). Here: a tiny
random XLMRobertaForSequenceClassification with one label, --context-length 100, served as
"BAAI/bge-reranker-base". The reference is what upstream's ``hf_runner(is_cross_encoder=True)`` is:
sentence-transformers' ``CrossEncoder.predict`` on the same checkpoint. Where upstream relies on the
real model's knowledge (Paris scores >= 0.9), the port asserts the order and scores of the reference.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from compat_helpers import load_tokenizer, ok, post, get

MODEL_NAME = "BAAI/bge-reranker-base"
input_text = "This product was excellent and exceeded my expectations"

TEXTS_1 = ["What is the capital of France?", "What is the capital of Germany?"]
TEXTS_2 = ["The capital of France is Paris.", "The capital of Germany is Berlin."]


@pytest.fixture(scope="module")
def server(cross_encoder_server):
    return cross_encoder_server


@pytest.fixture(scope="module")
def hf_model(cross_encoder_ref):
    return cross_encoder_ref


@pytest.fixture(scope="module")
def input_tokens(server):
    return load_tokenizer(server.model_path)(input_text)["input_ids"]


def test_basic(server, input_tokens):
    """scoring/test_cross_encoder_online.py::test_basic (score/test_online_rerank.py::test_basic).
    The expected ids are the checkpoint tokenizer's (upstream: bge-reranker-base's literal ids)."""
    response = get(server, "/v1/models")
    served_model = response.json()["data"][0]["id"]
    assert served_model == MODEL_NAME

    response = post(server, "/tokenize", {"model": MODEL_NAME, "prompt": input_text})
    assert response.json()["tokens"] == input_tokens


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
    """scoring/test_cross_encoder_online.py::test_score_api_queries_str_1_documents_str_1"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1[0], "documents": TEXTS_2[0]}, [[TEXTS_1[0], TEXTS_2[0]]])


def test_score_api_queries_str_1_documents_str_n(hf_model, server):
    """scoring/test_cross_encoder_online.py::test_score_api_queries_str_1_documents_str_n"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1[0], "documents": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[0], TEXTS_2[1]]])


def test_score_api_queries_str_n_documents_str_n(hf_model, server):
    """scoring/test_cross_encoder_online.py::test_score_api_queries_str_n_documents_str_n"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1, "documents": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_score_api_queries_vs_documents(hf_model, server):
    """scoring/test_cross_encoder_online.py::test_score_api_queries_vs_documents"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1, "documents": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_score_api_queries_vs_items(hf_model, server):
    """scoring/test_cross_encoder_online.py::test_score_api_queries_vs_items"""
    _score_and_compare(server, hf_model, {"queries": TEXTS_1, "items": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_score_api_text_1_vs_text_2(hf_model, server):
    """scoring/test_cross_encoder_online.py::test_score_api_text_1_vs_text_2"""
    _score_and_compare(server, hf_model, {"text_1": TEXTS_1, "text_2": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_score_api_data_1_vs_data_2(hf_model, server):
    """scoring/test_cross_encoder_online.py::test_score_api_data_1_vs_data_2"""
    _score_and_compare(server, hf_model, {"data_1": TEXTS_1, "data_2": TEXTS_2},
                       [[TEXTS_1[0], TEXTS_2[0]], [TEXTS_1[1], TEXTS_2[1]]])


def test_rerank_api_texts(server, hf_model):
    """scoring/test_cross_encoder_online.py::test_rerank_api_texts (score/test_online_rerank.py::test_rerank_texts).
    Upstream: results[0] >= 0.9 and results[1] <= 0.01 (bge knows Paris); here: the results are the
    reference's best then worst document, with the reference's scores."""
    query = "What is the capital of France?"
    documents = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
    rerank = ok(post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": documents}), "rerank")

    assert rerank["id"] is not None
    assert rerank["results"] is not None
    assert len(rerank["results"]) == 2
    expected = hf_model.predict([[query, d] for d in documents])
    best, worst = max(range(2), key=lambda i: expected[i]), min(range(2), key=lambda i: expected[i])
    assert rerank["results"][0]["index"] == best
    assert rerank["results"][0]["relevance_score"] == pytest.approx(expected[best], rel=0.01)
    assert rerank["results"][1]["index"] == worst
    assert rerank["results"][1]["relevance_score"] == pytest.approx(expected[worst], rel=0.01)


def test_rerank_api_top_n(server, hf_model):
    """scoring/test_cross_encoder_online.py::test_rerank_api_top_n (score/test_online_rerank.py::test_top_n).
    Upstream's >= 0.9 / <= 0.01 become: the two best documents of the reference, in its order."""
    query = "What is the capital of France?"
    documents = ["The capital of Brazil is Brasilia.", "The capital of France is Paris.", "Cross-encoder models are neat"]
    rerank = ok(post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": documents, "top_n": 2}),
                "rerank")

    assert rerank["id"] is not None
    assert rerank["results"] is not None
    assert len(rerank["results"]) == 2
    expected = hf_model.predict([[query, d] for d in documents])
    order = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [r["index"] for r in rerank["results"]] == order
    for r in rerank["results"]:
        assert r["relevance_score"] == pytest.approx(expected[r["index"]], rel=0.01)


def test_rerank_api_max_model_len(server):
    """scoring/test_cross_encoder_online.py::test_rerank_api_max_model_len (score/test_online_rerank.py::test_rerank_max_model_len)"""
    query = "What is the capital of France?" * 100
    documents = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
    rerank_response = post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": documents})
    assert rerank_response.status_code == 400
    assert "Please reduce the length of the input prompt" in rerank_response.text


def test_score_api_max_model_len(server):
    """scoring/test_cross_encoder_online.py::test_score_api_max_model_len"""
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
    """scoring/test_cross_encoder_online.py::test_invocations (score/test_online_rerank.py::test_invocations)"""
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


def test_use_activation(server):
    """scoring/test_cross_encoder_online.py::test_use_activation (score/test_online_rerank.py::test_use_activation)"""

    def get_outputs(use_activation):
        response = post(server, "rerank", {
            "model": MODEL_NAME, "query": "What is the capital of France?",
            "documents": ["The capital of Brazil is Brasilia.", "The capital of France is Paris."],
            "use_activation": use_activation,
        })
        return torch.tensor([x["relevance_score"] for x in response.json()["results"]])

    default = get_outputs(use_activation=None)
    w_activation = get_outputs(use_activation=True)
    wo_activation = get_outputs(use_activation=False)

    assert torch.allclose(default, w_activation, atol=1e-2), "Default should use activation."
    assert not torch.allclose(w_activation, wo_activation, atol=1e-2), "wo_activation should not use activation."
    assert torch.allclose(F.sigmoid(wo_activation), w_activation, atol=1e-2), (
        "w_activation should be close to activation(wo_activation).")


def test_pooling_classify(server):
    """scoring/test_cross_encoder_online.py::test_pooling_classify (score/test_online_rerank.py::test_pooling_classify)"""
    response = post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                        "task": "classify"})
    poolings = ok(response, "pooling")
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == 1


def test_pooling_token_classify(server, input_tokens):
    """scoring/test_cross_encoder_online.py::test_pooling_token_classify"""
    response = post(server, "pooling", {"model": MODEL_NAME, "task": "token_classify", "input": input_text,
                                        "encoding_format": "float"})
    poolings = ok(response, "pooling")
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == len(input_tokens)
    assert len(poolings["data"][0]["data"][0]) == 1


def test_rerank_max_tokens_per_doc(server):
    """scoring/test_cross_encoder_online.py::test_rerank_max_tokens_per_doc"""
    query = "What is the capital of France?"
    long_doc = "The capital of France is Paris. " * 50
    short_doc = "The capital of Brazil is Brasilia."
    rerank = ok(post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": [long_doc, short_doc],
                                        "max_tokens_per_doc": 10}), "rerank")
    assert rerank["id"] is not None
    assert rerank["results"] is not None
    assert len(rerank["results"]) == 2
    assert rerank["usage"]["prompt_tokens"] > 0


def test_rerank_max_tokens_per_doc_reduces_tokens(server):
    """scoring/test_cross_encoder_online.py::test_rerank_max_tokens_per_doc_reduces_tokens"""
    query = "What is the capital of France?"
    long_doc = "The capital of France is Paris. " * 10
    no_limit = ok(post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": [long_doc],
                                          "truncate_prompt_tokens": 99}), "rerank")
    with_limit = ok(post(server, "rerank", {"model": MODEL_NAME, "query": query, "documents": [long_doc],
                                            "max_tokens_per_doc": 10}), "rerank")
    assert with_limit["usage"]["prompt_tokens"] < no_limit["usage"]["prompt_tokens"]


def test_rerank_max_tokens_per_doc_validation(server):
    """scoring/test_cross_encoder_online.py::test_rerank_max_tokens_per_doc_validation. Ported as the
    newest upstream validates (scoring/io_processor.py ``_validate_token_limit``): a negative value is
    a 400 "max_tokens_per_doc must be a non-negative integer"; 0 now means "no limit" upstream, so the
    older "0 is a 400" half is not ported."""
    response = post(server, "rerank", {"model": MODEL_NAME, "query": "What is the capital of France?",
                                       "documents": ["The capital of France is Paris."], "max_tokens_per_doc": -5})
    assert response.status_code == 400
    assert "max_tokens_per_doc must be a non-negative integer" in response.text


def test_score_max_tokens_per_doc_with_score_template(server):
    """scoring/test_cross_encoder_online.py::test_score_max_tokens_per_doc_with_score_template"""
    rerank = ok(post(server, "rerank", {"model": MODEL_NAME, "query": "What is the capital of France?",
                                        "documents": ["The capital of France is Paris. " * 20],
                                        "max_tokens_per_doc": 15}), "rerank")
    assert rerank["results"] is not None
    assert len(rerank["results"]) == 1
    assert rerank["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize("task", ["embed", "token_embed", "plugin"])
def test_pooling_not_supported(server, task):
    """scoring/test_cross_encoder_online.py::test_pooling_not_supported"""
    response = post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                        "task": task})
    assert response.json()["error"]["type"] == "BadRequestError"
    assert response.json()["error"]["message"].startswith(f"Unsupported task: {task!r}")


# ---- scoring/test_protocol.py: RerankRequest's top_n, over HTTP ----------------------------------------


def test_top_n_defaults_to_zero(server):
    """scoring/test_protocol.py::TestRerankRequestValidation::test_top_n_defaults_to_zero (top_n 0 = all)"""
    rerank = ok(post(server, "rerank", {"query": "capital of France", "documents": ["Paris"]}), "rerank")
    assert len(rerank["results"]) == 1


@pytest.mark.parametrize("top_n", [0, 1, 2])
def test_non_negative_top_n_is_accepted(server, top_n):
    """scoring/test_protocol.py::TestRerankRequestValidation::test_non_negative_top_n_is_accepted"""
    rerank = ok(post(server, "rerank", {"query": "capital of France", "documents": ["Paris", "Berlin"],
                                        "top_n": top_n}), "rerank")
    assert len(rerank["results"]) == (top_n or 2)


def test_negative_top_n_is_rejected(server):
    """scoring/test_protocol.py::TestRerankRequestValidation::test_negative_top_n_is_rejected"""
    response = post(server, "rerank", {"query": "capital of France", "documents": ["Paris", "Berlin"], "top_n": -1})
    assert response.status_code == 400, response.text


# ---- scoring/test_utils.py: validate_score_input's messages, over HTTP ----------------------------------


@pytest.mark.parametrize(("data_1", "data_2", "message"), [
    pytest.param(["query 1", "query 2"], ["document"], "Input lengths must be either 1:1, 1:N or N:N",
                 id="incompatible-input-lengths"),
    pytest.param([], ["document"], "At least one text element must be given", id="empty-first-input"),
    pytest.param(["query"], [], "At least one text_pair element must be given", id="empty-second-input"),
])
def test_validate_score_input_rejects_invalid_inputs(server, data_1, data_2, message):
    """scoring/test_utils.py::test_validate_score_input_rejects_invalid_inputs (VLLMValidationError ->
    the route's 400; the message is upstream's)."""
    response = post(server, "score", {"model": MODEL_NAME, "data_1": data_1, "data_2": data_2})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]["message"]
