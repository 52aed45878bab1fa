"""Falcon-H1 against transformers: a Mamba2 mixer and GQA attention side by side in every layer, every
muP multiplier away from 1 (embeddings, the mixer's input and its five projection sections, keys,
attention in and out, the MLP's gate and output, logits); the mixer's gated RMSNorm after the gate,
before it, or absent; single-item and MIS, an empty and a short query, a classifier by
``classifier_from_token`` (the logits' multiplier carried into its rows)."""

import pytest

from worker_batches import (
    assert_both_ways_equal_transformers,
    assert_empty_and_short_queries_equal_transformers,
    assert_yes_no_classifier_equals_transformers,
    worker,
)

NORMS = {"after_gate": {}, "before_gate": {"mamba_norm_before_gate": True}, "none": {"mamba_rms_norm": False}}


@pytest.mark.parametrize("norm", NORMS)
def test_the_causal_lm_equals_transformers_single_item_and_mis(tiny_model, norm):
    path = tiny_model("falcon_h1", "causal", **NORMS[norm])
    w = worker(path)
    assert [layer.mamba.norm_mode for layer in w.model.model.layers] == [None if norm == "none" else norm] * 2
    assert_both_ways_equal_transformers(path, "causal", seed=1, w=w)


def test_items_of_an_empty_query_or_a_short_one(tiny_model):
    assert_empty_and_short_queries_equal_transformers(tiny_model("falcon_h1", "causal"), [11, 12])


def test_a_yes_no_classifier_by_classifier_from_token(tiny_model):
    assert_yes_no_classifier_equals_transformers(tiny_model("falcon_h1", "causal"), "FalconH1ForSequenceClassification")
