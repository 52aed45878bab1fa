"""Laguna against transformers, single-item and MIS: softplus output gates (per head, per dimension), a head count per
layer, a rotary per layer type (a partial one), a sliding layer, biased sigmoid experts with soft-capped logits
beside a shared one."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("gating", [True, "per-element"])
def test_laguna_equals_transformers_single_item_and_mis(tiny_model, gating):
    path = tiny_model("laguna", "causal", gating=gating)
    w = worker(path)
    attention = [layer.self_attn for layer in w.model.model.layers]
    per_dim = gating == "per-element"
    assert [(a.num_heads, a.window, a.gate_per_dim) for a in attention] == [(4, None, per_dim), (8, 4, per_dim),
                                                                            (4, None, per_dim)]
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
