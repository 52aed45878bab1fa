"""Port of vLLM's tests/entrypoints/pooling/classify/test_online.py (at 030ea52e), with
token_classify/test_online.py::test_pooling_token_classify (081d0a9f) and, from the older
tests/entrypoints/pooling/openai/test_classification.py (12e08e09), the ``activation`` field and the
400 for score / rerank on a multi-label classifier.

Upstream serves jason9693/Qwen2.5-1.5B-apeach (Qwen2ForSequenceClassification, labels Default /
Spoiled, --max-model-len 512). Here: a tiny random Qwen2 classifier with those labels and a
Qwen2.5-style ChatML template, --context-length 512. Literal token ids and token counts of upstream
become the checkpoint tokenizer's; the probabilities are also compared with transformers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from compat_helpers import MESSAGES, get, ok, post, seqcls_logits, seqcls_token_logits

MODEL_NAME = "jason9693/Qwen2.5-1.5B-apeach"
input_text = "This product was excellent and exceeded my expectations"


@pytest.fixture(scope="module")
def server(classify_server):
    return classify_server


def chat_token_count(tokenizer, add_generation_prompt=False, continue_final_message=False, add_special_tokens=False):
    prompt = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=add_generation_prompt,
                                           continue_final_message=continue_final_message, tokenize=False)
    return len(tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"])


def softmax(x):
    e = np.exp(np.asarray(x) - np.max(x))
    return e / e.sum()


def test_basic(server, input_tokens):
    """classify/test_online.py::test_basic"""
    response = get(server, "/v1/models")
    served_model = response.json()["data"][0]["id"]
    assert served_model == MODEL_NAME

    response = post(server, "/tokenize", {"model": MODEL_NAME, "prompt": input_text})
    assert response.json()["tokens"] == input_tokens


def test_completion_request(server, input_tokens):
    """classify/test_online.py::test_completion_request (openai/test_classification.py::
    test_single_input_classification), plus the probabilities of transformers on the same ids."""
    for body_input in (input_text, input_tokens):
        output = ok(post(server, "classify", {"model": MODEL_NAME, "input": body_input}), "classify")
        assert output["object"] == "list"
        assert output["model"] == MODEL_NAME
        assert len(output["data"]) == 1
        assert "label" in output["data"][0]
        assert "probs" in output["data"][0]
        expected = softmax(seqcls_logits(server.model_path, input_tokens))
        assert output["data"][0]["probs"] == pytest.approx(expected.tolist(), abs=1e-4)


def test_completion_request_batched(server, input_tokens):
    """classify/test_online.py::test_completion_request_batched (openai/test_classification.py::
    test_multiple_inputs_classification)"""
    N = 10
    for body_input in ([input_text] * N, [input_tokens] * N):
        output = ok(post(server, "classify", {"model": MODEL_NAME, "input": body_input}), "classify")
        assert len(output["data"]) == N
        for i, item in enumerate(output["data"]):
            assert item["index"] == i
            assert "label" in item
            assert "probs" in item
            assert len(item["probs"]) == item["num_classes"]
            assert item["label"] in ["Default", "Spoiled"]


def test_empty_input_error(server):
    """classify/test_online.py::test_empty_input_error (the newest upstream: ``input: []`` is a 400 too;
    openai/test_classification.py::test_batch_classification_empty_list's older 200 is superseded)"""
    for empty in ("", []):
        response = post(server, "classify", {"model": MODEL_NAME, "input": empty})
        error = response.json()
        assert response.status_code == 400, (empty, response.text)
        assert "error" in error


def test_truncate_prompt_tokens(server):
    """classify/test_online.py::test_truncate_prompt_tokens (openai/test_classification.py::
    test_truncate_prompt_tokens, test_invalid_truncate_prompt_tokens_error)"""
    output = ok(post(server, "classify", {"model": MODEL_NAME, "input": "hello " * 600, "truncate_prompt_tokens": 5}),
                "classify")
    assert len(output["data"]) == 1
    assert output["data"][0]["index"] == 0
    assert "probs" in output["data"][0]
    assert output["usage"]["prompt_tokens"] == 5
    assert output["usage"]["total_tokens"] == 5

    response = post(server, "classify", {"model": MODEL_NAME, "input": "test", "truncate_prompt_tokens": 513})
    error = response.json()
    assert response.status_code == 400
    assert "truncate_prompt_tokens" in error["error"]["message"]


def test_add_special_tokens(server):
    """classify/test_online.py::test_add_special_tokens (openai/test_classification.py::test_add_special_tokens_false)"""
    for flag in (False, True):
        ok(post(server, "classify", {"model": MODEL_NAME, "input": input_text, "add_special_tokens": flag}), "classify")


def test_chat_request(server, tokenizer):
    """classify/test_online.py::test_chat_request. Upstream's token counts (51, 54, 49, 51) are the
    real model's; here they are the tiny checkpoint's, computed as vLLM renders a chat: the chat
    template to text, then the tokenizer (special tokens off unless asked)."""

    def classify(**extra):
        output = ok(post(server, "classify", {"model": MODEL_NAME, "messages": MESSAGES, **extra}), "classify")
        assert output["object"] == "list"
        assert output["model"] == MODEL_NAME
        assert len(output["data"]) == 1
        assert "label" in output["data"][0]
        assert "probs" in output["data"][0]
        return output

    assert classify()["usage"]["prompt_tokens"] == chat_token_count(tokenizer)
    assert classify(add_generation_prompt=True)["usage"]["prompt_tokens"] == chat_token_count(
        tokenizer, add_generation_prompt=True)
    assert classify(continue_final_message=True)["usage"]["prompt_tokens"] == chat_token_count(
        tokenizer, continue_final_message=True)
    assert classify(add_special_tokens=True)["usage"]["prompt_tokens"] == chat_token_count(
        tokenizer, add_special_tokens=True)

    response = post(server, "classify", {"model": MODEL_NAME, "messages": MESSAGES, "continue_final_message": True,
                                         "add_generation_prompt": True})
    assert ("Cannot set both `continue_final_message` and `add_generation_prompt` to True."
            in response.json()["error"]["message"])


@pytest.mark.parametrize("request_args", [
    pytest.param({"model": MODEL_NAME, "input": input_text}, id="completion"),
    pytest.param({"model": MODEL_NAME, "messages": MESSAGES}, id="chat"),
])
def test_invocations(server, request_args):
    """classify/test_online.py::test_invocations_completion_request, test_invocations_chat_request
    (openai/test_classification.py::test_invocations)"""
    classification_response = post(server, "classify", request_args)
    assert classification_response.status_code == 200, classification_response.text
    invocation_response = post(server, "invocations", request_args)
    assert invocation_response.status_code == 200, invocation_response.text

    classification_output = classification_response.json()
    invocation_output = invocation_response.json()
    assert classification_output.keys() == invocation_output.keys()
    for classification_data, invocation_data in zip(classification_output["data"], invocation_output["data"]):
        assert classification_data.keys() == invocation_data.keys()
        assert classification_data["probs"] == pytest.approx(invocation_data["probs"], rel=0.01)


@pytest.mark.parametrize("field", ["use_activation", "activation"])
def test_use_activation(server, field):
    """classify/test_online.py::test_use_activation; ``activation`` is the older field name of
    openai/test_classification.py::test_activation (same checks)."""

    def get_outputs(value):
        response = post(server, "classify", {"model": MODEL_NAME, "input": input_text, field: value})
        return torch.tensor([x["probs"] for x in response.json()["data"]])

    default = get_outputs(None)
    w_activation = get_outputs(True)
    wo_activation = get_outputs(False)
    assert torch.allclose(default, w_activation, atol=1e-2), "Default should use activation."
    assert not torch.allclose(w_activation, wo_activation, atol=1e-2), "wo_activation should not use activation."
    assert torch.allclose(F.softmax(wo_activation, dim=-1), w_activation, atol=1e-2), (
        "w_activation should be close to activation(wo_activation).")


def test_score(server):
    """openai/test_classification.py::test_score: the score API needs num_labels == 1 ->
    BadRequestError. (The newest classify/test_online.py::test_score expects the route to be absent,
    a 404 {"detail": "Not Found"}; not ported, see the report.)"""
    response = post(server, "score", {"model": MODEL_NAME, "text_1": "ping", "text_2": "pong"})
    assert response.json()["error"]["type"] == "BadRequestError"


def test_rerank(server):
    """openai/test_classification.py::test_rerank (as test_score)"""
    response = post(server, "rerank", {"model": MODEL_NAME, "query": "ping", "documents": ["pong"]})
    assert response.json()["error"]["type"] == "BadRequestError"


def test_pooling_classify(server):
    """classify/test_online.py::test_pooling_classify"""
    poolings = ok(post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                           "task": "classify"}), "pooling")
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == 2


