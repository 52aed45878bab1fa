"""HunYuan dense against transformers, single-item and MIS: q/k norms after rotary, and its NTK-alpha
rotary (a fixed, larger base at every length: no context cap)."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, worker

NTK_ALPHA = {"rope_type": "dynamic", "rope_theta": 10000.0, "alpha": 1000.0, "factor": 1.0}


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("kw", [{}, {"rope_parameters": NTK_ALPHA}], ids=["plain", "ntk-alpha"])
def test_hunyuan_equals_transformers_single_item_and_mis(tiny_model, head, kw):
    path = tiny_model("hunyuan", head, head_dim=16, **kw)  # transformers' config leaves head_dim None; checkpoints set it
    assert_both_ways_equal_transformers(path, head, seed=4)
    if kw:
        w = worker(path)
        assert w.model_config.context_length == 4096  # max_position_embeddings: a static rotary, no cap of its own
        assert w.model.model.rotary_emb.inv_freq[1] < 0.2  # base 10,000 · 1000^(16/14): slower than the plain 0.316


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_hunyuan_moe_equals_transformers_single_item_and_mis(tiny_model, head):
    """Hunyuan-A13B's layout: every layer 4 experts beside a shared MLP, top 2 in layer 0 and top 3 in
    layer 1 (``moe_topk`` per layer), with the NTK-alpha rotary."""
    path = tiny_model("hunyuan_moe", head, rope_parameters=NTK_ALPHA)
    w = worker(path)
    assert [layer.mlp.top_k for layer in w.model.model.layers] == [2, 3]
    for seed in (4, 7):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_hy3_equals_transformers_single_item_and_mis(tiny_model):
    """Tencent Hy3: q/k-normed attention, a dense layer, then sigmoid experts chosen with a perturbed correction
    bias (the hub's ``mlp.expert_bias``), renormalised and scaled, beside a shared expert (``shared_mlp``)."""
    path = tiny_model("hy_v3", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer.mlp).__name__ for layer in layers] == ["GatedMLP", "DeepseekMoeBlock"]
    assert layers[1].mlp.gate.e_score_correction_bias.abs().sum() > 0 and layers[1].mlp.gate.scaling == 2.5
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
