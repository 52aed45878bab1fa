"""Ports of SGLang's Engine-level scoring tests.

Upstream file (sgl-project/sglang): test/registered/prefill_only/test_score_engine.py
@ 1ad9776b6e207136dae0189220d93ce67b2240d2 — TestCausalLMScoring (Llama-3.2-1B-Instruct),
TestSeqClsScoring / TestSeqClsMISScoring / TestSeqClsMISAdvancedScoring (Qwen3-0.6B served as
Qwen3ForSequenceClassification through json_model_override_args, a random head), and
TestSingleItemScoreShape (a unit test of single-label cross-encoder rows).

Engines (conftest.py): ``causal_engine`` = ``Engine(model_path=<tiny llama>)``; ``seqcls_engine``
and ``seqcls_mis_engine`` built with upstream's keyword arguments (``disable_radix_cache``,
``random_seed``, ``enable_mis``, ``chunked_prefill_size``, ``mem_fraction_static``). Upstream's
``Engine.score(...)`` returns a ``ScoreResult`` with ``.scores`` and ``.prompt_tokens``.
"""

from __future__ import annotations

import pytest
import torch

import hf_reference as hf
from sglang_reference import assert_close, reference_scores, tokenizer, token_ids

# ---- TestCausalLMScoring ---------------------------------------------------------------------------


@pytest.mark.parametrize("query, items, item_first", [
    ("I pledge allegiance", ["", " to"], False),
    (" is a city", ["Tokyo", "Japan"], True),
], ids=["default", "item_first"])
def test_scores_match_hf_reference(causal_engine, query, items, item_first):
    """Ports prefill_only/test_score_engine.py::TestCausalLMScoring::test_scores_match_hf_reference.

    Label ids of " to" / " the"; scores equal transformers on each item alone (upstream tolerance
    0.01; here fp32, 1e-4) and sum to 1. The ``item_first`` case on a BOS tokenizer is scored as
    ``<bos> Tokyo is a city`` (upstream's reference tokenizes ``f"{item}{query}"``). Upstream
    assertions: 4."""
    path = causal_engine.server_args.model_path
    label_token_ids = token_ids(path, [" to", " the"])
    sgl = causal_engine.score(query=query, items=items, label_token_ids=label_token_ids, apply_softmax=True,
                              item_first=item_first).scores
    expected = reference_scores(path, query, items, label_token_ids, apply_softmax=True, item_first=item_first)
    assert_close(sgl, expected)
    for row in sgl:
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_score_batch_sizes(causal_engine, n):
    """Ports prefill_only/test_score_engine.py::TestCausalLMScoring::test_score_batch_sizes.

    Upstream assertions: 4."""
    label_token_ids = [1, 2, 3]
    scores = causal_engine.score(query="The test was", items=[f"test {i}" for i in range(n)],
                                 label_token_ids=label_token_ids, apply_softmax=True).scores
    assert len(scores) == n
    for row in scores:
        assert len(row) == len(label_token_ids)
        assert all(isinstance(v, float) for v in row)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_score_empty_items(causal_engine):
    """Ports prefill_only/test_score_engine.py::TestCausalLMScoring::test_score_empty_items.

    Empty items -> empty scores and zero prompt_tokens. Upstream assertions: 2."""
    result = causal_engine.score(query="Test query", items=[], label_token_ids=[1, 2], apply_softmax=True)
    assert len(result.scores) == 0
    assert result.prompt_tokens == 0


def test_score_without_softmax(causal_engine):
    """Ports prefill_only/test_score_engine.py::TestCausalLMScoring::test_score_without_softmax.

    Upstream assertions: 3."""
    scores = causal_engine.score(query="Rate each:", items=["Good", "Bad", "Neutral"], label_token_ids=[1, 2, 3],
                                 apply_softmax=False).scores
    assert len(scores) == 3
    for row in scores:
        assert len(row) == 3
        assert all(isinstance(v, (int, float)) for v in row)


