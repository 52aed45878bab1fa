"""Lara Mini against transformers, single-item and MIS: Qwen3.5's delta nets (one fused in_proj, as published) between
Qwen3 attention layers (sliding ones rotate, the full one does not), plain-weight norms, experts stored 3-D beside
an ungated shared expert in every layer."""

from worker_batches import assert_both_ways_equal_transformers, worker


def test_lara_mini_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("lara_mini", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [layer.linear for layer in layers] == [True, False, True, False, False]
    assert [(layer.self_attn.window, layer.self_attn.rotary) for layer in layers if not layer.linear] == [
        (4, True), (None, False), (4, True)]
    for layer in layers:
        if layer.linear:
            layer.linear_attn.chunk_size = 4  # items and queries cross the delta rule's chunk borders
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
