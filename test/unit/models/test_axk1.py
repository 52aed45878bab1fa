"""A.X K1 and K2 against transformers, single-item and MIS. K1: DeepSeek-V3's blocks with the sparse layers' MoE output
RMS-normed; and a checkpoint as published, with no router bias and the norm stored in every layer."""

import shutil

import pytest
from safetensors.torch import load_file, save_file

from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_axk1_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("axk1", head)
    w = worker(path)
    assert [type(layer.mlp).__name__ for layer in w.model.model.layers] == ["GatedMLP", "PostNormedMoeBlock", "PostNormedMoeBlock"]
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_a_checkpoint_without_router_bias_routes_without_it(tiny_model, tmp_path):
    """skt/A.X-K1 stores no e_score_correction_bias (transformers reads zeros) and a post_mlp_layernorm in
    its dense layer too (unused)."""
    path = tmp_path / "axk1"
    shutil.copytree(tiny_model("axk1", "causal"), path)
    tensors = load_file(str(path / "model.safetensors"))
    dropped = [name for name in tensors if name.endswith("e_score_correction_bias")]
    assert len(dropped) == 2 and any(tensors[name].abs().sum() > 0 for name in dropped)
    tensors = {name: t for name, t in tensors.items() if name not in dropped}
    tensors["model.layers.0.post_mlp_layernorm.weight"] = tensors["model.layers.1.post_mlp_layernorm.weight"] * 3
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    w = worker(path)
    assert float(w.model.model.layers[1].mlp.gate.e_score_correction_bias.abs().sum()) == 0.0
    assert_both_ways_equal_transformers(path, "causal", seed=2, w=w)


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_axk2_equals_transformers_single_item_and_mis(tiny_model, head):
    """A.X K2: the query-side output gate, gated norms (the MLP's on sparse layers), grouped experts whose dropped
    groups score 0."""
    path = tiny_model("axk2", head)
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer.post_attention_layernorm).__name__ for layer in layers] == ["RMSNorm", "GatedRMSNorm", "GatedRMSNorm"]
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_axk2s_router_lets_dropped_groups_score_zero_as_transformers():
    """With a correction bias that drives every score below zero, an expert of a dropped group (scored 0) outranks
    the kept groups' experts: A.X K2's router picks it, as transformers' does (a -inf mask would not)."""
    import torch
    import transformers
    from transformers.models.axk2.modeling_axk2 import AXK2TopkRouter

    from multiscore.models.deepseek import DeepseekRouter

    config = transformers.AXK2Config(hidden_size=32, n_routed_experts=8, num_experts_per_tok=3, n_group=4, topk_group=2,
                                     routed_scaling_factor=2.5, norm_topk_prob=True)
    torch.manual_seed(0)
    reference = AXK2TopkRouter(config)
    with torch.no_grad():
        reference.weight.normal_()
        reference.e_score_correction_bias.fill_(-2.0)
    ours = DeepseekRouter(config, sigmoid=True, float32=True)
    ours.dropped_group_score = 0.0
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(64, 32)
    _, expected_weights, expected_experts = reference(x)
    weights, experts = ours(x)
    order, expected_order = experts.argsort(dim=-1), expected_experts.argsort(dim=-1)
    assert torch.equal(experts.gather(1, order), expected_experts.gather(1, expected_order))
    torch.testing.assert_close(weights.gather(1, order), expected_weights.gather(1, expected_order), atol=1e-6, rtol=0)
