"""Beam against transformers, single-item and MIS: gated attention with a bias per head, rotary sliding layers
and NoPE full layers with scaled queries, depth-scaled sandwich residuals, DeepSeek-V3's routing after a dense
layer, soft-capped logits; and as a token classifier."""

from worker_batches import assert_both_ways_equal_transformers, worker


def test_beam_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("beam", "causal")
    w = worker(path)
    attention = [layer.self_attn for layer in w.model.model.layers]
    assert [(a.window, a.rotary, a.scales_queries) for a in attention] == [(4, True, False), (None, False, True),
                                                                           (4, True, False)]
    assert attention[0].g_proj.head_bias.detach().abs().sum() > 0
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
