"""BitNet b1.58 against transformers, single-item and MIS: its block (the sub-norms before o_proj and down_proj,
the relu² gate) on plain weights, and its quantized checkpoints (model_executor/bitnet.py) as transformers'
BitNet layers compute them: packed ternary weights (bitlinear, as microsoft/bitnet-b1.58-2B-4T ships), ternary
weights with a scale, and master weights ternarized as they load (autobitlinear), each with 8-bit activations."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from multiscore.layers.activation_quant import fake_quantize_per_token
from multiscore.model_executor.bitnet import ternarized, unpacked
from worker_batches import assert_both_ways_equal_transformers, assert_yes_no_classifier_equals_transformers, worker

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MODES = {"packed": ("bitlinear", "offline"), "scaled": ("autobitlinear", "offline"), "online": ("autobitlinear", "online")}


def quantized_copy(path, out, mode: str, **settings):
    """``path``'s checkpoint as a BitNet ``mode`` checkpoint (MODES) at ``out``: each projection ternarized
    per tensor as transformers' BitNet does (s = 1 / mean |w|), stored as that mode stores it."""
    from transformers.integrations.bitnet import pack_weights

    shutil.copytree(path, out)
    tensors = {}
    for name, w in load_file(str(path / "model.safetensors")).items():
        if mode == "online" or not name.endswith(tuple(p + ".weight" for p in PROJECTIONS)):
            tensors[name] = w
            continue
        s = 1.0 / w.abs().mean().clamp(min=1e-5)
        ternary = (w * s).round().clamp(-1, 1)
        if mode == "packed":  # transformers' BitLinear: uint8, four rows' values a byte; the product divided by s
            tensors[name], tensors[name + "_scale"] = pack_weights(ternary.to(torch.int8)), s.reshape(1)
        else:  # AutoBitLinear: the product multiplied by weight_scale
            tensors[name], tensors[name + "_scale"] = ternary, (1.0 / s).reshape(1)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((path / "config.json").read_text())
    linear_class, quantization_mode = MODES[mode]
    config["quantization_config"] = {"quant_method": "bitnet", "linear_class": linear_class,
                                     "quantization_mode": quantization_mode, **settings}
    (out / "config.json").write_text(json.dumps(config))
    return out


def test_the_block_equals_transformers_on_plain_weights(tiny_model):
    path = tiny_model("bitnet", "causal")
    w = worker(path)
    assert type(w.model.model.layers[0].self_attn.o_proj).__name__ == "PreNormedLinear"
    for seed in (1, 4):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_quantized_checkpoints_equal_transformers_bitnet_layers(tiny_model, tmp_path, mode):
    path = quantized_copy(tiny_model("bitnet", "causal"), tmp_path / mode, mode)
    w = worker(path)
    quantized = [m for m in w.model.modules() if getattr(m, "input_quant", None) is not None]
    assert len(quantized) == 2 * 4  # qkv, o, gate_up and down in each of the 2 layers
    # transformers compiles its BitNet layers' functions; eager is the same computation
    with torch._dynamo.config.patch(disable=True):
        for seed in (0, 3):
            assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_converted_to_a_yes_no_reranker(tiny_model, tmp_path):
    path = quantized_copy(tiny_model("bitnet", "causal"), tmp_path / "packed", "packed")
    with torch._dynamo.config.patch(disable=True):
        assert_yes_no_classifier_equals_transformers(path, "BitNetForSequenceClassification")


def test_weights_and_activations_read_as_transformers_quantizes_them():
    from transformers.integrations.bitnet import ActQuant, BitLinear, WeightQuant, pack_weights

    torch.manual_seed(0)
    w = torch.randn(12, 8)
    with torch._dynamo.config.patch(disable=True):
        torch.testing.assert_close(ternarized(w), WeightQuant.apply(w), atol=0, rtol=0)
        ternary = (w * 3).round().clamp(-1, 1)
        torch.testing.assert_close(unpacked(pack_weights(ternary.to(torch.int8))), ternary, atol=0, rtol=0)
        x = torch.randn(5, 8) * torch.tensor([[1.0], [1e-3], [30.0], [0.0], [2.0]])  # a zero row too
        torch.testing.assert_close(fake_quantize_per_token(x, "bitnet"), ActQuant.apply(x), atol=0, rtol=0)
        q, scale = BitLinear(8, 4, bias=False, dtype=torch.float32).activation_quant(x)
        torch.testing.assert_close(fake_quantize_per_token(x, "bitnet"), q.float() / scale)


@pytest.mark.parametrize("settings, message", [
    ({"use_rms_norm": True}, "use_rms_norm"),
    ({"modules_to_not_convert": ["model.layers.0.mlp"]}, "LM head"),
])
def test_settings_not_read_here_are_refused_with_the_reason(tiny_model, tmp_path, settings, message):
    path = quantized_copy(tiny_model("bitnet", "causal"), tmp_path / "refused", "packed", **settings)
    with pytest.raises(ValueError, match=message):
        worker(path)


def test_an_online_bitlinear_is_refused(tiny_model, tmp_path):
    path = quantized_copy(tiny_model("bitnet", "causal"), tmp_path / "online-bitlinear", "online")
    config = json.loads((path / "config.json").read_text())
    config["quantization_config"]["linear_class"] = "bitlinear"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'bitlinear' with quantization_mode 'online' is not supported"):
        worker(path)
