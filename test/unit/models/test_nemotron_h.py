"""Nemotron-H (dense) against transformers: Mamba2, squared-ReLU MLP and rotary-free attention blocks,
each behind its own RMSNorm, from the published ``backbone.`` tensor names; single-item and MIS, with
scan chunks that split queries and items; Nemotron 3's MoE blocks (latent or not); an unknown block
refused with the reason."""

import pytest
import torch

from hf_reference import hf_scores
from multiscore.models.mamba2 import Mamba2Mixer
from test_encoder_models import load_ours
from worker_batches import mixed_inputs, score_both_ways, worker

LABELS = [3, 9, 20]


@pytest.mark.parametrize("chunk_size", [64, 4])
def test_the_causal_lm_equals_transformers_single_item_and_mis(tiny_model, chunk_size):
    path = tiny_model("nemotron_h", "causal")
    w = worker(path)
    for mixer in (m for m in w.model.modules() if isinstance(m, Mamba2Mixer)):
        mixer.chunk_size = chunk_size
    query, items = mixed_inputs(seed=1)
    single, mis = score_both_ways(w, query, items, LABELS, apply_softmax=True)
    ref = torch.tensor(hf_scores(path, query, items, LABELS, apply_softmax=True))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)


def test_an_unknown_block_is_refused_with_the_ones_there_are(tiny_model):
    path = tiny_model("nemotron_h", "causal")
    blocks = '["linear_attention", "mamba1", "full_attention", "mlp", "linear_attention"]'
    with pytest.raises(ValueError, match=r"Nemotron-H blocks \['mamba1'\] are not supported \(only linear_attention"):
        load_ours(path, json_model_override_args='{"layers_block_type": ' + blocks + "}")


MOE = dict(layers_block_type=["linear_attention", "moe", "full_attention", "moe", "linear_attention"], n_routed_experts=4,
           num_experts_per_tok=2, n_group=2, topk_group=1, moe_intermediate_size=32, moe_shared_expert_intermediate_size=48,
           routed_scaling_factor=2.5, norm_topk_prob=True)


@pytest.mark.parametrize("latent", [None, 16], ids=["moe", "latent-moe"])
def test_nemotron_3_moe_blocks_equal_transformers(tiny_model, latent):
    """Grouped routing (the best group of two), a correction bias, scaled weights, a shared expert and,
    with moe_latent_size, experts in a latent space."""
    from transformers import AutoModelForCausalLM

    path = tiny_model("nemotron_h", "causal", moe_latent_size=latent, **MOE)
    query, items = mixed_inputs(seed=2)
    single, mis = score_both_ways(worker(path), query, items, LABELS, apply_softmax=True)
    hf = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    assert hf.model.layers[1].mixer.gate.e_score_correction_bias.abs().sum() > 0  # the bias is exercised
    ref = torch.tensor(hf_scores(path, query, items, LABELS, apply_softmax=True))
    torch.testing.assert_close(torch.tensor(single), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(mis), ref, atol=1e-5, rtol=0)
