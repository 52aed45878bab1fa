"""The loader fills models as their classes declare: fused shards, name prefixes, ties; and it
refuses a checkpoint that leaves a weight (or a shard of one) unfilled or has a wrong shape."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from multiscore.configs.model_config import ModelConfig
from multiscore.model_executor.weight_loader import load_model
from multiscore.server_args import ServerArgs

CPU = torch.device("cpu")


def _load(path, **server_args):
    config = ModelConfig.from_server_args(ServerArgs(model_path=str(path), device="cpu", **server_args))
    return load_model(config, CPU, torch.float32)


def _rewrite(src, dst, edit) -> None:
    """A copy of checkpoint ``src`` at ``dst`` whose tensors ``edit`` rewrote (name -> tensor dict)."""
    shutil.copytree(src, dst)
    save_file(edit(load_file(src / "model.safetensors")), dst / "model.safetensors")


def test_fused_layers_hold_the_checkpoints_separate_projections(tiny_model):
    path = tiny_model("qwen3", "seqcls")
    model, tensors = _load(path), load_file(path / "model.safetensors")
    attn, mlp = model.model.layers[1].self_attn, model.model.layers[1].mlp
    prefix = "model.layers.1."
    torch.testing.assert_close(attn.qkv_proj.weight[attn.qkv_proj.shard_rows["k"]], tensors[prefix + "self_attn.k_proj.weight"])
    torch.testing.assert_close(mlp.gate_up_proj.weight[mlp.gate_up_proj.shard_rows[1]], tensors[prefix + "mlp.up_proj.weight"])


def test_a_missing_shard_is_named(tiny_model, tmp_path):
    broken = tmp_path / "no-k"
    _rewrite(tiny_model("qwen3", "seqcls"), broken,
             lambda t: {k: v for k, v in t.items() if k != "model.layers.0.self_attn.k_proj.weight"})
    with pytest.raises(ValueError, match=r"missing 1 weights, e.g. \['model.layers.0.self_attn.qkv_proj.weight \(k\)'\]"):
        _load(broken)


def test_a_wrong_shape_names_the_checkpoint_tensor(tiny_model, tmp_path):
    broken = tmp_path / "short-up"
    _rewrite(tiny_model("llama", "seqcls"), broken,
             lambda t: {**t, "model.layers.0.mlp.up_proj.weight": t["model.layers.0.mlp.up_proj.weight"][:5]})
    with pytest.raises(ValueError, match=r"checkpoint tensor model.layers.0.mlp.up_proj.weight: shape \(5, 64\), but shard 1"):
        _load(broken)


def test_a_bias_the_config_says_is_absent_is_named_in_a_warning(tiny_model, tmp_path, caplog):
    """A config that disagrees with its weights (o_proj biases, attention_bias false) would score
    without them: the loader names the unused tensors of modules it has; other unused tensors
    (a vision tower, another layer's head) are not named."""
    odd = tmp_path / "o-bias"
    _rewrite(tiny_model("llama", "seqcls"), odd, lambda t: {**t, "model.layers.0.self_attn.o_proj.bias": torch.ones(64),
                                                            "model.layers.1.self_attn.k_proj.bias": torch.ones(32),
                                                            "visual.blocks.0.attn.qkv.bias": torch.ones(3)})
    with caplog.at_level("WARNING", logger="multiscore.model_executor.weight_loader"):
        _load(odd)
    warned = [r.getMessage() for r in caplog.records if "have no such parameter" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("2 checkpoint tensors belong to modules of LlamaForSequenceClassification")
    assert "model.layers.0.self_attn.o_proj.bias" in warned[0] and "model.layers.1.self_attn.k_proj.bias" in warned[0]
    assert "visual" not in warned[0]


def test_tied_embeddings_are_one_tensor(tiny_model):
    model = _load(tiny_model("qwen3", "causal", tie_word_embeddings=True))
    assert model.lm_head.weight is model.model.embed_tokens.weight


def test_a_bare_decoder_checkpoint_loads_through_its_prefix_alias(tiny_model, tmp_path):
    """A ``Qwen3Model`` checkpoint names its tensors without ``model.`` and has no head."""
    causal = tiny_model("qwen3", "causal")
    bare = tmp_path / "bare"
    _rewrite(causal, bare, lambda t: {k.removeprefix("model."): v for k, v in t.items() if k != "lm_head.weight"})
    via_override = _load(causal, json_model_override_args='{"architectures": ["Qwen3Model"]}')
    from_bare = _load(bare, json_model_override_args='{"architectures": ["Qwen3Model"]}')
    for (name, a), (_, b) in zip(via_override.named_parameters(), from_bare.named_parameters()):
        assert torch.equal(a, b), name
