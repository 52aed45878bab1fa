"""Qwen3-MoE, Qwen2-MoE, Qwen3.5-MoE and Mixtral against transformers: sparse mixture-of-experts MLPs (4
experts, 2 per token; Qwen2-/Qwen3.5-MoE's shared expert behind a sigmoid gate) in all layers but a
dense one (``mlp_only_layers``; Qwen3.5-MoE: every layer, between its linear-attention and attention
layers; Mellum: ``mlp_layer_types``, a sliding layer with its own rotary base); single-item and MIS, the causal LM read at label tokens and the classifier.
Routing is per token, so MIS routes every token as single-item scoring does."""

import pytest
import torch

from hf_reference import hf_scores
from multiscore.models.sparse_moe import SparseMoeBlock
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


@pytest.mark.parametrize("arch, head", [("qwen3_moe", "causal"), ("qwen2_moe", "causal"), ("qwen3_5_moe", "causal"),
                                        ("qwen3_moe", "seqcls"), ("qwen2_moe", "seqcls"),
                                        ("mixtral", "causal"), ("mixtral", "seqcls"),  # Mixtral: every MLP sparse, a window
                                        ("mellum", "causal")])  # Mellum: a sliding layer, its own rotary base
def test_moe_models_equal_transformers_single_item_and_mis(tiny_model, arch, head):
    path = tiny_model(arch, head)
    labels = LABELS if head == "causal" else None
    query, items = mixed_inputs(seed=1 if head == "causal" else 2)
    single, mis = score_both_ways(worker(path), query, items, labels, apply_softmax=head == "causal")
    ref = torch.tensor(hf_scores(path, query, items, labels, apply_softmax=head == "causal"))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_the_layers_are_sparse_or_dense_as_the_config_says_and_the_tests_reach_every_expert(tiny_model):
    w = worker(tiny_model("qwen3_moe", "causal"))
    mlps = [layer.mlp for layer in w.model.model.layers]
    assert [isinstance(m, SparseMoeBlock) for m in mlps] == [True, False, True]  # mlp_only_layers=[1]
    chosen = []
    for mlp in (mlps[0], mlps[2]):
        mlp.register_forward_hook(lambda m, args, out: chosen.append(torch.topk(m.gate(args[0]), 2).indices))
    query, items = mixed_inputs(seed=1)
    score_both_ways(w, query, items, LABELS)
    picked = torch.cat(chosen)
    assert set(picked.flatten().tolist()) == {0, 1, 2, 3}
    assert len({tuple(sorted(row)) for row in picked.tolist()}) > 2  # tokens differ in their experts


def test_the_shared_expert_counts(tiny_model):
    """Qwen2-MoE without its shared expert's output: scores move well past the tolerance."""
    path = tiny_model("qwen2_moe", "seqcls")
    query, items = mixed_inputs(seed=2)
    w = worker(path)
    full, _ = score_both_ways(w, query, items, None)
    for layer in w.model.model.layers:
        if isinstance(layer.mlp, SparseMoeBlock):
            layer.mlp.shared_expert = None  # (not its weights: the worker may have packed them for oneDNN)
    without, _ = score_both_ways(w, query, items, None)
    assert (torch.tensor(full) - torch.tensor(without)).abs().max() > 1e-2


def test_flint_equals_transformers_single_item_and_mis(tiny_model):
    """Flint: Qwen3-MoE's blocks with sinks in every layer, rotary only in the sliding layers, a float32 sigmoid
    router without bias, and an ungated shared expert."""
    from worker_batches import assert_both_ways_equal_transformers

    path = tiny_model("flint", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [(a.window, a.rotary, a.sinks is not None) for a in (layer.self_attn for layer in layers)] == [
        (4, True, True), (None, False, True), (4, True, True)]
    assert [type(layer.mlp).__name__ for layer in layers] == ["SharedExpertMoeBlock", "GatedMLP", "SharedExpertMoeBlock"]
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