def test_pooling_token_classify(server, input_tokens):
    """token_classify/test_online.py::test_pooling_token_classify (upstream starts that server with
    --pooler-config '{"pooling_task": "token_classify"}', which multiscore takes too, to make it
    /pooling's default task; this server serves both tasks, so the body names it),
    plus transformers' per-token head output, softmaxed (vLLM's token_classify activation)."""
    poolings = ok(post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                           "task": "token_classify"}), "pooling")
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == len(input_tokens)
    assert len(poolings["data"][0]["data"][0]) == 2
    expected = [softmax(row).tolist() for row in seqcls_token_logits(server.model_path, input_tokens)]
    for got, want in zip(poolings["data"][0]["data"], expected):
        assert got == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize("task", ["embed", "token_embed", "plugin"])
def test_pooling_not_supported(server, task):
    """classify/test_online.py::test_pooling_not_supported (its token_classify case is not ported:
    upstream refuses it only because that server's pooling_task is classify).

    Adapted for ``plugin``: this upstream file wants the message to start with "No IOProcessor
    plugin installed.", while embed/test_online.py and scoring/test_*_online.py want every refused
    task, plugin included, to start with "Unsupported task: 'plugin'". One message cannot start with
    both; multiscore starts with the latter and says the former too."""
    response = post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                        "task": task})
    assert response.json()["error"]["type"] == "BadRequestError"
    message = response.json()["error"]["message"]
    assert message.startswith(f"Unsupported task: {task!r}")
    if task == "plugin":
        assert "No IOProcessor plugin installed." in message
