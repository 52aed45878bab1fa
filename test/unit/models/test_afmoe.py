"""Arcee's AFMoE (Trinity) against transformers, single-item and MIS: sandwich norms, q/k norms, a sliding
rotary layer and a global NoPE one, the attention output gated per dimension, a dense layer then sigmoid
experts chosen with a perturbed expert bias (renormalised, times route_scale) beside a shared expert, muP's
scaled embeddings."""

from worker_batches import assert_both_ways_equal_transformers, worker


def test_afmoe_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("afmoe", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer.mlp).__name__ for layer in layers] == ["GatedMLP", "DeepseekMoeBlock"]
    assert [layer.self_attn.rotary for layer in layers] == [True, False] and layers[0].sandwich_norms
    assert layers[0].self_attn.gate_per_dim and layers[1].mlp.gate.e_score_correction_bias.abs().sum() > 0
    assert w.model.model.embed_scale == 8.0
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
