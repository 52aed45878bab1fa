"""Ports of SGLang's scoring tests for SequenceClassification models (the ones not duplicated by
prefill_only/test_score_engine.py, whose TestSeqCls* classes are the same tests moved; those are
ported once, in test_sglang_score_engine.py).

Upstream file (sgl-project/sglang): test/registered/core/test_score_classification.py
@ 44372f86865a1f148dae7b286f1ef8034549fe2d — Qwen3-0.6B served as Qwen3ForSequenceClassification
(json_model_override_args, random head); MIS with ``multi_item_scoring_delimiter=<|endoftext|>``.

Engines (conftest.py): the 2-label MIS tests run on ``seqcls_mis_engine`` (upstream builds that one
with ``multi_item_scoring_delimiter``; the shared engine is test_score_engine.py's, with
``enable_mis=True``); the 12-label ones on ``seqcls12_mis_engine``, built as upstream builds it here.
"""

from __future__ import annotations

import pytest


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
        assert len(row) == 2
        assert all(v >= 0.0 for v in row)
        assert all(v <= 1.0 for v in row)
        assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_mis_many_items_distinct(seqcls12_mis_engine):
    """Ports core/test_score_classification.py::TestScoreClassificationMISAdvanced::test_many_items_distinct.

    15 items through a 12-label MIS classifier do not all score the same. Upstream assertions: 2."""
    items = [f"City {i}" for i in range(15)]
    scores = seqcls12_mis_engine.score(query="Classify each city:", items=items).scores
    assert len(scores) == len(items)
    assert len({tuple(s) for s in scores}) > 1, "all 15 items returned identical scores"
