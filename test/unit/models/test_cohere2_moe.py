"""Command A+ (``cohere2_moe``) against transformers, single-item and MIS: Command R7B's parallel block (Cohere's
LayerNorm, or RMSNorms), rotary over pairs on the dense prefix layer (its window pattern 1) and the sliding
layer, NoPE on the global sparse one; experts weighted by the softmax over each token's top 2 (or sigmoids,
renormalised), beside a shared expert averaged in (or summed); logits scaled."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, worker

VARIANTS = {
    "layernorm-softmax-average": {},
    "rmsnorm-sigmoid-sum": dict(rms_norm_eps=1e-6, expert_selection_fn="sigmoid", shared_expert_combination_strategy="sum"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_command_a_plus_equals_transformers_single_item_and_mis(tiny_model, variant):
    path = tiny_model("cohere2_moe", "causal", **VARIANTS[variant])
    w = worker(path)
    layers = w.model.model.layers
    assert [layer.self_attn.rotary for layer in layers] == [True, True, False]
    assert [type(layer.mlp).__name__ for layer in layers] == ["GatedMLP", "Cohere2MoeBlock", "Cohere2MoeBlock"]
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
