"""Block-scaled FP8 checkpoints (``quant_method: "fp8"``, DeepSeek-V3's and the Qwen3 -FP8 format),
dequantized as they load: tiny checkpoints whose projections are written in FP8 (blocks of 8 x 8 here)
score as transformers scores them (it dequantizes FP8 on a CPU too), single-item and MIS; the
dequantization itself, short last blocks included; and the refusals."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from quantized_checkpoints import write_fp8
from worker_batches import assert_both_ways_equal_transformers, mixed_inputs, score_both_ways, worker


@pytest.mark.parametrize("arch, head", [("qwen3", "seqcls"), ("deepseek_v3", "causal")])
def test_an_fp8_checkpoint_scores_as_transformers_dequantizes_it(tiny_model, tmp_path, arch, head):
    path = tiny_model(arch, head)
    fp8 = write_fp8(path, tmp_path / "fp8")
    w = worker(fp8)
    reference = assert_both_ways_equal_transformers(fp8, head, seed=4, w=w)
    # the FP8 weights are what was served: the original's scores differ by more than the tolerance
    query, items = mixed_inputs(seed=4)
    original, _ = score_both_ways(worker(path), query, items, [3, 9, 20] if head == "causal" else None,
                                  apply_softmax=head == "causal")
    assert (torch.tensor(original) - reference).abs().max() > 1e-4


def test_blocks_cut_short_at_the_last_row_and_column():
    from multiscore.model_executor.fp8 import dequantize_fp8

    weight = torch.randn(5, 7).to(torch.float8_e4m3fn)
    scale = torch.tensor([[2.0, 3.0], [5.0, 7.0]])  # blocks of 4 x 4 over 5 x 7: the last ones 1 row, 3 columns
    expected = weight.float().clone()
    for r in range(5):
        for c in range(7):
            expected[r, c] *= scale[r // 4, c // 4]
    torch.testing.assert_close(dequantize_fp8(weight, scale, (4, 4)), expected, atol=0, rtol=0)
    torch.testing.assert_close(dequantize_fp8(weight, torch.tensor(0.5), None), weight.float() * 0.5, atol=0, rtol=0)
    with pytest.raises(ValueError, match=r"needs scales \(2, 2\), got \(1, 2\)"):
        dequantize_fp8(weight, scale[:1], (4, 4))


def test_an_fp8_weight_without_its_scale_or_config_is_refused(tiny_model, tmp_path):
    fp8 = write_fp8(tiny_model("qwen3", "seqcls"), tmp_path / "fp8")
    tensors = load_file(str(fp8 / "model.safetensors"))
    name = "model.layers.0.self_attn.q_proj.weight_scale_inv"
    save_file({k: v for k, v in tensors.items() if k != name}, str(fp8 / "model.safetensors"))
    with pytest.raises(ValueError, match="FP8 checkpoint: model.layers.0.self_attn.q_proj.weight has no "
                                         "model.layers.0.self_attn.q_proj.weight_scale_inv"):
        worker(fp8)
    config = json.loads((fp8 / "config.json").read_text())
    del config["quantization_config"]
    (fp8 / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="is FP8, and the config has no FP8 quantization_config"):
        worker(fp8)


def test_the_format_named_by_its_dtype_is_read():
    """MiniMax-M2's config names the format by its torch dtype."""
    from multiscore.model_executor.fp8 import fp8_block

    assert fp8_block({"quant_method": "fp8", "fmt": "float8_e4m3fn", "weight_block_size": [128, 128]}) == (128, 128)
    assert fp8_block({"quant_method": "fp8", "fmt": "e4m3"}) is None  # one scale per tensor


def test_other_fp8_formats_are_refused_before_loading(tiny_model, tmp_path):
    fp8 = write_fp8(tiny_model("qwen3", "seqcls"), tmp_path / "fp8")
    config = json.loads((fp8 / "config.json").read_text())
    config["quantization_config"]["fmt"] = "e3m4"
    (fp8 / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="FP8 format 'e3m4' is not supported"):
        worker(fp8)


def test_a_multimodal_checkpoints_quantization_reaches_its_language_model():
    """The quantization_config sits in the outer config (Mistral Small 4's FP8 releases): the text config
    served takes it, so the language model's FP8 tensors are dequantized, not cast."""
    from transformers import Mistral3Config

    from multiscore.configs.checkpoint_layouts import language_model_of
    from multiscore.configs.model_config import checkpoint_quantization

    config = Mistral3Config(text_config={"model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 1})
    config.architectures = ["Mistral3ForConditionalGeneration"]
    config.quantization_config = {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]}
    text, _ = language_model_of(config)
    assert checkpoint_quantization(text) == "fp8"
