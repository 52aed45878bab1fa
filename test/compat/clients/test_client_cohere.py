"""The cohere SDK pointed at the server: rerank v2 (ClientV2 -> POST /v2/rerank) and v1 (Client ->
POST /v1/rerank), on the session's tiny XLM-R cross-encoder; reference: sentence-transformers'
CrossEncoder on the same checkpoint. Not an upstream port (vLLM's examples/pooling/score/
cohere_rerank_client.py drives the same calls)."""

from __future__ import annotations

import cohere
import pytest

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
