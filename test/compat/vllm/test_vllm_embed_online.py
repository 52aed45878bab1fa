"""Port of vLLM's tests/entrypoints/pooling/embed/test_online.py (at 00bd1493), with
token_embed/test_online.py::test_pooling_token_embed (21602756) and the non-Matryoshka half of
embed/test_online_dimensions.py::test_matryoshka (27437309).

Upstream serves intfloat/multilingual-e5-small (XLM-R, mean pooling, normalised, 384 dims) with
``--chat-template DUMMY_CHAT_TEMPLATE``. Here: a tiny random XLMRobertaModel with the same
sentence-transformers files (64 dims) and DUMMY_CHAT_TEMPLATE as its tokenizer's chat template. The
reference is sentence-transformers on the same checkpoint (upstream: ``hf_runner(is_sentence_transformer=True)``).
Upstream's literal token ids and counts become the checkpoint tokenizer's.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import openai
import pytest
import torch
import torch.nn.functional as F

from compat_helpers import (
    DUMMY_CHAT_TEMPLATE,
    EMBED_DTYPES,
    ENDIANNESS,
    MESSAGES,
    binary2tensor,
    build_metadata_items,
    check_embeddings_close,
    decode_pooling_output,
    get,
    ok,
    post,
    run_embedding_correctness_test,
)

MODEL_NAME = "intfloat/multilingual-e5-small"
EMBEDDING_SIZE = 64  # upstream: 384
input_text = "The best thing about vLLM is that it supports many different models"


@pytest.fixture(scope="module")
def server(embed_server):
    return embed_server


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def hf_model(embed_ref):
    return embed_ref


def embeddings_of(response) -> dict:
    """The SDK's response as JSON (upstream: ``EmbeddingResponse.model_validate(r.model_dump(mode="json"))``)."""
    return response.model_dump(mode="json")


def test_basic(server, client, input_tokens):
    """embed/test_online.py::test_basic"""
    response = get(server, "/v1/models")
    assert response.json()["data"][0]["id"] == MODEL_NAME

    models = client.models.list().data
    assert models[0].id == MODEL_NAME

    response = post(server, "/tokenize", {"model": MODEL_NAME, "prompt": input_text})
    assert response.json()["tokens"] == input_tokens


def test_completion_request(client, hf_model, input_tokens):
    """embed/test_online.py::test_completion_request"""
    for body_input in (input_text, input_tokens):
        embeddings = embeddings_of(client.embeddings.create(model=MODEL_NAME, input=body_input, encoding_format="float"))
        assert embeddings["id"] is not None
        assert len(embeddings["data"]) == 1
        assert len(embeddings["data"][0]["embedding"]) == EMBEDDING_SIZE
        assert embeddings["usage"].get("completion_tokens", 0) == 0
        assert embeddings["usage"]["prompt_tokens"] == len(input_tokens)
        assert embeddings["usage"]["total_tokens"] == len(input_tokens)
        run_embedding_correctness_test(hf_model.encode([input_text]), [d["embedding"] for d in embeddings["data"]])


def test_completion_request_batched(client, hf_model, input_tokens):
    """embed/test_online.py::test_completion_request_batched"""
    N = 10
    input_texts = [input_text] * N
    for body_input in (input_texts, [input_tokens] * N):
        embeddings = embeddings_of(client.embeddings.create(model=MODEL_NAME, input=body_input, encoding_format="float"))
        assert embeddings["id"] is not None
        assert len(embeddings["data"]) == N
        assert len(embeddings["data"][0]["embedding"]) == EMBEDDING_SIZE
        assert embeddings["usage"].get("completion_tokens", 0) == 0
        assert embeddings["usage"]["prompt_tokens"] == len(input_tokens) * N
        assert embeddings["usage"]["total_tokens"] == len(input_tokens) * N
        run_embedding_correctness_test(hf_model.encode(input_texts), [d["embedding"] for d in embeddings["data"]])


