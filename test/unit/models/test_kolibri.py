"""Kolibri-1 against transformers, single-item and MIS: EXAONE 4.0's attention (q/k norms, a sliding rotary layer,
a global NoPE one) in GLM-4's sandwich of norms under the published names, experts chosen by logit plus a
perturbed expert bias and weighted by their sigmoids (renormalised, or not), beside a shared expert."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("renormalise", [True, False])
def test_kolibri_equals_transformers_single_item_and_mis(tiny_model, renormalise):
    path = tiny_model("kolibri1", "causal", norm_topk_prob=renormalise)
    w = worker(path)
    layers = w.model.model.layers
    assert [layer.self_attn.rotary for layer in layers] == [True, False] and layers[0].sandwich_norms
    assert {type(layer.mlp).__name__ for layer in layers} == {"KolibriMoeBlock"}
    assert layers[0].mlp.gate_bias.abs().sum() > 0  # perturbed, and read from the published name
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
