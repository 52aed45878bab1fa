"""JetMoE against transformers, single-item and MIS: a mixture of attention experts (per-expert query and output
projections around shared keys and values) and of SwiGLU experts, each routed per token; causal LM and classifier;
cached prefixes."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, assert_prefix_cache_scores_as_uncached, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_jetmoe_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("jetmoe", head)
    w = worker(path)
    assert type(w.model.model.layers[0].self_attn).__name__ == "MixtureOfAttention"
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_the_layers_norms_keep_their_own_eps(tiny_model):
    """rms_norm_eps is the final norm's alone (0.5 here, far from the layers' 1e-6)."""
    path = tiny_model("jetmoe", "causal", rms_norm_eps=0.5)
    assert_both_ways_equal_transformers(path, "causal", seed=3)


def test_cached_prefixes_score_as_uncached(tiny_model):
    assert_prefix_cache_scores_as_uncached(tiny_model("jetmoe", "seqcls"), [(2, 16)] * 2)
