"""Port of vLLM's tests/entrypoints/pooling/scoring/test_online_score.py (at 58602241), with the
activation checks of tests/entrypoints/pooling/score/test_online_score.py (21cc7862: ``use_activation``,
a 400 on a bi-encoder) and tests/entrypoints/pooling/openai/test_score.py (28b031de: the older field
name ``activation``).

Upstream's two models are served by the session's ``cross_encoder_server`` (for BAAI/bge-reranker-v2-m3)
and ``bi_encoder_server`` (for BAAI/bge-base-en-v1.5), both --context-length 100 as upstream's
--max-model-len 100. ``run_transformers`` is upstream's: CrossEncoder.predict, or the cosine of the two
sentence-transformers vectors.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from compat_helpers import ok, post

MODELS = [
    {"name": "BAAI/bge-reranker-v2-m3", "is_cross_encoder": True},
    {"name": "BAAI/bge-base-en-v1.5", "is_cross_encoder": False},
]


@pytest.fixture(scope="module", params=MODELS, ids=["cross_encoder", "bi_encoder"])
def model(request):
    return request.param


@pytest.fixture(scope="module")
def server(model, cross_encoder_server, bi_encoder_server):
    return cross_encoder_server if model["is_cross_encoder"] else bi_encoder_server


@pytest.fixture(scope="module")
def runner(model, cross_encoder_ref, bi_encoder_ref):
    return cross_encoder_ref if model["is_cross_encoder"] else bi_encoder_ref


def run_transformers(runner, model, text_pairs):
    return runner.predict(text_pairs)


def _check(server, model, runner, body, text_pairs):
    score = ok(post(server, "score", {"model": model["name"], **body}), "score")
    assert score["id"] is not None
    assert score["data"] is not None
    assert len(score["data"]) == len(text_pairs)
    vllm_outputs = [d["score"] for d in score["data"]]
    hf_outputs = run_transformers(runner, model, text_pairs)
    for i in range(len(vllm_outputs)):
        assert hf_outputs[i] == pytest.approx(vllm_outputs[i], rel=0.01)


class TestModel:
    def test_queries_str_documents_str(self, server, model, runner):
        """scoring/test_online_score.py::TestModel::test_queries_str_documents_str"""
        q, d = "What is the capital of France?", "The capital of France is Paris."
        _check(server, model, runner, {"queries": q, "documents": d}, [[q, d]])

    def test_queries_str_items_str(self, server, model, runner):
        """scoring/test_online_score.py::TestModel::test_queries_str_items_str"""
        q, d = "What is the capital of France?", "The capital of France is Paris."
        _check(server, model, runner, {"queries": q, "items": d}, [[q, d]])

    def test_text_1_str_text_2_str(self, server, model, runner):
        """scoring/test_online_score.py::TestModel::test_text_1_str_text_2_str"""
        q, d = "What is the capital of France?", "The capital of France is Paris."
        _check(server, model, runner, {"text_1": q, "text_2": d}, [[q, d]])

    def test_data_1_str_data_2_str(self, server, model, runner):
        """scoring/test_online_score.py::TestModel::test_data_1_str_data_2_str"""
        q, d = "What is the capital of France?", "The capital of France is Paris."
        _check(server, model, runner, {"data_1": q, "data_2": d}, [[q, d]])

    def test_queries_str_documents_list(self, server, model, runner):
        """scoring/test_online_score.py::TestModel::test_queries_str_documents_list
        (openai/test_score.py::TestModel::test_text_1_str_text_2_list with text_1/text_2)"""
        q = "What is the capital of France?"
        docs = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
        _check(server, model, runner, {"queries": q, "documents": docs}, [[q, docs[0]], [q, docs[1]]])
        _check(server, model, runner, {"text_1": q, "text_2": docs}, [[q, docs[0]], [q, docs[1]]])

    def test_queries_list_documents_list(self, server, model, runner):
        """scoring/test_online_score.py::TestModel::test_queries_list_documents_list
        (openai/test_score.py::TestModel::test_text_1_list_text_2_list with text_1/text_2)"""
        qs = ["What is the capital of the United States?", "What is the capital of France?"]
        docs = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
        _check(server, model, runner, {"queries": qs, "documents": docs}, [[qs[0], docs[0]], [qs[1], docs[1]]])
        _check(server, model, runner, {"text_1": qs, "text_2": docs}, [[qs[0], docs[0]], [qs[1], docs[1]]])

    def test_score_max_model_len(self, server, model):
        """scoring/test_online_score.py::TestModel::test_score_max_model_len. Upstream's older wording
        ("Please reduce the length of the input.", "Please, select a smaller truncation size.") is
        asserted in its current form, as scoring/test_cross_encoder_online.py words it."""
        queries = "What is the capital of France?" * 20
        documents = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
        score_response = post(server, "score", {"model": model["name"], "queries": queries, "documents": documents})
        assert score_response.status_code == 400
        assert "Please reduce the length of the input prompt" in score_response.text

        score_response = post(server, "score", {"model": model["name"], "queries": queries, "documents": documents,
                                                "truncate_prompt_tokens": 101})
        assert score_response.status_code == 400
        assert "Please request a smaller truncation size." in score_response.text

    def test_invocations(self, server, model):
        """scoring/test_online_score.py::TestModel::test_invocations (openai/test_score.py::test_invocations)"""
        request_args = {"model": model["name"], "queries": "What is the capital of France?",
                        "documents": "The capital of France is Paris."}
        score_response = post(server, "score", request_args)
        assert score_response.status_code == 200, score_response.text
        invocation_response = post(server, "invocations", request_args)
        assert invocation_response.status_code == 200, invocation_response.text

        score_output = score_response.json()
        invocation_output = invocation_response.json()
        assert score_output.keys() == invocation_output.keys()
        for score_data, invocation_data in zip(score_output["data"], invocation_output["data"]):
            assert score_data.keys() == invocation_data.keys()
            assert score_data["score"] == pytest.approx(invocation_data["score"], rel=0.05)

    @pytest.mark.parametrize("field", ["use_activation", "activation"])
    def test_use_activation(self, server, model, field):
        """scoring/test_online_score.py::TestModel::test_use_activation, with the bi-encoder branch of
        score/test_online_score.py::TestModel::test_use_activation (``use_activation: true`` on a
        bi-encoder is a 400) and, for ``field="activation"``, openai/test_score.py::TestModel::test_activation
        (the same checks under the older field name)."""

        def get_outputs(value):
            response = post(server, "score", {"model": model["name"], "text_1": "What is the capital of France?",
                                              "text_2": "The capital of France is Paris.", field: value})
            if response.status_code != 200:
                return response
            return torch.tensor([x["score"] for x in response.json()["data"]])

        if model["is_cross_encoder"]:
            default = get_outputs(None)
            w_activation = get_outputs(True)
            wo_activation = get_outputs(False)
            assert torch.allclose(default, w_activation, atol=1e-2), "Default should use activation."
            assert not torch.allclose(w_activation, wo_activation, atol=1e-2), "wo_activation should not use activation."
            assert torch.allclose(F.sigmoid(wo_activation), w_activation, atol=1e-2), (
                "w_activation should be close to activation(wo_activation).")
        else:
            get_outputs(None)
            # The activation parameter only works for the is_cross_encoder model
            response = get_outputs(True)
            assert not isinstance(response, torch.Tensor), f"{field}: true on a bi-encoder answered 200: {response}"
            assert response.status_code == 400
