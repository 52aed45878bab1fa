"""Granite 4.0 (GraniteMoeHybrid) against transformers: Mamba2 and attention layers by turns (no
rotary, or rotary with ``position_embedding_type: rope``), a shared MLP beside 4 experts, Granite's
multipliers; single-item and MIS (the Mamba layers start each item from its query's state and
convolution tail), with scan chunks that split queries and items, and an empty query."""

import pytest
import torch

from hf_reference import hf_scores
from multiscore.models.mamba2 import Mamba2Mixer
from worker_batches import (
    assert_empty_and_short_queries_equal_transformers,
    assert_yes_no_classifier_equals_transformers,
    mixed_inputs,
    score_both_ways,
    worker,
)

LABELS = [3, 9, 20]


def _label_softmax(path, query, items):
    return torch.tensor(hf_scores(path, query, items, LABELS, apply_softmax=True))


def _assert_both_ways_equal_transformers(w, path, seed):
    """Single-item and MIS scores of ``mixed_inputs(seed)`` through worker ``w`` equal transformers'."""
    query, items = mixed_inputs(seed=seed)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    ref = _label_softmax(path, query, items)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("rope", [False, True], ids=["nope", "rope"])
def test_the_causal_lm_equals_transformers_single_item_and_mis(tiny_model, rope):
    path = tiny_model("granite_hybrid", "causal", **({"position_embedding_type": "rope"} if rope else {}))
    _assert_both_ways_equal_transformers(worker(path), path, seed=1)


def test_scan_chunks_that_split_queries_and_items_change_nothing(tiny_model):
    path = tiny_model("granite_hybrid", "causal")
    w = worker(path)
    mixers = [m for m in w.model.modules() if isinstance(m, Mamba2Mixer)]
    assert len(mixers) == 2
    for mixer in mixers:
        mixer.chunk_size = 4
    _assert_both_ways_equal_transformers(w, path, seed=3)


def test_items_of_an_empty_query_or_a_short_one(tiny_model):
    assert_empty_and_short_queries_equal_transformers(tiny_model("granite_hybrid", "causal"), [11, 12])


def test_the_prefix_cache_is_off_and_says_why(tiny_model):
    w = worker(tiny_model("granite_hybrid", "causal"))
    assert w.prefix_cache is None
    assert "Mamba layers keep a recurrent state" in type(w.model).prefix_cache_problem


def test_a_yes_no_classifier_by_classifier_from_token(tiny_model):
    """Our GraniteMoeHybridForSequenceClassification from two LM-head rows divided by logits_scaling."""
    assert_yes_no_classifier_equals_transformers(tiny_model("granite_hybrid", "causal"),
                                                 "GraniteMoeHybridForSequenceClassification")
