"""OLMo 2, OLMo 3 and EXAONE 4.0 (the same block layout, per-head q/k norms, NoPE global layers) against transformers: norms on the attention and MLP outputs only, q/k norms
across heads; OLMo 3's 4-position sliding layer with its own rotary beside a linearly scaled full
one. The causal LM read at label tokens and the classifier (a reward model's head), single-item and MIS."""

import pytest
import torch

from hf_reference import hf_scores
from worker_batches import assert_both_ways_equal_transformers, mixed_inputs, score_both_ways, worker


@pytest.mark.parametrize("arch, head", [("olmo2", "causal"), ("olmo2", "seqcls"), ("olmo3", "causal"), ("olmo3", "seqcls"),
                                        ("exaone4", "causal"), ("exaone4", "seqcls")])  # EXAONE 4: NoPE global layers
def test_olmo_equals_transformers_single_item_and_mis(tiny_model, arch, head):
    assert_both_ways_equal_transformers(tiny_model(arch, head), head, seed=3)


def test_olmo3s_window_and_per_type_rotary_are_in_play(tiny_model):
    query, items = mixed_inputs(seed=3)
    reference = torch.tensor(hf_scores(tiny_model("olmo3", "seqcls"), query, items))
    for change in ({"sliding_window": 64}, {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 5e5},
                                                                 "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}}):
        changed = torch.tensor(hf_scores(tiny_model("olmo3", "seqcls", **change), query, items))
        assert (reference - changed).abs().max() > 1e-4


def test_k_exaone_equals_transformers_single_item_and_mis(tiny_model):
    """K-EXAONE: EXAONE 4.0's sliding (rotary) and global (NoPE) attention with q/k norms in a pre-norm block, a
    dense layer then DeepSeek-V3's experts (the hub's name for their correction bias) beside a shared one."""
    path = tiny_model("exaone_moe", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer.mlp).__name__ for layer in layers] == ["GatedMLP", "DeepseekMoeBlock"]
    assert [layer.self_attn.rotary for layer in layers] == [True, False] and not layers[0].post_norms_only
    assert layers[1].mlp.gate.e_score_correction_bias.abs().sum() > 0  # perturbed, and read
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_exaone4s_global_layer_takes_no_rotary(tiny_model):
    path = tiny_model("exaone4", "seqcls")
    w = worker(path)
    assert [layer.self_attn.rotary for layer in w.model.model.layers] == [True, False]
    reference = assert_both_ways_equal_transformers(path, "seqcls", seed=3, w=w)
    w.model.model.layers[1].self_attn.rotary = True
    query, items = mixed_inputs(seed=3)
    moved, _ = score_both_ways(w, query, items, None)
    assert (torch.tensor(moved) - reference).abs().max() > 1e-4


@pytest.mark.parametrize("norm_topk_prob", [False, True])
def test_olmoe_equals_transformers_single_item_and_mis(tiny_model, norm_topk_prob):
    """OLMoE: OLMo 2's q/k norms in Llama's pre-norm block, every MLP 4 experts (2 per token)."""
    path = tiny_model("olmoe", "causal", norm_topk_prob=norm_topk_prob)
    w = worker(path)
    assert {type(layer.mlp).__name__ for layer in w.model.model.layers} == {"SparseMoeBlock"}
    assert w.model.model.layers[0].mlp.norm_topk_prob is norm_topk_prob
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_olmoes_clip_qkv_equals_transformers(tiny_model):
    """q, k and v clamped to ±clip_qkv after OLMoE's q/k norms (0.3 here: many of them are clamped)."""
    path = tiny_model("olmoe", "causal", clip_qkv=0.3)
    assert_both_ways_equal_transformers(path, "causal", seed=3)


def test_flex_olmo_equals_transformers_single_item_and_mis(tiny_model):
    """FlexOlmo: OLMo 2's post-norms and q/k norms around OLMoE's experts (unrenormalised here)."""
    path = tiny_model("flex_olmo", "causal")
    w = worker(path)
    layer = w.model.model.layers[0]
    assert layer.post_norms_only and type(layer.mlp).__name__ == "SparseMoeBlock"
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
