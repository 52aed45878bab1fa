"""Port of vLLM's tests/entrypoints/pooling/pooling/test_online.py (at 1704cfce).

Upstream serves internlm/internlm2-1_8b-reward, a reward model whose /pooling answer is one value per
token (its pooling task is token_classify) and ``--chat-template DUMMY_CHAT_TEMPLATE``. multiscore has
no reward architecture; the stand-in is the session's one-label Qwen3 classifier (the Qwen3 reranker
conversion of a tiny causal checkpoint, whose tokenizer carries DUMMY_CHAT_TEMPLATE), asked for that
same per-token output with ``"task": "token_classify"`` in each body. Token ids and counts are the
checkpoint tokenizer's.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

from compat_helpers import (
    DUMMY_CHAT_TEMPLATE,
    EMBED_DTYPES,
    ENDIANNESS,
    MESSAGES,
    binary2tensor,
    build_metadata_items,
    check_embeddings_close,
    decode_pooling_output,
    ok,
    post,
)

MODEL_NAME = "internlm/internlm2-1_8b-reward"
TASK = {"task": "token_classify"}  # the reward model's own pooling task, explicit here
input_text = "The chef prepared a delicious meal."


@pytest.fixture(scope="module")
def server(qwen3_reranker_server):
    return qwen3_reranker_server


def pool(server, body):
    return post(server, "pooling", {"model": MODEL_NAME, **TASK, **body})


def squeezed(data) -> list:
    return np.array(data).squeeze(-1).tolist()


def test_basic(server, input_tokens):
    """pooling/test_online.py::test_basic, its /tokenize half (the /v1/models half is ported in the
    other modules: this server's name is the reranker's, so the body names no model; upstream names
    the one its server serves)."""
    response = post(server, "/tokenize", {"prompt": input_text})
    assert response.json()["tokens"] == input_tokens


def test_completion_request(server, input_tokens):
    """pooling/test_online.py::test_completion_request (older version: test_single_pooling)"""
    for body_input in (input_text, input_tokens):
        poolings = ok(pool(server, {"input": body_input, "encoding_format": "float"}), "pooling")
        assert poolings["id"] is not None
        assert len(poolings["data"]) == 1
        assert len(poolings["data"][0]["data"]) == len(input_tokens)
        assert poolings["usage"].get("completion_tokens", 0) == 0
        assert poolings["usage"]["prompt_tokens"] == len(input_tokens)
        assert poolings["usage"]["total_tokens"] == len(input_tokens)


def test_completion_request_batched(server, input_tokens):
    """pooling/test_online.py::test_completion_request_batched (older version: test_batch_pooling)"""
    N = 10
    for body_input in ([input_text] * N, [input_tokens] * N):
        poolings = ok(pool(server, {"input": body_input, "encoding_format": "float"}), "pooling")
        assert poolings["id"] is not None
        assert len(poolings["data"]) == N
        assert len(poolings["data"][0]["data"]) == len(input_tokens)
        assert poolings["usage"].get("completion_tokens", 0) == 0
        assert poolings["usage"]["prompt_tokens"] == len(input_tokens) * N
        assert poolings["usage"]["total_tokens"] == len(input_tokens) * N


def test_conversation_pooling(server, tokenizer):
    """pooling/test_online.py::test_conversation_pooling"""
    chat_poolings = ok(pool(server, {"messages": MESSAGES, "encoding_format": "float"}), "pooling")
    prompt = tokenizer.apply_chat_template(MESSAGES, chat_template=DUMMY_CHAT_TEMPLATE, add_generation_prompt=True,
                                           continue_final_message=False, tokenize=False)
    completion_poolings = ok(pool(server, {"input": prompt, "encoding_format": "float", "add_special_tokens": False}),
                             "pooling")
    assert chat_poolings["id"] is not None
    assert completion_poolings["id"] is not None
    assert chat_poolings["created"] <= completion_poolings["created"]
    rest = lambda body: {k: v for k, v in body.items() if k not in ("id", "created")}  # noqa: E731
    assert rest(chat_poolings) == rest(completion_poolings)


def test_batch_base64_pooling(server):
    """pooling/test_online.py::test_batch_base64_pooling"""
    input_texts = ["Hello my name is", "The best thing about vLLM is that it supports many different models"]
    responses_float = ok(pool(server, {"input": input_texts, "encoding_format": "float"}), "pooling")
    float_data = [squeezed(d["data"]) for d in responses_float["data"]]

    responses_base64 = ok(pool(server, {"input": input_texts, "encoding_format": "base64"}), "pooling")
    decoded = [np.frombuffer(base64.b64decode(d["data"]), dtype="float32").tolist() for d in responses_base64["data"]]
    check_embeddings_close(embeddings_0_lst=float_data, embeddings_1_lst=decoded, name_0="float32", name_1="base64")

    responses_default = ok(pool(server, {"input": input_texts}), "pooling")
    default_data = [squeezed(d["data"]) for d in responses_default["data"]]
    check_embeddings_close(embeddings_0_lst=float_data, embeddings_1_lst=default_data, name_0="float32", name_1="default")


@pytest.fixture(scope="module")
def float_data(server):
    responses_float = ok(pool(server, {"input": [input_text] * 3, "encoding_format": "float"}), "pooling")
    return [squeezed(d["data"]) for d in responses_float["data"]], responses_float["usage"]["prompt_tokens"] // 3


@pytest.mark.parametrize("embed_dtype", EMBED_DTYPES)
@pytest.mark.parametrize("endianness", ENDIANNESS)
def test_base64_embed_dtype_and_endianness(server, float_data, embed_dtype, endianness):
    """pooling/test_online.py::test_base64_embed_dtype_and_endianness (one case per dtype x endianness)"""
    responses_base64 = pool(server, {"input": [input_text] * 3, "encoding_format": "base64",
                                     "embed_dtype": embed_dtype, "endianness": endianness})
    base64_data = []
    for data in responses_base64.json()["data"]:
        binary = base64.b64decode(data["data"])
        base64_data.append(binary2tensor(binary, (-1,), embed_dtype, endianness).to(torch.float32).tolist())
    check_embeddings_close(embeddings_0_lst=float_data[0], embeddings_1_lst=base64_data, name_0="float_data",
                           name_1="base64_data", tol=1e-2)


@pytest.mark.parametrize("embed_dtype", EMBED_DTYPES)
@pytest.mark.parametrize("endianness", ENDIANNESS)
def test_bytes_embed_dtype_and_endianness(server, float_data, embed_dtype, endianness):
    """pooling/test_online.py::test_bytes_embed_dtype_and_endianness"""
    responses_bytes = pool(server, {"input": [input_text] * 3, "encoding_format": "bytes",
                                    "embed_dtype": embed_dtype, "endianness": endianness})
    metadata = json.loads(responses_bytes.headers["metadata"])
    items = list(metadata["data"])
    bytes_data = [x.to(torch.float32).view(-1).tolist()
                  for x in decode_pooling_output(items=items, body=responses_bytes.content)]
    check_embeddings_close(embeddings_0_lst=float_data[0], embeddings_1_lst=bytes_data, name_0="float_data",
                           name_1="bytes_data", tol=1e-2)


@pytest.mark.parametrize("embed_dtype", EMBED_DTYPES)
@pytest.mark.parametrize("endianness", ENDIANNESS)
def test_bytes_only_embed_dtype_and_endianness(server, float_data, embed_dtype, endianness):
    """pooling/test_online.py::test_bytes_only_embed_dtype_and_endianness: each tensor is
    ``(n_tokens, 1)``, back to back, no header."""
    values, n_tokens = float_data
    responses_bytes = pool(server, {"input": [input_text] * 3, "encoding_format": "bytes_only",
                                    "embed_dtype": embed_dtype, "endianness": endianness})
    assert "metadata" not in responses_bytes.headers
    items = build_metadata_items(embed_dtype=embed_dtype, endianness=endianness, shape=(n_tokens, 1), n_request=3)
    bytes_data = [x.to(torch.float32).view(-1).tolist()
                  for x in decode_pooling_output(items=items, body=responses_bytes.content)]
    check_embeddings_close(embeddings_0_lst=values, embeddings_1_lst=bytes_data, name_0="float_data",
                           name_1="bytes_data", tol=1e-2)


@pytest.mark.parametrize("param_name", ["encoding_format", "embed_dtype", "endianness"])
def test_params_not_supported(server, param_name):
    """pooling/test_online.py::test_params_not_supported"""
    responses_base64 = pool(server, {"input": input_text, "encoding_format": "base64", param_name: f"bad_{param_name}"})
    assert responses_base64.status_code == 400
    assert "literal_error" in responses_base64.json()["error"]["message"]
    assert f"bad_{param_name}" in responses_base64.json()["error"]["message"]


@pytest.mark.parametrize("request_args", [
    pytest.param({"model": MODEL_NAME, **TASK, "input": input_text, "encoding_format": "float"}, id="completion"),
    pytest.param({"model": MODEL_NAME, **TASK, "messages": MESSAGES, "encoding_format": "float"}, id="conversation"),
])
def test_invocations(server, request_args):
    """pooling/test_online.py::test_invocations, test_invocations_conversation"""
    completion_response = post(server, "pooling", request_args)
    assert completion_response.status_code == 200, completion_response.text
    invocation_response = post(server, "invocations", request_args)
    assert invocation_response.status_code == 200, invocation_response.text

    completion_output = completion_response.json()
    invocation_output = invocation_response.json()
    assert completion_output.keys() == invocation_output.keys()
    for completion_data, invocation_data in zip(completion_output["data"], invocation_output["data"]):
        assert completion_data.keys() == invocation_data.keys()
        check_embeddings_close(embeddings_0_lst=completion_data["data"], embeddings_1_lst=invocation_data["data"],
                               name_0="completion", name_1="invocation")
