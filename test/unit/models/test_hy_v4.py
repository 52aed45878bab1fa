"""Tencent Hy4 against transformers, single-item and MIS: hyper-connection streams around latent attention with sinks
and per-dimension gates, a dense MLP then clamped SwiGLU experts (a limit of 0.5 here, so the clamp acts) beside an
unclamped shared one; the hub's names as transformers saves them."""

from worker_batches import assert_both_ways_equal_transformers, worker


def test_hy_v4_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("hy_v4", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer.mlp).__name__ for layer in layers] == ["GatedMLP", "DeepseekMoeBlock", "DeepseekMoeBlock"]
    assert layers[0].self_attn.sinks is not None and layers[0].self_attn.gate_proj is not None
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)

