"""Infinity's own client (``infinity_client``, generated from its OpenAPI schema) pointed at the
server: /embeddings, /rerank, /classify, /models and /health as an Infinity user calls them, and the
same bodies under /v1/ (an Infinity server run with ``--url-prefix /v1``). References:
sentence-transformers on the real all-MiniLM-L6-v2 (the default model) and on the tiny XLM-R
cross-encoder, transformers on the tiny Qwen2 classifier. Not an upstream port.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
import requests
from infinity_client import Client
from infinity_client.api.default import classify, embeddings, health, models, rerank
from infinity_client.errors import UnexpectedStatus
from infinity_client.models import (
    ClassifyInput,
    ClassifyResult,
    OpenAIEmbeddingInputText,
    OpenAIEmbeddingResult,
    OpenAIModelInfo,
    ReRankResult,
    RerankInput,
    ResponseHealth,
)

from compat_helpers import load_tokenizer, seqcls_logits

SENTENCES = ["A man is eating food.", "A man is riding a horse.", "The capital of France is Paris."]
QUERY = "What is the capital of France?"
DOCUMENTS = ["The capital of Brazil is Brasilia.", "The capital of France is Paris.", "Cross-encoder models are neat"]


def client(server, prefix: str = "") -> Client:
    return Client(base_url=server.url + prefix, raise_on_unexpected_status=True, timeout=None)


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_embeddings(minilm_server, minilm_st, prefix):
    out = embeddings.sync(client=client(minilm_server, prefix), body=OpenAIEmbeddingInputText(input_=SENTENCES))
    assert isinstance(out, OpenAIEmbeddingResult)
    assert [d.index for d in out.data] == [0, 1, 2]
    np.testing.assert_allclose([d.embedding for d in out.data], minilm_st.encode(SENTENCES), atol=1e-5)
    assert out.usage.prompt_tokens == sum(len(minilm_st.tokenizer(s)["input_ids"]) for s in SENTENCES)


def test_embeddings_dimensions_and_base64(minilm_server, minilm_st):
    """``dimensions`` > 0 on a model that is not Matryoshka-trained is refused, as vLLM refuses it
    (0, which the client sends by default, is the whole embedding); base64 is little-endian float32."""
    with pytest.raises(UnexpectedStatus) as e:
        embeddings.sync(client=client(minilm_server), body=OpenAIEmbeddingInputText(input_=SENTENCES[0], dimensions=64))
    assert e.value.status_code == 400 and b"not a Matryoshka model" in e.value.content
    body = {"input": SENTENCES[0], "encoding_format": "base64", "modality": "text", "model": "default/not-specified"}
    r = requests.post(minilm_server.url + "/embeddings", json=body, timeout=60)
    assert r.status_code == 200, r.text
    vector = np.frombuffer(base64.b64decode(r.json()["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, minilm_st.encode(SENTENCES[0]), atol=1e-5)


def test_embeddings_cut_long_inputs_as_sentence_transformers_does(minilm_server, minilm_st):
    """Infinity truncates to the model's input length (here --context-length 128) instead of refusing."""
    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 40)
    out = embeddings.sync(client=client(minilm_server), body=OpenAIEmbeddingInputText(input_=[long_text]))
    assert out.usage.prompt_tokens == 128
    old = minilm_st.max_seq_length
    minilm_st.max_seq_length = 128
    try:
        expected = minilm_st.encode(long_text)
    finally:
        minilm_st.max_seq_length = old
    np.testing.assert_allclose(out.data[0].embedding, expected, atol=1e-5)


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_rerank(cross_encoder_server, cross_encoder_st, prefix):
    expected = [float(x) for x in cross_encoder_st.predict([[QUERY, d] for d in DOCUMENTS])]
    order = sorted(range(3), key=lambda i: -expected[i])
    out = rerank.sync(client=client(cross_encoder_server, prefix),
                      body=RerankInput(query=QUERY, documents=DOCUMENTS, return_documents=True))
    assert isinstance(out, ReRankResult)
    assert [r.index for r in out.results] == order
    for r in out.results:
        assert r.relevance_score == pytest.approx(expected[r.index], abs=1e-4)
        assert r.document == DOCUMENTS[r.index]  # a string, as Infinity answers (Cohere's and Jina's: an object)
    assert out.model == "BAAI/bge-reranker-base"
    top = rerank.sync(client=client(cross_encoder_server, prefix),
                      body=RerankInput(query=QUERY, documents=DOCUMENTS, raw_scores=True, top_n=2))
    assert [r.index for r in top.results] == order[:2]
    for r in top.results:
        assert r.document is None
        assert 1 / (1 + np.exp(-r.relevance_score)) == pytest.approx(expected[r.index], abs=1e-4)


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_classify(classify_server, prefix):
    texts = ["the dog and the cat sat on the mat", "this food went bad days ago"]
    tok = load_tokenizer(classify_server.model_path)
    logits = [seqcls_logits(classify_server.model_path, tok(t)["input_ids"]) for t in texts]
    out = classify.sync(client=client(classify_server, prefix), body=ClassifyInput(input_=texts))
    assert isinstance(out, ClassifyResult) and len(out.data) == 2
    labels = ["Default", "Spoiled"]
    for row, x in zip(out.data, logits):
        probs = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
        assert [c.label for c in row] == [labels[i] for i in np.argsort(-probs)]
        assert [c.score for c in row] == pytest.approx(sorted(probs.tolist(), reverse=True), abs=1e-4)
    raw = classify.sync(client=client(classify_server, prefix), body=ClassifyInput(input_=texts, raw_scores=True))
    for row, x in zip(raw.data, logits):
        assert {c.label: c.score for c in row} == pytest.approx(dict(zip(labels, x.tolist())), abs=1e-4)


def test_models_and_health(minilm_server, cross_encoder_server, classify_server):
    caps = {}
    for server in (minilm_server, cross_encoder_server, classify_server):
        listed = models.sync(client=client(server))
        assert isinstance(listed, OpenAIModelInfo) and len(listed.data) == 1
        info = listed.data[0]
        assert info.stats.additional_properties["queue_absolute"] == 0
        caps[info.id] = info.capabilities
        status = health.sync(client=client(server))
        assert isinstance(status, ResponseHealth) and status.additional_properties["unix"] > 1.7e9
    assert caps["BAAI/bge-reranker-base"] == ["classify", "rerank"]
    assert caps["jason9693/Qwen2.5-1.5B-apeach"] == ["classify"]
    assert "embed" in caps[next(k for k in caps if k not in ("BAAI/bge-reranker-base", "jason9693/Qwen2.5-1.5B-apeach"))]


def test_bad_inputs_are_400_with_a_message(minilm_server, cross_encoder_server):
    r = requests.post(minilm_server.url + "/embeddings", json={"input": ["a"], "modality": "image"}, timeout=60)
    assert r.status_code == 400 and "modality 'image' is not supported" in r.json()["message"]
    with pytest.raises(UnexpectedStatus) as e:
        rerank.sync(client=client(cross_encoder_server), body=RerankInput(query=QUERY, documents=[]))
    assert e.value.status_code == 400 and b"'documents' must not be empty" in e.value.content
    r = requests.post(minilm_server.url + "/embeddings", json={"input": "a", "dimensions": -1}, timeout=60)
    assert r.status_code == 400 and "'dimensions' must be 0" in r.json()["message"]
    assert requests.get(minilm_server.url + "/health", timeout=60).status_code == 200  # still serving