@pytest.mark.parametrize("n_labels", [1, 2, 4, 8])
def test_score_varying_label_token_sets(causal_engine, n_labels):
    """Ports prefill_only/test_score_engine.py::TestCausalLMScoring::test_score_varying_label_token_sets.

    Upstream assertions: 3."""
    scores = causal_engine.score(query="Choose:", items=["Option A", "Option B"],
                                 label_token_ids=list(range(1, n_labels + 1)), apply_softmax=True).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == n_labels
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_score_unicode(causal_engine):
    """Ports prefill_only/test_score_engine.py::TestCausalLMScoring::test_score_unicode.

    Upstream assertions: 2."""
    scores = causal_engine.score(query="选择最佳选项：", items=["选项A", "选项B", "选项C"], label_token_ids=[1, 2, 3],
                                 apply_softmax=True).scores
    assert len(scores) == 3
    for row in scores:
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_score_deterministic(causal_engine):
    """Ports prefill_only/test_score_engine.py::TestCausalLMScoring::test_score_deterministic.

    Identical calls with ``engine.flush_cache()`` between them match (upstream: within bf16 noise,
    ``delta=max(1e-4, 0.1*|b|)``). Upstream assertions: 3."""
    kwargs = dict(query="Choose:", items=["A", "B", "C"], label_token_ids=[1, 2, 3])
    scores_a = causal_engine.score(**kwargs).scores
    causal_engine.flush_cache()
    scores_b = causal_engine.score(**kwargs).scores
    assert len(scores_a) == len(scores_b)
    for row_a, row_b in zip(scores_a, scores_b):
        assert len(row_a) == len(row_b)
        for a, b in zip(row_a, row_b):
            assert abs(a - b) <= max(1e-4, 0.1 * abs(b))


def test_score_error_handling(causal_engine):
    """Ports prefill_only/test_score_engine.py::TestCausalLMScoring::test_score_error_handling.

    Invalid argument types raise ValueError or TypeError. Upstream assertions: 2."""
    with pytest.raises((ValueError, TypeError)):
        causal_engine.score(query="Q", items=["X"], label_token_ids="bad", apply_softmax=True)
    with pytest.raises((ValueError, TypeError)):
        causal_engine.score(query="Q", items=None, label_token_ids=[1, 2], apply_softmax=True)


# ---- TestSeqClsScoring (json_model_override_args -> Qwen3ForSequenceClassification, 2 labels) -----

NUM_LABELS = 2


