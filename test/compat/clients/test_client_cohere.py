"""The cohere SDK pointed at the server.

- Rerank v2 (ClientV2 -> POST /v2/rerank) and v1 (Client -> POST /v1/rerank), on the session's tiny
  XLM-R cross-encoder; reference: sentence-transformers' CrossEncoder on the same checkpoint.
- Embed v2 (ClientV2 -> POST /v2/embed) and v1 (Client -> POST /v1/embed) on the default model (the
  real all-MiniLM-L6-v2, context 128); reference: sentence-transformers' encode and
  quantize_embeddings on the same weights.

Not an upstream port (vLLM's examples/pooling/score/cohere_rerank_client.py drives the same rerank calls).
"""

from __future__ import annotations

import base64

import cohere
import numpy as np
import pytest
from sentence_transformers import quantize_embeddings

QUERY = "What is the capital of France?"
DOCUMENTS = ["The capital of Brazil is Brasilia.", "The capital of France is Paris.", "Cross-encoder models are neat"]


@pytest.fixture(scope="module")
def expected(cross_encoder_st):
    return [float(x) for x in cross_encoder_st.predict([[QUERY, d] for d in DOCUMENTS])]


def test_rerank_v2(cross_encoder_server, expected):
    client = cohere.ClientV2(api_key="unused", base_url=cross_encoder_server.url)
    response = client.rerank(model="BAAI/bge-reranker-base", query=QUERY, documents=DOCUMENTS, top_n=2)
    order = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [r.index for r in response.results] == order
    for r in response.results:
        assert r.relevance_score == pytest.approx(expected[r.index], abs=1e-4)


def test_rerank_v2_all_documents_and_max_tokens_per_doc(cross_encoder_server, expected):
    client = cohere.ClientV2(api_key="unused", base_url=cross_encoder_server.url)
    response = client.rerank(model="BAAI/bge-reranker-base", query=QUERY, documents=DOCUMENTS)
    assert sorted(r.index for r in response.results) == [0, 1, 2]
    scores = [r.relevance_score for r in response.results]
    assert scores == sorted(scores, reverse=True)
    short = client.rerank(model="BAAI/bge-reranker-base", query=QUERY, documents=DOCUMENTS, max_tokens_per_doc=2)
    assert len(short.results) == 3


def test_rerank_v1_with_documents(cross_encoder_server, expected):
    client = cohere.Client(api_key="unused", base_url=cross_encoder_server.url)
    response = client.rerank(model="BAAI/bge-reranker-base", query=QUERY, documents=DOCUMENTS, top_n=3,
                             return_documents=True)
    for r in response.results:
        assert r.relevance_score == pytest.approx(expected[r.index], abs=1e-4)
        assert r.document.text == DOCUMENTS[r.index]


TEXTS = ["The capital of France is Paris.", "A man is eating pasta.", "Cross-encoder models are neat"]


@pytest.fixture(scope="module")
def embedded(minilm_st):
    return minilm_st.encode(TEXTS)


def test_embed_v2_every_served_type(minilm_server, embedded):
    client = cohere.ClientV2(api_key="unused", base_url=minilm_server.url)
    response = client.embed(model="embed-english-v3.0", texts=TEXTS, input_type="search_document",
                            embedding_types=["float", "binary", "ubinary", "base64"])
    floats = np.array(response.embeddings.float_)
    np.testing.assert_allclose(floats, embedded, atol=1e-5)
    assert response.embeddings.binary == quantize_embeddings(floats, precision="binary").tolist()
    assert response.embeddings.ubinary == quantize_embeddings(floats, precision="ubinary").tolist()
    assert len(response.embeddings.ubinary[0]) == 384 // 8
    decoded = [np.frombuffer(base64.b64decode(b), dtype="<f4") for b in response.embeddings.base64]
    np.testing.assert_array_equal(np.array(decoded), floats.astype(np.float32))
    assert response.texts == TEXTS
    assert response.meta.api_version.version == "2" and response.meta.billed_units.input_tokens > 3 * 2


def test_embed_v2_input_types_on_a_model_without_prompts(minilm_server, embedded):
    """all-MiniLM has no prompts: Cohere's four text input types all embed the text as it is."""
    client = cohere.ClientV2(api_key="unused", base_url=minilm_server.url)
    for input_type in ("search_query", "search_document", "classification", "clustering"):
        response = client.embed(model="m", texts=TEXTS[:1], input_type=input_type, embedding_types=["float"])
        np.testing.assert_allclose(response.embeddings.float_[0], embedded[0], atol=1e-5)


def test_embed_v2_truncation(minilm_server, minilm_st):
    client = cohere.ClientV2(api_key="unused", base_url=minilm_server.url)
    long_text = " ".join(f"word{i}" for i in range(200))  # ~600 tokens, past the server's 128
    end = client.embed(model="m", texts=[long_text], input_type="search_document", embedding_types=["float"])
    previous = minilm_st.max_seq_length
    minilm_st.max_seq_length = 128  # the server's context length
    try:
        np.testing.assert_allclose(end.embeddings.float_[0], minilm_st.encode([long_text])[0], atol=1e-5)
        short = client.embed(model="m", texts=[long_text], input_type="search_document", embedding_types=["float"],
                             max_tokens=16)
        minilm_st.max_seq_length = 16
        np.testing.assert_allclose(short.embeddings.float_[0], minilm_st.encode([long_text])[0], atol=1e-5)
    finally:
        minilm_st.max_seq_length = previous
    with pytest.raises(cohere.BadRequestError, match="more than max_tokens=16 with truncate NONE"):
        client.embed(model="m", texts=[long_text], input_type="search_document", truncate="NONE", max_tokens=16)
    with pytest.raises(cohere.BadRequestError, match="int8 and uint8 need quantization ranges"):
        client.embed(model="m", texts=TEXTS, input_type="search_document", embedding_types=["int8"])


def test_embed_v1_floats_and_by_type(minilm_server, embedded):
    client = cohere.Client(api_key="unused", base_url=minilm_server.url)
    floats = client.embed(model="embed-english-v3.0", texts=TEXTS, input_type="search_query")
    assert floats.response_type == "embeddings_floats"
    np.testing.assert_allclose(np.array(floats.embeddings), embedded, atol=1e-5)
    # The SDK sends 96 texts per request and joins the answers.
    many = client.embed(model="m", texts=TEXTS * 40, embedding_types=["float", "ubinary"])
    assert many.response_type == "embeddings_by_type"
    np.testing.assert_allclose(np.array(many.embeddings.float_), np.tile(embedded, (40, 1)), atol=1e-5)
    assert many.embeddings.ubinary == quantize_embeddings(np.array(many.embeddings.float_), precision="ubinary").tolist()
