"""GPT-NeoX (Pythia) against transformers: q/k/v fused per head, rotary on a quarter of each head,
LayerNorms, the parallel residual (and the sequential one); the causal LM read at label tokens and
the classifier, single-item and MIS; the LM head under the hub's name (``embed_out``) and transformers'."""

import pytest
from safetensors.torch import load_file, save_file

from worker_batches import LABELS, assert_both_ways_equal_transformers, mixed_inputs, score_both_ways, worker


@pytest.mark.parametrize("head, kw", [("causal", {}), ("seqcls", {}), ("causal", {"use_parallel_residual": False})])
def test_gpt_neox_equals_transformers_single_item_and_mis(tiny_model, head, kw):
    assert_both_ways_equal_transformers(tiny_model("gpt_neox", head, **kw), head, seed=5)


def test_the_lm_head_loads_by_either_name(tiny_model, tmp_path):
    """transformers saves the hub's ``embed_out``; its module (and some re-saved checkpoints) say ``lm_head``."""
    path = tiny_model("gpt_neox", "causal")
    for f in path.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    tensors = load_file(str(path / "model.safetensors"))
    tensors["lm_head.weight"] = tensors.pop("embed_out.weight")
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    query, items = mixed_inputs(seed=5)
    assert score_both_ways(worker(tmp_path), query, items, LABELS) == score_both_ways(worker(path), query, items, LABELS)


def test_gpt_neox_japanese_equals_transformers_single_item_and_mis(tiny_model):
    """GPT-NeoX-Japanese: sequential layers without biases but the last layer's dense_bias, half of each head rotating."""
    path = tiny_model("gpt_neox_japanese", "causal")
    w = worker(path)
    assert [layer.attention.dense_bias is not None for layer in w.model.model.layers] == [False, True]
    for seed in (2, 6):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_persimmon_equals_transformers_single_item_and_mis(tiny_model, head):
    """Persimmon: sequential NeoX layers with one LayerNorm over head_dim on q and on k, half of each head rotating,
    a squared-ReLU MLP, under its own names."""
    path = tiny_model("persimmon", head)
    w = worker(path)
    assert w.model.model.layers[0].attention.qk_layernorm and w.model.model.layers[0].mlp.squared
    for seed in (2, 6):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)
