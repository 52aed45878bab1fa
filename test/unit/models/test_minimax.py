"""MiniMax-Text-01 / M1 against transformers, single-item and MIS: lightning attention (a linear recurrence with a
fixed decay per head and depth, normed and gated) between Mixtral's attention layers, experts from the hub's names,
the normed residual with each kind of layer's factors; chunk borders inside queries and items; items after empty and
short queries; the classifier."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, assert_empty_and_short_queries_equal_transformers, worker


@pytest.mark.parametrize("chunk_size", [64, 3])
def test_minimax_equals_transformers_single_item_and_mis(tiny_model, chunk_size):
    path = tiny_model("minimax", "causal")
    w = worker(path)
    lightning = [layer.self_attn for layer in w.model.model.layers if layer.linear]
    assert len(lightning) == 2
    for layer in lightning:
        layer.chunk_size = chunk_size
    for seed in (0, 4):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_the_classifier_equals_transformers(tiny_model):
    assert_both_ways_equal_transformers(tiny_model("minimax", "seqcls"), "seqcls", seed=2)


def test_items_after_empty_and_short_queries(tiny_model):
    assert_empty_and_short_queries_equal_transformers(tiny_model("minimax", "causal"), [11, 12])
