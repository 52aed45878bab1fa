"""ERNIE 4.5 MoE against transformers, single-item and MIS: a dense first layer, then experts chosen by
a bias-corrected softmax (the correction perturbed, so it changes choices) beside a shared expert."""

from multiscore.layers import linear
from worker_batches import assert_both_ways_equal_transformers, worker


def test_ernie4_5_moe_equals_transformers_single_item_and_mis(tiny_model, monkeypatch):
    """With the body's weights packed, as every AVX-512 CPU serves float32 (forced on AVX2 CPUs too):
    the router reads its own weight, which packing would have freed (it once read a meta tensor there,
    which F.linear turns into garbage without an error)."""
    monkeypatch.setattr(linear, "cpu_capability", lambda: "AVX512")
    path = tiny_model("ernie4_5_moe", "causal")
    w = worker(path)
    assert w.linear_kernel.startswith("oneDNN packed")
    assert [type(layer.mlp).__name__ for layer in w.model.model.layers] == ["GatedMLP", "ErnieMoeBlock", "ErnieMoeBlock"]
    for seed in (1, 6):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