def test_truncate_prompt_tokens(client, tokenizer):
    """embed/test_online.py::test_truncate_prompt_tokens (openai/test_embedding.py::
    test_single_embedding_truncation, test_single_embedding_truncation_invalid)"""
    input_texts = ["Como o Brasil pode fomentar o desenvolvimento de modelos de IA?"]
    token_ids = tokenizer(input_texts[0])["input_ids"]
    assert len(token_ids) > 10
    for body_input in (input_texts, token_ids):
        embeddings = embeddings_of(client.embeddings.create(model=MODEL_NAME, input=body_input,
                                                            extra_body={"truncate_prompt_tokens": 10}))
        assert embeddings["id"] is not None
        assert len(embeddings["data"]) == 1
        assert len(embeddings["data"][0]["embedding"]) == EMBEDDING_SIZE
        assert embeddings["usage"].get("completion_tokens", 0) == 0
        assert embeddings["usage"]["prompt_tokens"] == 10
        assert embeddings["usage"]["total_tokens"] == 10

    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model=MODEL_NAME, input=input_texts, extra_body={"truncate_prompt_tokens": 8193})


def chat_token_count(tokenizer, add_generation_prompt=False, continue_final_message=False, add_special_tokens=False):
    prompt = tokenizer.apply_chat_template(MESSAGES, chat_template=DUMMY_CHAT_TEMPLATE,
                                           add_generation_prompt=add_generation_prompt,
                                           continue_final_message=continue_final_message, tokenize=False)
    return len(tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"])


def test_chat_request(server, client, tokenizer):
    """embed/test_online.py::test_chat_request. Upstream's counts (34, 33, 36) are e5's; here the tiny
    tokenizer's, computed as vLLM renders a chat (template to text, then tokens)."""
    chat_response = post(server, "v1/embeddings", {"model": MODEL_NAME, "messages": MESSAGES, "encoding_format": "float"})
    chat_embeddings = ok(chat_response, "embedding")

    prompt = tokenizer.apply_chat_template(MESSAGES, chat_template=DUMMY_CHAT_TEMPLATE, add_generation_prompt=True,
                                           continue_final_message=False, tokenize=False)
    completion_embeddings = embeddings_of(client.embeddings.create(
        model=MODEL_NAME, input=prompt, encoding_format="float", extra_body={"add_special_tokens": False}))

    assert chat_embeddings["id"] is not None
    assert completion_embeddings["id"] is not None
    assert chat_embeddings["created"] <= completion_embeddings["created"]
    check_embeddings_close(embeddings_0_lst=[d["embedding"] for d in chat_embeddings["data"]],
                           embeddings_1_lst=[d["embedding"] for d in completion_embeddings["data"]],
                           name_0="chat", name_1="completion")
    rest = lambda body: {k: v for k, v in body.items() if k not in ("id", "created", "data")}  # noqa: E731
    assert rest(chat_embeddings) == rest(completion_embeddings)

    for flags in ({"add_generation_prompt": True}, {"continue_final_message": True}, {"add_special_tokens": True}):
        output = ok(post(server, "v1/embeddings", {"model": MODEL_NAME, "messages": MESSAGES, **flags}), "embedding")
        assert output["object"] == "list"
        assert len(output["data"]) == 1
        assert output["model"] == MODEL_NAME
        assert output["usage"]["prompt_tokens"] == chat_token_count(tokenizer, **flags), flags

    response = post(server, "v1/embeddings", {"model": MODEL_NAME, "messages": MESSAGES, "continue_final_message": True,
                                              "add_generation_prompt": True})
    assert ("Cannot set both `continue_final_message` and `add_generation_prompt` to True."
            in response.json()["error"]["message"])


def test_invocations_completion_request(server, client):
    """embed/test_online.py::test_invocations_completion_request (openai/test_embedding.py::test_invocations)"""
    request_args = {"model": MODEL_NAME, "input": input_text, "encoding_format": "float"}
    completion_output = client.embeddings.create(**request_args).model_dump()
    invocation_response = post(server, "invocations", request_args)
    assert invocation_response.status_code == 200, invocation_response.text
    invocation_output = invocation_response.json()

    assert completion_output.keys() == invocation_output.keys()
    for completion_data, invocation_data in zip(completion_output["data"], invocation_output["data"]):
        assert completion_data.keys() == invocation_data.keys()
        check_embeddings_close(embeddings_0_lst=[completion_data["embedding"]],
                               embeddings_1_lst=[invocation_data["embedding"]], name_0="completion", name_1="invocation")


def test_invocations_chat_request(server):
    """embed/test_online.py::test_invocations_chat_request (openai/test_embedding.py::test_invocations_conversation)"""
    request_args = {"model": MODEL_NAME, "messages": MESSAGES, "encoding_format": "float"}
    chat_response = post(server, "v1/embeddings", request_args)
    assert chat_response.status_code == 200, chat_response.text
    invocation_response = post(server, "invocations", request_args)
    assert invocation_response.status_code == 200, invocation_response.text

    chat_output = chat_response.json()
    invocation_output = invocation_response.json()
    assert chat_output.keys() == invocation_output.keys()
    for chat_data, invocation_data in zip(chat_output["data"], invocation_output["data"]):
        assert chat_data.keys() == invocation_data.keys()
        check_embeddings_close(embeddings_0_lst=[chat_data["embedding"]], embeddings_1_lst=[invocation_data["embedding"]],
                               name_0="chat", name_1="invocation")


def test_base64_embedding(client, hf_model):
    """embed/test_online.py::test_base64_embedding"""
    input_texts = ["Hello my name is", "The best thing about vLLM is that it supports many different models"]
    expected = hf_model.encode(input_texts)

    responses_float = client.embeddings.create(input=input_texts, model=MODEL_NAME, encoding_format="float")
    run_embedding_correctness_test(expected, [d.embedding for d in responses_float.data])

    responses_base64 = client.embeddings.create(input=input_texts, model=MODEL_NAME, encoding_format="base64")
    base64_data = [np.frombuffer(base64.b64decode(d.embedding), dtype="float32").tolist() for d in responses_base64.data]
    run_embedding_correctness_test(expected, base64_data)

    # Default response is float32 decoded from base64 by OpenAI Client
    responses_default = client.embeddings.create(input=input_texts, model=MODEL_NAME)
    run_embedding_correctness_test(expected, [d.embedding for d in responses_default.data])


@pytest.fixture(scope="module")
def float_data(client):
    responses_float = client.embeddings.create(input=[input_text] * 3, model=MODEL_NAME, encoding_format="float")
    return [d.embedding for d in responses_float.data]


@pytest.mark.parametrize("embed_dtype", EMBED_DTYPES)
@pytest.mark.parametrize("endianness", ENDIANNESS)
def test_base64_embed_dtype_and_endianness(server, float_data, embed_dtype, endianness):
    """embed/test_online.py::test_base64_embed_dtype_and_endianness (one case per dtype x endianness)"""
    responses_base64 = post(server, "/v1/embeddings", {"model": MODEL_NAME, "input": [input_text] * 3,
                                                        "encoding_format": "base64", "embed_dtype": embed_dtype,
                                                        "endianness": endianness})
    base64_data = []
    for data in responses_base64.json()["data"]:
        binary = base64.b64decode(data["embedding"])
        base64_data.append(binary2tensor(binary, (-1,), embed_dtype, endianness).to(torch.float32).tolist())
    check_embeddings_close(embeddings_0_lst=float_data, embeddings_1_lst=base64_data, name_0="float_data",
                           name_1="base64_data", tol=1e-2)


@pytest.mark.parametrize("embed_dtype", EMBED_DTYPES)
@pytest.mark.parametrize("endianness", ENDIANNESS)
def test_bytes_embed_dtype_and_endianness(server, float_data, embed_dtype, endianness):
    """embed/test_online.py::test_bytes_embed_dtype_and_endianness: the body is the tensors' bytes, the
    ``metadata`` header says where each one is (index, embed_dtype, endianness, start, end, shape)."""
    responses_bytes = post(server, "/v1/embeddings", {"model": MODEL_NAME, "input": [input_text] * 3,
                                                       "encoding_format": "bytes", "embed_dtype": embed_dtype,
                                                       "endianness": endianness})
    metadata = json.loads(responses_bytes.headers["metadata"])
    items = list(metadata["data"])
    bytes_data = [x.to(torch.float32).tolist() for x in decode_pooling_output(items=items, body=responses_bytes.content)]
    check_embeddings_close(embeddings_0_lst=float_data, embeddings_1_lst=bytes_data, name_0="float_data",
                           name_1="bytes_data", tol=1e-2)


@pytest.mark.parametrize("embed_dtype", EMBED_DTYPES)
@pytest.mark.parametrize("endianness", ENDIANNESS)
def test_bytes_only_embed_dtype_and_endianness(server, client, embed_dtype, endianness):
    """embed/test_online.py::test_bytes_only_embed_dtype_and_endianness: no header, the tensors back to back."""
    input_texts = ["The best thing about vLLM is that it supports many different models"] * 2
    float_data = [d.embedding for d in client.embeddings.create(input=input_texts, model=MODEL_NAME,
                                                                encoding_format="float").data]
    embedding_size = len(float_data[0])
    responses_bytes = post(server, "/v1/embeddings", {"model": MODEL_NAME, "input": input_texts,
                                                       "encoding_format": "bytes_only", "embed_dtype": embed_dtype,
                                                       "endianness": endianness})
    assert "metadata" not in responses_bytes.headers
    items = build_metadata_items(embed_dtype=embed_dtype, endianness=endianness, shape=(embedding_size,),
                                 n_request=len(input_texts))
    bytes_data = [x.to(torch.float32).tolist() for x in decode_pooling_output(items=items, body=responses_bytes.content)]
    check_embeddings_close(embeddings_0_lst=float_data, embeddings_1_lst=bytes_data, name_0="float_data",
                           name_1="bytes_data", tol=1e-2)


@pytest.mark.parametrize("param_name", ["encoding_format", "embed_dtype", "endianness"])
def test_params_not_supported(server, param_name):
    """embed/test_online.py::test_params_not_supported"""
    responses_base64 = post(server, "/v1/embeddings", {"model": MODEL_NAME, "input": input_text,
                                                        "encoding_format": "base64", param_name: f"bad_{param_name}"})
    assert responses_base64.status_code == 400
    assert "literal_error" in responses_base64.json()["error"]["message"]
    assert f"bad_{param_name}" in responses_base64.json()["error"]["message"]


def test_use_activation(server):
    """embed/test_online.py::test_use_activation (``use_activation: false`` = not normalised)"""

    def get_outputs(use_activation):
        response = post(server, "v1/embeddings", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                                  "use_activation": use_activation})
        return torch.tensor([x["embedding"] for x in response.json()["data"]])

    default = get_outputs(use_activation=None)
    w_normal = get_outputs(use_activation=True)
    wo_normal = get_outputs(use_activation=False)
    assert torch.allclose(default, w_normal, atol=1e-2), "Default should use normal."
    assert not torch.allclose(w_normal, wo_normal, atol=1e-2), "wo_normal should not use normal."
    assert torch.allclose(w_normal, F.normalize(wo_normal, p=2, dim=-1), atol=1e-2), (
        "w_normal should be close to normal(wo_normal).")


