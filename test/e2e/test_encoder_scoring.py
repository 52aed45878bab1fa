"""BERT / XLM-R cross-encoders and encoder embeddings, against ``transformers`` on tiny random
checkpoints: (query, document) pairs tokenized as pairs, with token types."""

from __future__ import annotations

import math

import numpy as np
import pytest
import requests
import torch

from hf_reference import load_tokenizer
from multiscore import Engine
from proc_utils import Server

ATOL = 1e-4
QUERY = "what is the capital of california"
DOCS = ["sacramento is the capital of california", "the dog and the cat", "a big city", "yes"]


@torch.no_grad()
def hf_pair_logits(model_dir, query: str, docs: list[str], max_doc_tokens=None) -> list[list[float]]:
    """transformers SeqCls on each tokenized (query, doc) pair alone."""
    from transformers import AutoModelForSequenceClassification

    tok = load_tokenizer(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    rows = []
    for doc in docs:
        if max_doc_tokens is not None:
            doc = tok.convert_tokens_to_string(tok.tokenize(doc)[:max_doc_tokens])
        enc = tok(query, doc, return_tensors="pt")
        rows.append(model(**enc).logits[0].tolist())
    return rows


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("arch", ["bert", "xlm_roberta"])
def test_cross_encoder_rerank_and_score_match_transformers(tiny_model, arch):
    model_dir = tiny_model(arch, "seqcls", num_labels=1)
    with Engine(str(model_dir), num_threads=1) as engine:
        results = engine.rerank(QUERY, DOCS)
        cut = engine.rerank(QUERY, DOCS, max_tokens_per_doc=2)
        raw = engine.score(QUERY, DOCS).scores  # SGLang semantics: the head's logits per pair
    expected = [sigmoid(row[0]) for row in hf_pair_logits(model_dir, QUERY, DOCS)]
    assert [r.index for r in results] == sorted(range(len(DOCS)), key=lambda i: -expected[i])
    for r in results:
        assert abs(r.relevance_score - expected[r.index]) <= ATOL
    for (logit,), e in zip(raw, expected):
        assert abs(sigmoid(logit) - e) <= ATOL
    expected_cut = [sigmoid(row[0]) for row in hf_pair_logits(model_dir, QUERY, DOCS, max_doc_tokens=2)]
    for r in cut:
        assert abs(r.relevance_score - expected_cut[r.index]) <= ATOL


def test_bert_pairs_carry_token_types(tiny_model):
    """The second segment must get token type 1: the same ids with all-zero types score differently."""
    model_dir = tiny_model("bert", "seqcls", num_labels=1)
    tok = load_tokenizer(str(model_dir))
    enc = tok(QUERY, DOCS[0])
    assert set(enc["token_type_ids"]) == {0, 1}
    with Engine(str(model_dir), num_threads=1) as engine:
        paired = engine.rerank(QUERY, DOCS[:1])[0].relevance_score
        query_ids = enc["input_ids"][: enc["token_type_ids"].index(1)]
        item_ids = enc["input_ids"][len(query_ids):]
        by_ids = engine.score(query_ids, [item_ids]).scores[0][0]  # token input: types 0 then 1
    assert abs(sigmoid(by_ids) - paired) <= ATOL
    with torch.no_grad():
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
        flat = model(input_ids=torch.tensor([enc["input_ids"]])).logits[0, 0].item()  # types all 0
    assert abs(sigmoid(flat) - paired) > 1e-3


@pytest.mark.parametrize("arch", ["bert", "xlm_roberta"])
def test_encoder_classify_matches_transformers(tiny_model, arch):
    model_dir = tiny_model(arch, "seqcls", num_labels=3)
    texts = ["the dog", "a red apple and a green tree"]
    with Engine(str(model_dir), num_threads=1) as engine:
        data = engine.classify(texts)
        with pytest.raises(ValueError, match="num_labels=3"):
            engine.rerank(QUERY, DOCS)
    tok = load_tokenizer(str(model_dir))
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()
    with torch.no_grad():
        expected = [torch.softmax(model(**tok(t, return_tensors="pt")).logits[0], -1).tolist() for t in texts]
    for c, e in zip(data, expected):
        np.testing.assert_allclose(c.probs, e, atol=ATOL)


@pytest.mark.parametrize("arch", ["bert", "xlm_roberta"])
def test_encoder_embeddings_cls_pooling_by_default(tiny_model, arch):
    """No sentence-transformers files: CLS pooling, normalised (vLLM's default for encoders)."""
    model_dir = tiny_model(arch, "embed")
    texts = ["the dog", "what is the capital of california"]
    with Engine(str(model_dir), num_threads=1) as engine:
        got = np.asarray(engine.embed(texts))
        cosines = [r.relevance_score for r in sorted(engine.rerank(texts[0], texts[1:] + ["a cat"]), key=lambda r: r.index)]
    from transformers import AutoModel

    tok = load_tokenizer(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    with torch.no_grad():
        ref = [torch.nn.functional.normalize(model(**tok(t, return_tensors="pt")).last_hidden_state[0, 0], dim=-1)
               for t in texts + ["a cat"]]
    np.testing.assert_allclose(got, torch.stack(ref[:2]).numpy(), atol=ATOL)
    np.testing.assert_allclose(cosines, [float(ref[0] @ ref[1]), float(ref[0] @ ref[2])], atol=ATOL)


def test_cross_encoder_over_http(tiny_model):
    model_dir = tiny_model("bert", "seqcls", num_labels=1)
    server = Server(model_dir, "--num-threads", "1")
    try:
        server.wait_ready()
        expected = [sigmoid(row[0]) for row in hf_pair_logits(model_dir, QUERY, DOCS)]
        r = requests.post(server.url + "/v1/rerank", json={"query": QUERY, "documents": DOCS, "top_n": 2}, timeout=60)
        assert r.status_code == 200, r.text
        best = sorted(range(len(DOCS)), key=lambda i: -expected[i])[:2]
        assert [x["index"] for x in r.json()["results"]] == best
        s = requests.post(server.url + "/score", json={"text_1": [QUERY, "the dog"], "text_2": DOCS[:2]}, timeout=60)
        expected_nn = [expected[0], sigmoid(hf_pair_logits(model_dir, "the dog", [DOCS[1]])[0][0])]
        np.testing.assert_allclose([d["score"] for d in s.json()["data"]], expected_nn, atol=ATOL)
        long_doc = " ".join(["dog"] * 600)
        too_long = requests.post(server.url + "/rerank", json={"query": QUERY, "documents": [long_doc]}, timeout=60)
        assert too_long.status_code == 400 and "context length" in too_long.json()["message"]
        fits = requests.post(server.url + "/rerank", json={"query": QUERY, "documents": [long_doc], "max_tokens_per_doc": 100}, timeout=60)
        assert fits.status_code == 200, fits.text
        e = requests.post(server.url + "/v1/embeddings", json={"input": "the dog"}, timeout=60)
        assert e.status_code == 400 and "has no embedding output" in e.json()["message"]
    finally:
        assert server.stop() == 0


def test_mis_delimiter_on_an_encoder_is_refused(tiny_model):
    with pytest.raises(ValueError, match="bidirectional"):
        Engine(str(tiny_model("bert", "seqcls", num_labels=1)), multi_item_scoring_delimiter=3)
