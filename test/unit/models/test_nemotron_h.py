"""Nemotron-H (dense) against transformers: Mamba2, squared-ReLU MLP and rotary-free attention blocks,
each behind its own RMSNorm, from the published ``backbone.`` tensor names; single-item and MIS, with
scan chunks that split queries and items; the MoE blocks refused with the reason."""

import pytest
import torch

from multiscore.models.mamba2 import Mamba2Mixer
from test_encoder_models import load_ours
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


@pytest.mark.parametrize("chunk_size", [64, 4])
def test_the_causal_lm_equals_transformers_single_item_and_mis(tiny_model, chunk_size):
    from transformers import AutoModelForCausalLM

    path = tiny_model("nemotron_h", "causal")
    w = worker(path)
    for mixer in (m for m in w.model.modules() if isinstance(m, Mamba2Mixer)):
        mixer.chunk_size = chunk_size
    query, items = mixed_inputs(seed=1)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    hf = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    with torch.no_grad():
        logits = torch.stack([hf(input_ids=torch.tensor([query + item])).logits[0, -1] for item in items])
    ref = torch.softmax(logits[:, LABELS], -1)
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_moe_blocks_are_refused_with_the_reason(tiny_model):
    path = tiny_model("nemotron_h", "causal")
    blocks = '["linear_attention", "moe", "full_attention", "mlp", "linear_attention"]'
    with pytest.raises(ValueError, match=r"Nemotron-H blocks \['moe'\] are not supported"):
        load_ours(path, json_model_override_args='{"layers_block_type": ' + blocks + "}")
