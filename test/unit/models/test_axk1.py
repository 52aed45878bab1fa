"""A.X K1 against transformers, single-item and MIS: DeepSeek-V3's blocks with the sparse layers' MoE output
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
