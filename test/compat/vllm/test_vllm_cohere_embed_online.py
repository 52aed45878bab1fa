"""Port of vLLM's tests/entrypoints/pooling/embed/test_cohere_online.py (at 00d8e27a): Cohere's
``POST /v2/embed`` on generic embedding models.

Upstream serves intfloat/multilingual-e5-small and Snowflake/snowflake-arctic-embed-m-v1.5 (remote
code, Matryoshka 256). Here: the first one's stand-in, the session's tiny XLM-R embedder (mean
pooling, normalised, 64 dims, context 512); there is no remote-code stand-in for the second. Every
upstream test is kept; two are changed where a random tiny model cannot meet them:
- ``test_semantic_similarity`` needs real weights: it runs on the default model (the real
  all-MiniLM-L6-v2);
- ``test_truncate_start_vs_end_differ`` also checks each cut against sentence-transformers on the
  same checkpoint (upstream only asks that the two differ, cosine < 0.99).
"""

from __future__ import annotations

import base64
import struct

import numpy as np
import pytest
import requests

MODEL_NAME = "intfloat/multilingual-e5-small"


@pytest.fixture(scope="module")
def server(embed_server):
    return embed_server


def _cohere_embed(server, model_name, texts=None, images=None, input_type=None, embedding_types=None) -> dict:
    body: dict = {"model": model_name}
    if input_type is not None:
        body["input_type"] = input_type
    if texts is not None:
        body["texts"] = texts
    if images is not None:
        body["images"] = images
    if embedding_types is not None:
        body["embedding_types"] = embedding_types
    resp = requests.post(server.url + "/v2/embed", json=body, timeout=60)
    resp.raise_for_status()
    return resp.json()


def _openai_embed(server, model_name, texts) -> dict:
    body = {"model": model_name, "input": texts, "encoding_format": "float"}
    resp = requests.post(server.url + "/v1/embeddings", json=body, timeout=60)
    resp.raise_for_status()
    return resp.json()


def _cosine_sim(a, b) -> float:
    va, vb = np.array(a), np.array(b)
    return float(np.dot(va, vb) / (np.linalg.norm(va) * np.linalg.norm(vb)))


def test_basic_embed(server):
    r = _cohere_embed(server, MODEL_NAME, texts=["hello world"], embedding_types=["float"])
    assert "embeddings" in r
    assert len(r["embeddings"]["float"]) == 1
    assert len(r["embeddings"]["float"][0]) > 0


def test_unsupported_input_type_rejected(server):
    body = {"model": MODEL_NAME, "input_type": "nonexistent_type", "texts": ["hello world"], "embedding_types": ["float"]}
    resp = requests.post(server.url + "/v2/embed", json=body, timeout=60)
    assert resp.status_code == 400
    assert "Unsupported input_type" in resp.json()["error"]["message"]


def test_omitted_input_type_accepted(server):
    body = {"model": MODEL_NAME, "texts": ["hello world"], "embedding_types": ["float"]}
    resp = requests.post(server.url + "/v2/embed", json=body, timeout=60)
    assert resp.status_code == 200
    assert len(resp.json()["embeddings"]["float"]) == 1


def test_v1_v2_parity(server):
    texts = ["hello world"]
    v2 = _cohere_embed(server, MODEL_NAME, texts=texts, embedding_types=["float"])
    v1 = _openai_embed(server, MODEL_NAME, texts)
    cos = _cosine_sim(v2["embeddings"]["float"][0], v1["data"][0]["embedding"])
    assert cos > 0.9999, f"v1/v2 parity failed, cosine={cos}"


def test_embedding_types(server):
    r = _cohere_embed(server, MODEL_NAME, texts=["test"], embedding_types=["float", "binary", "ubinary"])
    dim = len(r["embeddings"]["float"][0])
    assert len(r["embeddings"]["binary"][0]) == dim // 8
    assert len(r["embeddings"]["ubinary"][0]) == dim // 8


