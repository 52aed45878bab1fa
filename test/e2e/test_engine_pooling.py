"""Engine.rerank / Engine.classify and the LLM-as-reranker conversions, against ``transformers``
running the unconverted causal model (the reference we did not write)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hf_reference import assert_scores_close, hf_scores, hf_tokenize, load_model, load_tokenizer
from make_tiny_model import delimiter_id
from multiscore import Engine

ATOL = 1e-4
QUERY = "which city is the capital"
DOCS = ["sacramento is the capital", "the red bird", "a big city on the coast", "yes"]


def _two_token_softmax(causal_dir, query, docs, tokens):
    """transformers: softmax over the causal model's next-token logits of ``tokens`` after query + doc."""
    tok = load_tokenizer(str(causal_dir))
    labels = [tok.convert_tokens_to_ids(t) for t in tokens]
    query_ids, items_ids = hf_tokenize(causal_dir, query, docs)
    return hf_scores(causal_dir, query_ids, items_ids, label_token_ids=labels, apply_softmax=True)


@pytest.fixture(scope="module")
def causal_dir(tiny_model):
    return tiny_model("llama", "causal")  # its tokenizer adds <bos>: special tokens are exercised


@pytest.mark.parametrize("mis", [False, True], ids=["single-item", "mis"])
def test_from_2_way_softmax_rerank_equals_two_token_softmax(causal_dir, mis):
    overrides = {"architectures": ["LlamaForSequenceClassification"], "classifier_from_token": ["no", "yes"],
                 "method": "from_2_way_softmax"}
    kwargs = {"multi_item_scoring_delimiter": delimiter_id(causal_dir)} if mis else {}
    with Engine(str(causal_dir), json_model_override_args=json.dumps(overrides), num_threads=1, **kwargs) as engine:
        results = engine.rerank(QUERY, DOCS)
        top = engine.rerank(QUERY, DOCS, top_n=2, return_documents=False)
    expected = [row[1] for row in _two_token_softmax(causal_dir, QUERY, DOCS, ["no", "yes"])]
    assert [r.index for r in results] == sorted(range(len(DOCS)), key=lambda i: -expected[i])
    for r in results:
        assert abs(r.relevance_score - expected[r.index]) <= ATOL
        assert r.document == DOCS[r.index]
    assert [(r.index, r.document) for r in top] == [(r.index, None) for r in results[:2]]


def test_no_post_processing_classify_gives_the_token_rows(causal_dir):
    """Two tokens, no post-processing: two labels whose logits are the LM-head logits of the tokens,
    so classify's softmax equals the softmax over those two next-token logits."""
    overrides = {"classifier_from_token": ["no", "yes"], "method": "no_post_processing"}
    with Engine(str(causal_dir), json_model_override_args=json.dumps(overrides), num_threads=1) as engine:
        data = engine.classify([QUERY + " " + d for d in DOCS])
        with pytest.raises(ValueError, match="num_labels=2"):
            engine.rerank(QUERY, DOCS)
    tok = load_tokenizer(str(causal_dir))
    labels = [tok.convert_tokens_to_ids(t) for t in ("no", "yes")]
    expected = [
        hf_scores(causal_dir, tok(QUERY + " " + d)["input_ids"], [[]], label_token_ids=labels, apply_softmax=True)[0]
        for d in DOCS
    ]
    assert [c.index for c in data] == list(range(len(DOCS)))
    assert all(c.num_classes == 2 for c in data)
    assert_scores_close([c.probs for c in data], expected, ATOL)


def test_single_token_no_post_processing_is_sigmoid_of_the_logit(causal_dir):
    """One token: the head is the LM-head row of "yes", so rerank = sigmoid(next-token logit of "yes")."""
    overrides = {"classifier_from_token": ["yes"], "method": "no_post_processing"}
    with Engine(str(causal_dir), json_model_override_args=json.dumps(overrides), num_threads=1) as engine:
        scores = {r.index: r.relevance_score for r in engine.rerank(QUERY, DOCS)}
        raw = engine.score(QUERY, DOCS).scores  # SGLang semantics on a classifier: the raw logit
    yes = load_tokenizer(str(causal_dir)).convert_tokens_to_ids("yes")
    query_ids, items_ids = hf_tokenize(causal_dir, QUERY, DOCS)
    model = load_model(str(causal_dir))
    for i, item in enumerate(items_ids):
        with torch.no_grad():
            logit = model(input_ids=torch.tensor([query_ids + item])).logits[0, -1, yes].item()
        assert abs(raw[i][0] - logit) <= ATOL
        assert abs(scores[i] - 1 / (1 + math.exp(-logit))) <= ATOL


def test_causal_model_without_conversion_refuses_rerank_and_classify(causal_dir):
    with Engine(str(causal_dir), num_threads=1) as engine:
        with pytest.raises(ValueError, match="not a CausalLM.*classifier_from_token"):
            engine.rerank(QUERY, DOCS)
        with pytest.raises(ValueError, match="classify needs a classification model"):
            engine.classify("the dog")
        # The engine still serves its own semantics afterwards.
        assert len(engine.score(QUERY, DOCS, label_token_ids=[5]).scores) == len(DOCS)


def test_engine_classify_matches_transformers(tiny_model):
    model_dir = tiny_model("llama", "seqcls", num_labels=3)  # Llama's tokenizer adds <bos>
    texts = ["the dog", "a red apple and a green tree", "yes"]
    with Engine(str(model_dir), num_threads=1) as engine:
        data = engine.classify(texts)
        raw = engine.classify(texts, use_activation=False)
        bare = engine.classify(texts, add_special_tokens=False)
    tok = load_tokenizer(str(model_dir))
    ids = [tok(t)["input_ids"] for t in texts]
    bare_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert all(x[0] == tok.bos_token_id and x[1:] == b for x, b in zip(ids, bare_ids))
    expected = [hf_scores(model_dir, x, [[]], apply_softmax=True)[0] for x in ids]
    assert_scores_close([c.probs for c in data], expected, ATOL)
    assert_scores_close([c.probs for c in raw], [hf_scores(model_dir, x, [[]])[0] for x in ids], ATOL)
    assert_scores_close([c.probs for c in bare], [hf_scores(model_dir, x, [[]], apply_softmax=True)[0] for x in bare_ids], ATOL)
    assert [c.label for c in data] == [f"LABEL_{row.index(max(row))}" for row in expected]
