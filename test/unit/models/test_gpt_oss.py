"""GPT-OSS against transformers (fp32): the causal LM read at label tokens and the classifier,
single-item and MIS, with its sink logits, a 4-token window on its sliding layer, YaRN, and experts
that clamp; the prefix cache (model_executor tests) covers it too. The hub's MXFP4 experts:
dequantized as transformers dequantizes them, and a whole MXFP4 checkpoint scored as transformers
scores it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_reference import hf_scores
from multiscore.configs.model_config import checkpoint_quantization
from multiscore.model_executor.mxfp4 import dequantize_mxfp4, dequantized_tensors
from worker_batches import LABELS, assert_both_ways_equal_transformers, mixed_inputs, score_both_ways, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_gpt_oss_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("gpt_oss", head)
    assert_both_ways_equal_transformers(path, head, seed=1, n_items=6)  # two empty items


def test_the_sinks_the_window_and_the_clamps_are_in_play(tiny_model):
    """Ours without sinks, and transformers without the window or the clamps, each move the scores
    well past the tolerance above: each part is exercised by these inputs."""
    path = tiny_model("gpt_oss", "seqcls")
    query, items = mixed_inputs(seed=4, n_items=6)
    w = worker(path)
    with_sinks, _ = score_both_ways(w, query, items, None)
    with torch.no_grad():
        for layer in w.model.model.layers:
            layer.self_attn.sinks.fill_(float("-inf"))  # a sink of -inf takes no share
    without, _ = score_both_ways(w, query, items, None)
    assert (torch.tensor(with_sinks) - torch.tensor(without)).abs().max() > 1e-3
    reference = torch.tensor(hf_scores(path, query, items))
    for change in ({"sliding_window": 64}, {"swiglu_limit": 100.0}):
        changed = torch.tensor(hf_scores(tiny_model("gpt_oss", "seqcls", **change), query, items))
        assert (reference - changed).abs().max() > 1e-3


def test_dequantization_equals_transformers_own():
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    gen = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 256, (3, 10, 2, 16), generator=gen, dtype=torch.uint8)  # [E, R, G, 16]
    scales = torch.randint(120, 134, (3, 10, 2), generator=gen, dtype=torch.uint8)
    ours = dequantize_mxfp4(blocks, scales)
    assert ours.shape == (3, 64, 10)  # [E, C, R]: x · W
    torch.testing.assert_close(ours, convert_moe_packed_tensors(blocks, scales, dtype=torch.float32), atol=0, rtol=0)


def test_pairs_are_joined_in_either_order_and_a_lone_half_is_refused():
    blocks, scales = torch.zeros(2, 1, 16, dtype=torch.uint8), torch.full((2, 1), 127, dtype=torch.uint8)
    for order in (["w_blocks", "w_scales"], ["w_scales", "w_blocks"]):
        tensors = {"w_blocks": blocks, "w_scales": scales, "b": torch.ones(1)}
        out = dict(dequantized_tensors((name, tensors[name]) for name in ["b"] + order))
        assert out.keys() == {"b", "w"} and out["w"].shape == (32, 2)
    with pytest.raises(ValueError, match="x_blocks has no x_scales"):
        list(dequantized_tensors(iter([("x_blocks", blocks)])))
    with pytest.raises(ValueError, match=r"checkpoint tensor w: MXFP4 blocks \[\.\.\., R, G, 16\]"):
        list(dequantized_tensors(iter([("w_blocks", blocks.float()), ("w_scales", scales)])))


def test_other_quantized_checkpoints_are_refused_with_the_reason():
    class Config:
        quantization_config = {"quant_method": "gptq", "bits": 4}

    with pytest.raises(ValueError, match=r"the checkpoint is quantized \(gptq\), which is not supported.*MXFP4.*FP8"):
        checkpoint_quantization(Config())
    Config.quantization_config = {"quant_method": "mxfp4"}
    assert checkpoint_quantization(Config()) == "mxfp4"


def _to_mxfp4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[E, C, R] (x · W) -> the hub's blocks [E, R, C/32, 16] and scales [E, R, C/32]: each block of 32
    scaled by a power of two that brings its largest magnitude to at most 6, then rounded to E2M1."""
    lut = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0])
    w = weight.transpose(1, 2).reshape(weight.shape[0], weight.shape[2], -1, 32)  # [E, R, G, 32]
    exponent = torch.ceil(torch.log2(w.abs().amax(-1).clamp_min(1e-30) / 6.0))  # [E, R, G]
    codes = ((w / torch.exp2(exponent)[..., None])[..., None] - lut).abs().argmin(-1)  # [E, R, G, 32] nearest code
    packed = (codes[..., 0::2] | (codes[..., 1::2] << 4)).to(torch.uint8)  # low nibble first
    return packed, (exponent + 127).to(torch.uint8)


def test_an_mxfp4_checkpoint_scores_as_transformers_dequantizes_it(tiny_model, tmp_path):
    dense = tiny_model("gpt_oss", "causal")
    for f in dense.iterdir():
        shutil.copy(f, tmp_path / f.name)
    tensors = load_file(str(dense / "model.safetensors"))
    for name in [n for n in tensors if n.endswith(("experts.gate_up_proj", "experts.down_proj"))]:
        tensors[name + "_blocks"], tensors[name + "_scales"] = _to_mxfp4(tensors.pop(name))
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((dense / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "mxfp4", "modules_to_not_convert": [
        "model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    w = worker(tmp_path)
    assert w.model_config.quantization == "mxfp4"
    ref = assert_both_ways_equal_transformers(tmp_path, "causal", seed=5, n_items=6, w=w)
    query, items = mixed_inputs(seed=5, n_items=6)
    assert (ref - torch.tensor(hf_scores(dense, query, items, LABELS, apply_softmax=True))).abs().max() > 1e-4  # FP4 moved them