def test_response_structure(server):
    r = _cohere_embed(server, MODEL_NAME, texts=["test"], embedding_types=["float"])
    assert "id" in r
    assert "embeddings" in r
    assert r["texts"] == ["test"]
    assert r["meta"]["api_version"]["version"] == "2"
    assert r["meta"]["tokens"]["input_tokens"] > 0


def test_batch(server):
    r = _cohere_embed(server, MODEL_NAME, texts=["apple", "banana", "cherry"], embedding_types=["float"])
    assert len(r["embeddings"]["float"]) == 3
    dim = len(r["embeddings"]["float"][0])
    for emb in r["embeddings"]["float"]:
        assert len(emb) == dim


def test_l2_normalized(server):
    r = _cohere_embed(server, MODEL_NAME, texts=["hello world"], embedding_types=["float"])
    emb = np.array(r["embeddings"]["float"][0])
    assert abs(float(np.linalg.norm(emb)) - 1.0) < 0.01


def test_semantic_similarity(minilm_server):
    r = _cohere_embed(minilm_server, MODEL_NAME, texts=["machine learning", "deep learning", "chocolate cake recipe"],
                      embedding_types=["float"])
    embs = r["embeddings"]["float"]
    assert _cosine_sim(embs[0], embs[1]) > _cosine_sim(embs[0], embs[2])


def test_missing_input_returns_error(server):
    resp = requests.post(server.url + "/v2/embed", json={"model": MODEL_NAME}, timeout=60)
    assert resp.status_code == 400


def test_base64_embedding_type(server):
    r = _cohere_embed(server, MODEL_NAME, texts=["test encoding"], embedding_types=["float", "base64"])
    float_emb = r["embeddings"]["float"][0]
    decoded = struct.unpack(f"<{len(float_emb)}f", base64.b64decode(r["embeddings"]["base64"][0]))
    np.testing.assert_allclose(float_emb, decoded, rtol=1e-5)


# ---- truncation ---------------------------------------------------------------------------------

LONG_TEXT = " ".join(["word"] * 2000)


def _cohere_embed_raw(server, body: dict) -> requests.Response:
    return requests.post(server.url + "/v2/embed", json=body, timeout=60)


@pytest.mark.parametrize("truncate", ["END", "START"])
def test_truncate_end_and_start_succeed(server, truncate):
    body = {"model": MODEL_NAME, "texts": [LONG_TEXT], "embedding_types": ["float"], "truncate": truncate}
    resp = _cohere_embed_raw(server, body)
    assert resp.status_code == 200
    assert len(resp.json()["embeddings"]["float"]) == 1


def test_truncate_none_rejects_long_input(server):
    body = {"model": MODEL_NAME, "texts": [LONG_TEXT], "embedding_types": ["float"], "truncate": "NONE"}
    assert _cohere_embed_raw(server, body).status_code == 400


def test_truncate_start_vs_end_differ(server, embed_ref):
    start_words = " ".join(f"alpha{i}" for i in range(300))
    end_words = " ".join(f"omega{i}" for i in range(300))
    long_text = start_words + " " + end_words
    got = {}
    for truncate in ("END", "START"):
        body = {"model": MODEL_NAME, "texts": [long_text], "embedding_types": ["float"], "truncate": truncate}
        got[truncate] = _cohere_embed_raw(server, body).json()["embeddings"]["float"][0]
    cos = _cosine_sim(got["END"], got["START"])
    assert cos < 0.99, f"START and END truncation gave the same embedding (cosine {cos})"

    # END keeps the first 512 tokens with the special tokens, as sentence-transformers cuts; START the
    # last 510 between the same special tokens.
    import torch

    st, tokenizer = embed_ref.model, embed_ref.model.tokenizer
    np.testing.assert_allclose(got["END"], st.encode([long_text])[0], atol=1e-5)
    ids = tokenizer(long_text)["input_ids"]
    assert len(ids) > 512
    kept = torch.tensor([ids[:1] + ids[-511:]])
    with torch.no_grad():
        tail = st({"input_ids": kept, "attention_mask": torch.ones_like(kept)})["sentence_embedding"][0]
    np.testing.assert_allclose(got["START"], tail.numpy(), atol=1e-5)
