"""Phi-3.5-MoE (``phimoe``) against transformers, single-item and MIS: Mixtral's block with biased
LayerNorms, biased attention and LM head, SparseMixer's two experts per token (a jitter wide enough that
its masks keep several experts in some softmaxes, and the published 0.01), LongRoPE's short factors with
``short_mscale``; the context stops where its long factors would start; other expert counts refused."""

import pytest
import torch

from multiscore.models.phimoe import sparsemixer_top2
from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
@pytest.mark.parametrize("jitter", [0.3, 0.01])
def test_phimoe_equals_transformers_single_item_and_mis(tiny_model, head, jitter):
    path = tiny_model("phimoe", head, router_jitter_noise=jitter)
    w = worker(path)
    assert w.model.model.rotary_emb.attention_scaling == 1.3 and w.model_config.context_length == 64
    assert type(w.model.model.layers[0].mlp).__name__ == "PhimoeMoeBlock"
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_sparsemixer_equals_transformers_on_random_logits():
    """Our SparseMixer against transformers' own (training false), on logits with near ties and wide gaps."""
    from transformers.models.phimoe.modeling_phimoe import sparsemixer

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(512, 8, generator=gen) * torch.tensor([0.05, 1.0, 3.0, 0.5] * 2)
    for eps in (0.01, 0.3, 1.0):
        ours_w, ours_e = sparsemixer_top2(logits, eps)
        ref_w, ref_e = sparsemixer(logits, jitter_eps=eps, training=False, top_k=2)
        assert torch.equal(ours_e, ref_e)
        torch.testing.assert_close(ours_w, ref_w, atol=0, rtol=0)


def test_other_than_two_experts_per_token_is_refused(tiny_model):
    with pytest.raises(ValueError, match="num_experts_per_tok 1 is not supported: SparseMixer routes each token to two"):
        worker(tiny_model("phimoe", "causal", num_experts_per_tok=1))
