"""Llama 4 on text against transformers, single-item and MIS: rotary over interleaved pairs with the
weightless q/k norm after it (layers 0-2), a NoPE layer with the query temperature (layer 3, from position 2
on), experts fed the token scaled by the sigmoid of its router logit beside a shared expert (layers 1, 3),
dense MLPs of their own width (0, 2); the context capped at the chunk (the published multimodal checkpoints:
test_multimodal_language_models.py)."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, worker


def test_llama4_equals_transformers_single_item_and_mis(tiny_model):
    path = tiny_model("llama4", "causal")
    w = worker(path)
    layers = w.model.model.layers
    assert [layer.self_attn.rotary for layer in layers] == [True, True, True, False]
    assert [type(layer.mlp).__name__ for layer in layers] == ["GatedMLP", "Llama4MoeBlock"] * 2
    assert layers[0].mlp.intermediate_size == 96 and layers[1].self_attn.q_norm.weight is None
    assert not layers[3].self_attn.qk_norm and layers[3].self_attn.scales_queries
    for seed in (3, 8):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)


@pytest.mark.parametrize("overrides", [dict(use_qk_norm=False, attn_temperature_tuning=False),
                                       dict(num_experts_per_tok=2, interleave_moe_layer_step=1)],
                         ids=["no-qk-norm-no-temperature", "top2-every-layer-moe"])
def test_llama4_variants_equal_transformers(tiny_model, overrides):
    """Maverick-like switches: no q/k norm nor temperature; experts in every layer, two per token."""
    path = tiny_model("llama4", "causal", **overrides)
    assert_both_ways_equal_transformers(path, "causal", seed=4)


def test_the_context_stops_at_the_attention_chunk(tiny_model):
    path = tiny_model("llama4", "causal", attention_chunk_size=64)
    assert worker(path).model_config.context_length == 64
    with pytest.raises(ValueError, match="exceeds the model's attention chunk of 64 tokens: past it the attention hides keys"):
        worker(path, context_length=128)
    assert worker(path, context_length=32).model_config.context_length == 32
