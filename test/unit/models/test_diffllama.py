"""DiffLlama against transformers, single-item and MIS: differential attention (two values per head, head pairs
subtracted by λ, RMS-normed over 2D), read through one attention call whose keys and values are 2D wide; the
prefix cache holds those."""

import pytest

from worker_batches import assert_both_ways_equal_transformers, assert_prefix_cache_scores_as_uncached, worker


@pytest.mark.parametrize("head", ["causal", "seqcls"])
def test_diffllama_equals_transformers_single_item_and_mis(tiny_model, head):
    path = tiny_model("diffllama", head)
    w = worker(path)
    assert type(w.model.model.layers[0].self_attn).__name__ == "DifferentialAttention"
    for seed in (2, 5):
        assert_both_ways_equal_transformers(path, head, seed=seed, w=w)


def test_cached_prefixes_score_as_uncached(tiny_model):
    assert_prefix_cache_scores_as_uncached(tiny_model("diffllama", "seqcls"), [(2, 32)] * 2)  # kv heads x 2D
