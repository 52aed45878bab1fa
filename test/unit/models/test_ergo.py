"""Ergo against transformers, single-item and MIS: its original checkpoint names (the router and the shared expert
stored [in, out]), a float32 residual stream with gated adds, interleaved rotary on sliding layers and scaled NoPE
global layers, a dense squared-ReLU layer, then normed squared-ReLU experts beside a normed shared expert."""

from worker_batches import assert_both_ways_equal_transformers, worker


def test_ergo_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("ergo", "causal")
    w = worker(path)
    attention = [layer.self_attn for layer in w.model.model.layers]
    assert [(a.window, a.rotary) for a in attention] == [(4, True), (None, False), (4, True), (None, False)]
    assert w.model.model.layers[0].attention_residual_gate.weight.detach().abs().sum() > 0
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
