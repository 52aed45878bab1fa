"""OLMo Hybrid against transformers, single-item and MIS: gated delta nets (β doubled, separate projections, a
convolution saved in three pieces) in pre-norm layers around an OLMo 3 attention layer, with rotary or (as
released) without."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, worker


@pytest.mark.parametrize("rope_theta", [1e4, None], ids=["rotary", "no-rotary"])
def test_olmo_hybrid_equals_transformers_single_item_and_mis(tiny_model, rope_theta):
    path = tiny_model("olmo_hybrid", "causal", rope_parameters={"rope_type": "default", "rope_theta": rope_theta})
    w = worker(path)
    layers = w.model.model.layers
    assert [type(layer).__name__ for layer in layers] == ["LinearAttentionLayer", "AttentionLayer", "LinearAttentionLayer"]
    assert layers[0].linear_attn.beta_scale == 2.0 and layers[1].self_attn.rotary is (rope_theta is not None)
    for layer in layers[::2]:
        layer.linear_attn.chunk_size = 4  # items and queries cross the delta rule's chunk borders
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, "causal", seed=seed, w=w)
