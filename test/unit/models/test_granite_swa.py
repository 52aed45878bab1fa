"""Granite SWA and Granite MoE SWA (IBM granite-swash) against transformers, single-item and MIS: Granite's
multipliers, a sliding layer (a window of 4, which every item crosses), learned sinks, and a rotary base per
layer (two bases, or one and a layer without rotary)."""

import pytest
import torch

from make_tiny_model import build_tokenizer
from worker_batches import assert_both_ways_equal_transformers, worker

MULTIPLIERS = dict(embedding_multiplier=3.0, attention_multiplier=0.2, residual_multiplier=0.5, logits_scaling=2.0)


def _save(tmp_path, family: str, layer_rope_theta):
    import transformers

    tokenizer = build_tokenizer("llama")
    shape = dict(vocab_size=(len(tokenizer) + 63) // 64 * 64, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=2, initializer_range=0.1, max_position_embeddings=4096,
                 tie_word_embeddings=False, sliding_window=4, layer_rope_theta=layer_rope_theta,
                 layer_types=["sliding_attention", "full_attention", "sliding_attention"], **MULTIPLIERS)
    if family == "GraniteMoeSWA":  # 4 experts of 32, 2 per token, beside a shared MLP of 48
        shape.update(num_local_experts=4, num_experts_per_tok=2, shared_intermediate_size=48)
    config = getattr(transformers, family + "Config")(**shape)
    torch.manual_seed(0)
    model = getattr(transformers, family + "ForCausalLM")(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("sinks"):  # zeros after init
                p.copy_(torch.randn(p.shape) * 2)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize("family, layer_rope_theta", [("GraniteSWA", [1e4, 5e5, 1e4]), ("GraniteSWA", [1e4, 0, 1e4]),
                                                      ("GraniteMoeSWA", [5e5, 0, 1e4])])
def test_granite_swa_equals_transformers_single_item_and_mis(tmp_path, family, layer_rope_theta):
    path = _save(tmp_path, family, layer_rope_theta)
    w = worker(path)
    attention = [layer.self_attn for layer in w.model.model.layers]
    assert [a.window for a in attention] == [4, None, 4] and all(a.sinks is not None for a in attention)
    assert [a.rotary for a in attention] == [bool(theta) for theta in layer_rope_theta]
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


def test_more_than_two_rotary_bases_are_refused(tmp_path):
    path = _save(tmp_path, "GraniteSWA", [1e4, 5e5, 1e6])
    with pytest.raises(ValueError, match="names 3 rotary bases"):
        worker(path)