def test_pooling_embed(server):
    """embed/test_online.py::test_pooling_embed"""
    poolings = ok(post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                           "task": "embed"}), "pooling")
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == EMBEDDING_SIZE


def test_pooling_token_embed(server, input_tokens):
    """embed/test_online.py::test_pooling_token_embed (token_embed/test_online.py::test_pooling_token_embed)"""
    poolings = ok(post(server, "pooling", {"model": MODEL_NAME, "input": input_text, "encoding_format": "float",
                                           "task": "token_embed"}), "pooling")
    assert len(poolings["data"]) == 1
    assert len(poolings["data"][0]["data"]) == len(input_tokens)
    assert len(poolings["data"][0]["data"][0]) == EMBEDDING_SIZE


@pytest.mark.parametrize("task", ["classify", "token_classify", "plugin"])
def test_pooling_not_supported(server, task):
    """embed/test_online.py::test_pooling_not_supported"""
    response = post(server, "pooling", {"model": MODEL_NAME, "input": "test", "encoding_format": "float", "task": task})
    assert response.json()["error"]["type"] == "BadRequestError"
    assert response.json()["error"]["message"].startswith(f"Unsupported task: {task!r}")


def test_dimensions_on_a_model_without_matryoshka(client, hf_model):
    """embed/test_online_dimensions.py::test_matryoshka, for its non-Matryoshka model (e5-small):
    ``dimensions`` None works; -1 and 16 are BadRequestError."""
    prompts = ["The chef prepared a delicious meal."] * 3
    embeddings = embeddings_of(client.embeddings.create(model=MODEL_NAME, input=prompts, dimensions=None,
                                                        encoding_format="float"))
    assert embeddings["id"] is not None
    assert len(embeddings["data"]) == 3
    assert len(embeddings["data"][0]["embedding"]) > 0
    assert embeddings["usage"].get("completion_tokens", 0) == 0
    assert embeddings["usage"]["prompt_tokens"] > 0
    assert embeddings["usage"]["total_tokens"] > 0
    run_embedding_correctness_test(hf_model.encode(prompts), [d["embedding"] for d in embeddings["data"]])
    for dimensions in [-1, 16]:
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model=MODEL_NAME, input=prompts, dimensions=dimensions, encoding_format="float")
