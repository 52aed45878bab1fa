"""The openai SDK pointed at the server: embeddings (float, base64, the SDK's default), models, errors.

Server: the default model (real all-MiniLM-L6-v2 weights); reference: sentence-transformers on the
same weights. Not an upstream port: the client code a vLLM user keeps (vLLM's own embed tests drive
the same SDK calls, see test/compat/vllm/test_vllm_embed_online.py).
"""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest

SENTENCES = ["A man is eating food.", "A man is riding a horse.", "The capital of France is Paris."]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def client(minilm_server):
    return openai.OpenAI(base_url=minilm_server.url + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def reference(minilm_st):
    return minilm_st.encode(SENTENCES, convert_to_numpy=True)


def test_models_list(client):
    ids = [m.id for m in client.models.list().data]
    assert ids == [MODEL]


def test_models_retrieve(client):
    """``client.models.retrieve``: GET /v1/models/{id} (the id has a slash), 404 NotFoundError for another."""
    card = client.models.retrieve(MODEL)
    assert card.id == MODEL and card.object == "model" and card.owned_by == "multiscore"
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.models.retrieve("no-such-model")


def test_embeddings_float(client, reference):
    response = client.embeddings.create(model=MODEL, input=SENTENCES, encoding_format="float")
    assert response.object == "list"
    assert [d.index for d in response.data] == [0, 1, 2]
    got = np.array([d.embedding for d in response.data])
    assert got.shape == (3, 384)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    assert response.usage.prompt_tokens == response.usage.total_tokens > 0


def test_embeddings_base64(client, reference):
    response = client.embeddings.create(model=MODEL, input=SENTENCES, encoding_format="base64")
    got = np.array([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in response.data])
    np.testing.assert_allclose(got, reference, atol=1e-5)


def test_embeddings_sdk_default_is_decoded_base64(client, reference):
    """The SDK asks for base64 when no encoding_format is given and hands back floats."""
    response = client.embeddings.create(model=MODEL, input=SENTENCES)
    np.testing.assert_allclose(np.array([d.embedding for d in response.data]), reference, atol=1e-5)


def test_single_string_and_token_ids(client, minilm_st):
    ids = minilm_st.tokenizer(SENTENCES[0])["input_ids"]
    by_text = client.embeddings.create(model=MODEL, input=SENTENCES[0], encoding_format="float").data[0].embedding
    by_ids = client.embeddings.create(model=MODEL, input=ids, encoding_format="float").data[0].embedding
    np.testing.assert_allclose(by_text, by_ids, atol=1e-6)


def test_bad_request_is_the_sdk_error(client):
    """An OpenAI-shaped error: the SDK raises BadRequestError and reads message / type from ``error``."""
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model=MODEL, input=SENTENCES, dimensions=16)
    assert err.value.status_code == 400
    body = err.value.response.json()
    assert body["error"]["type"] == "BadRequestError"
    assert "dimensions" in body["error"]["message"]
    assert err.value.type == "BadRequestError"
