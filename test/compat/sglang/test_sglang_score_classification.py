"""Ports of SGLang's scoring tests for SequenceClassification models. prefill_only/test_score_engine.py
carries most of them over (TestSeqCls*, ported in test_sglang_score_engine.py); they are ported here
too, from this file, since tolerances and details differ.

Upstream file (sgl-project/sglang): test/registered/core/test_score_classification.py
@ 44372f86865a1f148dae7b286f1ef8034549fe2d — Qwen3-0.6B served as Qwen3ForSequenceClassification
(json_model_override_args, random head); MIS with ``multi_item_scoring_delimiter=<|endoftext|>``.

Engines (conftest.py): TestScoreClassification runs on ``seqcls_engine`` (test_score_engine.py's
construction, which adds ``random_seed=42``); the 2-label MIS tests on ``seqcls_mis_engine`` (upstream builds that one
with ``multi_item_scoring_delimiter``; the shared engine is test_score_engine.py's, with
``enable_mis=True``); the 12-label ones on ``seqcls12_mis_engine``, built as upstream builds it here.
"""

from __future__ import annotations

import pytest

from sglang_reference import tokenizer

NUM_LABELS = 2

# ---- TestScoreClassification (single item) --------------------------------------------------------


def test_basic_single_item(seqcls_engine):
    """Ports core/test_score_classification.py::TestScoreClassification::test_basic_single_item.

    Upstream assertions: 5."""
    scores = seqcls_engine.score(query="Rate each option:", items=["Option A", "Option B"], apply_softmax=True).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
        assert all(v >= 0.0 for v in row)
        assert all(v <= 1.0 for v in row)


def test_single_item_edge_case(seqcls_engine):
    """Ports core/test_score_classification.py::TestScoreClassification::test_single_item_edge_case.

    Upstream assertions: 3."""
    scores = seqcls_engine.score(query="Evaluate:", items=["Only item"], apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == NUM_LABELS
    assert sum(scores[0]) == pytest.approx(1.0, abs=1e-5)


def test_raw_logits_without_softmax(seqcls_engine):
    """Ports core/test_score_classification.py::TestScoreClassification::test_raw_logits_without_softmax.

    Upstream assertions: 3."""
    scores = seqcls_engine.score(query="Evaluate:", items=["Alpha", "Beta"], apply_softmax=False).scores
    assert len(scores) == 2
    for row in scores:
        assert len(row) == NUM_LABELS
        assert all(isinstance(v, (int, float)) for v in row)


def test_deterministic(seqcls_engine):
    """Ports core/test_score_classification.py::TestScoreClassification::test_deterministic.

    Upstream assertions: 2 (places=1)."""
    kwargs = dict(query="Evaluate:", items=["alpha", "beta", "gamma"])
    scores1 = seqcls_engine.score(**kwargs).scores
    scores2 = seqcls_engine.score(**kwargs).scores
    assert len(scores1) == len(scores2)
    for s1, s2 in zip(scores1, scores2):
        for v1, v2 in zip(s1, s2):
            assert round(v1 - v2, 1) == 0


def test_tokenized_inputs(seqcls_engine):
    """Ports core/test_score_classification.py::TestScoreClassification::test_tokenized_inputs.

    ``tokenizer.encode`` token inputs score as the text (places=4). Upstream assertions: 2."""
    tok = tokenizer(seqcls_engine.server_args.model_path)
    text_scores = seqcls_engine.score(query="Rate this:", items=["Good", "Bad"], apply_softmax=True).scores
    token_scores = seqcls_engine.score(query=tok.encode("Rate this:"), items=[tok.encode(i) for i in ["Good", "Bad"]],
                                       apply_softmax=True).scores
    assert len(text_scores) == len(token_scores)
    for ts, ks in zip(text_scores, token_scores):
        for t, k in zip(ts, ks):
            assert round(t - k, 4) == 0


def test_label_token_ids_ignored(seqcls_engine):
    """Ports core/test_score_classification.py::TestScoreClassification::test_label_token_ids_ignored.

    Upstream assertions: 2."""
    scores = seqcls_engine.score(query="Evaluate:", items=["Test item"], label_token_ids=[1, 2, 3],
                                 apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == NUM_LABELS


# ---- TestScoreClassificationMIS -------------------------------------------------------------------


def test_mis_basic(seqcls_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMIS::test_mis_basic.

    Upstream assertions: 5."""
    items = ["Option A", "Option B", "Option C"]
    scores = seqcls_mis_engine.score(query="Rate each option:", items=items, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
        assert all(v >= 0.0 for v in row)
        assert all(v <= 1.0 for v in row)


def test_mis_many_items(seqcls_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMIS::test_mis_many_items.

    Upstream assertions: 3."""
    items = [f"Item {i}" for i in range(10)]
    scores = seqcls_mis_engine.score(query="Classify each:", items=items, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == NUM_LABELS
        assert sum(row) == pytest.approx(1.0, abs=1e-5)


def test_mis_single_item(seqcls_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMIS::test_mis_single_item.

    Upstream assertions: 3."""
    scores = seqcls_mis_engine.score(query="Evaluate:", items=["Single item"], apply_softmax=True).scores
    assert len(scores) == 1
    assert len(scores[0]) == NUM_LABELS
    assert sum(scores[0]) == pytest.approx(1.0, abs=1e-5)



def test_mis_items_produce_distinct_scores(seqcls_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMIS::test_items_produce_distinct_scores.

    Different items give different score vectors (catches every item reading the same pooled
    state). Upstream assertions: 2."""
    items = ["Option A is about cats", "Option B is about dogs", "Option C is about fish"]
    scores = seqcls_mis_engine.score(query="Rate each option:", items=items).scores
    assert len(scores) == len(items)
    assert not all(scores[0] == s for s in scores[1:]), f"all items scored {scores[0]}"


def test_mis_deterministic(seqcls_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMIS::test_deterministic.

    Identical MIS requests return identical scores (exact equality). Upstream assertions: 1."""
    kwargs = dict(query="Evaluate:", items=["alpha", "beta", "gamma"])
    assert seqcls_mis_engine.score(**kwargs).scores == seqcls_mis_engine.score(**kwargs).scores


def test_mis_softmax_valid(seqcls_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMIS::test_softmax_valid.

    Each item's softmax scores form a distribution (sum to 1 at places=6). Upstream assertions: 4."""
    scores = seqcls_mis_engine.score(query="Rate each option:", items=["Option A", "Option B", "Option C"],
                                     apply_softmax=True).scores
    for row in scores:
        assert len(row) == NUM_LABELS
        assert all(v >= 0.0 for v in row)
        assert all(v <= 1.0 for v in row)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_many_labels_shape(seqcls12_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMISAdvanced::test_many_labels_shape.

    Upstream assertions: 3."""
    items = [f"Item {i}" for i in range(5)]
    scores = seqcls12_mis_engine.score(query="Classify:", items=items, apply_softmax=True).scores
    assert len(scores) == len(items)
    for row in scores:
        assert len(row) == 12
        assert sum(row) == pytest.approx(1.0, abs=1e-5)


def test_mis_many_items_distinct(seqcls12_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMISAdvanced::test_many_items_distinct.

    15 items through a 12-label MIS classifier do not all score the same. Upstream assertions: 2."""
    items = [f"City {i}" for i in range(15)]
    scores = seqcls12_mis_engine.score(query="Classify each city:", items=items).scores
    assert len(scores) == len(items)
    assert len({tuple(s) for s in scores}) > 1, "all 15 items returned identical scores"