def test_seqcls_score_shape(seqcls_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsScoring::test_score_shape.

    Upstream assertions: 5."""
    scores = seqcls_engine.score(query="Rate each option:", items=["Option A", "Option B"], apply_softmax=True).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
        assert all(v >= 0.0 for v in row)
        assert all(v <= 1.0 for v in row)


def test_seqcls_score_single_item_edge_case(seqcls_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsScoring::test_score_single_item_edge_case.

    Upstream assertions: 3."""
    scores = seqcls_engine.score(query="Evaluate:", items=["Only item"], apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == NUM_LABELS
    assert sum(scores[0]) == pytest.approx(1.0, abs=1e-5)


def test_seqcls_score_without_softmax(seqcls_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsScoring::test_score_without_softmax.

    Upstream assertions: 3."""
    scores = seqcls_engine.score(query="Evaluate:", items=["Alpha", "Beta"], apply_softmax=False).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == NUM_LABELS
        assert all(isinstance(v, (int, float)) for v in row)


def test_seqcls_score_deterministic(seqcls_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsScoring::test_score_deterministic.

    Upstream assertions: 2 (``delta=0.2``)."""
    kwargs = dict(query="Evaluate:", items=["alpha", "beta", "gamma"])
    scores1 = seqcls_engine.score(**kwargs).scores
    scores2 = seqcls_engine.score(**kwargs).scores
    assert len(scores1) == len(scores2)
    for s1, s2 in zip(scores1, scores2):
        for v1, v2 in zip(s1, s2):
            assert abs(v1 - v2) <= 0.2


def test_seqcls_score_tokenized_inputs(seqcls_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsScoring::test_score_tokenized_inputs.

    ``tok.encode(query)`` / ``tok.encode(item)`` token inputs score as the text inputs (places=4).
    Upstream assertions: 2."""
    tok = tokenizer(seqcls_engine.server_args.model_path)
    query, items = "Rate this:", ["Good", "Bad"]
    text_scores = seqcls_engine.score(query=query, items=items, apply_softmax=True).scores
    token_scores = seqcls_engine.score(query=tok.encode(query), items=[tok.encode(i) for i in items],
                                       apply_softmax=True).scores
    assert len(text_scores) == len(token_scores)
    for ts, ks in zip(text_scores, token_scores):
        for t, k in zip(ts, ks):
            assert round(t - k, 4) == 0


def test_seqcls_label_token_ids_ignored(seqcls_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsScoring::test_label_token_ids_ignored.

    Upstream assertions: 2."""
    scores = seqcls_engine.score(query="Evaluate:", items=["Test item"], label_token_ids=[1, 2, 3],
                                 apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == NUM_LABELS


def test_random_seed_is_the_head_seed(seqcls_engine, seqcls_mis_engine):
    """No upstream assertion (not counted). TestSeqClsScoring builds its engine with ``random_seed=42``
    ("Deterministic init for the random classification head"); the issue: SGLang's ``random_seed``
    is multiscore's ``seed``. The classifier built with ``random_seed=42`` scores as the one built
    with ``seed=42`` (here the MIS engine, so MIS == single-item is checked too, ≤ 1e-4)."""
    kwargs = dict(query="Evaluate:", items=["alpha", "beta", "gamma"])
    assert_close(seqcls_engine.score(**kwargs).scores, seqcls_mis_engine.score(**kwargs).scores)


# ---- TestSeqClsMISScoring (enable_mis=True) ---------------------------------------------------------


def test_seqcls_mis_one_vector_per_item(seqcls_mis_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsMISScoring::test_mis_one_vector_per_item.

    Upstream assertions: 5."""
    items = ["Option A", "Option B", "Option C"]
    scores = seqcls_mis_engine.score(query="Rate each option:", items=items, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
        assert all(v >= 0.0 for v in row)
        assert all(v <= 1.0 for v in row)


def test_seqcls_mis_single_item_edge_case(seqcls_mis_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsMISScoring::test_mis_single_item_edge_case.

    Upstream assertions: 3."""
    scores = seqcls_mis_engine.score(query="Evaluate:", items=["Single item"], apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == NUM_LABELS
    assert sum(scores[0]) == pytest.approx(1.0, abs=1e-5)


def test_seqcls_mis_many_items(seqcls_mis_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsMISScoring::test_mis_many_items.

    Upstream assertions: 3."""
    items = [f"Item {i}" for i in range(10)]
    scores = seqcls_mis_engine.score(query="Classify each:", items=items, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)


# ---- TestSeqClsMISAdvancedScoring (12 labels) -------------------------------------------------------


def test_seqcls_mis_many_labels_correct_shape(seqcls12_mis_engine):
    """Ports prefill_only/test_score_engine.py::TestSeqClsMISAdvancedScoring::test_many_labels_correct_shape.

    5 items x 12 labels. Runs on the shared 12-label MIS engine, which core/test_score_classification.py
    builds with a named ``multi_item_scoring_delimiter`` (upstream here: ``enable_mis=True``).
    Upstream assertions: 3."""
    items = [f"Item {i}" for i in range(5)]
    scores = seqcls12_mis_engine.score(query="Classify:", items=items, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == 12
        assert sum(row) == pytest.approx(1.0, abs=1e-5)


# ---- TestSingleItemScoreShape (rows of single-label cross-encoders), on a real engine ---------------


@torch.no_grad()
def _pair_logits(path, query, items):
    """transformers on each (query, item) pair, tokenized as a pair (BERT: [CLS] q [SEP] d [SEP])."""
    tok, model = tokenizer(path), hf.load_model(str(path))
    rows, tokens = [], 0
    for item in items:
        enc = tok(query, item, return_tensors="pt")
        tokens += enc["input_ids"].shape[1]
        rows.append(model(**enc).logits[0].float().tolist())
    return rows, tokens


def test_scalar_embedding_becomes_single_element_row(bert_reranker_engine):
    """Ports prefill_only/test_score_engine.py::TestSingleItemScoreShape::test_scalar_embedding_becomes_single_element_row.

    A single-label cross-encoder (BERT/XLM-R reranker: one logit per item) returns one row per item
    holding that logit (upstream: ``[[5.875], [-10.109375]]``), and ``prompt_tokens`` is the sum over
    the items (upstream: 10 + 17 = 27). Upstream assertions: 2."""
    path = bert_reranker_engine.server_args.model_path
    query, items = "what is the capital of california", ["sacramento is the capital", "the dog"]
    result = bert_reranker_engine.score(query=query, items=items)
    expected, tokens = _pair_logits(path, query, items)
    assert_close(result.scores, expected)
    assert result.prompt_tokens == tokens


def test_vector_embedding_keeps_row_shape(seqcls_engine):
    """Ports prefill_only/test_score_engine.py::TestSingleItemScoreShape::test_vector_embedding_keeps_row_shape.

    A multi-label head's row is kept whole: one row of ``num_labels`` values per item. Upstream
    assertions: 1."""
    scores = seqcls_engine.score(query="Evaluate:", items=["Alpha"]).scores
    assert [len(row) for row in scores] == [NUM_LABELS]


def test_scalar_with_softmax_stays_well_defined(bert_reranker_engine):
    """Ports prefill_only/test_score_engine.py::TestSingleItemScoreShape::test_scalar_with_softmax_stays_well_defined.

    A single-label softmax is degenerate (always 1.0) but yields one row per item. Upstream
    assertions: 1."""
    result = bert_reranker_engine.score(query="what is the capital", items=["sacramento"], apply_softmax=True)
    assert result.scores == [[pytest.approx(1.0)]]
