"""bitsandbytes 4-bit checkpoints, written by transformers with bitsandbytes itself (a tiny model loaded in 4 bits,
then saved): NF4 with double-quantized scales and FP4 without, dequantized as they load; single-item and MIS equal to
transformers on the weights bitsandbytes' own ``dequantize_4bit`` reads (fp32 <= 1e-5); 8-bit refused."""

import json

import pytest
import torch

from quantized_checkpoints import bnb_dequantized_reference, write_bnb_4bit
from worker_batches import LABELS, mixed_inputs, score_both_ways, worker


@pytest.mark.parametrize("arch, head, quant_type, double_quant", [("qwen3", "seqcls", "nf4", True),
                                                                  ("llama", "causal", "fp4", False)])
def test_a_4bit_checkpoint_scores_as_its_dequantized_weights(tiny_model, tmp_path, arch, head, quant_type, double_quant):
    from hf_reference import hf_scores

    path = write_bnb_4bit(tiny_model(arch, head), tmp_path / "bnb", quant_type, double_quant)
    reference = bnb_dequantized_reference(path, tmp_path / "reference")
    w = worker(path)
    assert w.model_config.quantization == "bitsandbytes"
    query, items = mixed_inputs(seed=4)
    labels = LABELS if head == "causal" else None
    expected = torch.tensor(hf_scores(reference, query, items, labels, apply_softmax=labels is not None))
    for got in score_both_ways(w, query, items, labels, apply_softmax=labels is not None):
        torch.testing.assert_close(torch.tensor(got), expected, atol=1e-5, rtol=0)
    original = score_both_ways(worker(tiny_model(arch, head)), query, items, labels, apply_softmax=labels is not None)[0]
    assert (torch.tensor(original) - expected).abs().max() > 1e-2  # the 4-bit model was served


def test_8bit_checkpoints_are_refused(tiny_model, tmp_path):
    path = write_bnb_4bit(tiny_model("qwen3", "seqcls"), tmp_path / "bnb")
    config = json.loads((path / "config.json").read_text())
    config["quantization_config"].update(load_in_4bit=False, _load_in_4bit=False, load_in_8bit=True, _load_in_8bit=True)
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="8-bit checkpoints"):
        worker(path)
